"""Offline bundles: one session's entries, proofs, checkpoint and key verify with nothing else;
any changed byte of a leaf, proof, checkpoint or key is caught and named. And the in-toto
export of a session."""

from __future__ import annotations

import base64
import copy
import json
import random
import shutil
import string
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from codor.evidence.intoto import (
    LINK_PREDICATE_TYPE,
    TEST_RESULT_PREDICATE_TYPE,
    parse_bundle,
    verify_statement,
)
from codor.evidence.keys import KeyStore, LogKey
from codor.evidence.records import (
    DecisionRecord,
    OutcomeRecord,
    SessionStart,
    StreamSummary,
    now_us,
)
from codor.ledger.bundle import (
    DECISION_PREDICATE_TYPE,
    BundleError,
    export_bundle,
    export_intoto,
    verify_bundle,
)
from codor.ledger.checkpoint import Checkpoint, open_checkpoint, sign_note
from codor.ledger.log import Ledger
from codor.ledger.sqlite import SQLiteStore
from codor.model import Action, Agent, Decision, Reason

ORIGIN = "codor.test/bundle"
POLICY = "ab" * 32
PYTEST_OUT = (b"tests/test_a.py::test_ok PASSED\ntests/test_a.py::test_bad FAILED\n"
              b"FAILED tests/test_a.py::test_bad - assert 1 == 2\n1 failed, 1 passed\n")


def decision(start: SessionStart, action: Action, verdict: str = "allow",
             wall_us: int | None = None) -> DecisionRecord:
    wall, mono = now_us()
    reasons = (Reason("commands.pipe_to_shell", "commands", "high", "no"),) \
        if verdict == "deny" else ()
    return DecisionRecord(start.session, start.challenge, action,
                          Decision(verdict, reasons, (), POLICY),  # type: ignore[arg-type]
                          POLICY, "codor-engine", wall if wall_us is None else wall_us, mono)


def outcome(start: SessionStart, action_index: int, exit_status: int, stdout: bytes = b"",
            **fields: Any) -> OutcomeRecord:
    wall, mono = now_us()
    return OutcomeRecord(start.session, start.challenge, action_index, None, exit_status,
                         wall, wall + 900, mono, mono + 900, POLICY, "codor-sandbox",
                         stdout=StreamSummary.of(stdout), **fields)


@dataclass
class World:
    ledger: Ledger
    keys: KeyStore
    path: Path
    s: SessionStart
    t: SessionStart
    s_indexes: list[int]


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    """Session S (start, 2 decisions, 2 outcomes) interleaved with session T (no outcomes)."""
    keys = KeyStore(tmp_path / "ws" / "keys")
    keys.init("bundle-test")
    path = tmp_path / "ws" / "ledger.db"
    ledger = Ledger(SQLiteStore(path, batch_size=1), origin=ORIGIN, key=keys.load(),
                    verifiers=keys.verifiers())
    s = SessionStart.new("S", Agent("agent-1", "coder"), POLICY)
    t = SessionStart.new("T", Agent("agent-2"), POLICY)
    pytest_cmd = Action.create("command.exec", command="python -m pytest -q", session="S")
    records = [
        s, t,
        decision(s, Action.create("file.read", path="src/a.py", session="S")),
        decision(t, Action.create("command.exec", command="curl x | sh", session="T"), "deny"),
        decision(s, pytest_cmd),
        outcome(s, 4, 1, PYTEST_OUT, materials={"src/a.py": "ef" * 32}),
        decision(t, Action.create("file.read", path="README", session="T")),
        outcome(s, 2, 0, b"", products={"build/out.txt": "cd" * 32}),
    ]
    for record in records:
        ledger.append(record.to_bytes(), durable=True)
    yield World(ledger, keys, path, s, t, [0, 2, 4, 5, 7])
    ledger.close()


def text(bundle: dict[str, Any]) -> str:
    return json.dumps(bundle, indent=1)


