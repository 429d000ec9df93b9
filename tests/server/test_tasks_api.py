"""Scheduled tasks over HTTP: submit one or a batch, list with filters, show, cancel; who
may; errors with their statuses and codes; every change in the ledger; ``codor task`` and
the daemon see one table."""

from __future__ import annotations

from typing import Any

from codor.runtime.taskstore import TaskStore
from tests.server.conftest import Server, ServerFactory


def _events(server: Server) -> list[Any]:
    from codor.evidence.events import EventRecord
    from codor.evidence.records import record_from_bytes

    store = server.daemon.ledger.store
    store.flush()
    return [r for r in (record_from_bytes(e.leaf) for e in store.entries(0, store.size())
                        if e.leaf is not None) if isinstance(r, EventRecord)
            and r.event.startswith("task.")]


def test_submit_list_show_and_cancel(server: Server) -> None:
    r = server.post("/v1/tasks", json={"id": "build", "argv": ["make"], "agent": "claude-1"})
    assert r.status_code == 201, r.text
    build = r.json()
    assert (build["state"], build["version"], build["priority"]) == ("ready", 1, 100)
    batch = server.post("/v1/tasks", "operator", json={"tasks": [
        {"id": "test", "argv": ["pytest"], "deps": ["build"], "priority": 5},
        {"id": "deploy", "deps": ["test"], "max_retries": 2, "session": "s-deploy"},
        {"argv": ["echo", "no id"]}]})
    assert batch.status_code == 201, batch.text
    made = batch.json()["tasks"]
    assert [t["state"] for t in made] == ["pending", "pending", "ready"]
    assert made[2]["id"].startswith("t-")

    listed = server.get("/v1/tasks", "auditor").json()["tasks"]
    assert [t["id"] for t in listed] == ["build", "test", "deploy", made[2]["id"]]
    pending = server.get("/v1/tasks", params={"state": "pending"}).json()["tasks"]
    assert [t["id"] for t in pending] == ["test", "deploy"]
    mine = server.get("/v1/tasks", params={"agent": "claude-1"}).json()["tasks"]
    assert mine == [build]
    assert server.get("/v1/tasks/deploy", "operator").json()["max_retries"] == 2

    cancelled = server.post("/v1/tasks/build/cancel", json={"version": 1, "reason": "later"})
    assert cancelled.status_code == 200, cancelled.text
    body = cancelled.json()
    assert (body["task"]["state"], body["task"]["reason"]) == ("cancelled", "later")
    assert [(t["id"], t["reason"]) for t in body["dependents"]] == [
        ("test", "dependency build cancelled"), ("deploy", "dependency test cancelled")]
    assert server.post("/v1/tasks/" + made[2]["id"] + "/cancel").status_code == 200  # no body

    recorded = _events(server)
    assert [(e.session, e.event, e.data["task"]) for e in recorded] == [
        ("codor-tasks", "task.ready", "build"), ("codor-tasks", "task.pending", "test"),
        ("codor-tasks", "task.ready", made[2]["id"]),  # a batch is written dependencies first
        ("s-deploy", "task.pending", "deploy"),
        ("codor-tasks", "task.cancelled", "build"), ("codor-tasks", "task.cancelled", "test"),
        ("s-deploy", "task.cancelled", "deploy"),
        ("codor-tasks", "task.cancelled", made[2]["id"])]
    assert recorded[0].data["by"].startswith("test admin (key ")
    assert recorded[1].data["by"].startswith("test operator (key ")


def test_errors(server: Server) -> None:
    assert server.post("/v1/tasks", json={"id": "a"}).status_code == 201
    cases = [
        ({"id": "a"}, 409, "E_CONFLICT"),
        ({"id": "b", "deps": ["ghost"]}, 400, "E_TASK"),
        ({"tasks": [{"id": "x", "deps": ["y"]}, {"id": "y", "deps": ["x"]}]}, 400,
         "E_TASK_CYCLE"),
        ({"tasks": [{"id": "d"}, {"id": "d"}]}, 400, "E_TASK"),
        ({"id": "b c"}, 400, "E_TASK"),
        ({"id": "b", "session": "codor-admin"}, 400, "E_TASK"),
    ]
    for body, status, code in cases:
        r = server.post("/v1/tasks", json=body)
        assert (r.status_code, r.json()["error"]["code"]) == (status, code), (body, r.text)
    cycle = server.post("/v1/tasks", json=cases[2][0]).json()["error"]["message"]
    assert "→" in cycle
    for body in ({"id": "b", "priority": 1001}, {"id": "b", "extra": 1}, {"tasks": []},
                 {"id": "b", "argv": "make"}):
        assert server.post("/v1/tasks", json=body).status_code in (400, 422), body
    assert [t["id"] for t in server.get("/v1/tasks").json()["tasks"]] == ["a"]
    assert server.get("/v1/tasks", params={"state": "sleeping"}).status_code in (400, 422)
    missing = server.get("/v1/tasks/ghost")
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "E_NOT_FOUND")
    assert server.post("/v1/tasks/ghost/cancel").status_code == 404
    stale = server.post("/v1/tasks/a/cancel", json={"version": 3})
    assert (stale.status_code, stale.json()["error"]["code"]) == (409, "E_CONFLICT")
    assert server.post("/v1/tasks/a/cancel").status_code == 200
    again = server.post("/v1/tasks/a/cancel")
    assert (again.status_code, again.json()["error"]["code"]) == (409, "E_TASK_TRANSITION")


def test_only_admins_and_operators_change_tasks(server: Server) -> None:
    for role in ("auditor", "agent"):
        r = server.post("/v1/tasks", role, json={"id": "x"})
        assert (r.status_code, r.json()["error"]["code"]) == (403, "E_FORBIDDEN")
    assert server.post("/v1/tasks", "operator", json={"id": "x"}).status_code == 201
    assert server.post("/v1/tasks/x/cancel", "auditor").status_code == 403
    assert server.get("/v1/tasks", "agent").status_code == 403
    assert server.get("/v1/tasks/x", "auditor").status_code == 200


def test_the_cli_and_the_daemon_share_one_table(make_server: ServerFactory,
                                                capsys: Any) -> None:
    from codor.cli.main import main

    server = make_server()
    ws = str(server.settings.workspace)
    assert main(["task", "submit", "--id", "from-cli", "-w", ws, "--", "true"]) == 0
    assert server.get("/v1/tasks/from-cli").json()["state"] == "ready"
    assert server.post("/v1/tasks", json={"id": "from-api", "deps": ["from-cli"]}
                       ).json()["state"] == "pending"
    capsys.readouterr()
    assert main(["task", "cancel", "from-cli", "-w", ws]) == 0
    assert server.get("/v1/tasks/from-api").json()["state"] == "cancelled"
    worker = TaskStore(server.daemon.state)  # a worker reading the same table
    assert [t.state for t in worker.list()] == ["cancelled", "cancelled"]
