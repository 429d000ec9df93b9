"""Structured claims: a report given as JSON instead of prose.

The format (:data:`CLAIMS_JSON_SCHEMA`, JSON Schema draft 2020-12) is an object with one key,
``"claims"``, holding a list of claim objects, or that list alone::

    {"claims": [
      {"kind": "tests.pass", "count": 42, "scope": "all", "runner": "pytest"},
      {"kind": "file.modified", "paths": ["src/parser.py"]},
      {"kind": "command.ran", "command": "npm run build"},
      {"kind": "git.commit", "commit": "abc1234"}
    ]}

A claim object has ``kind`` (one of :data:`codor.claims.claim.CLAIM_KINDS`) and the fields
that kind uses (:data:`FIELDS`); ``text`` is optional except for ``vague`` and ``attribution``
(default: a rendering of the claim). Parsing is strict: an unknown key or kind, a field the
kind does not use, a missing required field or a wrong type is an
:class:`~codor.errors.InputError` whose location names the claim and field
(``claims[2].count: must be a non-negative integer``).
"""

from __future__ import annotations

import json
import re
from typing import Any, Final

from codor.claims.claim import CLAIM_KINDS, SCOPES, Claim, ClaimKind, Scope
from codor.errors import InputError

__all__ = ["CLAIMS_JSON_SCHEMA", "FIELDS", "REQUIRED", "looks_like_claims_json",
           "parse_claims_json"]

#: The fields each kind may carry besides ``kind`` and ``text``.
FIELDS: Final[dict[str, frozenset[str]]] = {
    "tests.pass": frozenset({"count", "scope", "runner", "command", "paths"}),
    "tests.fail": frozenset({"count", "runner", "command", "paths"}),
    "tests.not_run": frozenset({"runner", "command"}),
    "tests.added": frozenset({"count", "paths"}),
    "file.created": frozenset({"paths"}),
    "file.modified": frozenset({"paths"}),
    "file.deleted": frozenset({"paths"}),
    "command.ran": frozenset({"command"}),
    "git.commit": frozenset({"commit"}),
    "build.pass": frozenset({"command"}),
    "lint.pass": frozenset({"command"}),
    "typecheck.pass": frozenset({"command"}),
    "browser.verified": frozenset(),
    "vague": frozenset(),
    "attribution": frozenset(),
}
#: The fields each kind must carry.
REQUIRED: Final[dict[str, tuple[str, ...]]] = {
    "file.created": ("paths",), "file.modified": ("paths",), "file.deleted": ("paths",),
    "command.ran": ("command",), "git.commit": ("commit",), "vague": ("text",),
    "attribution": ("text",),
}
_ALL_FIELDS: Final = ("kind", "text", "paths", "command", "count", "scope", "runner", "commit")
_COMMIT = re.compile(r"[0-9a-fA-F]{7,40}")
_COMMIT_PATTERN: Final = "^[0-9a-fA-F]{7,40}$"

_CLAIM_SCHEMA: Final[dict[str, Any]] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["kind"],
    "properties": {
        "kind": {"enum": list(CLAIM_KINDS), "description": "what the claim asserts"},
        "text": {"type": "string", "minLength": 1,
                 "description": "the statement as the agent wrote it"},
        "paths": {"type": "array", "minItems": 1, "items": {"type": "string", "minLength": 1},
                  "description": "files, as written in the report"},
        "command": {"type": "string", "minLength": 1, "description": "a command line"},
        "count": {"type": "integer", "minimum": 0,
                  "description": "tests claimed passing (tests.pass), failing (tests.fail) "
                                 "or added (tests.added)"},
        "scope": {"enum": list(SCOPES),
                  "description": "all: the whole suite; subset: a named group of tests"},
        "runner": {"type": "string", "minLength": 1,
                   "description": "the test runner: pytest, jest, vitest, go test..."},
        "commit": {"type": "string", "pattern": _COMMIT_PATTERN,
                   "description": "a commit id or a prefix of one (7-40 hex digits)"},
    },
    "allOf": [
        {"if": {"properties": {"kind": {"const": kind}}, "required": ["kind"]},
         "then": {
             "properties": {f: False for f in _ALL_FIELDS[2:] if f not in FIELDS[kind]},
             **({"required": list(REQUIRED[kind])} if kind in REQUIRED else {})}}
        for kind in CLAIM_KINDS
    ],
}
#: JSON Schema (draft 2020-12) of the structured claims format.
CLAIMS_JSON_SCHEMA: Final[dict[str, Any]] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "CODOR claims",
    "description": "What an agent says it did, as structured claims that CODOR checks "
                   "against the evidence of its session.",
    "oneOf": [
        {"type": "object", "additionalProperties": False, "required": ["claims"],
         "properties": {"claims": {"type": "array", "items": {"$ref": "#/$defs/claim"}}}},
        {"type": "array", "items": {"$ref": "#/$defs/claim"}},
    ],
    "$defs": {"claim": _CLAIM_SCHEMA},
}


def _fail(location: str, message: str) -> InputError:
    return InputError(message, location=location)


