"""Evidence records: round trips, canonical bytes, validation, redaction, session binding."""

from __future__ import annotations

import hashlib
import json
import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codor.canonical import canonical_json
from codor.evidence.records import (
    EXCERPT_HEAD_BYTES,
    EXCERPT_MAX_BYTES,
    MAX_SAFE_INT,
    OBSERVERS,
    DecisionRecord,
    OutcomeRecord,
    SessionStart,
    StreamSummary,
    action_digest,
    check_binding,
    now_us,
    record_from_bytes,
    record_from_json,
)
from codor.model import Action, Agent, Decision, Reason

POLICY = "ab" * 32
GITHUB_TOKEN = "ghp_" + "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5"


def start() -> SessionStart:
    return SessionStart.new("s-1", Agent("claude-1", "coder"), POLICY)


def decision_record(s: SessionStart, **overrides: Any) -> DecisionRecord:
    wall, mono = now_us()
    fields: dict[str, Any] = {
        "session": s.session, "challenge": s.challenge,
        "action": Action.create("command.exec", command="pytest -q", session=s.session),
        "decision": Decision("allow", (Reason("r1", None, "low", "fine"),), ("w",), POLICY),
        "policy": POLICY, "observer": "codor-engine", "wall_us": wall, "mono_us": mono}
    return DecisionRecord(**(fields | overrides))


def outcome_record(s: SessionStart, **overrides: Any) -> OutcomeRecord:
    wall, mono = now_us()
    fields: dict[str, Any] = {
        "session": s.session, "challenge": s.challenge, "action_index": 1,
        "action_sha256": None, "exit_status": 0, "started_wall_us": wall,
        "ended_wall_us": wall + 1500, "started_mono_us": mono, "ended_mono_us": mono + 1500,
        "policy": POLICY, "observer": "codor-sandbox",
        "stdout": StreamSummary.of(b"5 passed in 0.12s\n"), "stderr": StreamSummary.of(b""),
        "products": {"out/report.xml": "cd" * 32}, "materials": {"src/app.py": "ef" * 32},
        "sandbox": "bwrap-default"}
    return OutcomeRecord(**(fields | overrides))


# -- round trips ------------------------------------------------------------------------------
def test_session_start() -> None:
    a, b = start(), start()
    assert len(a.challenge) == 64 and int(a.challenge, 16) >= 0
    assert a.challenge != b.challenge  # fresh randomness every time
    data = a.to_json()
    assert data["type"] == "session.start" and data["v"] == 1
    assert data["agent"] == {"id": "claude-1", "role": "coder"}
    assert SessionStart.from_json(data) == a
    assert record_from_bytes(a.to_bytes()) == a
    assert a.observed


def test_decision_record_round_trip() -> None:
    r = decision_record(start())
    data = json.loads(r.to_bytes())
    assert data["action"] == r.action.to_json()
    assert data["decision"] == r.decision.to_json()
    assert DecisionRecord.from_json(data) == r
    assert record_from_json(data) == r
    assert record_from_bytes(r.to_bytes()) == r


def test_outcome_record_round_trip() -> None:
    s = start()
    r = outcome_record(s)
    assert r.duration_us == 1500
    data = json.loads(r.to_bytes())
    assert data["stdout"] == {"sha256": hashlib.sha256(b"5 passed in 0.12s\n").hexdigest(),
                              "size": 18, "excerpt": "5 passed in 0.12s\n", "truncated": False}
    assert data["duration_us"] == 1500 and data["products"] == {"out/report.xml": "cd" * 32}
    assert OutcomeRecord.from_json(data) == r
    assert record_from_bytes(r.to_bytes()) == r
    by_digest = outcome_record(s, action_index=None,
                               action_sha256=action_digest(decision_record(s).action))
    assert record_from_bytes(by_digest.to_bytes()) == by_digest


def test_leaf_bytes_are_canonical_json() -> None:
    r = outcome_record(start())
    leaf = r.to_bytes()
    assert leaf == canonical_json(json.loads(leaf))
    assert b" " not in leaf.replace(b"5 passed in 0.12s", b"")  # no whitespace
    keys = list(json.loads(leaf))
    assert keys == sorted(keys)


