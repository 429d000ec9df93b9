"""The agent registry: who the agents are, what they may be asked to do, and where each one is
in its lifecycle — persisted in the state database, every change recorded in the ledger.

An :class:`Agent` has an id, a role (``coder``, ``reviewer``, ``tester``, ``orchestrator``,
``tool``, ``custom``), an owner (the person or team answerable for it), capabilities (free
strings such as ``fs.write`` or ``shell.exec`` that the scheduler matches tasks against) and a
status. The status moves only along this table (anything else raises
:class:`TransitionError`, code ``E_REGISTRY_TRANSITION``)::

    from          allowed next statuses
    registered    provisioning, stopped, failed, quarantined
    provisioning  ready, stopping, failed, quarantined
    ready         running, paused, stopping, failed, quarantined
    running       ready, paused, stopping, failed, quarantined
    paused        ready, running, stopping, failed, quarantined
    stopping      stopped, failed, quarantined
    stopped       provisioning
    failed        provisioning, stopped, quarantined
    quarantined   stopped

``stopped`` is final unless the agent is provisioned again; ``failed`` may be retried (back to
``provisioning``); ``quarantined`` (a suspected or compromised agent) can only be stopped, by a
person, before it is provisioned again. ``running → ready`` is a finished task. The verbs
:meth:`Registry.pause` (ready/running → paused), :meth:`Registry.resume` (paused → the status
it was paused from) and :meth:`Registry.stop` (→ stopping → stopped, or straight to stopped
from registered, failed or quarantined) are shorthands for :meth:`Registry.transition`.

**Persistence and concurrency.** Agents live in the ``agents`` table of a
:class:`~codor.statedb.StateDB` — the workspace's ``.codor/state.db``, or the PostgreSQL
ledger's database for daemons sharing one (schema ``codor_state``). Each row has a ``version``
that every change increments. A change names the version it was based on (an :class:`Agent`
passed in carries its own; ``expected_version=`` for an id); when the stored version differs
the change is refused with :class:`ConflictError` (``E_CONFLICT``) and nothing is written, so
two administrators or daemons never overwrite each other unseen. Reads and writes of one
change run in one transaction.

**Ledger.** With a :class:`~codor.kernel.Kernel` given, every registration and transition is
appended as an event ``agent.<new status>`` (``agent.registered``, ``agent.paused``...;
an import is ``agent.imported``) with the agent's id, role, owner, capabilities, the old and
new status, the new version, who did it and why. The events go to the session
``codor-admin`` — the same session the daemon records API-key changes in — and not to a
session named after the agent: registry changes are administration done *to* an agent, and
an agent's own sessions must hold only what that agent did (claims verification reads them).
The event is appended inside the state transaction, before it commits: if the ledger refuses
it the change is rolled back, so no transition goes unrecorded.

**Export and import.** :meth:`Registry.export` gives ``{"format": "codor.agents/v1",
"agents": [...]}``; :meth:`Registry.import_agents` validates a whole document first (every
field, no id twice), refuses ids already registered unless ``replace=True``, and writes all
agents or none.
"""

from __future__ import annotations

import builtins
import json
import math
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from dataclasses import replace as _replace
from typing import TYPE_CHECKING, Any, Final, Literal, get_args

from codor.errors import CodorError
from codor.statedb import StateDB, StateError

if TYPE_CHECKING:
    from codor.kernel import Kernel

__all__ = [
    "ADMIN_SESSION",
    "EXPORT_FORMAT",
    "ROLES",
    "STATUSES",
    "TRANSITIONS",
    "Agent",
    "AgentNotFoundError",
    "ConflictError",
    "Registry",
    "RegistryError",
    "Role",
    "Status",
    "TransitionError",
]

Role = Literal["coder", "reviewer", "tester", "orchestrator", "tool", "custom"]
ROLES: Final[tuple[str, ...]] = get_args(Role)

