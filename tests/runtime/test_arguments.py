"""Tool arguments are read strictly: known names, exact types, bounded numbers."""

from __future__ import annotations

import pytest

from codor.errors import ToolArgumentError
from codor.runtime.arguments import Arguments


def args(**data: object) -> Arguments:
    return Arguments("t", data, frozenset({"s", "n", "f", "b", "l", "m", "c"}))


def test_values_of_the_right_type_are_returned() -> None:
    a = args(s="x", n=3, f=1, b=True, l=["a"], m={"k": "v"}, c="")
    assert a.text("s") == "x" and a.integer("n", 0, low=0, high=5) == 3
    assert a.number("f", 0, low=0, high=2) == 1.0 and a.flag("b", False) is True
    assert a.strings("l") == ("a",) and a.mapping("m") == {"k": "v"} and a.content("c") == ""
    assert a.optional_text("missing") is None and args().text("s", ".") == "."


@pytest.mark.parametrize(("data", "read", "message"), [
    ({"s": ""}, lambda a: a.text("s"), "non-empty string"),
    ({"s": "a\x00"}, lambda a: a.text("s"), "NUL"),
    ({"n": True}, lambda a: a.integer("n", 0, low=0, high=5), "integer from 0 to 5"),
    ({"n": 6}, lambda a: a.integer("n", 0, low=0, high=5), "integer from 0 to 5"),
    ({"f": "1"}, lambda a: a.number("f", 0, low=0, high=2), "number"),
    ({"b": 1}, lambda a: a.flag("b", False), "true or false"),
    ({"l": "a"}, lambda a: a.strings("l"), "list of strings"),
    ({"m": {"k": 1}}, lambda a: a.mapping("m"), "object of strings"),
    ({"c": 5}, lambda a: a.content("c"), "must be a string"),
])
def test_wrong_values_name_the_tool_and_the_argument(data: dict[str, object], read: object,
                                                     message: str) -> None:
    with pytest.raises(ToolArgumentError, match=message) as info:
        read(args(**data))  # type: ignore[operator]
    assert info.value.message.startswith("t: ")


def test_unknown_names_and_non_objects_are_refused() -> None:
    with pytest.raises(ToolArgumentError, match="unknown argument"):
        args(zzz=1)
    with pytest.raises(ToolArgumentError, match="must be an object"):
        Arguments("t", ["x"], frozenset())
