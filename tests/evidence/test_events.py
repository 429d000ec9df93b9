"""Event and approval records: validation, canonical bytes, round trips, session binding."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from codor.evidence.events import EVENT_DATA_MAX_BYTES, ApprovalRecord, EventRecord
from codor.evidence.records import SessionStart, check_binding, record_from_bytes
from codor.model import Agent

POLICY = "ab" * 32
START = SessionStart("s-1", "cd" * 32, 1_000, Agent("a"), POLICY)


def event(**changes: object) -> EventRecord:
    fields: dict[str, object] = {
        "session": "s-1", "challenge": START.challenge, "event": "egress.closed",
        "data": {"target": "https://pypi.org/simple/", "bytes_down": 120, "ms": 1.5},
        "policy": POLICY, "observer": "codor-sandbox", "wall_us": 2_000, "mono_us": 5,
    } | changes
    return EventRecord(**fields)  # type: ignore[arg-type]


def approval(**changes: object) -> ApprovalRecord:
    fields: dict[str, object] = {
        "session": "s-1", "challenge": START.challenge, "action_index": 4,
        "action_sha256": "ef" * 32, "approved": True, "approver": "dev@host",
        "channel": "tty", "policy": POLICY, "wall_us": 2_000, "mono_us": 5,
    } | changes
    return ApprovalRecord(**fields)  # type: ignore[arg-type]


def test_records_round_trip_through_their_canonical_bytes() -> None:
    for record in (event(), approval(), approval(comment="looks fine", action_index=None)):
        assert record_from_bytes(record.to_bytes()) == record
        check_binding(START, record)


@pytest.mark.parametrize(("changes", "message"), [
    ({"event": "Closed"}, "dotted lowercase"),
    ({"data": ["not", "an", "object"]}, "JSON object"),
    ({"data": {"blob": "x" * EVENT_DATA_MAX_BYTES}}, "at most"),
    ({"observer": "somebody"}, "observer"),
    ({"action_index": -1}, "action_index"),
])
def test_bad_events_are_refused_naming_the_field(changes: dict[str, object],
                                                 message: str) -> None:
    with pytest.raises(ValueError, match=message):
        event(**changes)


@pytest.mark.parametrize(("changes", "message"), [
    ({"action_index": None, "action_sha256": None}, "needs action_index"),
    ({"approved": 1}, "true or false"),
    ({"channel": "carrier pigeon"}, "channel"),
    ({"approver": ""}, "approver"),
    ({"comment": "x" * 2001}, "longer"),
])
def test_bad_approvals_are_refused_naming_the_field(changes: dict[str, object],
                                                    message: str) -> None:
    with pytest.raises(ValueError, match=message):
        approval(**changes)


def test_an_event_dated_before_its_session_is_not_bound_to_it() -> None:
    with pytest.raises(ValueError, match="before its session"):
        check_binding(START, event(wall_us=999))


@given(st.dictionaries(st.text(max_size=8), st.one_of(
    st.integers(-(2**53) + 1, 2**53 - 1), st.text(max_size=20), st.booleans(), st.none()),
    max_size=6))
def test_any_small_json_object_is_a_valid_event_payload(data: dict[str, object]) -> None:
    try:
        record = event(data=data)
    except ValueError as exc:  # only text the canonical form refuses (lone surrogates)
        assert "canonical" in str(exc)
        return
    assert record_from_bytes(record.to_bytes()) == record