Status = Literal["registered", "provisioning", "ready", "running", "paused", "stopping",
                 "stopped", "failed", "quarantined"]
STATUSES: Final[tuple[str, ...]] = get_args(Status)

#: the lifecycle: status -> the statuses it may move to (see the module doc)
TRANSITIONS: Final[Mapping[str, frozenset[str]]] = {
    "registered": frozenset({"provisioning", "stopped", "failed", "quarantined"}),
    "provisioning": frozenset({"ready", "stopping", "failed", "quarantined"}),
    "ready": frozenset({"running", "paused", "stopping", "failed", "quarantined"}),
    "running": frozenset({"ready", "paused", "stopping", "failed", "quarantined"}),
    "paused": frozenset({"ready", "running", "stopping", "failed", "quarantined"}),
    "stopping": frozenset({"stopped", "failed", "quarantined"}),
    "stopped": frozenset({"provisioning"}),
    "failed": frozenset({"provisioning", "stopped", "quarantined"}),
    "quarantined": frozenset({"stopped"}),
}
assert set(TRANSITIONS) == set(STATUSES)
assert all(t <= set(STATUSES) for t in TRANSITIONS.values())

#: the ledger session registry changes are recorded in
ADMIN_SESSION: Final = "codor-admin"
#: the ``format`` of an export document
EXPORT_FORMAT: Final = "codor.agents/v1"

_ID: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}")
_CAPABILITY: Final = re.compile(r"[A-Za-z0-9*][A-Za-z0-9._:/*@+-]{0,199}")
_MAX_CAPABILITIES: Final = 256
_FIELDS: Final = frozenset({"id", "role", "owner", "capabilities", "status", "version",
                            "previous", "created", "updated"})

_SCHEMA: Final = (
    "CREATE TABLE IF NOT EXISTS agents (id TEXT PRIMARY KEY, role TEXT NOT NULL, "
    "owner TEXT NOT NULL, capabilities TEXT NOT NULL, status TEXT NOT NULL, previous TEXT, "
    "version INTEGER NOT NULL, created REAL NOT NULL, updated REAL NOT NULL)",
)
_SELECT: Final = ("SELECT id, role, owner, capabilities, status, previous, version, created, "
                  "updated FROM agents")
_INSERT: Final = ("INSERT INTO agents (id, role, owner, capabilities, status, previous, version, "
                  "created, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")


class RegistryError(CodorError):
    """An agent or a registry document that is not valid (bad id, role, owner...)."""

    code = "E_REGISTRY"


class TransitionError(RegistryError):
    """A status change the lifecycle table does not allow."""

    code = "E_REGISTRY_TRANSITION"


class ConflictError(RegistryError):
    """A change based on a stale version of the agent, or an id already registered."""

    code = "E_CONFLICT"


class AgentNotFoundError(RegistryError):
    """No agent with that id."""

    code = "E_NOT_FOUND"


def _check_id(value: object, location: str = "id") -> str:
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise RegistryError("an agent id is 1 to 128 letters, digits or . _ : @ - (starting "
                            "with a letter or digit)", location=location)
    return value


def _check_capabilities(value: object, location: str) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise RegistryError("capabilities must be a list of strings", location=location)
    out: list[str] = []
    for i, cap in enumerate(value):
        if not isinstance(cap, str) or not _CAPABILITY.fullmatch(cap):
            raise RegistryError(f"capability {cap!r} is not a name (letters, digits, . _ : / "
                                "* @ + -, at most 200)", location=f"{location}[{i}]")
        if cap not in out:
            out.append(cap)
    if len(out) > _MAX_CAPABILITIES:
        raise RegistryError(f"at most {_MAX_CAPABILITIES} capabilities", location=location)
    return tuple(out)


