"""Retention: pruning drops old bodies but keeps every hash, so verify, prove, checkpoints and
bundles of newer sessions keep working; the size warning appears past its threshold, once."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from codor.errors import InputError
from codor.evidence.keys import KeyStore
from codor.evidence.records import DecisionRecord, SessionStart, now_us
from codor.ledger import retention
from codor.ledger.bundle import BundleError, export_bundle, verify_bundle
from codor.ledger.log import Ledger
from codor.ledger.retention import (
    DEFAULT_WARN_BYTES,
    compact,
    parse_age,
    prune,
    pruned_bodies,
    size_warning,
    warn_if_large,
    warn_threshold,
)
from codor.ledger.sqlite import SQLiteStore
from codor.model import Action, Agent, Decision

ORIGIN = "codor.test/retention"
POLICY = "ab" * 32


def session(ledger: Ledger, name: str, n: int) -> list[int]:
    start = SessionStart.new(name, Agent("a"), POLICY)
    indexes = [ledger.append(start.to_bytes(), durable=True)]
    for i in range(n):
        record = DecisionRecord(name, start.challenge,
                                Action.create("file.read", path=f"f{i}" + "x" * 200),
                                Decision("allow", (), (), POLICY), POLICY, "codor-engine",
                                *now_us())
        indexes.append(ledger.append(record.to_bytes(), durable=True))
    return indexes


@pytest.fixture
def keys(tmp_path: Path) -> KeyStore:
    store = KeyStore(tmp_path / "keys")
    store.init("retention-test")
    return store


@pytest.fixture
def ledger(tmp_path: Path, keys: KeyStore) -> Iterator[Ledger]:
    opened = Ledger(SQLiteStore(tmp_path / "ledger.db", batch_size=1), origin=ORIGIN,
                    key=keys.load(), verifiers=keys.verifiers())
    yield opened
    opened.close()


@pytest.fixture(autouse=True)
def fresh_warnings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(retention, "_warned", set())


def test_parse_age() -> None:
    assert parse_age("30d") == 30 * 86400
    assert parse_age("12h") == 43200 and parse_age("90m") == 5400 and parse_age("2w") == 1209600
    assert parse_age(" 1.5s ") == 1.5 and parse_age("0s") == 0
    for bad in ("30", "d", "-1d", "1y", "30 days", ""):
        with pytest.raises(InputError, match="expected a number and a unit"):
            parse_age(bad)


def test_prune_keeps_verify_prove_and_old_checkpoints(ledger: Ledger) -> None:
    old = session(ledger, "old", 5)
    ledger.checkpoint()
    old_proof = ledger.prove(old[2])
    time.sleep(0.02)
    boundary = time.time()
    time.sleep(0.02)
    new = session(ledger, "new", 3)

    report = prune(ledger, 100.0, now=boundary + 100.0)  # cutoff: between the sessions
    assert report.pruned == len(old) and report.size == len(old) + len(new)
    assert ledger.store.checkpoint_sizes() == [len(old), len(old) + len(new)]

    verified = ledger.verify()
    assert verified.ok, verified
    assert verified.checkpoints == 2
    gone = pruned_bodies(ledger)
    assert (gone.count, gone.first, gone.last) == (len(old), old[0], old[-1])
    assert "6 entry bodies pruned (entries 0..5)" in gone.describe()

    assert ledger.check_proof(old_proof)  # a proof handed out before pruning still verifies
    proof = ledger.prove(old[3])
    assert proof.leaf is None and ledger.check_proof(proof)
    assert ledger.check_proof(ledger.prove(new[1]))

    assert verify_bundle(export_bundle(ledger, "new")).ok
    with pytest.raises(BundleError, match="6 entry bodies are pruned"):
        export_bundle(ledger, "old")


def test_prune_of_nothing_old_changes_nothing(ledger: Ledger) -> None:
    session(ledger, "s", 2)
    assert prune(ledger, 3600.0).pruned == 0
    assert pruned_bodies(ledger).count == 0 and ledger.verify().ok


def test_prune_refuses_a_negative_age(ledger: Ledger) -> None:
    with pytest.raises(InputError):
        prune(ledger, -1.0)


def test_compact_gives_the_space_back(ledger: Ledger, tmp_path: Path) -> None:
    session(ledger, "s", 400)
    prune(ledger, 0.0, now=time.time() + 1)
    ledger.close()
    before, after = compact(tmp_path / "ledger.db")
    assert after < before
    reopened = Ledger(SQLiteStore(tmp_path / "ledger.db"), origin=ORIGIN, key=None,
                      verifiers=ledger.verifiers)
    try:
        assert reopened.verify().ok and pruned_bodies(reopened).count == 401
    finally:
        reopened.close()


def test_threshold_from_the_environment() -> None:
    assert warn_threshold({}) == (DEFAULT_WARN_BYTES, None) == (1 << 30, None)
    assert warn_threshold({"CODOR_LEDGER_WARN_BYTES": "1000"}) == (1000, None)
    assert warn_threshold({"CODOR_LEDGER_WARN_BYTES": "512MiB"}) == (512 << 20, None)
    assert warn_threshold({"CODOR_LEDGER_WARN_BYTES": "2 gib"}) == (2 << 30, None)
    limit, problem = warn_threshold({"CODOR_LEDGER_WARN_BYTES": "lots"})
    assert limit == DEFAULT_WARN_BYTES and problem is not None and "not a size" in problem


def test_size_warning_past_the_threshold(ledger: Ledger, tmp_path: Path) -> None:
    session(ledger, "s", 20)
    path = tmp_path / "ledger.db"
    assert size_warning(path, {}) == []
    assert size_warning(path, {"CODOR_LEDGER_WARN_BYTES": str(10**9)}) == []
    assert size_warning(path, {"CODOR_LEDGER_WARN_BYTES": "0"}) == []  # off
    (line,) = size_warning(path, {"CODOR_LEDGER_WARN_BYTES": "1000"})
    assert line.startswith("codor: warning: ledger is 0.") and " MiB, over " in line
    assert "1000 bytes" in line and "codor ledger prune" in line


def test_the_warning_is_printed_once(ledger: Ledger, tmp_path: Path) -> None:
    session(ledger, "s", 2)
    out = io.StringIO()
    env = {"CODOR_LEDGER_WARN_BYTES": "1KiB"}
    assert len(warn_if_large(ledger, stream=out, env=env)) == 1
    assert warn_if_large(ledger, stream=out, env=env) == []
    assert warn_if_large(str(tmp_path / "ledger.db"), stream=out, env=env) == []  # same file
    assert out.getvalue().count("codor: warning: ledger is") == 1
    assert warn_if_large(None, stream=out, env=env) == []
