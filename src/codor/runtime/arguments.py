"""Reading a tool call's JSON arguments: strict types, known names only, bounded numbers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from codor.errors import ToolArgumentError

__all__ = ["Arguments"]


class Arguments:
    """The arguments of one call of ``tool``; every getter raises
    :class:`ToolArgumentError` naming the tool and the argument."""

    def __init__(self, tool: str, data: Any, allowed: frozenset[str]) -> None:
        if not isinstance(data, Mapping):
            raise ToolArgumentError(f"{tool}: arguments must be an object")
        unknown = sorted(str(k) for k in data if k not in allowed)
        if unknown:
            raise ToolArgumentError(f"{tool}: unknown argument(s) {', '.join(unknown)}; "
                                    f"expected {', '.join(sorted(allowed))}")
        self.tool = tool
        self._data = data

    def _fail(self, name: str, message: str) -> ToolArgumentError:
        return ToolArgumentError(f"{self.tool}: {name} {message}")

    def text(self, name: str, default: str | None = None, *, empty: bool = False) -> str:
        value = self._data.get(name, default)
        if value is None:
            raise self._fail(name, "is required")
        if not isinstance(value, str) or (not value and not empty):
            raise self._fail(name, "must be a non-empty string")
        if "\x00" in value:
            raise self._fail(name, "contains a NUL character")
        return value

    def optional_text(self, name: str) -> str | None:
        return None if self._data.get(name) is None else self.text(name)

    def content(self, name: str) -> str:
        """Text that may be empty and hold any character but a lone surrogate."""
        value = self._data.get(name)
        if not isinstance(value, str):
            raise self._fail(name, "must be a string")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise self._fail(name, "is not valid Unicode (lone surrogate)") from None
        return value

    def flag(self, name: str, default: bool) -> bool:
        value = self._data.get(name, default)
        if type(value) is not bool:
            raise self._fail(name, "must be true or false")
        return value

    def integer(self, name: str, default: int, *, low: int, high: int) -> int:
        value = self._data.get(name, default)
        if type(value) is not int or not low <= value <= high:
            raise self._fail(name, f"must be an integer from {low} to {high}")
        return value

    def number(self, name: str, default: float, *, low: float, high: float) -> float:
        value = self._data.get(name, default)
        if type(value) not in (int, float) or not low <= value <= high:
            raise self._fail(name, f"must be a number from {low} to {high}")
        return float(value)

    def strings(self, name: str) -> tuple[str, ...] | None:
        value = self._data.get(name)
        if value is None:
            return None
        if not isinstance(value, list | tuple) or not value or \
                not all(isinstance(v, str) and "\x00" not in v for v in value):
            raise self._fail(name, "must be a non-empty list of strings without NUL")
        return tuple(value)

    def mapping(self, name: str) -> dict[str, str] | None:
        value = self._data.get(name)
        if value is None:
            return None
        if not isinstance(value, Mapping) or not all(
                isinstance(k, str) and isinstance(v, str) and "\x00" not in k + v
                for k, v in value.items()):
            raise self._fail(name, "must be an object of strings")
        return dict(value)
