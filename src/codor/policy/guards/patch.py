"""The ``patch`` guard: size limits, forbidden paths and forbidden content for ``patch.apply``.

Configuration::

    patch:
      max_bytes: 1048576          # patch text larger than this: deny (patch.too_large)
      max_added_lines: 2000       # more added lines in total: deny (patch.too_many_added)
      max_removed_lines: 2000     # more removed lines in total: deny (patch.too_many_removed)
      max_files: 100              # more file sections: deny (patch.too_many_files)
      forbidden_paths: [globs]    # a touched path matching: deny (patch.forbidden_path)
      forbidden_patterns: [regexes]  # searched in each file's ADDED lines: deny
      ask_patterns: [regexes]        # same, but ask (patch.ask_pattern)
      require_parseable: true     # no parseable file section: deny (patch.unparseable)

The guard only denies or asks: permission to write comes from the ``paths`` guard, and
secrets in added lines are the ``secrets`` guard's job. Touched paths are the action's
``path`` and every old/new path in the diff, resolved like the ``paths`` guard does (relative
to the action's cwd, lexically normalised and symlink-resolved; a glob matching any form
counts). Patterns are Python regular expressions compiled with ``re.MULTILINE`` and searched in
the added lines of one file at a time (joined by newlines), so ``^`` and ``$`` work per line;
messages name the pattern and the file, never the matching line. The diff reader only knows
real newlines: a patch whose text holds literal ``\\n`` sequences has no file section.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from codor.model import Action, Effect
from codor.policy.diff import PatchInfo, parse_patch, touched_paths
from codor.policy.guards.base import CompileContext, EvalContext, Finding
from codor.policy.patterns import GlobSet, compile_regex
from codor.policy.schema import Section

__all__ = ["PatchGuard", "PatchLimits", "compile_guard"]


@dataclass(frozen=True, slots=True)
class PatchLimits:
    max_bytes: int = 1024 * 1024
    max_added_lines: int = 2000
    max_removed_lines: int = 2000
    max_files: int = 100


class PatchGuard:
    name = "patch"
    kinds = frozenset({"patch.apply"})

    def __init__(self, limits: PatchLimits, forbidden_paths: GlobSet,
                 forbidden: Sequence[re.Pattern[str]], ask: Sequence[re.Pattern[str]],
                 require_parseable: bool) -> None:
        self._limits = limits
        self._paths = forbidden_paths
        self._forbidden = tuple(forbidden)
        self._ask = tuple(ask)
        self._require_parseable = require_parseable

    def check(self, action: Action, ctx: EvalContext) -> Sequence[Finding]:
        text = action.patch
        if text is None:
            return []
        lim = self._limits
        size = len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))
        if size > lim.max_bytes:  # not even parsed
            return [Finding("deny", "patch.too_large", self.name, "medium",
                            f"patch is {size} bytes, over max_bytes ({lim.max_bytes})")]
        info = parse_patch(text)
        out = self._path_findings(action, ctx)
        if not info.files:
            if self._require_parseable:
                out.append(Finding("deny", "patch.unparseable", self.name, "medium",
                                   "patch has no parseable file section (expected a unified "
                                   "diff with ---/+++ headers)"))
            return out
        for rule, count, limit, what in (
            ("too_many_files", len(info.files), lim.max_files, "touches {} files, over max_files"),
            ("too_many_added", info.added, lim.max_added_lines,
             "adds {} lines, over max_added_lines"),
            ("too_many_removed", info.removed, lim.max_removed_lines,
             "removes {} lines, over max_removed_lines"),
        ):
            if count > limit:
                out.append(Finding("deny", f"patch.{rule}", self.name, "medium",
                                   f"patch {what.format(count)} ({limit})"))
        if self._forbidden or self._ask:
            out.extend(self._pattern_findings(info))
        return out

    def _path_findings(self, action: Action, ctx: EvalContext) -> list[Finding]:
        if not self._paths:
            return []
        out: list[Finding] = []
        for raw in touched_paths(action):
            try:
                forms = ctx.forms(raw, action.cwd)
            except ValueError as exc:
                out.append(Finding("deny", "patch.forbidden_path", self.name, "high",
                                   f"patch touches an invalid path: {exc}"))
                continue
            for form in forms:
                glob = self._paths.first(form)
                if glob is not None:
                    shown = raw if raw == form else f"{raw} (= {form})"
                    out.append(Finding("deny", "patch.forbidden_path", self.name, "high",
                                       f"patch touches {shown}, which matches forbidden "
                                       f"path {glob!r}"))
                    break
        return out

    def _pattern_findings(self, info: PatchInfo) -> list[Finding]:
        out: list[Finding] = []
        groups: tuple[tuple[Effect, str, tuple[re.Pattern[str], ...]], ...] = (
            ("deny", "patch.forbidden_pattern", self._forbidden),
            ("ask", "patch.ask_pattern", self._ask))
        texts = [(f.new_path or f.old_path or "?", "\n".join(f.added))
                 for f in info.files if f.added]  # each file's added lines, joined once
        for effect, rule, patterns in groups:
            for regex in patterns:
                hits = [name for name, text in texts if regex.search(text)]
                if hits:
                    where = ", ".join(hits[:3]) + (f" and {len(hits) - 3} more"
                                                   if len(hits) > 3 else "")
                    verb = "denied" if effect == "deny" else "needs approval"
                    out.append(Finding(effect, rule, self.name,
                                       "high" if effect == "deny" else "medium",
                                       f"patch adds lines to {where} matching "
                                       f"{regex.pattern!r}; {verb}"))
        return out


def _regexes(section: Section, key: str) -> list[re.Pattern[str]]:
    return [compile_regex(p, location=section.item_loc(key, i), flags=re.MULTILINE)
            for i, p in enumerate(section.strings(key, warn_empty=True))]


def compile_guard(section: Section, cc: CompileContext) -> PatchGuard:
    section.only("max_bytes", "max_added_lines", "max_removed_lines", "max_files",
                 "forbidden_paths", "forbidden_patterns", "ask_patterns", "require_parseable",
                 "inherit")
    defaults = PatchLimits()
    limits = PatchLimits(*(
        section.integer(key, getattr(defaults, key)) or 0
        for key in ("max_bytes", "max_added_lines", "max_removed_lines", "max_files")))
    return PatchGuard(
        limits,
        cc.globs(section, "forbidden_paths"),
        _regexes(section, "forbidden_patterns"),
        _regexes(section, "ask_patterns"),
        section.boolean("require_parseable", True),
    )
