"""Reading ledger leaves back as records: a leaf's JSON object, and the byte needles that let
the store find a session's or an event's leaves in the database (every record is canonical
JSON, so ``"session":"s-1"`` appears verbatim in each record of session ``s-1``)."""

from __future__ import annotations

from typing import Any

import orjson

from codor.canonical import canonical_json

__all__ = ["event_needle", "leaf_record", "session_needle"]


def leaf_record(leaf: bytes | None) -> dict[str, Any] | None:
    """A leaf's record as a JSON object, or ``None`` (pruned, not JSON, not an object)."""
    if leaf is None:
        return None
    try:
        value = orjson.loads(leaf)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def session_needle(session: str) -> bytes:
    """The bytes every record of ``session`` contains."""
    return b'"session":' + canonical_json(session)


def event_needle(event: str) -> bytes:
    """The bytes every ``event`` record named ``event`` contains."""
    return b'"event":' + canonical_json(event)
