"""The NATS JetStream sink against a real ``nats-server -js`` the test starts on 127.0.0.1
(Debian ``nats-server``; the client is ``nats-py``): every committed entry of a workspace
ledger configured by ``.codor/sinks.yaml`` arrives once, in order, on
``codor.ledger.<type>``; a retried publish is deduplicated by the stream; a server that is
down is counted, never raised into the ledger."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from codor.kernel import Kernel
from codor.model import Action
from codor.policy import load_engine
from codor.workspace import Workspace

NATS_SERVER = shutil.which("nats-server")
pytestmark = [pytest.mark.timeout(60)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def nats_url(tmp_path: Path) -> Iterator[str]:
    assert NATS_SERVER is not None, "nats-server is missing: `make system-deps` installs it"
    port = _free_port()
    store = tmp_path / "jetstream"
    proc = subprocess.Popen([NATS_SERVER, "-a", "127.0.0.1", "-p", str(port), "-js",
                             "-sd", str(store)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 15
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port),
                                                                         timeout=0.2):
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("nats-server did not start")
            time.sleep(0.05)
        yield f"nats://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _messages(url: str, subject: str = "codor.ledger.>") -> list[tuple[str, dict[str, Any]]]:
    """Everything the stream holds, read back by an ephemeral ordered consumer."""
    import nats

    async def read() -> list[tuple[str, dict[str, Any]]]:
        nc = await nats.connect(servers=[url])
        try:
            js = nc.jetstream()
            info = await js.stream_info("CODOR_LEDGER")
            sub = await js.subscribe(subject, ordered_consumer=True)
            out = []
            for _ in range(info.state.messages):
                msg = await sub.next_msg(timeout=5)
                out.append((msg.subject, json.loads(msg.data)))
            await sub.unsubscribe()
            return out
        finally:
            await nc.close()

    return asyncio.run(read())


def _workspace(tmp_path: Path, url: str) -> Workspace:
    root = tmp_path / "ws"
    root.mkdir()
    ws = Workspace(root, root / ".codor")
    ws.init(key_name="nats")
    (root / ".codor" / "sinks.yaml").write_text(
        f"sinks:\n  - {{type: nats, url: '{url}', timeout: 2.0, backoff: 0.05}}\n")
    return ws


def test_every_committed_entry_arrives_once_in_order(tmp_path: Path, nats_url: str) -> None:
    ws = _workspace(tmp_path, nats_url)
    engine = load_engine("codor:default", workspace=str(ws.root))
    kernel = Kernel(engine, ws.open_ledger(signing=True, sinks=True), group_allows=True,
                    workspace=str(ws.root))
    try:
        for i in range(60):
            kernel.decide(Action.from_json({"kind": "file.read", "path": f"src/f{i}.py",
                                            "session": "nats-1"}))
        kernel.decide(Action.from_json({"kind": "command.exec", "command": "rm -rf /",
                                        "session": "nats-1"}))
        ledger = kernel.ledger
        assert ledger is not None and ledger.sinks is not None
        ledger.store.flush()
        assert ledger.sinks.flush(10)
        size = ledger.store.size()
        stats = ledger.sinks.stats()
    finally:
        kernel.close()
    (name,) = [n for n in stats if n != "fanout"]
    assert stats[name]["sent"] == size and stats[name]["failed"] == 0
    got = _messages(nats_url)
    assert [body["index"] for _, body in got] == list(range(size))
    kinds = {subject.rsplit(".", 1)[1] for subject, _ in got}
    assert "decision" in kinds and all(s.startswith("codor.ledger.") for s, _ in got)
    decisions = [body["record"] for subject, body in got if subject.endswith(".decision")]
    assert len(decisions) == 61 and decisions[-1]["decision"]["decision"] == "deny"


def test_a_republished_entry_is_stored_once(nats_url: str) -> None:
    from codor.ledger.sinks.nats import NatsSink

    record = {"type": "event", "v": 1, "session": "s", "event": "x"}
    for _ in range(2):  # two daemons sharing one log both send entry 7
        sink = NatsSink(nats_url, timeout=2.0)
        sink.emit(7, record)
        assert sink.flush(10)
        sink.close()
        assert sink.stats()["sent"] == 1
    assert [body["index"] for _, body in _messages(nats_url)] == [7]


def test_no_server_is_counted_not_raised() -> None:
    from codor.ledger.sinks.nats import NatsSink

    sink = NatsSink(f"nats://127.0.0.1:{_free_port()}", timeout=0.3, backoff=0.05,
                    max_backoff=0.1)
    sink.emit(0, {"type": "event"})
    assert sink.flush(0.5) is False
    sink.close(timeout=1.0)
    stats = sink.stats()
    assert stats["sent"] == 0 and stats["failed"] + stats["dropped"] == 1
    sink.emit(1, {"type": "event"})  # after close: dropped
    assert sink.stats()["dropped"] >= 1