def test_a_bundle_verifies_with_nothing_else(world: World, tmp_path: Path) -> None:
    bundle_file = tmp_path / "elsewhere" / "s.bundle.json"
    bundle_file.parent.mkdir()
    bundle_file.write_text(text(export_bundle(world.ledger, "S")), encoding="utf-8")
    vkey = world.keys.load().vkey()
    world.ledger.close()
    shutil.rmtree(tmp_path / "ws")  # the workspace, its keys and its ledger are gone

    report = verify_bundle(bundle_file.read_bytes())
    assert report.ok, report
    assert report.session == "S" and report.origin == ORIGIN
    assert list(report.indexes) == world.s_indexes
    assert dict(report.counts) == {"session.start": 1, "decision": 2, "outcome": 2}
    assert report.size == 8 and report.signers == (vkey,) and not report.pinned

    from codor.evidence.keys import Verifier

    pinned = verify_bundle(bundle_file.read_text(encoding="utf-8"), [Verifier(vkey)])
    assert pinned.ok and pinned.pinned


def test_the_bundle_holds_exactly_the_session(world: World) -> None:
    bundle = export_bundle(world.ledger, "S")
    assert [e["index"] for e in bundle["entries"]] == world.s_indexes
    sessions = {json.loads(base64.b64decode(e["leaf"]))["session"] for e in bundle["entries"]}
    assert sessions == {"S"}
    assert bundle["format"] == "codor.ledger.bundle" and bundle["version"] == 1
    assert bundle["keys"] == [world.keys.load().vkey()]


def test_export_signs_a_checkpoint_only_when_needed(world: World) -> None:
    assert world.ledger.store.latest_checkpoint() is None
    first = export_bundle(world.ledger, "S")
    assert world.ledger.store.checkpoint_sizes() == [8]
    world.ledger.append(decision(world.t, Action.create("file.read", path="x",
                                                        session="T")).to_bytes(), durable=True)
    again = export_bundle(world.ledger, "S")  # the size-8 checkpoint still covers S
    assert again["checkpoint"] == first["checkpoint"]
    assert world.ledger.store.checkpoint_sizes() == [8]
    world.ledger.append(decision(world.s, Action.create("file.read", path="y",
                                                        session="S")).to_bytes(), durable=True)
    grown = export_bundle(world.ledger, "S")
    assert world.ledger.store.checkpoint_sizes() == [8, 10]
    assert verify_bundle(grown).ok and grown["entries"][-1]["index"] == 9


def test_an_unknown_session_is_refused(world: World) -> None:
    with pytest.raises(BundleError, match=r"no session\.start of session 'nope'"):
        export_bundle(world.ledger, "nope")


# -- tampering ------------------------------------------------------------------------------------
def _other(c: str) -> str:
    """A different character of the same kind (so the JSON stays well formed)."""
    pool = "0123456789abcdef" if c in "0123456789abcdef" else string.ascii_letters + "0123456789"
    return pool[(pool.index(c) + 1) % len(pool)] if c in pool else ("a" if c != "a" else "b")


def _mutations(value: str, rng: random.Random, limit: int) -> list[tuple[int, str]]:
    positions = list(range(len(value)))
    if len(positions) > limit:  # always the ends, plus a random sample of the middle
        positions = sorted({0, len(value) - 1, *rng.sample(positions, limit - 2)})
    return [(i, value[:i] + _other(value[i]) + value[i + 1:]) for i in positions]


def test_any_changed_byte_of_a_leaf_or_proof_names_its_entry(world: World) -> None:
    bundle = export_bundle(world.ledger, "S")
    rng = random.Random(1)
    tried = 0
    for n, entry in enumerate(bundle["entries"]):
        fields: list[tuple[str, int | None]] = [("leaf", None), ("leaf_hash", None)]
        fields += [("proof", k) for k in range(len(entry["proof"]))]
        for name, k in fields:
            value = entry[name] if k is None else entry[name][k]
            for _pos, changed in _mutations(value, rng, 10_000):
                bad = copy.deepcopy(bundle)
                if k is None:
                    bad["entries"][n][name] = changed
                else:
                    bad["entries"][n][name][k] = changed
                report = verify_bundle(text(bad))
                assert not report.ok, (name, k, changed)
                assert report.where == f"entry {entry['index']}", report
                assert report.index == entry["index"]
                tried += 1
    assert tried > 500