def _string(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise _fail(where, "must be a non-empty string")
    return value


def _count(value: Any, where: str) -> int:
    if isinstance(value, float) and value.is_integer() and value >= 0:
        return int(value)
    if type(value) is not int or value < 0:
        raise _fail(where, "must be a non-negative integer")
    return value


def _render(kind: str, paths: tuple[str, ...], command: str | None, count: int | None,
            scope: Scope | None, runner: str | None, commit: str | None) -> str:
    """A sentence for a claim given without ``text``."""
    how = f" ({runner})" if runner else f" (`{command}`)" if command else ""
    many = f"{count} " if count is not None else ""
    files = ", ".join(paths)
    if kind == "tests.pass":
        return f"{'all ' if scope == 'all' else ''}{many}tests pass{how}"
    if kind == "tests.fail":
        return f"{many}tests fail{how}"
    if kind == "tests.not_run":
        return f"tests were not run{how}"
    if kind == "tests.added":
        return f"added {many}tests" + (f" in {files}" if files else "")
    if kind.startswith("file."):
        return f"{kind[5:]} {files}"
    if kind == "command.ran":
        return f"ran `{command}`"
    if kind == "git.commit":
        return f"committed {commit}"
    if kind == "browser.verified":
        return "verified in the browser"
    noun = {"build.pass": "the build passes", "lint.pass": "lint passes",
            "typecheck.pass": "type checks pass"}[kind]
    return noun + (f" (`{command}`)" if command else "")


def _claim(item: Any, where: str) -> Claim:
    if not isinstance(item, dict):
        raise _fail(where, "must be a claim object")
    for key in item:
        if key not in _ALL_FIELDS:
            raise _fail(f"{where}.{key}" if isinstance(key, str) else where,
                        f"unknown key; known: {', '.join(_ALL_FIELDS)}")
    if "kind" not in item:
        raise _fail(f"{where}.kind", "is required")
    kind = item["kind"]
    if not isinstance(kind, str) or kind not in CLAIM_KINDS:
        raise _fail(f"{where}.kind", f"unknown claim kind {kind!r}; known: "
                                     f"{', '.join(CLAIM_KINDS)}")
    allowed = FIELDS[kind]
    for key in item:
        if key not in ("kind", "text") and key not in allowed:
            raise _fail(f"{where}.{key}", f"not used by kind {kind} (it takes: "
                                          f"{', '.join(sorted(allowed)) or 'only text'})")
    for key in REQUIRED.get(kind, ()):
        if key not in item:
            raise _fail(f"{where}.{key}", f"is required for kind {kind}")
    paths: tuple[str, ...] = ()
    if "paths" in item:
        raw = item["paths"]
        if not isinstance(raw, list) or not raw:
            raise _fail(f"{where}.paths", "must be a non-empty list of paths")
        paths = tuple(_string(p, f"{where}.paths[{i}]") for i, p in enumerate(raw))
    command = _string(item["command"], f"{where}.command") if "command" in item else None
    runner = _string(item["runner"], f"{where}.runner") if "runner" in item else None
    count = _count(item["count"], f"{where}.count") if "count" in item else None
    scope: Scope | None = None
    if "scope" in item:
        if item["scope"] not in SCOPES:
            raise _fail(f"{where}.scope", f"must be one of {', '.join(SCOPES)}")
        scope = item["scope"]
    commit: str | None = None
    if "commit" in item:
        if not isinstance(item["commit"], str) or not _COMMIT.fullmatch(item["commit"]):
            raise _fail(f"{where}.commit", "must be 7 to 40 hexadecimal digits")
        commit = item["commit"].lower()
    if "text" in item:
        text = _string(item["text"], f"{where}.text")
    else:
        text = _render(kind, paths, command, count, scope, runner, commit)
    claim_kind: ClaimKind = kind  # type: ignore[assignment]  # checked against CLAIM_KINDS
    return Claim(kind=claim_kind, text=text, paths=paths, command=command, count=count,
                 scope=scope, runner=runner, commit=commit, source="json")


def parse_claims_json(data: Any, *, location: str = "claims") -> list[Claim]:
    """The claims of a parsed JSON document: ``{"claims": [...]}`` or a bare list.
    ``location`` names the list in error messages (``claims[2].count: ...``)."""
    if isinstance(data, dict):
        for key in data:
            if key != "claims":
                name = key if isinstance(key, str) and key.strip() else json.dumps(str(key))
                raise _fail(name, 'unknown key; a claims document has only "claims"')
        if "claims" not in data:
            raise _fail(location, 'is required: {"claims": [...]}')
        data = data["claims"]
        if not isinstance(data, list):
            raise _fail(location, "must be a list of claim objects")
    elif not isinstance(data, list):
        raise _fail(location, 'must be {"claims": [...]} or a list of claim objects')
    return [_claim(item, f"{location}[{i}]") for i, item in enumerate(data)]


def looks_like_claims_json(text: str) -> bool:
    """Whether ``text`` is a JSON claims document (an object with a ``"claims"`` key, or a
    non-empty list of objects with a ``"kind"``) rather than a prose report: when True,
    ``json.loads(text)`` succeeds. Says nothing about validity: :func:`parse_claims_json`
    decides that."""
    if not text.lstrip(" \t\r\n").startswith(("{", "[")):
        return False
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return False
    if isinstance(data, dict):
        return "claims" in data
    return (isinstance(data, list) and bool(data) and
            all(isinstance(item, dict) and "kind" in item for item in data))
