"""One session's evidence, read from the ledger: the commands it ran and what they printed,
the files it wrote, the tools it called, the events around them — each with its ledger index.

Only observations count: records whose observer is ``agent-claim`` are skipped, and so is any
record not bound to one of the session's start records (its challenge). Each leaf read is
checked against its stored leaf hash, so a body edited in the database is refused, not used.
"""

from __future__ import annotations

import hashlib
import json
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from hashlib import sha256
from typing import TYPE_CHECKING, Any, Final

import orjson

from codor.canonical import canonical_json, canonical_sha256
from codor.errors import CodorError

if TYPE_CHECKING:
    from codor.ledger import Ledger

__all__ = ["ClaimsError", "Entry", "Run", "SessionEvidence", "ToolUse", "Write", "load_session"]

_CHUNK: Final = 16384  # entries per database search
_LEAF_PREFIX: Final = b"\x00"


class ClaimsError(CodorError):
    """Claims could not be verified (no such session, a ledger entry that fails its hash)."""

    code = "E_CLAIMS"


@dataclass(slots=True)
class Run:
    """A command the session asked to run: its decision and (when it ran) its outcome.
    (Not frozen: the loader fills the outcome in place; nothing hashes or signs it.)"""

    index: int                  # the decision record
    command: str                # shell text (``argv`` joined with shell quoting)
    argv: tuple[str, ...] | None
    decision: str               # allow | deny | ask
    wall_us: int                # when it was decided
    observer: str
    cwd: str | None = None
    outcome: int | None = None  # the outcome record, when one names this decision
    exit_status: int | None = None
    output: str = ""            # stdout excerpt, then stderr excerpt
    started_us: int | None = None
    ended_us: int | None = None
    duration_us: int | None = None
    outcome_observer: str | None = None

    @property
    def ran(self) -> bool:
        return self.outcome is not None

    @property
    def evidence(self) -> tuple[int, ...]:
        return (self.index,) if self.outcome is None else (self.index, self.outcome)


@dataclass(slots=True)
class Write:
    """A file write or delete the session asked for (``file.write``, ``patch.apply``,
    ``file.delete``), with the digest of the content written when it is known."""

    index: int
    kind: str
    path: str
    decision: str
    wall_us: int
    sha256: str | None = None   # the whole file's digest after the write (Write, not Edit)
    edit: bool = False          # a partial edit (only the inserted text is known)
    outcome: int | None = None
    product_sha256: str | None = None  # the digest the outcome reported for ``path``


@dataclass(frozen=True, slots=True)
class ToolUse:
    """A tool call or network request (browser activity, MCP tools...)."""

    index: int
    kind: str                   # tool.call | network.request | file.read ...
    name: str                   # tool name, or url
    decision: str
    wall_us: int


@dataclass(slots=True)
class Entry:
    """Any entry of the session: index, type, wall time (for order checks), and for outcomes
    the start/end wall times."""

    index: int
    type: str
    wall_us: int
    observer: str
    ended_wall_us: int | None = None


@dataclass
class SessionEvidence:
    """Everything one session's ledger entries show, in ledger order."""

    session: str
    ledger_size: int
    starts: list[int] = field(default_factory=list)          # session.start indexes
    start_wall_us: int = 0                                    # the first start's time
    challenge: str = ""             # the first start's challenge
    git_head: str | None = None     # the commit the work tree was on at the first start
    runs: list[Run] = field(default_factory=list)
    writes: list[Write] = field(default_factory=list)
    tools: list[ToolUse] = field(default_factory=list)
    events: list[tuple[int, str, Mapping[str, Any], int]] = field(default_factory=list)
    entries: list[Entry] = field(default_factory=list)



_OUTCOME_KINDS: Final = frozenset({"command.exec", "file.write", "patch.apply", "file.delete",
                                   "tool.call", "network.request"})
_PENDING_MAX: Final = 256


@dataclass(slots=True)
class _Pending:
    """A decision still waiting for its outcome; its action digest is computed only when an
    outcome names its action by digest (most recent first: normally the first one tried)."""

    index: int
    action: dict[str, Any]
    leaf: bytes
    challenge: str
    digest: str | None = None


