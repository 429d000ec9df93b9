"""Two real ``codor serve`` processes, on two workspaces, sharing one PostgreSQL log (a
throwaway server from tests/ledger/pgserver.py): same origin (``CODOR_SERVE_ORIGIN``) and the
same log key, so the daemons write ONE gap-free, verifiable log; API keys and approvals live
in the same database, so a key made through one daemon's state works on the other."""

from __future__ import annotations

import json
import shutil
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from codor.evidence.records import DecisionRecord, record_from_bytes
from codor.workspace import Workspace
from tests.server.conftest import ASKING_POLICY
from tests.server.daemonproc import DaemonProc, paced, start

ORIGIN = "codor.test/scaleout/shared"

POLICY = ASKING_POLICY
_A = {"session": "scale-1", "agent": {"id": "scale-agent"}}
MIX = [{"kind": "file.read", "path": "src/app.py", **_A},
       {"kind": "command.exec", "command": "rm -rf build", **_A},  # default deny
       {"kind": "file.read", "path": "README.md", **_A}]


@pytest.fixture
def pair(pg: Any, tmp_path: Path) -> Iterator[tuple[DaemonProc, DaemonProc, Path]]:
    """Daemons A and B on workspaces that share A's log key, one origin, one database."""
    a, b = tmp_path / "a", tmp_path / "b"
    for ws in (a, b):
        ws.mkdir()
        Workspace(ws, ws / ".codor").init(key_name="scale")
    keys_a, keys_b = Workspace(a, a / ".codor").keys_dir, Workspace(b, b / ".codor").keys_dir
    shutil.rmtree(keys_b)
    shutil.copytree(keys_a, keys_b)  # one signer: checkpoints verify from either side
    policy = tmp_path / "policy.yaml"
    policy.write_text(textwrap.dedent(POLICY), encoding="utf-8")
    env = {"CODOR_SERVE_ORIGIN": ORIGIN, "CODOR_SERVE_APPROVAL_WAIT_S": "0"}
    args = ("--ledger", pg.dsn, "--policy", str(policy))
    first = start(a, *args, env=env)
    try:
        second = start(b, *args, env=env)
    except BaseException:
        first.stop()
        raise
    try:
        yield first, second, a
    finally:
        second.stop()
        first.stop()


def test_two_daemons_write_one_gap_free_verifiable_log(
        pair: tuple[DaemonProc, DaemonProc, Path], pg: Any) -> None:
    from codor.evidence.keys import KeyStore as LogKeys
    from codor.ledger.log import Ledger
    from codor.ledger.postgres import PostgresStore
    from codor.server.keys import KeyStore
    from codor.statedb import StateDB

    a, b, ws_a = pair
    assert a.admin is not None and b.admin is None  # one first admin for the shared state
    state = StateDB.open(pg.dsn)  # what daemon A's state is: the shared database
    try:
        _, token = KeyStore(state).create("scale agent", "agent")
    finally:
        state.close()
    status, body = b.call("POST", "/v1/check", token, MIX[0])
    assert status == 200, body  # a key made through A's state works on B

    bodies = [MIX[i % len(MIX)] for i in range(300)]
    answers: dict[str, list[tuple[int, bytes]]] = {}

    def drive(name: str, daemon: DaemonProc) -> None:
        answers[name] = paced(daemon, token, bodies, rate=0, threads=3)

    threads = [threading.Thread(target=drive, args=(n, d)) for n, d in (("a", a), ("b", b))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    indexes: list[int] = [json.loads(body)["index"]]
    for name in ("a", "b"):
        assert {s for s, _ in answers[name]} == {200}, answers[name][:2]
        indexes += [json.loads(body)["index"] for _, body in answers[name]]
    assert len(set(indexes)) == len(indexes) == 601  # every decision its own entry

    log_keys = LogKeys(Workspace(ws_a, ws_a / ".codor").keys_dir)
    a.stop()
    b.stop()
    with PostgresStore(pg.dsn) as store:  # a third handle, public keys only
        ledger = Ledger(store, origin=ORIGIN, key=None, verifiers=log_keys.verifiers())
        size = store.size()
        entries = store.entries(0, size)
        assert [e.index for e in entries] == list(range(size))  # gap-free
        decided = [e.index for e in entries if e.leaf is not None
                   and isinstance(record_from_bytes(e.leaf), DecisionRecord)]
        assert sorted(decided) == sorted(indexes)  # each decision once, nothing else decided
        report = ledger.verify()
        assert report.ok, report.to_json()


def test_an_approval_made_through_a_is_visible_on_b(
        pair: tuple[DaemonProc, DaemonProc, Path], pg: Any) -> None:
    from codor.server.keys import KeyStore
    from codor.statedb import StateDB

    a, b, _ = pair
    state = StateDB.open(pg.dsn)  # the database is shared by this module's tests
    try:
        _, admin = KeyStore(state).create("scale admin", "admin")
    finally:
        state.close()
    deploy = {"kind": "command.exec", "command": "deploy prod", **_A}
    status, body = a.call("POST", "/v1/check", admin, deploy)
    assert status == 200 and json.loads(body)["decision"] == "ask", body
    status, listed = b.call("GET", "/v1/approvals?status=pending", admin)
    assert status == 200, listed
    approvals = json.loads(listed)["approvals"]
    assert approvals, "daemon B lists no pending approval"
    assert any(str(item["id"]) in body.decode() for item in approvals), (body, approvals)
