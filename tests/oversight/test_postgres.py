"""Two approvals queues sharing one PostgreSQL state database (as two daemons sharing a
PostgreSQL ledger do): each sees the other's approvals, a wait in one returns when the other
answers, a claims escalation is noted once. The throwaway server comes from
tests/ledger/pgserver.py (`make test` installs PostgreSQL; without it the tests fail)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from codor.oversight import ApprovalConflict, ApprovalQueue
from codor.statedb import StateDB
from tests.oversight.conftest import Rig, deploy


def test_two_queues_on_one_postgres_state(pg: Any, make_rig: Callable[..., Rig]) -> None:
    rig = make_rig()
    states = [StateDB.open(pg.dsn), StateDB.open(pg.dsn)]
    one, two = (ApprovalQueue(s, rig.kernel, timeout_s=60, wait_s=0, sweep_s=None)
                for s in states)
    rig.opened[:0] = [one, two, *states]
    _, extra, _ = rig.ask(deploy(session="pg-1"), queue=one)
    aid = extra["approval"]["id"]
    assert aid in [a.id for a in two.list("pending")]
    got: list[Any] = []
    waiter = threading.Thread(target=lambda: got.append(one.wait(aid, 10)))
    waiter.start()
    time.sleep(0.3)
    assert waiter.is_alive()  # it is waiting, not answered early
    t0 = time.monotonic()
    two.decide(aid, approved=True, identity="alice@b", comment="via b")
    waiter.join(5)
    assert not waiter.is_alive() and time.monotonic() - t0 < 1.5
    assert got[0].status == "approved" and got[0].decided_by == "alice@b"
    with pytest.raises(ApprovalConflict):
        one.decide(aid, approved=False, identity="bob@a", comment=None)
    # a claims escalation noted by both is one item
    index = rig.kernel.record_event("pg-2", "claims.escalation", {"blocks": 2})
    assert index is not None
    first = one.note_escalation("pg-2", index, {"blocks": 2})
    assert two.note_escalation("pg-2", index, {}).id == first.id
    assert sum(1 for a in two.list("pending") if a.decision_index == index
               and a.kind == "claims") == 1
