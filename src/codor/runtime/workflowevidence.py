"""The guards' view of a session's ledger entries: the test runs and commits it ran
(:class:`RunFact`) and the files it was allowed to write (:class:`WriteFact`), in ledger order
(:class:`Evidence`), read from :func:`codor.claims.evidence.load_session` by
:func:`evidence_from`. Pure: the store (:mod:`codor.runtime.workflowstore`) reads the ledger,
the guards (:mod:`codor.runtime.workflowguards`) judge this view. When a test run *fails* or
*passes* is specified with the guards in :mod:`codor.runtime.workflow`.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from codor.runtime.workflowactions import _git_verbs
from codor.runtime.workflowpaths import _kinds, relative_path

if TYPE_CHECKING:
    from codor.claims.evidence import SessionEvidence
    from codor.claims.runners import RunSummary

__all__ = ["Evidence", "RunFact", "WriteFact", "evidence_from"]

_CHECKERS: Final = frozenset({"mypy", "ruff", "tsc", "eslint"})


@dataclass(frozen=True, slots=True)
class RunFact:
    """A command the session ran, as the guards read it. ``index`` is its decision's ledger
    index (the order guards compare); ``summary`` the runner's summary read from its output."""

    index: int
    command: str
    test: bool = False
    full: bool = True                   # the whole suite: no test selection
    commit: bool = False
    ran: bool = True                    # an outcome was recorded
    exit_status: int | None = None
    summary: RunSummary | None = None
    decided_us: int = 0
    started_us: int | None = None
    ended_us: int | None = None
    outcome: int | None = None
    output: str = ""
    products: tuple[str, ...] = ()      # sha256 digests the outcome reported

    @property
    def failing(self) -> bool:
        """A test run that shows a failing test (see :mod:`codor.runtime.workflow`)."""
        s = self.summary
        if not (self.test and self.ran) or s is None:
            return False
        if s.failed > 0:
            return True
        mixed = any(part in _CHECKERS for part in s.runner.split("+"))
        return not mixed and s.errors > 0 and self.exit_status not in (None, 0)

    @property
    def passing(self) -> bool:
        s = self.summary
        return self.test and self.ran and s is not None and s.ok and s.failed == 0 and \
            self.exit_status in (None, 0)

    @property
    def committed(self) -> bool:
        """A git commit that ran and succeeded."""
        if not (self.commit and self.ran) or self.exit_status not in (None, 0):
            return False
        if self.exit_status is None:  # not reported: read what git said
            low = self.output.lower()
            return not ("nothing to commit" in low or "fatal:" in low or "error:" in low)
        return True


@dataclass(frozen=True, slots=True)
class WriteFact:
    """A file write (or patch, or delete) the session was allowed, as the guards read it."""

    index: int
    path: str
    test: bool = False
    code: bool = False
    kind: str = "file.write"


@dataclass(frozen=True, slots=True)
class Evidence:
    """One session's runs and writes in ledger order; ``size`` is the ledger's size when it was
    read (a phase entered after it sees none of this)."""

    session: str = ""
    runs: tuple[RunFact, ...] = ()
    writes: tuple[WriteFact, ...] = ()
    size: int = 0


#: programs that pass a runner's output on unchanged when it is piped into them
_PASS_THROUGH: Final = frozenset({"tee", "tail", "head", "cat"})
#: printers whose whole output is their own arguments (checked for a summary)
_LITERAL_PRINTERS: Final = frozenset({"echo", "printf", "print"})


@functools.lru_cache(maxsize=1024)
def _output_is_the_runners(command: str, argv: tuple[str, ...] | None) -> bool:
    """Whether a test run's recorded output can be taken as what its runner printed: no part
    of the line prints a runner summary of its own (``echo '5 passed'``, ``python -c
    "print(...)"``), replays a file (``cat out.txt``, a heredoc) or rewrites the runner's
    output (``| sed ...``). Pass-through filters (``| tail -5``, ``| tee log``) and an echo
    without numbers or variables (``echo "exit: $?"``) are fine. A line that cannot be read
    is not."""
    from codor.claims.printing import prints_only
    from codor.claims.runners import parse_output
    from codor.runtime.workflowactions import _parsed

    result = _parsed(command or None, argv)
    if result.unparseable:
        return False
    for part in result.parts:
        if not part.argv or not prints_only(None, part.argv):
            continue  # runs a program: the runner, cd, make...
        if part.stdin_from:  # downstream of something in a pipeline
            if part.program in _PASS_THROUGH and (part.program == "tee" or all(
                    a.startswith("-") or a.isdigit() for a in part.argv[1:])):
                continue
            return False
        if part.program not in _LITERAL_PRINTERS:
            return False  # replays a file or a heredoc, or a script that only prints
        text = " ".join(part.argv[1:])
        if any(c.isdigit() for c in text) or "$" in text.replace("$?", "") or "`" in text or \
                parse_output(text) is not None:
            return False  # could print counts: only "echo done" or "echo exit: $?" pass
    return True


@functools.lru_cache(maxsize=1024)
def _run_kind(command: str, argv: tuple[str, ...] | None) -> tuple[bool, bool, bool, str | None]:
    """(test, full, commit, runner hint) of a recorded command."""
    from codor.claims.runners import invocations

    found = invocations(command or None, argv)
    tests = [i for i in found if i.category == "test"]
    verbs = _git_verbs(command or None, argv) if "git" in command else frozenset()
    hint = tests[0].tool if tests and len({i.tool for i in tests}) == 1 else None
    return bool(tests), all(i.subset is None for i in tests), "commit" in verbs, hint


def evidence_from(ev: SessionEvidence, workspace: str | None = None,
                  products: Mapping[int, tuple[str, ...]] | None = None) -> Evidence:
    """The guards' view of a session read by :func:`codor.claims.evidence.load_session`.
    ``products`` maps an outcome's ledger index to the digests it reported (read separately:
    the session evidence does not keep them for commands)."""
    from codor.claims.runners import parse_output

    runs: list[RunFact] = []
    outputs: dict[tuple[str, str | None], RunSummary | None] = {}
    for run in ev.runs:
        test, full, commit, hint = _run_kind(run.command, run.argv)
        if not (test or commit):
            continue
        summary = None
        if test and run.output and _output_is_the_runners(run.command, run.argv):
            key = (run.output, hint)
            if key not in outputs:
                outputs[key] = parse_output(run.output, hint)
            summary = outputs[key]
        runs.append(RunFact(
            run.index, run.command, test, full, commit, run.ran, run.exit_status, summary,
            run.wall_us, run.started_us, run.ended_us, run.outcome,
            run.output if commit else "",
            (products or {}).get(run.outcome, ()) if run.outcome is not None else ()))
    writes: list[WriteFact] = []
    for write in ev.writes:
        if write.decision != "allow" and write.outcome is None:
            continue
        rel, inside = relative_path(write.path, None, workspace)
        test, code = _kinds(rel) if inside else (False, False)
        writes.append(WriteFact(write.index, rel, test, code, write.kind))
    return Evidence(ev.session, tuple(runs), tuple(writes), ev.ledger_size)
