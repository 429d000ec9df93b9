"""Canonical JSON (RFC 8785, JCS) — the only byte form CODOR ever hashes or signs."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any, Final

import orjson

__all__ = ["canonical_json", "canonical_sha256"]

#: what ``json.dumps(text, ensure_ascii=False)`` runs for a string, without its per-call set-up
#: (the ledger canonicalises every string of every record it appends)
_string = json.encoder.encode_basestring


def _first(item: tuple[str, Any]) -> str:
    return item[0]


def _first_utf16(item: tuple[str, Any]) -> bytes:
    return item[0].encode("utf-16-be")


def _number(value: float) -> str:
    if math.isnan(value) or math.isinf(value):
        raise ValueError("NaN and Infinity cannot be canonicalised")
    if value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    text = repr(value)  # shortest round-trip form, as ECMAScript requires
    if "e" in text:
        mantissa, exp = text.split("e")
        sign = "-" if exp.startswith("-") else "+"
        text = f"{mantissa}e{sign}{int(exp.lstrip('+-'))}"
        if mantissa.endswith(".0"):
            text = text.replace(".0e", "e")
    return text


def _encode(value: Any, out: list[str]) -> None:
    if value is None or value is True or value is False:
        out.append("null" if value is None else "true" if value else "false")
    elif isinstance(value, str):
        out.append(_string(value))
    elif isinstance(value, int):
        out.append(str(value))
    elif isinstance(value, float):
        out.append(_number(value))
    elif isinstance(value, Mapping):
        out.append("{")
        # RFC 8785 orders keys by their UTF-16 code units; for ASCII keys (nearly all of them)
        # that is plain string order, which needs no encoding per key
        items = [(str(k), v) for k, v in value.items()]
        if all(k.isascii() for k, _ in items):
            items.sort(key=_first)
        else:
            items.sort(key=_first_utf16)
        for i, (k, v) in enumerate(items):
            if i:
                out.append(",")
            out.append(_string(k))
            out.append(":")
            _encode(v, out)
        out.append("}")
    elif isinstance(value, list | tuple):
        out.append("[")
        for i, v in enumerate(value):
            if i:
                out.append(",")
            _encode(v, out)
        out.append("]")
    else:
        raise TypeError(f"cannot canonicalise {type(value).__name__}")


_I64_MIN: Final = -(2**63)
_U64_MAX: Final = 2**64 - 1
_SORTED: Final = orjson.OPT_SORT_KEYS


def _plain(value: Any) -> bool:
    """Whether orjson's sorted output of ``value`` is its canonical form: only dicts with
    ASCII string keys (their sort order is the same in UTF-16 code units), lists, tuples,
    strings, 64-bit integers, booleans and null — no floats (JCS writes them differently),
    no other mappings."""
    kind = type(value)
    if kind is str or value is None or kind is bool:
        return True
    if kind is int:
        return bool(_I64_MIN <= value <= _U64_MAX)
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str or not key.isascii() or not _plain(item):
                return False
        return True
    if kind is list or kind is tuple:
        return all(_plain(item) for item in value)
    return False


def canonical_json(value: Any) -> bytes:
    """Serialise ``value`` as RFC 8785 canonical JSON (UTF-8 bytes). Plain values (see
    :func:`_plain`; nearly every record) go through orjson, whose string escapes are JCS's;
    anything else — floats, non-ASCII keys, other mappings, a lone surrogate — through the
    reference encoder below. Both give the same bytes (a property test holds them to it)."""
    if _plain(value):
        try:
            return orjson.dumps(value, option=_SORTED)
        except orjson.JSONEncodeError:
            pass  # a lone surrogate: the reference encoder says what is wrong
    return _reference(value)


def _reference(value: Any) -> bytes:
    out: list[str] = []
    _encode(value, out)
    return "".join(out).encode("utf-8")


def canonical_sha256(value: Any) -> str:
    """Hex sha256 of the canonical JSON of ``value``."""
    import hashlib

    return hashlib.sha256(canonical_json(value)).hexdigest()
