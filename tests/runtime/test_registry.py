"""The agent registry: the lifecycle table walked transition by transition (every allowed move
taken, every other refused), persistence across handles, optimistic concurrency, export and
import, and the ledger events of every change."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest

from codor.kernel import Kernel
from codor.runtime.registry import (
    ADMIN_SESSION,
    EXPORT_FORMAT,
    STATUSES,
    TRANSITIONS,
    Agent,
    AgentNotFoundError,
    ConflictError,
    Registry,
    RegistryError,
    TransitionError,
)
from codor.statedb import StateDB

ALL_PAIRS = [(a, b) for a in STATUSES for b in STATUSES]
ALLOWED = [(a, b) for a, b in ALL_PAIRS if b in TRANSITIONS[a]]
REFUSED = [(a, b) for a, b in ALL_PAIRS if b not in TRANSITIONS[a]]


def events(kernel: Kernel) -> list[Any]:
    from codor.evidence.events import EventRecord
    from codor.evidence.records import record_from_bytes

    assert kernel.ledger is not None
    store = kernel.ledger.store
    store.flush()
    return [r for r in (record_from_bytes(e.leaf) for e in store.entries(0, store.size())
                        if e.leaf is not None) if isinstance(r, EventRecord)]


def _path_to(status: str) -> list[str]:
    """The shortest walk through the table from ``registered`` to ``status``."""
    paths = {"registered": ["registered"]}
    frontier = ["registered"]
    while frontier:
        nxt = []
        for here in frontier:
            for there in sorted(TRANSITIONS[here]):
                if there not in paths:
                    paths[there] = [*paths[here], there]
                    nxt.append(there)
        frontier = nxt
    return paths[status]


def _agent_in(registry: Registry, status: str, agent_id: str = "a-1") -> Agent:
    agent = registry.register(agent_id, "coder", "alice", ["fs.read"])
    for step in _path_to(status)[1:]:
        agent = registry.transition(agent, step)
    assert agent.status == status
    return agent


def test_every_status_is_reachable_and_the_table_is_closed() -> None:
    assert set(TRANSITIONS) == set(STATUSES)
    for status in STATUSES:
        assert _path_to(status)[-1] == status
    assert TRANSITIONS["quarantined"] == {"stopped"}  # only a person's stop gets it out


@pytest.mark.parametrize(("start", "to"), ALLOWED)
def test_every_allowed_transition_is_taken(db: StateDB, start: str, to: str) -> None:
    registry = Registry(db)
    agent = _agent_in(registry, start)
    moved = registry.transition(agent, to, reason="table")
    assert (moved.status, moved.previous, moved.version) == (to, start, agent.version + 1)
    assert registry.get(agent.id) == moved


@pytest.mark.parametrize(("start", "to"), REFUSED)
def test_every_other_transition_is_refused(db: StateDB, start: str, to: str) -> None:
    registry = Registry(db)
    agent = _agent_in(registry, start)
    with pytest.raises(TransitionError) as err:
        registry.transition(agent, to)
    assert err.value.code == "E_REGISTRY_TRANSITION"
    assert isinstance(err.value, RegistryError)
    assert registry.get(agent.id) == agent  # nothing written


def test_unknown_status_and_unknown_agent(db: StateDB) -> None:
    registry = Registry(db)
    registry.register("a", "tester", "bob")
    with pytest.raises(TransitionError):
        registry.transition("a", "sleeping")
    with pytest.raises(AgentNotFoundError) as err:
        registry.transition("nobody", "ready")
    assert err.value.code == "E_NOT_FOUND"
    assert registry.find("nobody") is None


def test_verbs_pause_resume_stop(db: StateDB) -> None:
    registry = Registry(db)
    running = _agent_in(registry, "running", "r")
    paused = registry.pause(running)
    assert registry.resume(paused).status == "running"  # back where it was
    ready = _agent_in(registry, "ready", "q")
    assert registry.resume(registry.pause(ready)).status == "ready"
    with pytest.raises(TransitionError):
        registry.resume("q")  # not paused
    stopped = registry.stop("r")
    assert (stopped.status, stopped.previous) == ("stopped", "stopping")
    halfway = registry.stop("q", finish=False)
    assert halfway.status == "stopping"
    assert registry.transition(halfway, "stopped").status == "stopped"
    fresh = registry.register("n", "tool", "carol")
    assert registry.stop(fresh).status == "stopped"  # registered: straight to stopped
    with pytest.raises(TransitionError):
        registry.pause("n")


def test_register_validates_and_refuses_duplicates(db: StateDB) -> None:
    registry = Registry(db)
    agent = registry.register("claude-1", "coder", " alice ", ["fs.read", "fs.read", "git:*"])
    assert (agent.owner, agent.capabilities, agent.status, agent.version) == (
        "alice", ("fs.read", "git:*"), "registered", 1)
    with pytest.raises(ConflictError) as err:
        registry.register("claude-1", "coder", "alice")
    assert err.value.code == "E_CONFLICT"
    for bad in (("", "coder", "x", []), ("a b", "coder", "x", []), ("a", "boss", "x", []),
                ("a", "coder", "", []), ("a", "coder", "x", ["has space"]),
                ("a", "coder", "x", [3])):
        with pytest.raises(RegistryError) as bad_err:
            registry.register(*bad)
        assert bad_err.value.code == "E_REGISTRY"
    assert [a.id for a in registry.list()] == ["claude-1"]


def test_persisted_across_two_handles(tmp_path: Path) -> None:
    one, two = StateDB.open(tmp_path / "s.db"), StateDB.open(tmp_path / "s.db")
    try:
        first, second = Registry(one), Registry(two)
        first.register("a", "reviewer", "dana", ["review"])
        first.transition("a", "provisioning")
        seen = second.get("a")
        assert (seen.status, seen.version, seen.capabilities) == ("provisioning", 2, ("review",))
        second.transition(seen, "ready")
        assert first.get("a").status == "ready"
        assert [a.id for a in first.list(status="ready")] == ["a"]
        assert first.list(role="coder") == []
    finally:
        one.close()
        two.close()
    reopened = StateDB.open(tmp_path / "s.db")
    try:
        assert Registry(reopened).get("a").version == 3
    finally:
        reopened.close()


def test_a_stale_version_is_a_conflict_and_writes_nothing(tmp_path: Path) -> None:
    one, two = StateDB.open(tmp_path / "s.db"), StateDB.open(tmp_path / "s.db")
    try:
        first, second = Registry(one), Registry(two)
        read_by_first = first.register("a", "coder", "erin")
        read_by_second = second.get("a")
        second.transition(read_by_second, "provisioning")
        with pytest.raises(ConflictError) as err:
            first.transition(read_by_first, "failed")  # based on version 1, stored is 2
        assert err.value.code == "E_CONFLICT"
        with pytest.raises(ConflictError):
            first.transition("a", "ready", expected_version=1)
        assert first.get("a").status == "provisioning"
        assert first.transition("a", "ready", expected_version=2).version == 3
    finally:
        one.close()
        two.close()


def test_concurrent_changes_on_one_version_let_exactly_one_through(tmp_path: Path) -> None:
    setup = StateDB.open(tmp_path / "s.db")
    Registry(setup).register("a", "coder", "erin")
    setup.close()
    results: list[str] = []

    def worker() -> None:
        handle = StateDB.open(tmp_path / "s.db")
        try:
            Registry(handle).transition("a", "provisioning", expected_version=1)
            results.append("ok")
        except ConflictError:
            results.append("conflict")
        except TransitionError:
            results.append("conflict")  # saw the other's change already: not registered
        finally:
            handle.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["conflict"] * 3 + ["ok"]


def test_agent_json_round_trip_and_validation() -> None:
    agent = Agent("a", "orchestrator", "fay", ("x", "y"), "paused", 7, "running", 1.0, 2.0)
    assert Agent.from_json(json.loads(json.dumps(agent.to_json()))) == agent
    assert Agent.from_json({"id": "b", "role": "custom", "owner": "g"}) == Agent(
        "b", "custom", "g")
    bad: object
    for bad in ([], {"id": "b", "role": "custom"}, {"id": "b", "role": "custom", "owner": "g",
                                                     "extra": 1},
                {"id": "b", "role": "custom", "owner": "g", "status": "asleep"},
                {"id": "b", "role": "custom", "owner": "g", "version": 0},
                {"id": "b", "role": "custom", "owner": "g", "version": True},
                {"id": "b", "role": "custom", "owner": "g", "created": float("nan")},
                {"id": "b", "role": "custom", "owner": "g", "capabilities": "fs.read"}):
        with pytest.raises(RegistryError):
            Agent.from_json(bad)


def test_export_import_round_trip(tmp_path: Path) -> None:
    src_db, dst_db = StateDB.open(tmp_path / "a.db"), StateDB.open(tmp_path / "b.db")
    try:
        src, dst = Registry(src_db), Registry(dst_db)
        _agent_in(src, "running", "r")
        _agent_in(src, "quarantined", "q")
        src.register("n", "tool", "gail", ["http.get"])
        document = json.loads(json.dumps(src.export()))
        assert document["format"] == EXPORT_FORMAT
        assert dst.import_agents(document) == src.list()
        assert dst.list() == src.list()
        with pytest.raises(ConflictError):
            dst.import_agents(document)  # duplicates refused...
        before = dst.get("r")
        replaced = dst.import_agents(document, replace=True)  # ...unless replace
        assert [a.version for a in replaced] == [a.version + 1 for a in src.list()]
        with pytest.raises(ConflictError):
            dst.transition(before, "paused")  # read before the import: stale
        assert dst.import_agents([]) == []
    finally:
        src_db.close()
        dst_db.close()


def test_import_validates_everything_before_writing(db: StateDB) -> None:
    registry = Registry(db)
    good = {"id": "a", "role": "coder", "owner": "h"}
    for bad, where in (({"format": "other/v9", "agents": []}, "format"),
                       ({"agents": {"id": "a"}}, "agents"),
                       ({"agents": [good, {**good, "role": "king"}]}, "agents[1].role"),
                       ({"agents": [good, good]}, "agents[1].id"),
                       ("nonsense", "agents")):
        with pytest.raises(RegistryError) as err:
            registry.import_agents(bad)
        assert err.value.location == where
    assert registry.list() == []  # all or nothing
    registry.register("b", "coder", "h")
    with pytest.raises(ConflictError):
        registry.import_agents([good, {"id": "b", "role": "coder", "owner": "h"}])
    assert [a.id for a in registry.list()] == ["b"]  # the transaction rolled "a" back


def test_every_change_is_a_ledger_event(db: StateDB, kernel: Kernel) -> None:
    registry = Registry(db, kernel)
    agent = registry.register("claude-1", "coder", "alice", ["fs.read"], by="admin")
    for step in ("provisioning", "ready", "running"):
        agent = registry.transition(agent, step, by="admin")
    registry.pause(agent, reason="lunch")
    registry.resume("claude-1")
    registry.stop("claude-1", by="admin")
    registry.import_agents([{"id": "x", "role": "tool", "owner": "o", "status": "ready"}])
    with pytest.raises(TransitionError):
        registry.transition("claude-1", "running")  # refused: no event
    recorded = events(kernel)
    assert {e.session for e in recorded} == {ADMIN_SESSION}
    assert [e.event for e in recorded] == [
        "agent.registered", "agent.provisioning", "agent.ready", "agent.running",
        "agent.paused", "agent.running", "agent.stopping", "agent.stopped", "agent.imported"]
    paused = recorded[4].data
    assert (paused["agent"], paused["from"], paused["to"], paused["version"],
            paused["reason"]) == ("claude-1", "running", "paused", 5, "lunch")
    assert recorded[0].data["by"] == "admin" and recorded[0].data["from"] is None
    assert list(recorded[0].data["capabilities"]) == ["fs.read"]


def test_a_change_the_ledger_refuses_is_rolled_back(db: StateDB, kernel: Kernel) -> None:
    registry = Registry(db, kernel)
    registry.register("a", "coder", "alice")

    def broken(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    kernel.record_event = broken  # type: ignore[method-assign]
    with pytest.raises(OSError):
        registry.transition("a", "provisioning")
    assert registry.get("a").status == "registered"


def test_postgresql_state_database() -> None:
    from tests.ledger import pgserver  # the suite's throwaway PostgreSQL server

    with pgserver.running() as server:
        one, two = StateDB.open(server.dsn), StateDB.open(server.dsn)
        try:
            first, second = Registry(one), Registry(two)
            stale = first.register("pg-1", "coder", "ivan", ["a", "b"])
            second.transition("pg-1", "provisioning")
            with pytest.raises(ConflictError):
                first.transition(stale, "failed")
            assert first.get("pg-1") == second.get("pg-1")
            assert second.get("pg-1").capabilities == ("a", "b")
            document = first.export()
            assert second.import_agents(document, replace=True)[0].version == 3
        finally:
            one.close()
            two.close()