def _action_digest(leaf: bytes, challenge: str) -> str | None:
    """The digest of a decision record's action, read off its canonical leaf bytes: the
    action is the record's first member (keys sort), ending where the record's own
    challenge (the last such member: the action comes before it) begins. ``None`` when the
    bytes do not have that shape; the digest is then computed from the parsed action."""
    head = b'{"action":'
    if not leaf.startswith(head):
        return None
    end = leaf.rfind(b',"challenge":"' + challenge.encode() + b'","decision":{')
    if end <= len(head):
        return None
    return hashlib.sha256(leaf[len(head):end]).hexdigest()


def _by_digest(pending: list[_Pending], digest: Any) -> int | None:
    """The most recent pending decision whose action has ``digest``; removed from pending."""
    if not isinstance(digest, str):
        return None
    for pos in range(len(pending) - 1, -1, -1):
        item = pending[pos]
        if item.digest is None:
            item.digest = _action_digest(item.leaf, item.challenge) or \
                canonical_sha256(item.action)
        if item.digest == digest:
            del pending[pos]
            return item.index
    return None


def _decision_of(rec: Mapping[str, Any]) -> str:
    decision = rec.get("decision")
    return str(decision.get("decision", "deny")) if isinstance(decision, Mapping) else "deny"


def _command_text(action: Mapping[str, Any]) -> tuple[str, tuple[str, ...] | None]:
    argv = action.get("argv")
    if isinstance(argv, list) and all(isinstance(a, str) for a in argv):
        return shlex.join(argv), tuple(argv)
    command = action.get("command")
    return (command if isinstance(command, str) else ""), None


def load_session(ledger: Ledger, session: str) -> SessionEvidence:
    """Read ``session``'s entries from ``ledger`` (raises :class:`ClaimsError` when the
    session has no start record, or a leaf does not match its hash)."""
    store = ledger.store
    store.flush()
    size = store.size()
    needle = b'"session":' + canonical_json(session)
    ev = SessionEvidence(session, size)
    challenges: set[str] = set()
    runs_by_index: dict[int, int] = {}      # decision index -> position in ev.runs
    writes_by_index: dict[int, int] = {}
    pending: list[_Pending] = []            # decisions without an outcome yet, in order
    for start in range(0, size, _CHUNK):
        for index, leaf, leaf_hash in store.leaves_containing(start, min(size, start + _CHUNK),
                                                              needle):
            if sha256(_LEAF_PREFIX + leaf).digest() != leaf_hash:
                raise ClaimsError(f"ledger entry {index} does not match its leaf hash; "
                                  "run `codor ledger verify`")
            try:
                rec = orjson.loads(leaf)
            except orjson.JSONDecodeError:  # not UTF-8, not JSON, or an integer past 64 bits
                try:
                    rec = json.loads(leaf.decode("utf-8"))
                except ValueError:
                    continue
            if not isinstance(rec, dict) or rec.get("session") != session:
                continue
            _add(ev, index, rec, challenges, runs_by_index, writes_by_index, pending, leaf)
    if not ev.starts:
        raise ClaimsError(f"no session {session!r} in the ledger ({size} entries)")
    return ev


def _add(ev: SessionEvidence, index: int, rec: dict[str, Any], challenges: set[str],
         runs_by_index: dict[int, int], writes_by_index: dict[int, int],
         pending: list[_Pending], leaf: bytes = b"") -> None:
    rtype = rec.get("type")
    if rtype == "session.start":
        challenges.add(str(rec.get("challenge")))
        if not ev.starts:
            ev.start_wall_us = int(rec.get("wall_us", 0))
            ev.challenge = str(rec.get("challenge"))
        ev.starts.append(index)
        ev.entries.append(Entry(index, "session.start", int(rec.get("wall_us", 0)),
                                "codor-engine"))
        return
    if rec.get("challenge") not in challenges:
        return  # not bound to a start of this session: not evidence
    observer = str(rec.get("observer", "codor-engine"))
    if observer == "agent-claim":
        return
    if rtype == "decision":
        _add_decision(ev, index, rec, observer, runs_by_index, writes_by_index, pending, leaf)
    elif rtype == "outcome":
        _add_outcome(ev, index, rec, observer, runs_by_index, writes_by_index, pending)
    elif rtype == "event":
        data = rec.get("data")
        if rec.get("event") == "workspace.head" and ev.git_head is None and \
                rec.get("challenge") == ev.challenge and isinstance(data, dict):
            head = data.get("git_head")  # recorded right after the first start, or not used
            ev.git_head = head if isinstance(head, str) else None
        ev.events.append((index, str(rec.get("event")), data if isinstance(data, dict) else {},
                          int(rec.get("wall_us", 0))))
        ev.entries.append(Entry(index, "event", int(rec.get("wall_us", 0)), observer))
    elif rtype == "approval":
        ev.entries.append(Entry(index, "approval", int(rec.get("wall_us", 0)), "codor-engine"))