def test_agent_claims_are_not_observations() -> None:
    s = start()
    assert decision_record(s).observed
    claim = outcome_record(s, observer="agent-claim")
    assert not claim.observed
    assert not record_from_bytes(claim.to_bytes()).observed
    assert set(OBSERVERS) == {"codor-sandbox", "codor-engine", "codor-runtime",
                              "claude-code-harness", "codex-harness", "gemini-harness",
                              "mcp-gateway", "agent-claim"}


# -- stream excerpts --------------------------------------------------------------------------
def test_excerpt_is_redacted() -> None:
    summary = StreamSummary.of(f"pushing with {GITHUB_TOKEN}\n".encode())
    assert GITHUB_TOKEN not in summary.excerpt
    assert "[REDACTED:github_token]" in summary.excerpt
    assert summary.sha256 == hashlib.sha256(f"pushing with {GITHUB_TOKEN}\n".encode()).hexdigest()


def test_excerpt_is_bounded_and_says_truncated() -> None:
    data = ("é" * 3000).encode()  # 6000 bytes of two-byte characters
    summary = StreamSummary.of(data)
    assert summary.truncated and summary.size == 6000
    assert len(summary.excerpt.encode()) <= EXCERPT_MAX_BYTES
    head, marker, tail = summary.excerpt.split("\n")  # cut on character boundaries
    assert head == "é" * (EXCERPT_HEAD_BYTES // 2) and set(tail) == {"é"}
    assert marker == "\u2026[6000 bytes, middle omitted]\u2026"
    assert len(summary.excerpt.encode()) >= EXCERPT_MAX_BYTES - 1
    exact = StreamSummary.of(b"x" * EXCERPT_MAX_BYTES)
    assert not exact.truncated and exact.excerpt == "x" * EXCERPT_MAX_BYTES


def test_long_stream_keeps_its_end_where_runners_print_summaries() -> None:
    data = b"".join(b"tests/test_%04d.py::test_it PASSED\n" % i for i in range(500))
    summary = StreamSummary.of(data + b"===== 500 passed in 1.23s =====\n")
    assert summary.truncated and summary.excerpt.startswith("tests/test_0000.py")
    assert summary.excerpt.endswith("===== 500 passed in 1.23s =====\n")
    huge = StreamSummary.of(b"x" * 200_000 + b"\nFAILED (failures=2)\n")
    assert huge.excerpt.startswith("xxx") and huge.excerpt.endswith("FAILED (failures=2)\n")
    assert len(huge.excerpt.encode()) <= EXCERPT_MAX_BYTES


def test_secret_at_the_cut_is_never_half_shown() -> None:
    cuts = [*range(EXCERPT_HEAD_BYTES - 40, EXCERPT_HEAD_BYTES + 1, 7),
            *range(EXCERPT_MAX_BYTES - 40, EXCERPT_MAX_BYTES + 1, 7)]
    for offset in cuts:
        summary = StreamSummary.of(b"a" * offset + b" " + GITHUB_TOKEN.encode() + b" tail")
        assert "ghp_aB3d" not in summary.excerpt, offset


def test_huge_and_binary_streams() -> None:
    big = StreamSummary.of(b"line\n" * 100_000)
    assert big.truncated and big.size == 500_000 and big.excerpt.startswith("line\n")
    binary = StreamSummary.of(b"\xff\xfe\x00ok")
    assert binary.excerpt == "\ufffd\ufffd\ufffdok" and not binary.truncated


def test_excerpt_validation() -> None:
    with pytest.raises(ValueError, match="at most 2048"):
        StreamSummary("00" * 32, 5000, "x" * 2049, True)
    with pytest.raises(ValueError, match="truncated"):
        StreamSummary("00" * 32, 1, "x", 1)  # type: ignore[arg-type]


# -- validation -------------------------------------------------------------------------------
def mutate(data: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A deep copy of ``data`` with ``path`` (dot-separated) set to ``value`` (or deleted)."""
    copy: dict[str, Any] = json.loads(json.dumps(data))
    *parents, last = path.split(".")
    target = copy
    for p in parents:
        target = target[p]
    if value is DELETE:
        del target[last]
    else:
        target[last] = value
    return copy


DELETE = object()


@pytest.mark.parametrize(("path", "value", "message"), [
    ("v", 2, "unsupported version"),
    ("v", True, "unsupported version"),
    ("type", "outcome", "type must be 'decision'"),
    ("extra", 1, "unknown field"),
    ("observer", DELETE, "missing field"),
    ("observer", "the-agent", "observer must be one of"),
    ("challenge", "AB" * 32, "64 lowercase hex"),
    ("challenge", "ab" * 31, "64 lowercase hex"),
    ("session", "", "non-empty string"),
    ("session", "a\x00b", "NUL"),
    ("wall_us", -1, "integer"),
    ("wall_us", 1.5, "integer"),
    ("wall_us", MAX_SAFE_INT + 1, "integer"),
    ("mono_us", True, "integer"),
    ("policy", "cd" * 32, "differs"),
    ("action.kind", "file.nuke", "action: unknown action kind"),
    ("action.path", 3, "action:"),
    ("decision.decision", "maybe", "allow, deny or ask"),
    ("decision.reasons", [{"rule": 1, "guard": None, "severity": "low", "message": ""}],
     "rule and guard"),
    ("decision.reasons", [{"rule": "r", "guard": None, "severity": "huge", "message": ""}],
     "severity"),
    ("decision.extra", 1, "unknown field"),
])
def test_decision_record_validation(path: str, value: Any, message: str) -> None:
    data = mutate(decision_record(start()).to_json(), path, value)
    with pytest.raises(ValueError, match=message):
        DecisionRecord.from_json(data)


@pytest.mark.parametrize(("path", "value", "message"), [
    ("action_index", None, "action_index or action_sha256"),
    ("action_index", -3, "action_index"),
    ("action_sha256", "xyz", "action_sha256"),
    ("duration_us", 7, "duration_us must equal"),
    ("duration_us", -1, "duration_us"),
    ("ended_mono_us", 0, "before started_mono_us"),
    ("exit_status", "0", "exit_status"),
    ("products", {"a": "nothex"}, "products"),
    ("materials", ["a"], "materials"),
    ("materials", {"": "ab" * 32}, "materials path"),
    ("stdout.excerpt", "y" * 3000, "at most 2048"),
    ("stdout.extra", 1, "unknown field"),
    ("stderr", None, "stderr must be a JSON object"),
    ("sandbox", "", "sandbox"),
])
def test_outcome_record_validation(path: str, value: Any, message: str) -> None:
    data = mutate(outcome_record(start()).to_json(), path, value)
    with pytest.raises(ValueError, match=message):
        OutcomeRecord.from_json(data)


def test_session_start_validation() -> None:
    data = start().to_json()
    for path, value in (("agent", "claude"), ("agent.id", ""), ("agent.other", 1),
                        ("policy", "x"), ("challenge", DELETE)):
        with pytest.raises(ValueError):
            record_from_json(mutate(data, path, value))


def test_bad_leaf_bytes() -> None:
    r = decision_record(start())
    leaf = r.to_bytes()
    pretty = json.dumps(json.loads(leaf), indent=1).encode()
    with pytest.raises(ValueError, match="canonical"):
        record_from_bytes(pretty)
    with pytest.raises(ValueError, match="duplicate key"):
        record_from_bytes(b'{"v":1,' + leaf[1:])
    with pytest.raises(ValueError, match="UTF-8 JSON"):
        record_from_bytes(b"\xff")
    with pytest.raises(ValueError, match="unknown record type"):
        record_from_bytes(b'{"type":"nope","v":1}')
    with pytest.raises(ValueError, match="unknown record type"):
        record_from_json([1])


def test_construction_validates() -> None:
    with pytest.raises(ValueError, match="observer"):
        decision_record(start(), observer="me")
    with pytest.raises(ValueError, match="challenge"):
        SessionStart("s", "00", 0, Agent("a"), POLICY)


# -- session binding --------------------------------------------------------------------------
def test_check_binding() -> None:
    s = start()
    check_binding(s, decision_record(s))
    check_binding(s, outcome_record(s))
    other = start()
    with pytest.raises(ValueError, match="another challenge"):
        check_binding(other, decision_record(s))
    with pytest.raises(ValueError, match="session"):
        check_binding(s, decision_record(s, session="s-2"))
    with pytest.raises(ValueError, match="before its session started"):
        check_binding(s, decision_record(s, wall_us=s.wall_us - 1))


# -- property: canonical bytes are stable -----------------------------------------------------
texts = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1,
                max_size=20)
hexes = st.binary(min_size=32, max_size=32).map(bytes.hex)
ints = st.integers(0, MAX_SAFE_INT)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | texts
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=8)
actions = st.builds(lambda path, meta: Action.create("file.read", path=path, meta=meta),
                    texts, st.dictionaries(texts, json_values, max_size=3))
decisions = st.builds(
    lambda outcome, msgs: Decision(outcome, tuple(Reason(m, None, "high", m) for m in msgs),
                                   tuple(msgs), POLICY),
    st.sampled_from(["allow", "deny", "ask"]), st.lists(texts, max_size=3))
streams = st.binary(max_size=3000).map(StreamSummary.of)
observers: st.SearchStrategy[Any] = st.sampled_from(OBSERVERS)


@st.composite
def records(draw: st.DrawFn) -> SessionStart | DecisionRecord | OutcomeRecord:
    kind = draw(st.sampled_from(["start", "decision", "outcome"]))
    session, challenge = draw(texts), draw(hexes)
    if kind == "start":
        return SessionStart(session, challenge, draw(ints),
                            Agent(draw(texts), draw(st.none() | texts)), POLICY)
    if kind == "decision":
        return DecisionRecord(session, challenge, draw(actions), draw(decisions), POLICY,
                              draw(observers), draw(ints), draw(ints))
    t0, t1 = sorted([draw(ints), draw(ints)])
    return OutcomeRecord(
        session, challenge, draw(st.none() | ints), draw(hexes), draw(st.none() | st.integers(
            -255, 255)), draw(ints), draw(ints), t0, t1, POLICY, draw(observers),
        draw(streams), draw(streams), draw(st.dictionaries(texts, hexes, max_size=3)),
        draw(st.dictionaries(texts, hexes, max_size=3)), draw(st.none() | texts))


@settings(max_examples=200, deadline=None)
@given(records(), st.randoms(use_true_random=False))
def test_canonical_bytes_are_stable(record: Any, rnd: random.Random) -> None:
    leaf = record.to_bytes()
    again = record_from_bytes(leaf)
    assert again == record and hash(again) == hash(record)
    assert again.to_bytes() == leaf
    assert canonical_json(json.loads(leaf)) == leaf
    items = list(record.to_json().items())
    rnd.shuffle(items)
    assert canonical_json(dict(items)) == leaf  # key order never matters
    assert record_from_json(json.loads(leaf)).to_bytes() == leaf


def test_golden_bytes() -> None:
    """The leaf format is a contract: these bytes must never change for v1."""
    zero = "00" * 32
    s = SessionStart("s-1", zero, 1_700_000_000_000_000, Agent("claude-1", "coder"), POLICY)
    assert s.to_bytes() == (
        b'{"agent":{"id":"claude-1","role":"coder"},"challenge":"' + zero.encode()
        + b'","policy":"' + POLICY.encode() + b'","session":"s-1","type":"session.start",'
        b'"v":1,"wall_us":1700000000000000}')
    r = OutcomeRecord("s-1", zero, 7, None, -9, 1_700_000_000_000_000, 1_700_000_002_500_000,
                      5000, 2_505_000, POLICY, "codor-sandbox", StreamSummary.of(b"ok\n"),
                      products={"b.txt": "cd" * 32})
    assert hashlib.sha256(r.to_bytes()).hexdigest() == hashlib.sha256(
        b'{"action_index":7,"action_sha256":null,"challenge":"' + zero.encode()
        + b'","duration_us":2500000,"ended_mono_us":2505000,"ended_wall_us":1700000002500000,'
        b'"exit_status":-9,"materials":{},"observer":"codor-sandbox","policy":"'
        + POLICY.encode() + b'","products":{"b.txt":"' + b"cd" * 32 + b'"},"sandbox":null,'
        b'"session":"s-1","started_mono_us":5000,"started_wall_us":1700000000000000,'
        b'"stderr":{"excerpt":"","sha256":"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca4'
        b'95991b7852b855","size":0,"truncated":false},"stdout":{"excerpt":"ok\\n","sha256":'
        b'"dc51b8c96c2d745df3bd5590d990230a482fd247123599548e0632fdbf97fc22","size":3,'
        b'"truncated":false},"type":"outcome","v":1}').hexdigest()
