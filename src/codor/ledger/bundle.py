"""Offline evidence of one session: a self-contained bundle, and an in-toto export.

**Bundle** (``codor ledger export --session S``), one JSON object verifiable with nothing but
itself (:func:`verify_bundle`, ``codor ledger verify-bundle``)::

    {"format": "codor.ledger.bundle", "version": 1, "origin": "<log origin>", "session": "S",
     "checkpoint": "<C2SP signed note>", "keys": ["<vkey>", ...],
     "entries": [{"index": 7, "leaf": "<base64>", "leaf_hash": "<hex>", "proof": ["<hex>"]}]}

``entries``: the session's ``session.start`` record(s) and every record whose ``session`` is
S, in ledger order, each with its RFC 9162 inclusion proof against the one signed
``checkpoint``, which ``keys`` signed. Verification checks the keys, the checkpoint (signed by
each bundled key and by a pinned key if given — pin one: a bundle's own key says nothing of
who made it), then per entry the leaf hash, the proof, that the leaf is a canonical record of
the session and bound (:func:`~codor.evidence.records.check_binding`) to an earlier start in
the bundle. It proves the entries are in the log, not that none of the session is left out.

**in-toto** (``--format intoto``): DSSE-signed Statements, JSON Lines. Per ``outcome``: a link
v0.3 Statement (subject: the products, else the outcome record) and, if its command is a test
runner (pytest, go test, cargo test, npm test, ...), a test-result v0.1 one (result from the
exit status, test names best effort from the stdout excerpt). A session without outcomes gets
one Statement of the custom predicate type ``https://codor.dev/decision/v1``
(:data:`DECISION_PREDICATE_TYPE`) about its start record(s), predicate::

    {"session", "origin", "agent": {"id", "role"?}, "policy", "started_wall_us",
     "counts": {"allow", "deny", "ask"}, "decisions": [{"index", "leaf_hash", "kind",
     "decision", "rules", "observer", "wall_us"}]}

A ledger record as subject is named ``<origin>#<index>``, with the sha256 of its leaf.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from codor.canonical import canonical_json
from codor.errors import CodorError
from codor.evidence import intoto
from codor.evidence.keys import LogKey, Verifier, b64decode_canonical
from codor.evidence.records import (
    DecisionRecord,
    OutcomeRecord,
    Record,
    SessionStart,
    action_digest,
    check_binding,
    record_from_bytes,
)
from codor.ledger.checkpoint import Checkpoint, open_checkpoint, split_note
from codor.ledger.merkle import leaf_hash, verify_inclusion

if TYPE_CHECKING:
    from codor.ledger.log import InclusionProof, Ledger
    from codor.ledger.store import StoredEntry

__all__ = [
    "DECISION_PREDICATE_TYPE", "FORMAT", "VERSION", "BundleError", "BundleReport",
    "export_bundle", "export_intoto", "session_entries", "verify_bundle",
]

FORMAT: Final = "codor.ledger.bundle"
VERSION: Final = 1
DECISION_PREDICATE_TYPE: Final = "https://codor.dev/decision/v1"

Progress = Callable[[int, int], None]
_BATCH: Final = 4096
_KEYS: Final = frozenset({"format", "version", "origin", "session", "checkpoint", "keys",
                          "entries"})
_ENTRY_KEYS: Final = frozenset({"index", "leaf", "leaf_hash", "proof"})
_HEX64 = re.compile(r"[0-9a-f]{64}")
_RUNNER = re.compile(
    r"(?:^|[\s/])(?:pytest|py\.test|tox|nox|jest|vitest|mocha|ctest|phpunit|rspec)(?:\s|$)"
    r"|(?:^|[\s/])(?:go|cargo|npm|pnpm|yarn|bun|deno|mvn|gradle|make|dotnet|mix|swift)"
    r"\s+(?:run\s+)?test\b|-m\s+(?:pytest|unittest)\b")
_PASSED = re.compile(r"^\s*(?:PASSED (\S+)|--- PASS: (\S+)|(\S+::\S+) PASSED\b)", re.M)
_FAILED = re.compile(r"^\s*(?:FAILED (\S+)|--- FAIL: (\S+)|(\S+::\S+) FAILED\b)", re.M)


class BundleError(CodorError):
    """A bundle or in-toto export could not be made (no such session, a changing ledger)."""

    code = "E_BUNDLE"


# -- finding a session ---------------------------------------------------------------------------
def _top_level(leaf: bytes) -> dict[str, Any]:
    try:
        data = json.loads(leaf)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def session_entries(ledger: Ledger, session: str, progress: Progress | None = None
                    ) -> list[StoredEntry]:
    """Every entry whose record's top-level ``session`` is ``session``, in ledger order.
    Raises :class:`BundleError` when none of them is a session start."""
    size = ledger.sync()
    needle = b'"session":' + canonical_json(session)  # leaves are canonical JSON (RFC 8785)
    found: list[StoredEntry] = []
    pruned = 0
    for start in range(0, size, _BATCH):
        end = min(size, start + _BATCH)
        for entry in ledger.store.entries(start, end):
            if entry.leaf is None:
                pruned += 1
            elif needle in entry.leaf and _top_level(entry.leaf).get("session") == session:
                found.append(entry)
        if progress is not None:
            progress(end, size)
    if not any(_top_level(e.leaf or b"").get("type") == SessionStart.type for e in found):
        gone = f"; {pruned} entry bodies are pruned and could not be searched" if pruned else ""
        raise BundleError(f"no session.start of session {session!r} in the ledger{gone}")
    return found


def _proofs(ledger: Ledger, indexes: Sequence[int]) -> list[InclusionProof]:
    """Inclusion proofs of ``indexes`` all against one checkpoint (signed if needed)."""
    for _attempt in range(5):
        last = ledger.prove(indexes[-1])  # signs a checkpoint when none covers the session
        proofs = [ledger.prove(i) for i in indexes[:-1]] + [last]
        if all(p.checkpoint == last.checkpoint for p in proofs):
            return proofs
    raise BundleError("new checkpoints kept being signed during the export; try again")


# -- the bundle ----------------------------------------------------------------------------------
def export_bundle(ledger: Ledger, session: str, progress: Progress | None = None
                  ) -> dict[str, Any]:
    """The offline bundle of ``session`` (see the module doc). Raises :class:`BundleError`
    when the ledger holds no start of that session."""
    entries = session_entries(ledger, session, progress)
    proofs = _proofs(ledger, [e.index for e in entries])
    note = proofs[0].checkpoint
    signed = {(s.name, s.key_id) for s in split_note(note)[1]}
    keys = [v.vkey for v in ledger.verifiers if (v.name, v.key_id) in signed]
    return {"format": FORMAT, "version": VERSION, "origin": ledger.origin, "session": session,
            "checkpoint": note, "keys": keys,
            "entries": [{"index": e.index, "leaf": base64.b64encode(e.leaf or b"").decode(),
                         "leaf_hash": e.leaf_hash.hex(), "proof": [h.hex() for h in p.hashes]}
                        for e, p in zip(entries, proofs, strict=True)]}


@dataclass(frozen=True, slots=True)
class BundleReport:
    """What :func:`verify_bundle` found. On failure ``where`` names the first bad part
    (``entry <ledger index>``, ``bundle entry #<n>``, ``checkpoint``, ``key <n>``, ``bundle``)
    and ``index`` is the ledger index of a bad entry."""

    ok: bool
    session: str | None = None
    origin: str | None = None
    counts: Mapping[str, int] = field(default_factory=dict)
    indexes: tuple[int, ...] = ()
    size: int = 0
    root: str = ""
    signers: tuple[str, ...] = ()
    pinned: bool = False
    where: str | None = None
    index: int | None = None
    problem: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "session": self.session, "origin": self.origin,
                "indexes": list(self.indexes), "counts": dict(self.counts),
                "checkpoint_size": self.size, "root": self.root, "signers": list(self.signers),
                "pinned": self.pinned, "where": self.where, "index": self.index,
                "problem": self.problem}


class _Bad(Exception):
    def __init__(self, where: str, problem: str, index: int | None = None) -> None:
        super().__init__(problem)
        self.where, self.problem, self.index = where, problem, index


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise ValueError("duplicate key")
    return out


def _load(bundle: str | bytes | Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(bundle, Mapping):
        data: Any = bundle
    else:
        try:
            data = json.loads(bundle, object_pairs_hook=_no_duplicates)
        except ValueError as exc:  # also UnicodeDecodeError
            raise _Bad("bundle", f"not a JSON bundle ({exc})") from None
    if not isinstance(data, Mapping) or data.get("format") != FORMAT or \
            type(data.get("version")) is not int or data["version"] != VERSION:
        raise _Bad("bundle", f"not a CODOR ledger bundle ({FORMAT} version {VERSION})")
    if set(data) != _KEYS:
        raise _Bad("bundle", f"expected exactly the fields {', '.join(sorted(_KEYS))}")
    for name in ("origin", "session", "checkpoint"):
        if not isinstance(data[name], str) or not data[name]:
            raise _Bad("bundle", f"{name} must be a non-empty string")
    for name in ("keys", "entries"):
        if not isinstance(data[name], list) or not data[name]:
            raise _Bad("bundle", f"{name} must be a non-empty list")
    return data


def _check_keys(data: Mapping[str, Any], pinned: Sequence[Verifier] | None) -> Checkpoint:
    note: str = data["checkpoint"]
    checkpoint: Checkpoint | None = None
    for n, text in enumerate(data["keys"]):
        try:
            verifier = Verifier(text)
        except (CodorError, AttributeError) as exc:
            raise _Bad(f"key {n}", f"not a verifier key: {exc}") from None
        if verifier.vkey != text:
            raise _Bad(f"key {n}", "not in canonical <name>+<id>+<data> form")
        try:
            checkpoint, _names = open_checkpoint(note, [verifier])
        except CodorError as exc:
            raise _Bad("checkpoint", f"does not verify with bundled key {n} "
                                     f"({verifier.name}+{verifier.key_id_hex}): "
                                     f"{exc.message}") from None
    assert checkpoint is not None
    if pinned:
        try:
            open_checkpoint(note, pinned)
        except CodorError as exc:
            raise _Bad("checkpoint", f"not signed by the pinned key: {exc.message}") from None
    if checkpoint.origin != data["origin"]:
        raise _Bad("checkpoint", f"is of log {checkpoint.origin!r}, not {data['origin']!r}")
    return checkpoint


def _hash(value: Any, what: str, where: str, index: int | None) -> bytes:
    if not isinstance(value, str) or not _HEX64.fullmatch(value):
        raise _Bad(where, f"{what} is not 64 lowercase hex digits", index)
    return bytes.fromhex(value)


def _check_entry(item: Any, pos: int, prev: int, cp: Checkpoint, session: str,
                 starts: dict[str, SessionStart]) -> tuple[int, Record]:
    index = item.get("index") if isinstance(item, dict) else None
    ok_index = type(index) is int and prev < index < cp.size
    where = f"entry {index}" if ok_index else f"bundle entry #{pos}"
    at = index if ok_index else None
    if not isinstance(item, dict) or set(item) != _ENTRY_KEYS:
        raise _Bad(where, f"expected exactly the fields {', '.join(sorted(_ENTRY_KEYS))}", at)
    if not ok_index:
        raise _Bad(where, f"index {index!r} is not an integer after {prev} and below the "
                          f"checkpoint size {cp.size}")
    assert isinstance(index, int)
    leaf = b64decode_canonical(item["leaf"]) if isinstance(item["leaf"], str) else None
    if leaf is None:
        raise _Bad(where, "leaf is not canonical base64", index)
    digest = _hash(item["leaf_hash"], "leaf_hash", where, index)
    if leaf_hash(leaf) != digest:
        raise _Bad(where, "leaf bytes do not match their leaf hash", index)
    proof = item["proof"] if isinstance(item["proof"], list) else [None]
    path = [_hash(h, "a proof hash", where, index) for h in proof]
    if not verify_inclusion(index, cp.size, digest, path, cp.root):
        raise _Bad(where, f"inclusion proof fails against the checkpoint (size {cp.size})", index)
    try:
        record = record_from_bytes(leaf)
    except ValueError as exc:
        raise _Bad(where, f"not a CODOR evidence record: {exc}", index) from None
    if record.session != session:
        raise _Bad(where, f"record is of session {record.session!r}, not {session!r}", index)
    if isinstance(record, SessionStart):
        if record.challenge in starts:
            raise _Bad(where, "a second session start with the same challenge", index)
        starts[record.challenge] = record
        return index, record
    start = starts.get(record.challenge)
    if start is None:
        raise _Bad(where, "record is bound to no earlier session start in the bundle", index)
    try:
        check_binding(start, record)
    except ValueError as exc:
        raise _Bad(where, f"binding: {exc}", index) from None
    return index, record


def verify_bundle(bundle: str | bytes | Mapping[str, Any],
                  pinned: Sequence[Verifier] | None = None) -> BundleReport:
    """Verify a bundle with nothing but its own bytes (and ``pinned`` keys, if given: the
    checkpoint must then be signed by one of them). Never raises on bad input."""
    session = None
    try:
        data = _load(bundle)
        session = data["session"]
        cp = _check_keys(data, pinned)
        starts: dict[str, SessionStart] = {}
        counts: Counter[str] = Counter()
        indexes: list[int] = []
        for pos, item in enumerate(data["entries"]):
            index, record = _check_entry(item, pos, indexes[-1] if indexes else -1, cp,
                                         session, starts)
            indexes.append(index)
            counts[record.type] += 1
        if not starts:
            raise _Bad("bundle", "no session.start record of the session")
    except _Bad as bad:
        return BundleReport(False, session, pinned=bool(pinned), where=bad.where,
                            index=bad.index, problem=bad.problem)
    signers = tuple(Verifier(k).vkey for k in data["keys"])
    return BundleReport(True, session, cp.origin, dict(counts), tuple(indexes), cp.size,
                        cp.root.hex(), signers, bool(pinned))


# -- in-toto -------------------------------------------------------------------------------------
def _subject(origin: str, entry: StoredEntry) -> dict[str, str]:
    return {f"{origin}#{entry.index}": hashlib.sha256(entry.leaf or b"").hexdigest()}


def _command(decision: DecisionRecord | None) -> list[str]:
    if decision is None:
        return []
    action = decision.action
    return list(action.argv) if action.argv else [t for t in (action.command or action.tool,) if t]


def _names(pattern: re.Pattern[str], text: str) -> list[str]:
    return list(dict.fromkeys(next(g for g in m.groups() if g) for m in pattern.finditer(text)))


def _statements(origin: str, entry: StoredEntry, outcome: OutcomeRecord,
                decision: tuple[int, DecisionRecord] | None) -> list[dict[str, Any]]:
    command = _command(decision[1] if decision else None)
    codor = {"origin": origin, "session": outcome.session, "ledger_index": entry.index,
             "leaf_hash": entry.leaf_hash.hex(), "observer": outcome.observer,
             "sandbox": outcome.sandbox, "policy": outcome.policy,
             "decision_index": decision[0] if decision else None,
             "started_wall_us": outcome.started_wall_us, "ended_wall_us": outcome.ended_wall_us,
             "duration_us": outcome.duration_us}
    byproducts = {"return-value": outcome.exit_status, "stdout": outcome.stdout.excerpt,
                  "stderr": outcome.stderr.excerpt, "stdout-sha256": outcome.stdout.sha256,
                  "stderr-sha256": outcome.stderr.sha256}
    itself = _subject(origin, entry)
    out = [intoto.link_statement(f"codor-outcome-{entry.index}", command, dict(outcome.materials),
                          dict(outcome.products) or itself, byproducts, {"codor": codor})]
    if outcome.exit_status is not None and _RUNNER.search(" ".join(command)):
        result = "PASSED" if outcome.exit_status == 0 else "FAILED"
        text = outcome.stdout.excerpt
        failed = _names(_FAILED, text) if result == "FAILED" else []
        predicate = intoto.test_result_predicate(result, _names(_PASSED, text), failed,
                                                 intoto.resource_descriptors(itself))
        out.append(intoto.statement(dict(outcome.materials) or itself,
                                    intoto.TEST_RESULT_PREDICATE_TYPE, predicate))
    return out


def _decision_summary(origin: str, session: str,
                      records: Sequence[tuple[StoredEntry, Record]]) -> dict[str, Any]:
    starts = [(e, r) for e, r in records if isinstance(r, SessionStart)]
    first = starts[0][1]
    subjects = {k: v for e, _r in starts for k, v in _subject(origin, e).items()}
    decisions = [{"index": e.index, "leaf_hash": e.leaf_hash.hex(), "kind": r.action.kind,
                  "decision": r.decision.decision,
                  "rules": [x.rule for x in r.decision.reasons if x.rule],
                  "observer": r.observer, "wall_us": r.wall_us}
                 for e, r in records if isinstance(r, DecisionRecord)]
    counts = Counter(str(d["decision"]) for d in decisions)
    predicate = {"session": session, "origin": origin, "agent": first.agent.to_json(),
                 "policy": first.policy, "started_wall_us": first.wall_us,
                 "counts": {k: counts[k] for k in ("allow", "deny", "ask")},
                 "decisions": decisions}
    return intoto.statement(subjects, DECISION_PREDICATE_TYPE, predicate)


def export_intoto(ledger: Ledger, session: str, key: LogKey | None = None,
                  progress: Progress | None = None) -> list[dict[str, Any]]:
    """DSSE envelopes (signed by ``key``, default the ledger's log key) of the in-toto
    Statements of ``session`` (see the module doc), in ledger order."""
    signer = key or ledger.key
    if signer is None:
        raise BundleError("signing in-toto statements needs the log key")
    records: list[tuple[StoredEntry, Record]] = []
    for entry in session_entries(ledger, session, progress):
        try:
            records.append((entry, record_from_bytes(entry.leaf or b"")))
        except ValueError as exc:
            raise BundleError(f"entry {entry.index} is not an evidence record: {exc}") from None
    decisions = {e.index: (e.index, r) for e, r in records if isinstance(r, DecisionRecord)}
    by_digest = {action_digest(r.action): (i, r) for i, r in decisions.values()}
    statements: list[dict[str, Any]] = []
    for entry, record in records:
        if isinstance(record, OutcomeRecord):
            decision = decisions.get(record.action_index if record.action_index is not None
                                     else -1) or by_digest.get(record.action_sha256 or "")
            statements += _statements(ledger.origin, entry, record, decision)
    if not statements:
        statements.append(_decision_summary(ledger.origin, session, records))
    return [intoto.sign_statement(s, signer) for s in statements]