@dataclass(frozen=True, slots=True)
class Agent:
    """One registered agent, as stored (``version`` increments with every change)."""

    id: str
    role: Role
    owner: str
    capabilities: tuple[str, ...] = ()
    status: Status = "registered"
    version: int = 1
    previous: Status | None = None  # the status before the last transition
    created: float = 0.0
    updated: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "role": self.role, "owner": self.owner,
                "capabilities": list(self.capabilities), "status": self.status,
                "version": self.version, "previous": self.previous, "created": self.created,
                "updated": self.updated}

    @classmethod
    def from_json(cls, data: object, *, location: str = "agent") -> Agent:
        """An agent from a JSON object, every field checked (``id``, ``role`` and ``owner``
        are required; the rest default as for a new registration)."""
        if not isinstance(data, Mapping):
            raise RegistryError("an agent must be a JSON object", location=location)
        unknown = sorted(set(data) - _FIELDS)
        if unknown:
            raise RegistryError(f"unknown field(s) {', '.join(map(str, unknown))}",
                                location=location)
        for name in ("id", "role", "owner"):
            if name not in data:
                raise RegistryError(f"missing field {name!r}", location=location)
        agent_id = _check_id(data["id"], f"{location}.id")
        role = data["role"]
        if role not in ROLES:
            raise RegistryError(f"unknown role {role!r} (one of {', '.join(ROLES)})",
                                location=f"{location}.role")
        owner = data["owner"]
        if not isinstance(owner, str) or not owner.strip() or len(owner) > 200 or \
                any(ord(c) < 32 for c in owner):
            raise RegistryError("an owner is 1 to 200 printable characters",
                                location=f"{location}.owner")
        caps = _check_capabilities(data.get("capabilities", ()), f"{location}.capabilities")
        status = data.get("status", "registered")
        if status not in STATUSES:
            raise RegistryError(f"unknown status {status!r}", location=f"{location}.status")
        previous = data.get("previous")
        if previous is not None and previous not in STATUSES:
            raise RegistryError(f"unknown status {previous!r}", location=f"{location}.previous")
        version = data.get("version", 1)
        if not isinstance(version, int) or isinstance(version, bool) or not 1 <= version < 2**62:
            raise RegistryError("version must be a positive integer",
                                location=f"{location}.version")
        stamps: list[float] = []
        for name in ("created", "updated"):
            value = data.get(name, 0.0)
            if not isinstance(value, (int, float)) or isinstance(value, bool) \
                    or not math.isfinite(value) or value < 0:
                raise RegistryError(f"{name} must be a non-negative number (seconds)",
                                    location=f"{location}.{name}")
            stamps.append(float(value))
        return cls(agent_id, role, owner.strip(), caps, status, version, previous,
                   stamps[0], stamps[1])


def _row(row: Sequence[Any]) -> Agent:
    agent_id, role, owner, caps, status, previous, version, created, updated = row
    return Agent(str(agent_id), role, str(owner), tuple(json.loads(caps)), status, int(version),
                 previous, float(created), float(updated))


