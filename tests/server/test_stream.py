"""The live ledger stream: :class:`LedgerTail` on a real ledger (thread-safe, bounded queues,
entries appended by another process's handle) and ``GET /v1/stream`` over HTTP."""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

from codor.server.tail import LedgerTail, describe
from codor.workspace import Workspace
from tests.server.conftest import Server

READ = {"kind": "file.read", "path": "README.md", "session": "s-stream",
        "agent": {"id": "claude-code"}}
RM = {"kind": "command.exec", "command": "rm -rf /", "session": "s-stream"}


def _events(text: str) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for block in text.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines()
                      if ": " in line and not line.startswith(":"))
        if "data" in fields:
            out.append((fields.get("event", "message"), json.loads(fields["data"])))
    return out


def test_the_tail_publishes_each_new_entry_to_every_subscriber(server: Server) -> None:
    tail = LedgerTail(server.daemon.ledger, server.daemon.metrics)
    tail.start()
    try:
        async def run() -> list[list[tuple[int, Any]]]:
            subs = [tail.subscribe(), tail.subscribe()]
            assert tail.subscribers == 2 and subs[0].start == tail.position
            first = server.post("/v1/check", "agent", json=READ).json()["index"]
            server.post("/v1/check", "agent", json=RM)
            got: list[list[tuple[int, Any]]] = [[], []]
            for n, sub in enumerate(subs):
                while len(got[n]) < 3 or got[n][-1][0] < first + 1:
                    item = await sub.get(10)
                    assert item is not None, "no entry within 10 s"
                    got[n].append(item)
                sub.close()
            assert tail.subscribers == 0
            return got

        got = asyncio.run(run())
    finally:
        tail.stop()
    assert got[0] == got[1]
    indexes = [i for i, _ in got[0]]
    assert indexes == list(range(indexes[0], indexes[0] + len(indexes)))
    records = [r for _, r in got[0]]
    assert records[0]["type"] == "session.start"
    decisions = [r for r in records if r["type"] == "decision"]
    assert [d["decision"]["decision"] for d in decisions] == ["allow", "deny"]
    line = describe(indexes[-1], records[-1])
    assert line["outcome"] == "deny" and line["title"] == "command.exec"
    assert "rm -rf /" in line["detail"]


def test_a_slow_subscriber_loses_entries_and_they_are_counted(server: Server) -> None:
    tail = LedgerTail(server.daemon.ledger, server.daemon.metrics, queue_size=2)
    tail.start()
    tail.stop()  # polled by hand below: deterministic

    async def run() -> tuple[int, int]:
        sub = tail.subscribe()
        for n in range(5):
            server.post("/v1/check", "agent", json={**READ, "path": f"f{n}"})
        published = await asyncio.to_thread(tail.poll)
        await asyncio.sleep(0)  # let the loop run the call_soon_threadsafe callbacks
        await asyncio.sleep(0)
        return published, sub.queue.qsize()

    published, queued = asyncio.run(run())
    assert published >= 5 and queued == 2
    assert tail.drops == published - 2
    metrics = server.daemon.metrics.render().decode()
    assert f'codor_queue_size{{queue="stream_dropped"}} {float(published - 2)}' in metrics


def test_the_tail_sees_entries_another_handle_appends(server: Server) -> None:
    """Daemons sharing one log see each other's entries: the tail polls the store."""
    ws = Workspace(server.settings.workspace, server.settings.home)
    other = ws.open_ledger(signing=True)
    tail = LedgerTail(server.daemon.ledger)
    tail.start()
    tail.stop()

    async def run() -> list[tuple[int, Any]]:
        sub = tail.subscribe()
        index = other.append(b'{"type":"event","note":"from elsewhere"}', durable=True)
        await asyncio.to_thread(tail.poll)
        item = await sub.get(5)
        assert item is not None and item[0] == index
        return [item]

    try:
        got = asyncio.run(run())
    finally:
        other.close()
    assert got[0][1] == {"type": "event", "note": "from elsewhere"}


def test_stream_replays_from_since_and_ends_after_limit(server: Server) -> None:
    first = server.post("/v1/check", "agent", json=READ).json()["index"]
    server.post("/v1/check", "agent", json=RM)
    with server.client.stream("GET", f"/v1/stream?since={first}&limit=2",
                              headers=server.headers("auditor")) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        text = "".join(r.iter_text())
    events = _events(text)
    assert [e for e, _ in events] == ["entry", "entry"]
    assert [d["index"] for _, d in events] == [first, first + 1]
    assert events[1][1]["summary"]["outcome"] == "deny"
    assert f"id: {first}\n" in text
    # Last-Event-ID resumes after the given entry
    with server.client.stream("GET", "/v1/stream?limit=1",
                              headers={**server.headers("auditor"),
                                       "Last-Event-ID": str(first)}) as r:
        events = _events("".join(r.iter_text()))
    assert [d["index"] for _, d in events] == [first + 1]


def test_stream_delivers_new_entries_live(server: Server) -> None:
    server.post("/v1/check", "agent", json=READ)  # the session has started: one entry next
    server.daemon.ledger.store.flush()
    since = server.daemon.ledger.store.size()
    tail = server.client.app.state.ledger_tail  # type: ignore[attr-defined]
    before = tail.subscribers
    out: dict[str, Any] = {}

    def act() -> None:
        while tail.subscribers <= before:  # the stream is subscribed: append now
            threading.Event().wait(0.01)
        out["index"] = server.post("/v1/check", "agent", json=RM).json()["index"]

    helper = threading.Thread(target=act)
    helper.start()
    with server.client.stream("GET", f"/v1/stream?since={since}&limit=1",
                              headers=server.headers("admin")) as r:
        text = "".join(r.iter_text())
    helper.join(10)
    events = _events(text)
    assert len(events) == 1 and events[0][1]["index"] == out["index"]
    record = events[0][1]["record"]
    assert record["type"] == "decision" and record["action"]["command"] == "rm -rf /"


def test_stream_needs_the_read_permission(server: Server) -> None:
    r = server.client.get("/v1/stream")
    assert r.status_code == 401
    r = server.get("/v1/stream", "agent")
    assert r.status_code == 403 and r.json()["error"]["code"] == "E_FORBIDDEN"


def test_without_subscribers_the_tail_neither_flushes_nor_reads(
        server: Server, monkeypatch: Any) -> None:
    """An idle tail leaves the group commit alone; its first subscriber starts at the end of
    the log, not at entries appended while nobody watched."""
    tail = LedgerTail(server.daemon.ledger)
    tail.start()
    tail.stop()
    store = server.daemon.ledger.store
    flushes: list[int] = []
    real_flush = store.flush
    monkeypatch.setattr(store, "flush", lambda: (flushes.append(1), real_flush())[1])
    server.post("/v1/check", "agent", json=READ)
    assert tail.poll() == 0 and flushes == []

    async def run() -> tuple[int, Any]:
        sub = tail.subscribe()
        start = sub.start
        server.post("/v1/check", "agent", json={**READ, "path": "later"})
        await asyncio.to_thread(tail.poll)
        return start, await sub.get(5)

    start, item = asyncio.run(run())
    assert start == store.size() - 1 and item is not None and item[0] == start
    assert item[1]["action"]["path"] == "later"
