"""What every check of one verification shares: the session's evidence, the workspace view,
each command analysed once (which checks it ran, what its output says), and when code last
changed."""

from __future__ import annotations

import bisect
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Final

from codor.claims.claim import Claim
from codor.claims.evidence import Run, SessionEvidence, Write
from codor.claims.finding import Finding
from codor.claims.patterns import pattern
from codor.claims.workspace import WorkspaceView

if TYPE_CHECKING:
    from codor.claims.runners import Invocation, RunSummary
    from codor.policy.claims_section import ClaimsSettings

__all__ = ["Analysed", "Context"]

#: a file whose mtime is within this of a run's end counts as written by the run itself (the
#: end is when the harness or sandbox saw the run finish: files it wrote are older)
_MTIME_SLACK_US: Final = 0
_SCRIPT_MAX: Final = 64 * 1024


@dataclass(frozen=True, slots=True)
class Analysed:
    """A command of the session with what it ran and what its output says."""

    run: Run
    invocations: tuple[Invocation, ...]
    summary: RunSummary | None
    printed: bool           # only printed or replayed text (echo, cat...)
    script: str | None = None  # the workspace script it ran, when the checks were found there

    def of(self, category: str) -> Invocation | None:
        return next((i for i in self.invocations if i.category == category), None)

    @property
    def label(self) -> str:
        """``pytest run (entry 812)``-style name for messages."""
        tool = self.invocations[0].tool if self.invocations else "command"
        return f"{tool} run (entry {self.run.index})"

    @property
    def end_us(self) -> int:
        return self.run.ended_us if self.run.ended_us is not None else self.run.wall_us


@dataclass
class Context:
    ev: SessionEvidence
    view: WorkspaceView
    settings: ClaimsSettings
    analysed: list[Analysed] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    code_writes: list[tuple[Write, str]] = field(default_factory=list)  # (write, relative path)
    claims: list[Claim] = field(default_factory=list)
    _changed: dict[int, list[tuple[str, int | None]]] = field(default_factory=dict, repr=False)
    _code_mtimes: list[tuple[int, str]] | None = field(default=None, repr=False)
    _write_indexes: list[int] = field(default_factory=list, repr=False)

    @classmethod
    def build(cls, ev: SessionEvidence, view: WorkspaceView, settings: ClaimsSettings,
              claims: list[Claim] | None = None) -> Context:
        from codor.claims.pathkinds import is_code_path
        from codor.claims.runners import invocations, parse_output, prints_only

        ctx = cls(ev, view, settings, claims=list(claims or ()))
        # sessions repeat themselves (git status, the same test command): analyse each
        # distinct command line and each distinct output once
        commands: dict[tuple[str, tuple[str, ...] | None], tuple[Invocation, ...]] = {}
        outputs: dict[tuple[str, str | None], RunSummary | None] = {}
        for run in ev.runs:
            key = (run.command, run.argv)
            found = commands.get(key)
            if found is None:
                found = commands[key] = tuple(invocations(run.command or None, run.argv))
            # one check: its format; several (``mypy . && pytest``): read every summary
            hint = found[0].tool if len({i.tool for i in found}) == 1 else None
            summary = None
            if run.output:
                if (run.output, hint) not in outputs:
                    outputs[run.output, hint] = parse_output(run.output, hint)
                summary = outputs[run.output, hint]
            printed = not found and summary is not None and \
                prints_only(run.command or None, run.argv)
            script = None
            if not found and not printed and summary is not None:
                found, printed, script = ctx._script(run)
            ctx.analysed.append(Analysed(run, found, summary, printed, script))
        for write in ev.writes:
            rel = view.relative(write.path)
            if write.decision == "allow" and rel is not None and is_code_path(rel):
                ctx.code_writes.append((write, rel))
        return ctx

    def _script(self, run: Run) -> tuple[tuple[Invocation, ...], bool, str | None]:
        """A command whose output carries a runner summary but that runs no known runner:
        when it runs a script of the workspace, the checks that script runs — or, when the
        script runs none and holds a runner's summary itself, printed output."""
        import shlex

        from codor.claims.runners import invocations, parse_output

        try:
            words = run.argv or tuple(shlex.split(run.command))
        except ValueError:
            return (), False, None
        base = Path(run.cwd) if run.cwd and os.path.isabs(run.cwd) else self.view.root
        for word in words[:4]:
            if "/" not in word and not word.endswith((".sh", ".py", ".bash")):
                continue
            path = base / word
            try:
                if not path.is_file() or path.stat().st_size > _SCRIPT_MAX:
                    continue
                text = path.read_text(encoding="utf-8", errors="replace")
            except OSError:
                continue
            rel = self.view.relative(str(path)) or word
            inside = tuple(i for line in text.splitlines() for i in invocations(line))
            if inside:
                return inside, False, rel
            if parse_output(text) is not None:
                return (), True, rel
        return (), False, None

    # -- findings ---------------------------------------------------------------------------
    def find(self, pattern_id: str, message: str, evidence: tuple[int, ...] = (), *,
             claim: int | None = None, path: str | None = None, line: int | None = None,
             severity: str | None = None) -> Finding:
        """Add a finding of ``pattern_id`` (its default severity unless ``severity``)."""
        found = Finding(pattern_id, severity or pattern(pattern_id).severity,  # type: ignore[arg-type]
                        message, tuple(sorted(set(evidence))), claim, path, line)
        self.findings.append(found)
        return found

    # -- runs -------------------------------------------------------------------------------
    def checks(self, category: str) -> list[Analysed]:
        """Commands that ran a check of ``category`` (whatever the decision: an outcome says
        it ran — an ``ask`` a person approved, say)."""
        return [a for a in self.analysed if a.run.ran and a.of(category) is not None]

    def changed_after(self, a: Analysed) -> list[tuple[str, int | None]]:
        """Code or test files changed after run ``a``: (path, ledger index of the write, or
        ``None`` when only the file on disk shows it — a change no hook saw). Computed once
        per run: the verifiers ask for the same run more than once."""
        cached = self._changed.get(a.run.index)
        if cached is not None:
            return cached
        if self._code_mtimes is None:
            from codor.claims.pathkinds import is_code_path

            self._code_mtimes = sorted(((m, rel) for rel, m in self.view.mtimes_ns.items()
                                        if is_code_path(rel)), reverse=True)
            self._write_indexes = [w.index for w, _ in self.code_writes]  # ledger order
        out: dict[str, int | None] = {}
        after = a.run.outcome if a.run.outcome is not None else a.run.index
        writes = self.code_writes
        for pos in range(bisect.bisect_right(self._write_indexes, after), len(writes)):
            out.setdefault(writes[pos][1], writes[pos][0].index)
        limit_ns = (a.end_us + _MTIME_SLACK_US) * 1000
        for mtime, rel in self._code_mtimes:  # newest first: stop at the first older file
            if mtime <= limit_ns:
                break
            out.setdefault(rel, None)
        result = self._changed[a.run.index] = list(out.items())
        return result