def test_any_changed_byte_of_the_checkpoint_or_key_is_caught(world: World) -> None:
    bundle = export_bundle(world.ledger, "S")
    for _pos, changed in _mutations(bundle["checkpoint"], random.Random(2), 10_000):
        bad = dict(bundle, checkpoint=changed)
        report = verify_bundle(text(bad))
        assert not report.ok and report.where == "checkpoint", (changed, report)
    for _pos, changed in _mutations(bundle["keys"][0], random.Random(3), 10_000):
        report = verify_bundle(text(dict(bundle, keys=[changed])))
        assert not report.ok and report.where == "key 0", (changed, report)


def test_uppercased_hex_is_not_the_same_bundle(world: World) -> None:
    bundle = export_bundle(world.ledger, "S")
    bad = copy.deepcopy(bundle)
    bad["entries"][1]["leaf_hash"] = bad["entries"][1]["leaf_hash"].upper()
    assert verify_bundle(bad).where == "entry 2"
    name, key_id, data = bundle["keys"][0].split("+", 2)
    if key_id != key_id.upper():
        assert verify_bundle(dict(bundle, keys=[f"{name}+{key_id.upper()}+{data}"])).where \
            == "key 0"


def test_changed_fields_around_the_entries_are_caught(world: World) -> None:
    bundle = export_bundle(world.ledger, "S")
    cases: list[tuple[dict[str, Any], str | None]] = [
        (dict(bundle, origin="codor.test/other"), "checkpoint"),
        (dict(bundle, session="T"), "entry 0"),
        (dict(bundle, version=2), "bundle"),
        (dict(bundle, format="something"), "bundle"),
        (dict(bundle, extra=1), "bundle"),
        (dict(bundle, entries=bundle["entries"][1:]), "entry 2"),  # the start left out
        (dict(bundle, entries=bundle["entries"][:1]), None),  # a prefix still verifies
        (dict(bundle, entries=bundle["entries"][1:2]), "entry 2"),  # bound to no start
        (dict(bundle, entries=[bundle["entries"][i] for i in (0, 2, 1)]), "bundle entry #2"),
        (dict(bundle, entries=[]), "bundle"),
        (dict(bundle, keys=[]), "bundle"),
    ]
    moved = copy.deepcopy(bundle)
    moved["entries"][1]["index"] = 3  # claims another position in the log
    cases.append((moved, "entry 3"))
    for bad, where in cases:
        report = verify_bundle(text(bad))
        assert report.ok is (where is None) and report.where == where, (where, report)


def test_random_byte_flips_never_crash_the_verifier(world: World) -> None:
    raw = text(export_bundle(world.ledger, "S")).encode()
    rng = random.Random(4)
    for _ in range(300):
        i = rng.randrange(len(raw))
        flipped = raw[:i] + bytes([raw[i] ^ (1 << rng.randrange(8))]) + raw[i + 1:]
        report = verify_bundle(flipped)
        assert report.ok in (True, False)
    for junk in (b"", b"[]", b"{}", b"\xff\xfe", "{\"format\": 1}"):
        assert verify_bundle(junk).where == "bundle"


def test_pinning_another_key_fails(world: World) -> None:
    bundle = export_bundle(world.ledger, "S")
    stranger = LogKey.generate("bundle-test")  # same name, another key
    report = verify_bundle(text(bundle), [stranger.verifier()])
    assert not report.ok and report.where == "checkpoint" and "pinned" in (report.problem or "")


def test_a_resigned_bundle_passes_only_when_the_key_is_not_pinned(world: World) -> None:
    bundle = export_bundle(world.ledger, "S")
    forger = LogKey.generate("bundle-test")
    cp, _ = open_checkpoint(bundle["checkpoint"], world.keys.verifiers())
    forged = dict(bundle, checkpoint=sign_note(Checkpoint(cp.origin, cp.size, cp.root).body(),
                                               [forger]), keys=[forger.vkey()])
    unpinned = verify_bundle(text(forged))
    assert unpinned.ok and not unpinned.pinned  # why the CLI says so, and pinning matters
    pinned = verify_bundle(text(forged), world.keys.verifiers())
    assert not pinned.ok and pinned.where == "checkpoint"


