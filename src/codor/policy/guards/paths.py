"""The ``paths`` guard: per-operation allow / ask / deny globs over normalised and real paths.

Configuration::

    paths:
      allow: [globs]     # every operation
      ask:   [globs]
      deny:  [globs]
      read:   {allow: [...], ask: [...], deny: [...]}   # file.read, file.list
      write:  {allow: [...], ask: [...], deny: [...]}   # file.write, patch.apply (and delete)
      delete: {allow: [...], ask: [...], deny: [...]}   # file.delete (write lists apply too)
      exceptions: [globs]   # never denied or asked by this guard

A path is judged in two forms: lexically normalised and symlink-resolved. ``deny`` and ``ask``
fire when *any* form matches; ``allow`` needs *every* form to match, so a symlink inside an
allowed tree that points outside it is not allowed by that tree.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from codor.model import Action, Effect, Severity
from codor.policy.diff import touched_paths
from codor.policy.guards.base import CompileContext, EvalContext, Finding
from codor.policy.memo import Memo
from codor.policy.patterns import GlobSet
from codor.policy.schema import Section

__all__ = ["OPERATIONS", "Operation", "PathsGuard", "compile_guard"]

Operation = Literal["read", "write", "delete"]
OPERATIONS: tuple[Operation, ...] = ("read", "write", "delete")
_KIND_OP: dict[str, Operation] = {
    "file.read": "read",
    "file.list": "read",
    "file.write": "write",
    "patch.apply": "write",
    "file.delete": "delete",
}
_SEVERITY: dict[str, Severity] = {"deny": "high", "ask": "medium", "allow": "info"}


@dataclass(frozen=True, slots=True)
class _Lists:
    """Compiled globs of one operation, with the sub-rule name of each list."""

    deny: tuple[tuple[str, GlobSet], ...]
    ask: tuple[tuple[str, GlobSet], ...]
    allow: tuple[tuple[str, GlobSet], ...]


class PathsGuard:
    name = "paths"
    kinds = frozenset(_KIND_OP)

    def __init__(self, lists: dict[Operation, _Lists], exceptions: GlobSet) -> None:
        self._lists = lists
        self._exceptions = exceptions
        # verdicts are a pure function of (operation, path as written, its forms)
        self._memo: Memo[tuple[str, str, tuple[str, ...]], tuple[Finding, ...]] = Memo()

    def check(self, action: Action, ctx: EvalContext) -> Sequence[Finding]:
        op = _KIND_OP[action.kind]
        raws = touched_paths(action)
        if len(raws) == 1:
            return self.check_path(op, raws[0], ctx, action.cwd)
        out: list[Finding] = []
        seen: set[tuple[str, ...]] = set()
        for raw in raws:
            try:
                forms = ctx.forms(raw, action.cwd)
            except ValueError:
                forms = (raw,)
            if forms in seen:
                continue  # the same file named twice (a patch's path and its diff header)
            seen.add(forms)
            out.extend(self.check_path(op, raw, ctx, action.cwd))
        return out

    def check_path(
        self, op: Operation, raw: str, ctx: EvalContext, cwd: str | None = None
    ) -> Sequence[Finding]:
        """Judge one path for one operation (used by the commands and patch guards too)."""
        try:
            forms = ctx.forms(raw, cwd)
        except ValueError as exc:
            return [Finding("deny", f"paths.{op}.invalid", self.name, "high",
                            f"{op} of an invalid path: {exc}")]
        key = (op, raw, forms)
        got = self._memo.get(key)
        if got is None:
            got = self._memo.put(key, tuple(self._judge(op, raw, forms)))
        return got

    def _judge(self, op: Operation, raw: str, forms: tuple[str, ...]) -> list[Finding]:
        lists = self._lists[op]
        excepted = bool(self._exceptions) and all(self._exceptions.matches(f) for f in forms)
        out: list[Finding] = []
        if not excepted:
            judged: tuple[tuple[Effect, tuple[tuple[str, GlobSet], ...]], ...] = (
                ("deny", lists.deny), ("ask", lists.ask))
            for effect, groups in judged:
                for rule, globs in groups:
                    for form in forms:
                        hit = globs.first(form)
                        if hit is not None:
                            out.append(self._finding(effect, rule, op, raw, form, hit))
                            break
            if out:
                return out
        for rule, globs in lists.allow:
            hits = [globs.first(f) for f in forms]
            if all(h is not None for h in hits):
                return [self._finding("allow", rule, op, raw, forms[-1], hits[-1] or "")]
        return out

    def _finding(
        self, effect: Effect, rule: str, op: str, raw: str, form: str, glob: str
    ) -> Finding:
        shown = raw if raw == form else f"{raw} (= {form})"
        verb = {"deny": "denied", "ask": "needs approval", "allow": "allowed"}[effect]
        return Finding(effect, rule, self.name, _SEVERITY[effect],
                       f"{op} of {shown} {verb}: matches {glob!r}")


def compile_guard(section: Section, cc: CompileContext) -> PathsGuard:
    section.only("allow", "ask", "deny", "read", "write", "delete", "exceptions", "inherit")
    per_op: dict[str, Section] = {}
    for op in OPERATIONS:
        per_op[op] = section.section(op).only("allow", "ask", "deny")

    def group(op: Operation, effect: str) -> tuple[tuple[str, GlobSet], ...]:
        out: list[tuple[str, GlobSet]] = []
        ops: tuple[Operation, ...] = ("write", "delete") if op == "delete" else (op,)
        for o in ops:
            globs = cc.globs(per_op[o], effect)
            if globs:
                out.append((f"paths.{o}.{effect}", globs))
        common = cc.globs(section, effect)
        if common:
            out.append((f"paths.{effect}", common))
        return tuple(out)

    lists = {op: _Lists(group(op, "deny"), group(op, "ask"), group(op, "allow"))
             for op in OPERATIONS}
    return PathsGuard(lists, cc.globs(section, "exceptions", warn_empty=False))