def _add_decision(ev: SessionEvidence, index: int, rec: dict[str, Any], observer: str,
                  runs_by_index: dict[int, int], writes_by_index: dict[int, int],
                  pending: list[_Pending], leaf: bytes = b"") -> None:
    action = rec.get("action")
    if not isinstance(action, dict):
        return
    wall = int(rec.get("wall_us", 0))
    ev.entries.append(Entry(index, "decision", wall, observer))
    kind = action.get("kind")
    decision = _decision_of(rec)
    if kind in _OUTCOME_KINDS:
        pending.append(_Pending(index, action, leaf, str(rec.get("challenge"))))
        if len(pending) > _PENDING_MAX:
            del pending[0]
    if kind == "command.exec":
        command, argv = _command_text(action)
        cwd = action.get("cwd")
        runs_by_index[index] = len(ev.runs)
        ev.runs.append(Run(index, command, argv, decision, wall, observer,
                           cwd if isinstance(cwd, str) else None))
    elif kind in ("file.write", "patch.apply", "file.delete"):
        path = action.get("path")
        if not isinstance(path, str):
            return
        meta = action.get("meta")
        edit = isinstance(meta, dict) and meta.get("edit") is not None
        digest = action.get("content_sha256") if kind == "file.write" and not edit else None
        writes_by_index[index] = len(ev.writes)
        ev.writes.append(Write(index, str(kind), path, decision, wall,
                               digest if isinstance(digest, str) else None,
                               edit or kind == "patch.apply"))
    elif kind in ("tool.call", "network.request"):
        name = action.get("tool") if kind == "tool.call" else action.get("url") or \
            action.get("host")
        ev.tools.append(ToolUse(index, str(kind), str(name or ""), decision, wall))


def _add_outcome(ev: SessionEvidence, index: int, rec: dict[str, Any], observer: str,
                 runs_by_index: dict[int, int], writes_by_index: dict[int, int],
                 pending: list[_Pending]) -> None:
    started = int(rec.get("started_wall_us", 0))
    ended = int(rec.get("ended_wall_us", started))
    ev.entries.append(Entry(index, "outcome", started, observer, ended))
    target = rec.get("action_index")
    if not isinstance(target, int) or not any(p.index == target for p in pending):
        target = _by_digest(pending, rec.get("action_sha256"))
    else:
        pending[:] = [p for p in pending if p.index != target]
    if target is None:
        return
    if target in runs_by_index:
        run = ev.runs[runs_by_index[target]]
        stdout, stderr = rec.get("stdout"), rec.get("stderr")
        stdout = stdout if isinstance(stdout, dict) else {}
        stderr = stderr if isinstance(stderr, dict) else {}
        out, err = str(stdout.get("excerpt", "")), str(stderr.get("excerpt", ""))
        status = rec.get("exit_status")
        run.outcome = index
        run.exit_status = status if isinstance(status, int) else None
        run.output = out + ("\n" if out and err and not out.endswith("\n") else "") + err
        run.started_us, run.ended_us = started, ended
        run.duration_us = int(rec.get("duration_us", 0))
        run.outcome_observer = observer
    elif target in writes_by_index:
        write = ev.writes[writes_by_index[target]]
        products = rec.get("products")
        product = products.get(write.path) if isinstance(products, dict) else None
        write.outcome = index
        write.product_sha256 = product if isinstance(product, str) else None
