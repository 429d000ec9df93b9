"""Canonical JSON (RFC 8785): key order by UTF-16 code units, strings as JSON writes them,
numbers in their shortest ECMAScript form — checked against the RFC's examples and, for any
JSON value, against a plain reference encoder built on ``json.dumps``."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from codor.canonical import canonical_json


def reference(value: Any) -> str:
    """The definition, written the slow and obvious way."""
    if isinstance(value, dict):
        items = sorted(value.items(), key=lambda kv: kv[0].encode("utf-16-be"))
        return "{" + ",".join(json.dumps(k, ensure_ascii=False) + ":" + reference(v)
                              for k, v in items) + "}"
    if isinstance(value, list):
        return "[" + ",".join(reference(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


def test_keys_sort_by_utf16_code_units_as_in_rfc_8785() -> None:
    # RFC 8785 section 3.2.3: "\u20ac" (Euro), "\r", "\ufb33", "1", "\U0001f600", "\x80", "\xf6"
    value = {"\u20ac": "Euro Sign", "\r": "Carriage Return",
             "\ufb33": "Hebrew Letter Dalet With Dagesh", "1": "One",
             "\U0001f600": "Emoji: Grinning Face", "\x80": "Control",
             "\xf6": "Latin Small Letter O With Diaeresis"}
    keys = list(json.loads(canonical_json(value)))
    assert keys == ["\r", "1", "\x80", "\xf6", "\u20ac", "\U0001f600", "\ufb33"]


def test_numbers_take_their_shortest_ecmascript_form() -> None:
    assert canonical_json([1e21, 1e-7, 0.5, 1.0, -0.0, 333333333.3333333]) == \
        b"[1e+21,1e-7,0.5,1,0,333333333.3333333]"


def test_strings_escape_as_json_does() -> None:
    assert canonical_json("a\"b\\c\n\u0001é😀") == '"a\\"b\\\\c\\n\\u0001é😀"'.encode()


def test_a_lone_surrogate_cannot_be_canonicalised() -> None:
    with pytest.raises(UnicodeEncodeError):
        canonical_json({"k": "\ud800"})


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
    max_leaves=30)


@given(JSON)
def test_any_json_value_encodes_as_the_reference(value: Any) -> None:
    try:
        expected = reference(value).encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates: refused by both
        with pytest.raises(UnicodeEncodeError):
            canonical_json(value)
        return
    assert canonical_json(value) == expected


PLAIN = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.text(),
    lambda inner: st.lists(inner, max_size=5) | st.tuples(inner, inner)
    | st.dictionaries(st.text(alphabet=st.characters(max_codepoint=127)), inner, max_size=5),
    max_leaves=30)


@given(PLAIN)
def test_the_fast_path_gives_the_reference_bytes(value: Any) -> None:
    from codor.canonical import _plain, _reference

    assert _plain(value)  # ASCII keys, no floats: what nearly every ledger record is
    try:
        expected = _reference(value)
    except UnicodeEncodeError:
        with pytest.raises(UnicodeEncodeError):
            canonical_json(value)
        return
    assert canonical_json(value) == expected
    assert canonical_json(value) == reference(json.loads(expected)).encode("utf-8")


def test_values_the_fast_path_does_not_take() -> None:
    from collections import OrderedDict

    from codor.canonical import _plain

    assert not _plain({"a": 1.5}) and not _plain({"é": 1}) and not _plain({1: 2})
    assert not _plain([2**64]) and not _plain(OrderedDict(a=1))
    assert canonical_json({"a": 1.0, "b": [2**70]}) == b'{"a":1,"b":[1180591620717411303424]}'