class Registry:
    """Agents in a state database; with ``kernel``, every change recorded in its ledger."""

    def __init__(self, db: StateDB, kernel: Kernel | None = None) -> None:
        self._db = db
        self._kernel = kernel
        db.migrate(_SCHEMA)

    # -- reading ---------------------------------------------------------------------------

    def find(self, agent_id: str) -> Agent | None:
        rows = self._db.query(_SELECT + " WHERE id = ?", (agent_id,))
        return _row(rows[0]) if rows else None

    def get(self, agent_id: str) -> Agent:
        agent = self.find(agent_id)
        if agent is None:
            raise AgentNotFoundError(f"no agent {agent_id!r}")
        return agent

    def list(self, *, status: str | None = None, role: str | None = None) -> list[Agent]:
        """Every agent (optionally of one status and/or role), oldest first."""
        agents = [_row(r) for r in self._db.query(_SELECT + " ORDER BY created, id")]
        return [a for a in agents if (status is None or a.status == status)
                and (role is None or a.role == role)]

    # -- changing --------------------------------------------------------------------------

    def register(self, agent_id: str, role: str, owner: str,
                 capabilities: Iterable[str] = (), *, by: str | None = None) -> Agent:
        """A new agent in status ``registered``; an id already taken is a
        :class:`ConflictError`."""
        now = time.time()
        agent = Agent.from_json({"id": agent_id, "role": role, "owner": owner,
                                 "capabilities": list(capabilities), "created": now,
                                 "updated": now})
        taken = ConflictError(f"agent {agent.id!r} is already registered")
        try:
            with self._db.transaction():
                if self.find(agent.id) is not None:
                    raise taken
                self._insert(agent)
                self._record("agent.registered", agent, None, by, None)
        except StateError:
            if self.find(agent.id) is not None:  # another handle inserted it meanwhile
                raise taken from None
            raise
        return agent

    def transition(self, agent: Agent | str, to: str, *, expected_version: int | None = None,
                   by: str | None = None, reason: str | None = None) -> Agent:
        """Move an agent to status ``to``. ``agent`` is an id or an :class:`Agent` (whose
        version is then expected); a stale version is a :class:`ConflictError`, a move the
        table does not allow a :class:`TransitionError`. Returns the agent as stored now."""
        agent_id = agent if isinstance(agent, str) else agent.id
        if expected_version is None and isinstance(agent, Agent):
            expected_version = agent.version
        if to not in STATUSES:
            raise TransitionError(f"unknown status {to!r} (one of {', '.join(STATUSES)})")
        with self._db.transaction():
            current = self.get(agent_id)
            if expected_version is not None and current.version != expected_version:
                raise ConflictError(f"agent {agent_id!r} changed meanwhile (version "
                                    f"{current.version}, expected {expected_version}); "
                                    "read it again")
            return self._move(current, to, by, reason)

    def pause(self, agent: Agent | str, *, expected_version: int | None = None,
              by: str | None = None, reason: str | None = None) -> Agent:
        """ready or running → paused."""
        return self.transition(agent, "paused", expected_version=expected_version, by=by,
                               reason=reason)

    def resume(self, agent: Agent | str, *, expected_version: int | None = None,
               by: str | None = None, reason: str | None = None) -> Agent:
        """paused → the status it was paused from (``ready`` or ``running``; ``ready`` when
        unknown)."""
        agent_id = agent if isinstance(agent, str) else agent.id
        if expected_version is None and isinstance(agent, Agent):
            expected_version = agent.version
        with self._db.transaction():
            current = self.get(agent_id)
            target = current.previous if current.previous in ("ready", "running") else "ready"
            if current.status != "paused":
                raise TransitionError(f"agent {agent_id!r} is {current.status}, not paused")
            return self.transition(agent_id, target, expected_version=expected_version, by=by,
                                   reason=reason)

    def stop(self, agent: Agent | str, *, expected_version: int | None = None,
             by: str | None = None, reason: str | None = None, finish: bool = True) -> Agent:
        """Stop an agent: registered, failed or quarantined → stopped; otherwise → stopping,
        and with ``finish`` (the default: nothing of the agent runs in this process) on to
        stopped — an executor that must first shut a process down passes ``finish=False`` and
        completes with ``transition(agent, "stopped")``. Both steps are recorded."""
        agent_id = agent if isinstance(agent, str) else agent.id
        if expected_version is None and isinstance(agent, Agent):
            expected_version = agent.version
        with self._db.transaction():
            current = self.transition(agent_id, "stopped" if self.get(agent_id).status in
                                      ("registered", "failed", "quarantined", "stopping")
                                      else "stopping", expected_version=expected_version,
                                      by=by, reason=reason)
            if finish and current.status == "stopping":
                current = self._move(current, "stopped", by, reason)
            return current

    def export(self) -> dict[str, Any]:
        """Every agent as one JSON document (see :meth:`import_agents`)."""
        return {"format": EXPORT_FORMAT, "exported": time.time(),
                "agents": [a.to_json() for a in self.list()]}

    def import_agents(self, document: object, *, replace: bool = False,
                      by: str | None = None) -> builtins.list[Agent]:
        """Register the agents of an export document (or a bare list of agent objects) as
        they are, status included. Everything is checked before anything is written; an id
        twice in the document, or one already registered without ``replace``, is refused.
        A replaced agent's version continues from the stored one (so handles read before the
        import are stale)."""
        if isinstance(document, Mapping):
            if document.get("format", EXPORT_FORMAT) != EXPORT_FORMAT:
                raise RegistryError(f"not a {EXPORT_FORMAT} document", location="format")
            items = document.get("agents")
        else:
            items = document
        if not isinstance(items, list):
            raise RegistryError("expected a list of agents", location="agents")
        agents = [Agent.from_json(item, location=f"agents[{i}]") for i, item in enumerate(items)]
        seen: set[str] = set()
        for i, agent in enumerate(agents):
            if agent.id in seen:
                raise RegistryError(f"agent {agent.id!r} appears twice",
                                    location=f"agents[{i}].id")
            seen.add(agent.id)
        done: builtins.list[Agent] = []
        now = time.time()
        with self._db.transaction():
            for agent in agents:
                stored = self.find(agent.id)
                if stored is not None and not replace:
                    raise ConflictError(f"agent {agent.id!r} is already registered (import "
                                        "with replace to overwrite it)")
                fresh = _stamped(agent, now)
                if stored is not None:
                    fresh = _with(fresh, version=stored.version + 1)
                    self._db.execute("DELETE FROM agents WHERE id = ?", (agent.id,))
                self._insert(fresh)
                self._record("agent.imported", fresh, stored.status if stored else None, by,
                             None)
                done.append(fresh)
        return done

    # -- internals -------------------------------------------------------------------------

    def _move(self, current: Agent, to: str, by: str | None, reason: str | None) -> Agent:
        if to not in TRANSITIONS[current.status]:
            allowed = ", ".join(sorted(TRANSITIONS[current.status])) or "nothing"
            raise TransitionError(f"agent {current.id!r} cannot go from {current.status} to "
                                  f"{to} (from {current.status}: {allowed})")
        moved = _with(current, status=to, previous=current.status, version=current.version + 1,
                      updated=time.time())
        changed = self._db.execute(
            "UPDATE agents SET status = ?, previous = ?, version = ?, updated = ? "
            "WHERE id = ? AND version = ?",
            (moved.status, moved.previous, moved.version, moved.updated, current.id,
             current.version))
        if changed != 1:
            raise ConflictError(f"agent {current.id!r} changed meanwhile; read it again")
        self._record(f"agent.{to}", moved, current.status, by, reason)
        return moved

    def _insert(self, agent: Agent) -> None:
        self._db.execute(_INSERT,
                         (agent.id, agent.role, agent.owner, json.dumps(list(agent.capabilities)),
                          agent.status, agent.previous, agent.version, agent.created,
                          agent.updated))

    def _record(self, event: str, agent: Agent, old: str | None, by: str | None,
                reason: str | None) -> None:
        if self._kernel is None:
            return
        data: dict[str, Any] = {"agent": agent.id, "role": agent.role, "owner": agent.owner,
                                "capabilities": list(agent.capabilities), "from": old,
                                "to": agent.status, "version": agent.version}
        if by is not None:
            data["by"] = by
        if reason is not None:
            data["reason"] = reason
        from codor.model import Agent as Principal

        self._kernel.record_event(ADMIN_SESSION, event, data, agent=Principal(ADMIN_SESSION))


def _stamped(agent: Agent, now: float) -> Agent:
    """An imported agent with its timestamps filled in when the document had none."""
    created = agent.created or now
    return _with(agent, created=created, updated=agent.updated or created)


def _with(agent: Agent, **changes: Any) -> Agent:
    return _replace(agent, **changes)