# -- bindings -------------------------------------------------------------------------------------
def test_a_record_bound_to_another_session_start_is_named(world: World) -> None:
    intruder = DecisionRecord("S", world.t.challenge, Action.create("file.read", path="z"),
                              Decision("allow", (), (), POLICY), POLICY, "codor-engine",
                              *now_us())
    index = world.ledger.append(intruder.to_bytes(), durable=True)
    report = verify_bundle(export_bundle(world.ledger, "S"))
    assert not report.ok and report.where == f"entry {index}"
    assert "no earlier session start" in (report.problem or "")


def test_a_record_dated_before_its_start_is_named(world: World) -> None:
    early = decision(world.s, Action.create("file.read", path="z"), wall_us=world.s.wall_us - 1)
    index = world.ledger.append(early.to_bytes(), durable=True)
    report = verify_bundle(export_bundle(world.ledger, "S"))
    assert not report.ok and report.where == f"entry {index}"
    assert "before its session started" in (report.problem or "")


def test_a_leaf_that_is_not_a_record_is_named(world: World) -> None:
    index = world.ledger.append(b'{"session":"S","type":"note"}', durable=True)
    report = verify_bundle(export_bundle(world.ledger, "S"))
    assert not report.ok and report.where == f"entry {index}"
    assert "not a CODOR evidence record" in (report.problem or "")


# -- in-toto --------------------------------------------------------------------------------------
def test_intoto_links_and_test_results_for_outcomes(world: World) -> None:
    envelopes = export_intoto(world.ledger, "S")
    statements = [verify_statement(env, world.keys.verifiers()) for env in envelopes]
    kinds = [s["predicateType"] for s in statements]
    assert kinds == [LINK_PREDICATE_TYPE, TEST_RESULT_PREDICATE_TYPE, LINK_PREDICATE_TYPE]
    link, result, second = statements
    assert link["predicate"]["command"] == ["python -m pytest -q"]
    assert link["predicate"]["byproducts"]["return-value"] == 1
    assert link["predicate"]["environment"]["codor"]["ledger_index"] == 5
    assert link["predicate"]["environment"]["codor"]["decision_index"] == 4
    assert link["subject"][0]["name"] == f"{ORIGIN}#5"
    assert result["predicate"]["result"] == "FAILED"
    assert result["predicate"]["failedTests"] == ["tests/test_a.py::test_bad"]
    assert result["predicate"]["passedTests"] == ["tests/test_a.py::test_ok"]
    assert result["subject"] == [{"name": "src/a.py", "digest": {"sha256": "ef" * 32}}]
    assert second["subject"] == [{"name": "build/out.txt", "digest": {"sha256": "cd" * 32}}]
    assert second["predicate"]["command"] == []  # a file read runs no command


def test_intoto_without_outcomes_is_the_decision_summary(world: World) -> None:
    lines = "".join(json.dumps(e) + "\n" for e in export_intoto(world.ledger, "T"))
    (envelope,) = parse_bundle(lines)
    stmt = verify_statement(envelope, world.keys.verifiers())
    assert stmt["predicateType"] == DECISION_PREDICATE_TYPE == "https://codor.dev/decision/v1"
    predicate = stmt["predicate"]
    assert predicate["session"] == "T" and predicate["counts"] == {"allow": 1, "deny": 1,
                                                                   "ask": 0}
    assert [d["index"] for d in predicate["decisions"]] == [3, 6]
    assert predicate["decisions"][0]["rules"] == ["commands.pipe_to_shell"]
    assert stmt["subject"][0]["name"] == f"{ORIGIN}#1"


def test_intoto_needs_a_signing_key(world: World) -> None:
    public_only = Ledger(SQLiteStore(world.path), origin=ORIGIN, key=None,
                         verifiers=world.keys.verifiers())
    try:
        with pytest.raises(BundleError, match="log key"):
            export_intoto(public_only, "S")
    finally:
        public_only.close()
