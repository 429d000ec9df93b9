"""Reading policy YAML while remembering where every mapping, key and list item came from."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from codor.errors import PolicySchemaError, PolicySyntaxError

__all__ = ["LocDict", "LocList", "from_located_json", "load_yaml", "location_of",
           "to_located_json"]


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
    import yaml  # ~15 ms: only paid when a YAML file is actually parsed

    base: type[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class Loader(base):  # type: ignore[misc]
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
    loader = _make_loader(source)
    import yaml

    try:
        return yaml.load(text, Loader=loader)  # noqa: S506 - safe loader subclass
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


# -- a located document as plain JSON (the built-in rulesets ship pre-parsed in this form) --
# A mapping is {"m": line, "k": [[key, key line, value], ...]}, a list {"l": line, "i": [[item
# line, value], ...]}; scalars are themselves. Only these two shapes are JSON objects.


def to_located_json(value: Any) -> Any:
    """The JSON form of a value returned by :func:`load_yaml`, line numbers included."""
    if isinstance(value, LocDict):
        return {"m": value.line, "k": [[k, value.key_lines.get(k, 0), to_located_json(v)]
                                       for k, v in value.items()]}
    if isinstance(value, LocList):
        lines = value.item_lines + [0] * (len(value) - len(value.item_lines))
        return {"l": value.line, "i": [[n, to_located_json(v)] for n, v in zip(lines, value,
                                                                                strict=True)]}
    if isinstance(value, dict | list):
        raise TypeError("to_located_json takes what load_yaml returned (LocDict/LocList)")
    return value


def from_located_json(value: Any, source: str) -> Any:
    """Rebuild what :func:`load_yaml` returned from :func:`to_located_json`'s form."""
    if isinstance(value, dict):
        if "m" in value:
            out = LocDict(source=source, line=value["m"])
            key_lines = out.key_lines
            for key, line, item in value["k"]:
                out[key] = from_located_json(item, source)
                key_lines[key] = line
            return out
        seq = LocList(source=source, line=value["l"])
        for line, item in value["i"]:
            seq.append(from_located_json(item, source))
            seq.item_lines.append(line)
        return seq
    return value
