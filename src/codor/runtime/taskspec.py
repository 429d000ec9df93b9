"""What the scheduler (:mod:`codor.runtime.scheduler`) is given and what it hands back: a
task's :class:`TaskSpec` (every field checked when made), the lifecycle table
(:data:`TRANSITIONS`, with :data:`INITIAL` and :data:`FINAL`), the errors (``E_TASK``,
``E_TASK_CYCLE``, ``E_TASK_TRANSITION``, ``E_CONFLICT``, ``E_NOT_FOUND``), the check of a
batch of new tasks (:func:`check_batch`: ids, dependencies, cycles, an order that puts every
task after its dependencies) and of the state a new task enters (:func:`entry_state`), and the
records the scheduler returns: the :class:`Command` s the executor carries out, each
:class:`TransitionRecord` and the :class:`TaskState` snapshot. Pure data and pure functions;
the module doc of :mod:`codor.runtime.scheduler` describes the lifecycle.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Container, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal, get_args

from codor.errors import CodorError
from codor.runtime.registry import _ID

__all__ = [
    "DEFAULT_PRIORITY",
    "FINAL",
    "INITIAL",
    "MAX_PRIORITY",
    "MAX_RETRIES",
    "STATES",
    "TRANSITIONS",
    "Command",
    "CycleError",
    "Op",
    "State",
    "TaskConflictError",
    "TaskError",
    "TaskNotFoundError",
    "TaskSpec",
    "TaskState",
    "TaskTransitionError",
    "TransitionRecord",
    "check_batch",
    "entry_state",
]

State = Literal["pending", "ready", "running", "paused", "retry_wait", "succeeded", "failed",
                "cancelled"]
STATES: Final[tuple[str, ...]] = get_args(State)
Op = Literal["start", "pause", "resume", "stop"]

#: the lifecycle: state -> the states it may move to (see :mod:`codor.runtime.scheduler`)
TRANSITIONS: Final[Mapping[str, frozenset[str]]] = {
    "pending": frozenset({"ready", "cancelled"}),
    "ready": frozenset({"running", "cancelled"}),
    "running": frozenset({"succeeded", "failed", "retry_wait", "paused", "ready",
                          "cancelled"}),
    "paused": frozenset({"running", "ready", "succeeded", "failed", "retry_wait",
                         "cancelled"}),
    "retry_wait": frozenset({"ready", "cancelled"}),
    "succeeded": frozenset(),
    "failed": frozenset(),
    "cancelled": frozenset(),
}
#: the states a task is submitted in
INITIAL: Final = frozenset({"pending", "ready"})
#: the states a task never leaves
FINAL: Final = frozenset({"succeeded", "failed", "cancelled"})
assert set(TRANSITIONS) == set(STATES)
assert all(t <= set(STATES) for t in TRANSITIONS.values())
assert {s for s, t in TRANSITIONS.items() if not t} == FINAL

DEFAULT_PRIORITY: Final = 100
MAX_PRIORITY: Final = 1000
MAX_RETRIES: Final = 100
_MAX_DEPS: Final = 1000
_MAX_ARGV: Final = 4096
_MAX_ARG: Final = 65536
_FIELDS: Final = frozenset({"id", "name", "priority", "deps", "agent", "max_retries", "argv",
                            "cwd", "session", "preemptible"})
_RESERVED_SESSIONS: Final = frozenset({"codor-admin"})


class TaskError(CodorError):
    """A task, a batch of tasks or a scheduler setting that is not valid."""

    code = "E_TASK"


class CycleError(TaskError):
    """Dependencies that form a cycle; ``cycle`` lists it, first id repeated at the end."""

    code = "E_TASK_CYCLE"

    def __init__(self, cycle: Sequence[str], *, location: str | None = None) -> None:
        self.cycle = tuple(cycle)
        super().__init__(f"dependency cycle: {' → '.join(self.cycle)} (each task waits for "
                         "the next)", location=location)


class TaskTransitionError(TaskError):
    """A state change the lifecycle table does not allow (finishing a task that does not
    run, cancelling a finished one...)."""

    code = "E_TASK_TRANSITION"


class TaskConflictError(TaskError):
    """A task id already taken, or a change based on a stale version of a stored task."""

    code = "E_CONFLICT"


class TaskNotFoundError(TaskError):
    """No task with that id."""

    code = "E_NOT_FOUND"


# -- the task as submitted -----------------------------------------------------------------

def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _printable(value: str) -> bool:
    return not any(ord(c) < 32 or ord(c) == 127 for c in value)


def _check_spec(spec: TaskSpec) -> None:
    """Every field of a spec; errors name the field (``location``)."""
    if not isinstance(spec.id, str) or not _ID.fullmatch(spec.id):
        raise TaskError("a task id is 1 to 128 letters, digits or . _ : @ - (starting with a "
                        "letter or digit)", location="id")
    if not isinstance(spec.name, str) or len(spec.name) > 200 or not _printable(spec.name):
        raise TaskError("a name is at most 200 printable characters", location="name")
    if not _is_int(spec.priority) or not 0 <= spec.priority <= MAX_PRIORITY:
        raise TaskError(f"priority is an integer from 0 (most urgent) to {MAX_PRIORITY}",
                        location="priority")
    if not isinstance(spec.deps, tuple) or len(spec.deps) > _MAX_DEPS:
        raise TaskError(f"deps is a list of at most {_MAX_DEPS} task ids", location="deps")
    for i, dep in enumerate(spec.deps):
        if not isinstance(dep, str) or not _ID.fullmatch(dep):
            raise TaskError(f"{dep!r} is not a task id", location=f"deps[{i}]")
    if len(set(spec.deps)) != len(spec.deps):
        raise TaskError("a dependency is named twice", location="deps")
    if spec.agent is not None and (not isinstance(spec.agent, str)
                                   or not _ID.fullmatch(spec.agent)):
        raise TaskError("an agent id is 1 to 128 letters, digits or . _ : @ -",
                        location="agent")
    if not _is_int(spec.max_retries) or not 0 <= spec.max_retries <= MAX_RETRIES:
        raise TaskError(f"max_retries is an integer from 0 to {MAX_RETRIES}",
                        location="max_retries")
    if not isinstance(spec.argv, tuple) or len(spec.argv) > _MAX_ARGV:
        raise TaskError(f"argv is a list of at most {_MAX_ARGV} strings", location="argv")
    for i, arg in enumerate(spec.argv):
        if not isinstance(arg, str) or "\0" in arg or len(arg) > _MAX_ARG:
            raise TaskError(f"an argument is a string of at most {_MAX_ARG} characters "
                            "without NUL", location=f"argv[{i}]")
    if spec.cwd is not None and (not isinstance(spec.cwd, str) or not spec.cwd
                                 or "\0" in spec.cwd or len(spec.cwd) > 4096):
        raise TaskError("cwd is a path of 1 to 4096 characters", location="cwd")
    if spec.session is not None and (not isinstance(spec.session, str)
                                     or not _ID.fullmatch(spec.session)):
        raise TaskError("a session id is 1 to 128 letters, digits or . _ : @ -",
                        location="session")
    if spec.session in _RESERVED_SESSIONS:
        raise TaskError(f"{spec.session!r} holds the daemon's administration records",
                        location="session")
    if not isinstance(spec.preemptible, bool):
        raise TaskError("preemptible is true or false", location="preemptible")


@dataclass(frozen=True, slots=True)
class TaskSpec:
    """What to run and how to schedule it; checked when made (:class:`TaskError`)."""

    id: str
    name: str = ""
    priority: int = DEFAULT_PRIORITY  # 0..1000, lower = more urgent
    deps: tuple[str, ...] = ()  # tasks that must succeed first
    agent: str | None = None  # the agent that runs it; None: any
    max_retries: int = 0
    argv: tuple[str, ...] = ()  # the command; empty for a task driven from outside
    cwd: str | None = None
    session: str | None = None  # the ledger session its transitions are recorded in
    preemptible: bool = True

    def __post_init__(self) -> None:
        _check_spec(self)

    @property
    def label(self) -> str:
        """The name, or the command, or the id: what to show a person."""
        return self.name or " ".join(self.argv)[:200] or self.id

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "priority": self.priority,
                "deps": list(self.deps), "agent": self.agent, "max_retries": self.max_retries,
                "argv": list(self.argv), "cwd": self.cwd, "session": self.session,
                "preemptible": self.preemptible}

    @classmethod
    def from_json(cls, data: object, *, location: str = "task") -> TaskSpec:
        """A spec from a JSON object, every field checked (``id`` is required; a dependency
        named twice counts once)."""
        if not isinstance(data, Mapping):
            raise TaskError("a task must be a JSON object", location=location)
        unknown = sorted(map(str, set(data) - _FIELDS))
        if unknown:
            raise TaskError(f"unknown field(s) {', '.join(unknown)}", location=location)
        if "id" not in data:
            raise TaskError("missing field 'id'", location=location)
        fields = dict(data)
        for name in ("deps", "argv"):
            value = fields.get(name, ())
            if isinstance(value, str) or not isinstance(value, (list, tuple)):
                raise TaskError("must be a list of strings", location=f"{location}.{name}")
            fields[name] = tuple(dict.fromkeys(value)) if name == "deps" else tuple(value)
        try:
            return cls(**fields)
        except TaskError as exc:
            raise TaskError(exc.message, location=f"{location}.{exc.location}") from None
        except TypeError:  # an unhashable dependency
            raise TaskError("must be a list of strings", location=f"{location}.deps") from None


def entry_state(deps: Iterable[tuple[str, str]]) -> tuple[State, str | None]:
    """The state a new task enters, from its dependencies' ``(id, state)``: ``cancelled``
    (and why) when one of them failed or was cancelled, ``pending`` while one has not
    succeeded, ``ready`` otherwise. A cancelled task is first recorded ``pending``."""
    entered: State = "ready"
    for dep, state in deps:
        if state in ("failed", "cancelled"):
            return "cancelled", f"dependency {dep} {state}"
        if state != "succeeded":
            entered = "pending"
    return entered, None


def check_batch(specs: Sequence[TaskSpec], known: Container[str]) -> list[TaskSpec]:
    """Check a batch of new tasks against the ``known`` task ids; returns the batch in an
    order where every task comes after its dependencies. Refused: an id already known
    (:class:`TaskConflictError`) or twice in the batch, a dependency neither known nor in the
    batch (:class:`TaskError`), a cycle (:class:`CycleError`, naming it). Known tasks cannot
    depend on new ones, so only the batch is searched for cycles: O(tasks + dependencies)."""
    index: dict[str, int] = {}
    for i, spec in enumerate(specs):
        if not isinstance(spec, TaskSpec):
            raise TaskError("not a task", location=f"tasks[{i}]")
        if spec.id in index:
            raise TaskError(f"task {spec.id!r} appears twice", location=f"tasks[{i}].id")
        if spec.id in known:
            raise TaskConflictError(f"task {spec.id!r} already exists",
                                    location=f"tasks[{i}].id")
        index[spec.id] = i
    waiting = [0] * len(specs)  # dependencies inside the batch not yet ordered
    after: dict[int, list[int]] = {}
    for i, spec in enumerate(specs):
        for dep in spec.deps:
            j = index.get(dep)
            if j is None:
                if dep not in known:
                    raise TaskError(f"unknown dependency {dep!r}",
                                    location=f"tasks[{i}].deps")
                continue
            waiting[i] += 1
            after.setdefault(j, []).append(i)
    ready = deque(i for i, n in enumerate(waiting) if n == 0)
    order: list[TaskSpec] = []
    while ready:
        i = ready.popleft()
        order.append(specs[i])
        for k in after.get(i, ()):
            waiting[k] -= 1
            if waiting[k] == 0:
                ready.append(k)
    if len(order) < len(specs):  # each task left waits for another one left: walk to a loop
        start = next(i for i, n in enumerate(waiting) if n > 0)
        path: list[int] = []
        seen: dict[int, int] = {}
        here = start
        while here not in seen:
            seen[here] = len(path)
            path.append(here)
            here = next(index[d] for d in specs[here].deps
                        if d in index and waiting[index[d]] > 0)
        loop = [specs[i].id for i in path[seen[here]:]]
        raise CycleError([*loop, loop[0]], location=f"tasks[{index[loop[0]]}].deps")
    return order


# -- what the scheduler tells and reports ----------------------------------------------------

@dataclass(frozen=True, slots=True)
class Command:
    """What the executor must do now: ``start`` the task's command (a new run, numbered
    ``run``), ``pause`` or ``resume`` that run, or ``stop`` it (kill it: a preemption or a
    cancellation; the task's state already says which)."""

    op: Op
    task_id: str
    run: int
    spec: TaskSpec
    reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"op": self.op, "task": self.task_id, "run": self.run, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class TransitionRecord:
    """One state change (``old`` is ``None`` when the task is submitted). ``attempt`` is the
    task's try number (1 for the first run; 0 before it ever ran)."""

    task_id: str
    old: State | None
    new: State
    at: float
    reason: str | None
    attempt: int
    due: float | None = None  # retry_wait: when the task becomes ready again

    def to_json(self) -> dict[str, Any]:
        return {"task": self.task_id, "from": self.old, "to": self.new, "at": self.at,
                "reason": self.reason, "attempt": self.attempt, "due": self.due}


@dataclass(frozen=True, slots=True)
class TaskState:
    """A task as the scheduler holds it now (a snapshot)."""

    spec: TaskSpec
    state: State
    attempt: int  # the try number: 1 for the first run, +1 per retry (0: never ran)
    failures: int  # failed runs so far
    run: int  # runs started so far (a stopped and restarted task starts a new run)
    ready_since: float | None  # when it began waiting for a slot (ready or paused)
    started: float | None  # when its last run started
    ended: float | None  # when it reached a final state
    due: float | None  # retry_wait: when it becomes ready again
    reason: str | None  # why it is in this state, when known
    transitions: int  # how many state changes it went through (its submission included)
    blocked: int  # dependencies that have not succeeded yet

    @property
    def id(self) -> str:
        return self.spec.id

    def to_json(self) -> dict[str, Any]:
        return {**self.spec.to_json(), "state": self.state, "attempt": self.attempt,
                "failures": self.failures, "run": self.run, "ready_since": self.ready_since,
                "started": self.started, "ended": self.ended, "due": self.due,
                "reason": self.reason, "transitions": self.transitions,
                "blocked": self.blocked}
