"""Actions as the workflow sees them: an action's family (read, write, command, other), the
files it writes (:class:`Target`: test, code or other, inside the workspace or not, covered by
an exemption or not), and whether it commits, pushes, runs tests or changes its own workflow
mode (:class:`ActionFacts`, from :func:`classify`). Pure: what each phase allows is decided
over these facts in :mod:`codor.runtime.workflow`.
"""

from __future__ import annotations

import functools
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from codor.runtime.exemptions import _EMPTY_EXEMPTIONS, Exemption, ExemptionSet
from codor.runtime.workflowpaths import _kinds, relative_path

if TYPE_CHECKING:
    from codor.model import Action
    from codor.policy.shell.model import ParseResult

__all__ = ["ActionFacts", "Target", "classify"]

_PATH_KINDS: Final = frozenset({"file.write", "patch.apply", "file.delete"})
_READ_KINDS: Final = frozenset({"file.read", "file.list"})


@dataclass(frozen=True, slots=True)
class Target:
    """A path an action writes, as the workflow sees it."""

    path: str                 # workspace-relative when ``inside``
    inside: bool
    test: bool
    code: bool
    exemption: Exemption | None = None
    via_command: bool = False

    @property
    def kind(self) -> str:
        return "test" if self.test else "code" if self.code else "other"


@dataclass(frozen=True, slots=True)
class ActionFacts:
    """What the workflow needs to know about an action: its family, the files it writes,
    whether it commits, pushes, runs tests or changes its own workflow mode."""

    kind: str
    family: str                        # read | write | command | other
    what: str                          # "writing src/app.py", "running `git commit`"
    targets: tuple[Target, ...] = ()
    commit: bool = False
    push: bool = False
    test: bool = False
    mode_change: bool = False


_GIT_VALUE_OPTS: Final = frozenset({"-C", "-c", "--git-dir", "--work-tree", "--namespace",
                                    "--exec-path", "--config-env", "--super-prefix"})
#: ``codor mode`` verbs that change what governs the session (an agent may ``show``,
#: ``advance`` — judged by the guards — and request an ``exempt``\ ion for one session)
_SELF_VERBS: Final = frozenset({"set", "approve", "baseline"})
_MODULES: Final = frozenset({"codor", "codor.cli", "codor.cli.main"})


def _mode_change(result: ParseResult, text: str) -> bool:
    """Whether a parsed command line runs ``codor mode set|approve|baseline|exempt`` — also
    as ``python -m codor``, with quoting or escapes (the parser has removed them) — or cannot
    be read and mentions codor (fail closed)."""
    from codor.policy.shell.interpreters import is_python

    for part in result.parts:
        args = part.argv
        expanded = part.expanded or (False,) * len(args)
        if part.program == "codor":
            start = 1
        elif is_python(part.program) and "-m" in args[:-1] and \
                args[args.index("-m") + 1] in _MODULES:
            start = args.index("-m") + 2
        else:
            continue
        words = [(w, e) for w, e in zip(args[start:], expanded[start:], strict=False)
                 if not w.startswith("-")]
        if not words:
            continue
        if any(e for _, e in words[:2]):
            return True  # the subcommand is computed at run time
        if words[0][0] != "mode":
            continue
        if len(words) < 2 or words[1][0] in _SELF_VERBS:
            return True
        if words[1][0] == "exempt" and not any(
                a in ("-s", "--session") or a.startswith("--session=") for a in args[start:]):
            return True  # without a session: an exemption for the whole workspace
    return bool((result.unparseable or result.dynamic) and "codor" in text)


def _parsed(command: str | None, argv: Sequence[str] | None) -> ParseResult:
    from codor.policy.shell import parse_argv, parse_command

    return parse_command(command) if command is not None else parse_argv(tuple(argv or ()))


def _git_verbs(command: str | None, argv: Sequence[str] | None,
               result: ParseResult | None = None) -> frozenset[str]:
    """The git subcommands a command line runs (``*`` when one is computed at run time, or
    the line cannot be read and mentions git); ``result``: the line already parsed."""
    if result is None:
        result = _parsed(command, argv)
    verbs: set[str] = set()
    for part in result.parts:
        if part.program != "git":
            continue
        args, expanded = part.argv, part.expanded
        i = 1
        while i < len(args):
            word = args[i]
            if expanded[i]:
                verbs.add("*")
                break
            if word in _GIT_VALUE_OPTS:
                i += 2
                continue
            if word.startswith("-"):
                i += 1
                continue
            verbs.add(word)
            break
    text = command if command is not None else " ".join(argv or ())
    if (result.unparseable or result.dynamic) and re.search(r"\bgit\b", text):
        verbs.add("*")
    return frozenset(verbs)


@functools.lru_cache(maxsize=2048)
def _command_facts(command: str | None, argv: tuple[str, ...] | None
                   ) -> tuple[bool, bool, bool, bool, tuple[str, ...]]:
    """(commit, push, test, mode_change, write targets) of a command line (cached: agents
    repeat their commands)."""
    from codor.claims.runners import invocations
    from codor.policy.shell import write_targets

    result = _parsed(command, argv)
    verbs = _git_verbs(command, argv, result)
    wild = "*" in verbs
    text = command if command is not None else shlex.join(argv or ())
    test = any(i.category == "test" for i in invocations(command, argv))
    mode_change = "codor" in text and _mode_change(result, text)
    return ("commit" in verbs or wild, "push" in verbs or wild, test, mode_change,
            write_targets(command, argv))


def _short(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _target(path: str, cwd: str | None, workspace: str | None, exemptions: ExemptionSet,
            via_command: bool = False) -> Target:
    rel, inside = relative_path(path, cwd, workspace)
    if not inside:
        return Target(rel, False, False, False, None, via_command)
    test, code = _kinds(rel)
    return Target(rel, True, test, code, exemptions.match(rel) if exemptions else None,
                  via_command)


def classify(action: Action, exemptions: ExemptionSet | Sequence[Exemption] = (),
             workspace: str | None = None) -> ActionFacts:
    """The :class:`ActionFacts` of ``action`` (paths relative to ``workspace``)."""
    ex = exemptions if isinstance(exemptions, ExemptionSet) else \
        (ExemptionSet(exemptions) if exemptions else _EMPTY_EXEMPTIONS)
    kind = action.kind
    if kind in _READ_KINDS:
        return ActionFacts(kind, "read", f"reading {action.path}")
    if kind in _PATH_KINDS:
        from codor.policy.diff import touched_paths

        paths = touched_paths(action)
        targets = tuple(_target(p, action.cwd, workspace, ex) for p in paths)
        verb = {"file.write": "writing", "patch.apply": "patching",
                "file.delete": "deleting"}[kind]
        shown = ", ".join(t.path for t in targets[:3]) + (" …" if len(targets) > 3 else "")
        return ActionFacts(kind, "write", f"{verb} {shown or '(no path)'}", targets)
    if kind == "command.exec":
        argv = tuple(action.argv) if action.argv is not None else None
        commit, push, test, mode_change, written = _command_facts(action.command, argv)
        text = action.command if action.command is not None else shlex.join(argv or ())
        targets = tuple(t for t in (_target(p, action.cwd, workspace, ex, True)
                                    for p in written if not p.startswith("~"))
                        if t.inside and (t.test or t.code))
        return ActionFacts(kind, "command", f"running `{_short(text)}`", targets,
                           commit, push, test, mode_change)
    return ActionFacts(kind, "other", kind)
