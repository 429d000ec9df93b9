"""Reading policy YAML while remembering where every mapping, key and list item came from."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from codor.errors import PolicySchemaError, PolicySyntaxError

__all__ = ["LocDict", "LocList", "load_yaml", "location_of"]

_BaseLoader: type[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class LocDict(dict[str, Any]):
    """A ``dict`` that knows its file, its own line and the line of each key (1-based)."""

    __slots__ = ("key_lines", "line", "source")

    def __init__(self, *args: Any, source: str = "<policy>", line: int = 0, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.source = source
        self.line = line
        self.key_lines: dict[str, int] = {}

    def loc(self, key: str | None = None) -> str:
        line = self.key_lines.get(key, self.line) if key is not None else self.line
        return f"{self.source}:{line}" if line else self.source


class LocList(list[Any]):
    """A ``list`` that knows its file and the line of each item."""

    __slots__ = ("item_lines", "line", "source")

    def __init__(self, *args: Any, source: str = "<policy>", line: int = 0) -> None:
        super().__init__(*args)
        self.source = source
        self.line = line
        self.item_lines: list[int] = []

    def loc(self, index: int | None = None) -> str:
        line = self.line
        if index is not None and 0 <= index < len(self.item_lines):
            line = self.item_lines[index]
        return f"{self.source}:{line}" if line else self.source


def location_of(value: Any, key: str | int | None = None) -> str | None:
    """``file:line`` of a value loaded by :func:`load_yaml` (``None`` for plain values)."""
    if isinstance(value, LocDict):
        return value.loc(key if isinstance(key, str) else None)
    if isinstance(value, LocList):
        return value.loc(key if isinstance(key, int) else None)
    return None


def _make_loader(source: str) -> type[Any]:
    class Loader(_BaseLoader):  # type: ignore[misc]
        pass

    def construct_mapping(loader: Any, node: yaml.MappingNode) -> LocDict:
        out = LocDict(source=source, line=node.start_mark.line + 1)
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise PolicySchemaError(
                    "YAML merge keys (<<) are not supported in policies",
                    location=f"{source}:{key_node.start_mark.line + 1}",
                )
            # Keys are always strings: YAML 1.1 would read a plain `on:` key as True.
            if isinstance(key_node, yaml.ScalarNode):
                key = key_node.value
            else:
                key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, str):
                raise PolicySchemaError(
                    f"keys must be strings, got {key!r}",
                    location=f"{source}:{key_node.start_mark.line + 1}",
                )
            if key in out:
                raise PolicySchemaError(
                    f"duplicate key {key!r}", location=f"{source}:{key_node.start_mark.line + 1}"
                )
            out[key] = loader.construct_object(value_node, deep=True)
            out.key_lines[key] = key_node.start_mark.line + 1
        return out

    def construct_sequence(loader: Any, node: yaml.SequenceNode) -> LocList:
        out = LocList(source=source, line=node.start_mark.line + 1)
        for child in node.value:
            out.append(loader.construct_object(child, deep=True))
            out.item_lines.append(child.start_mark.line + 1)
        return out

    Loader.add_constructor("tag:yaml.org,2002:map", construct_mapping)
    Loader.add_constructor("tag:yaml.org,2002:seq", construct_sequence)
    return Loader


def load_yaml(text: str, source: str) -> Any:
    """Parse YAML text; syntax errors become :class:`PolicySyntaxError` with ``file:line``."""
    try:
        return yaml.load(text, Loader=_make_loader(source))  # noqa: S506 - safe loader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        problem = exc.problem or exc.context or "invalid YAML"
        raise PolicySyntaxError(f"invalid YAML: {problem}", location=where) from None
    except yaml.YAMLError as exc:
        raise PolicySyntaxError(f"invalid YAML: {exc}", location=source) from None


def read_yaml_file(path: Path) -> Any:
    """Load a YAML file from disk (missing or unreadable files are schema errors)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PolicySchemaError("policy file not found", location=str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicySchemaError(f"cannot read policy file: {exc}", location=str(path)) from None
    return load_yaml(text, str(path))
