"""Typed, located access to one policy mapping: unknown keys and wrong types fail with file:line.

Every guard compiler reads its configuration through a :class:`Section`, so every schema error
in CODOR has the same shape: ``policy.yaml:12: guards.egress.ports: expected a list of
integers [E_POLICY_SCHEMA]``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

from codor.errors import PolicySchemaError
from codor.model import EFFECTS, SEVERITIES
from codor.policy.source import LocDict, LocList

__all__ = ["PolicyWarning", "Section"]

T = TypeVar("T")


class PolicyWarning(str):
    """A load-time warning: a ``str`` (``file:line: text``) that also keeps its parts."""

    location: str | None
    text: str
    code: str

    def __new__(cls, location: str | None, text: str, code: str = "W_POLICY") -> PolicyWarning:
        self = super().__new__(cls, f"{location}: {text}" if location else text)
        self.location, self.text, self.code = location, text, code
        return self


class Section:
    """A read-only view of one policy mapping, named by its dotted path (``guards.paths``).

    ``warnings`` is shared by every section of one compilation; :meth:`warn` appends a
    located, human-readable warning to it (the linter and ``codor check`` report them).
    """

    __slots__ = ("_data", "name", "warnings")

    def __init__(
        self, data: Mapping[str, Any] | None, name: str, warnings: list[str] | None = None
    ) -> None:
        self._data: Mapping[str, Any] = data if data is not None else LocDict()
        self.name = name
        self.warnings: list[str] = warnings if warnings is not None else []

    # -- locations ------------------------------------------------------------------------
    def loc(self, key: str | None = None) -> str | None:
        if isinstance(self._data, LocDict):
            return self._data.loc(key)
        return None

    def item_loc(self, key: str, index: int) -> str | None:
        value = self._data.get(key)
        if isinstance(value, LocList):
            return value.loc(index)
        return self.loc(key)

    def path(self, key: str) -> str:
        return f"{self.name}.{key}" if self.name else key

    def fail(self, key: str | None, message: str) -> PolicySchemaError:
        label = self.path(key) if key else self.name
        return PolicySchemaError(f"{label}: {message}", location=self.loc(key))

    def warn(self, key: str | None, message: str, code: str = "W_POLICY") -> None:
        label = self.path(key) if key else self.name
        self.warnings.append(PolicyWarning(self.loc(key), f"{label}: {message}", code))

    # -- structure ------------------------------------------------------------------------
    def keys(self) -> Iterable[str]:
        return self._data.keys()

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __contains__(self, key: str) -> bool:
        return key in self._data

    def raw(self, key: str, default: Any = None) -> Any:
        return self._data.get(key, default)

    def raw_mapping(self) -> LocDict:
        """The underlying mapping (a :class:`LocDict` when it came from a file)."""
        if isinstance(self._data, LocDict):
            return self._data
        return LocDict(self._data)

    def only(self, *allowed: str) -> Section:
        """Fail on the first key not in ``allowed`` (typos must not silently disable a rule)."""
        for key in self._data:
            if key not in allowed:
                hint = _closest(key, allowed)
                extra = f" (did you mean {hint!r}?)" if hint else ""
                raise self.fail(key, f"unknown key{extra}; allowed: {', '.join(sorted(allowed))}")
        return self

    def section(self, key: str) -> Section:
        value = self._data.get(key)
        if value is None:
            return Section(None, self.path(key), self.warnings)
        if not isinstance(value, Mapping):
            raise self.fail(key, f"expected a mapping, got {_type(value)}")
        return Section(value, self.path(key), self.warnings)

    def sections(self, key: str) -> list[Section]:
        """A list of mappings (``rules``, ``patterns``...)."""
        value = self._data.get(key)
        if value is None:
            return []
        if not isinstance(value, Sequence) or isinstance(value, str):
            raise self.fail(key, f"expected a list, got {_type(value)}")
        out = []
        for i, item in enumerate(value):
            if not isinstance(item, Mapping):
                raise PolicySchemaError(
                    f"{self.path(key)}[{i}]: expected a mapping, got {_type(item)}",
                    location=self.item_loc(key, i),
                )
            out.append(Section(item, f"{self.path(key)}[{i}]", self.warnings))
        return out

    # -- scalars --------------------------------------------------------------------------
    def string(self, key: str, default: str | None = None, *, required: bool = False) -> str | None:
        value = self._data.get(key)
        if value is None:
            if required:
                raise self.fail(key, "is required")
            return default
        if not isinstance(value, str):
            raise self.fail(key, f"expected a string, got {_type(value)}")
        return value

    def req_string(self, key: str) -> str:
        value = self.string(key, required=True)
        assert value is not None
        return value

    def integer(
        self, key: str, default: int | None = None, *, minimum: int | None = 0
    ) -> int | None:
        value = self._data.get(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(key, f"expected an integer, got {_type(value)}")
        if minimum is not None and value < minimum:
            raise self.fail(key, f"must be >= {minimum}")
        return value

    def number(self, key: str, default: float | None = None) -> float | None:
        value = self._data.get(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(key, f"expected a number, got {_type(value)}")
        return float(value)

    def boolean(self, key: str, default: bool) -> bool:
        value = self._data.get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self.fail(key, f"expected true or false, got {_type(value)}")
        return value

    def choice(self, key: str, options: Sequence[str], default: str) -> str:
        value = self.string(key, default)
        assert value is not None
        if value not in options:
            raise self.fail(key, f"must be one of {', '.join(options)}, got {value!r}")
        return value

    def effect(self, key: str, default: str, options: Sequence[str] = EFFECTS) -> str:
        return self.choice(key, options, default)

    def severity(self, key: str, default: str) -> str:
        return self.choice(key, SEVERITIES, default)

    # -- lists ----------------------------------------------------------------------------
    def strings(self, key: str, *, warn_empty: bool = False) -> list[str]:
        """A list of strings; a single string is accepted as a list of one."""
        value = self._data.get(key)
        if value is None:
            return []
        if isinstance(value, str):
            return [value]
        if not isinstance(value, Sequence) or not all(isinstance(v, str) for v in value):
            raise self.fail(key, "expected a list of strings")
        if warn_empty and not value:
            self.warn(key, "empty pattern list matches nothing", "W_EMPTY_PATTERNS")
        return list(value)

    def integers(self, key: str) -> list[int]:
        value = self._data.get(key)
        if value is None:
            return []
        if isinstance(value, int) and not isinstance(value, bool):
            return [value]
        if not isinstance(value, Sequence) or not all(
            isinstance(v, int) and not isinstance(v, bool) for v in value
        ):
            raise self.fail(key, "expected a list of integers")
        return list(value)


def _type(value: Any) -> str:
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    if value is None:
        return "null"
    return type(value).__name__


def _closest(word: str, options: Iterable[str]) -> str | None:
    import difflib

    match = difflib.get_close_matches(word, list(options), n=1, cutoff=0.7)
    return match[0] if match else None
