"""The ``commands`` guard: judges every program a ``command.exec`` action would run.

Configuration::

    commands:
      allow: [git, ls, "python3.*"]   # program names or globs, matched on the basename
      ask:   [...]
      deny:  [...]
      default: pass          # pass | ask | deny: effect for a program on no list
      checks:                # built-in detectors: deny | ask | pass each
        pipe_to_shell: deny        # curl ... | sh, bash <(curl ...), eval "$(curl ...)",
                                   # curl -o f && bash f
        rm_outside_workspace: deny # rm -r (or find -delete) of /, ~, the workspace root or
                                   # anything outside ${WORKSPACE}
        credential_read: deny      # reading ~/.ssh keys, ~/.aws/credentials, .env, *.pem,
                                   # /etc/shadow...
        git_force_push: deny       # git push --force/-f/--force-with-lease/+ref/--mirror/
                                   # --prune, deleting main/master/release...
        reverse_shell: deny        # /dev/tcp, nc -e, socat exec:, sh -i piped to nc,
                                   # socket+dup2 code
        destructive: deny          # mkfs, dd of=/dev/sdX, writes to disks, fork bombs,
                                   # chmod -R of /, shutdown
        dynamic_code: ask          # code the analysis cannot see: python subprocess with
                                   # a variable, eval "$X", $CMD as a program, base64 -d | sh
        unparseable: deny          # the command could not be parsed
      patterns:              # custom regexes over each part's argv joined by spaces
        - {id: no-force, regex: "--force", effect: deny, severity: high, message: "..."}
      check_paths: true      # file arguments go through the paths guard
      max_length: 100000     # longer commands are denied (commands.too_long)

The command (or argv, which is not shell-parsed but still unwrapped) is split into parts by
:mod:`codor.policy.shell`; every part is judged. Findings: ``commands.deny`` / ``commands.ask``
(lists), ``commands.default``, ``commands.<check>``, ``commands.pattern.<id>``,
``commands.too_long``, ``commands.internal_error`` (a deny, should the analysis ever fail),
and the paths guard's own deny/ask findings for file arguments. One ``commands.allow`` finding
is emitted only when every program is allow-listed, nothing is denied or asked and the
command parsed; a program whose name is computed at run time (``$CMD``) is never on a list.
Wrappers (``env``, ``timeout``, ``xargs``, ``bash -c``...) are transparent, except that a
wrapper on the deny or ask list still fires; ``sudo``, ``doas``, ``su``, ``runuser`` and
``pkexec`` are judged like programs (they must be allow-listed too). Custom patterns see the
argv of each part after unwrapping.

File arguments (``check_paths``): ``cat head tail less grep wc diff sort ...`` read their
operands; ``cp``/``install`` read sources and write the destination; ``mv`` deletes sources
and writes the destination; ``rm rmdir shred unlink`` delete; ``tee touch mkdir chmod chown
truncate``, ``sed -i``, ``dd of=``, ``curl -o``/``wget -O`` and ``>``/``>>`` targets write;
``<`` targets are read. For other programs, arguments that look like paths (contain ``/``,
start with ``~`` or ``.``, or name a credential file such as ``server.pem``) are reads.
Relative paths resolve against the action's cwd and any ``cd`` before them.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol, cast

from codor.errors import PolicySchemaError
from codor.model import Action, Effect, Severity
from codor.policy.guards.base import CompileContext, EvalContext, Finding
from codor.policy.guards.command_checks import (
    _CREDENTIALS,
    _NOT_CREDENTIALS,
    CHECKS,
    DESTRUCTIVE_PROGRAMS,
    DOWNLOADERS,
    GUARD,
    CommandChecks,
    _Out,
    _show,
)
from codor.policy.paths import normalize_path
from codor.policy.patterns import GlobSet, compile_regex
from codor.policy.schema import Section
from codor.policy.shell import (
    PRIVILEGED,
    ParseResult,
    Part,
    file_ops,
    interpreter,
    parse_argv,
    parse_command,
)

__all__ = ["CHECKS", "CommandsGuard", "compile_guard"]

_CHECK_DEFAULT = {name: ("ask" if name == "dynamic_code" else "deny") for name in CHECKS}
_PATTERN_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
_CACHE_SIZE = 4096


# -- the guard ----------------------------------------------------------------------------
class _PathChecker(Protocol):
    def check_path(
        self, op: str, raw: str, ctx: EvalContext, cwd: str | None = None
    ) -> list[Finding]: ...


class _Names:
    """Program names or globs (fnmatch), matched on a program's basename."""

    __slots__ = ("exact", "globs")

    def __init__(self, patterns: Iterable[str]) -> None:
        exact: set[str] = set()
        globs: list[tuple[str, re.Pattern[str]]] = []
        for p in patterns:
            if any(c in p for c in "*?["):
                globs.append((p, re.compile(fnmatch.translate(p))))
            else:
                exact.add(p)
        self.exact = frozenset(exact)
        self.globs = tuple(globs)

    def first(self, name: str) -> str | None:
        if name in self.exact:
            return name
        for pattern, regex in self.globs:
            if regex.match(name):
                return pattern
        return None


@dataclass(frozen=True, slots=True)
class _Pattern:
    id: str
    regex: re.Pattern[str]
    effect: Effect
    severity: Severity
    message: str


@dataclass(frozen=True, slots=True)
class _NameVerdict:
    """What the lists say of one program name (findings are immutable, so shared)."""

    deny: Finding | None
    ask: Finding | None
    listed: bool  # on some list
    default: Finding | None  # the default's finding when on no list


@dataclass(frozen=True, slots=True)
class _Analysis:
    findings: tuple[Finding, ...]
    path_ops: tuple[tuple[str, str, str], ...]


class CommandsGuard(CommandChecks):
    name = GUARD
    kinds = frozenset({"command.exec"})

    def __init__(
        self,
        *,
        allow: _Names,
        ask: _Names,
        deny: _Names,
        default: str,
        checks: dict[str, str],
        patterns: tuple[_Pattern, ...],
        check_paths: bool,
        max_length: int,
        workspace: str,
        home: str,
        paths_guard: _PathChecker | None,
    ) -> None:
        self._allow, self._ask, self._deny = allow, ask, deny
        self._default = default
        self._checks = checks
        self._patterns = patterns
        self._max_length = max_length
        self._workspace = normalize_path(workspace or "/", "/", home or "/")
        self._home = home or "/"
        self._paths = paths_guard if check_paths else None
        self._creds = GlobSet(_CREDENTIALS, workspace=self._workspace, home=self._home)
        self._not_creds = GlobSet(_NOT_CREDENTIALS, workspace=self._workspace, home=self._home)
        self._names: dict[str, _NameVerdict] = {}
        self._cache: dict[tuple[str | None, tuple[str, ...] | None, str], _Analysis] = {}

    # -- entry point ------------------------------------------------------------------------
    def check(self, action: Action, ctx: EvalContext) -> Sequence[Finding]:
        try:
            return self._check(action, ctx)
        except Exception as exc:  # a guard must not crash on odd input: fail closed
            return [Finding("deny", f"{GUARD}.internal_error", GUARD, "high",
                            f"the command could not be analysed ({type(exc).__name__})")]

    def _check(self, action: Action, ctx: EvalContext) -> Sequence[Finding]:
        cwd = action.cwd or ctx.cwd
        key = (action.command, action.argv, cwd)
        an = self._cache.get(key)
        if an is None:
            an = self._analyze(action.command, action.argv, cwd)
            if len(self._cache) >= _CACHE_SIZE:
                self._cache.clear()
            self._cache[key] = an
        if not an.path_ops or self._paths is None:
            return an.findings
        extra: list[Finding] = []
        seen: set[tuple[str, str]] = set()
        for op, raw, base in an.path_ops:
            for f in self._paths.check_path(op, raw, ctx, base):
                if f.effect in ("deny", "ask") and (f.rule, f.message) not in seen:
                    seen.add((f.rule, f.message))
                    extra.append(f)
        if not extra:
            return an.findings
        return [f for f in an.findings if f.effect != "allow"] + extra

    # -- analysis (pure, cached per command and cwd) ---------------------------------------
    def _analyze(self, command: str | None, argv: tuple[str, ...] | None, cwd: str) -> _Analysis:
        out = _Out()
        results: list[ParseResult] = []
        too_long = (command is not None and len(command) > self._max_length) or (
            argv is not None and sum(len(a) + 1 for a in argv) > self._max_length)
        if too_long:
            out.add(Finding("deny", f"{GUARD}.too_long", GUARD, "high",
                            f"the command is longer than {self._max_length} characters"))
            return _Analysis(tuple(out.findings), ())
        if command is not None:
            results.append(parse_command(command))
        if argv is not None:
            results.append(parse_argv(argv))
        unparseable = False
        for result in results:
            unparseable = unparseable or result.unparseable
            self._judge(result, cwd, out)
        if not out.blocked and out.programs and not out.unlisted and not unparseable:
            names = ", ".join(dict.fromkeys(out.programs))
            out.add(Finding("allow", f"{GUARD}.allow", GUARD, "info",
                            f"every program is allow-listed: {_show(names)}"))
        return _Analysis(tuple(out.findings), tuple(dict.fromkeys(out.paths)))

    def _judge(self, result: ParseResult, cwd: str, out: _Out) -> None:
        if result.unparseable:
            self._flag(out, "unparseable",
                       f"the command could not be parsed: {result.error or 'syntax error'}")
        for message in result.dynamic:
            self._flag(out, "dynamic_code", _show(message, 160))
        parts = result.parts
        downloads: set[str] = set()
        creds = self._creds.matches
        for idx, p in enumerate(parts):
            base, unknown = (cwd, False) if p.cwd == "" else self._base(p, cwd)
            for w in p.wrappers:
                self._judge_name(w, out, full=w in PRIVILEGED)
            prog = p.program
            info = None
            if p.argv:
                if p.expanded[0]:
                    out.unlisted = True
                else:
                    self._judge_name(prog, out, full=True)
                if self._patterns:
                    self._patterns_of(p, out)
                info = interpreter(p.argv)
            ops = file_ops(p, creds)
            # each check is skipped for the parts its own first test would leave out
            if p.argv and (p.sink or p.inputs or downloads or prog in DOWNLOADERS):
                self._pipe_to_shell(parts, idx, info, base, downloads, ops, out)
            if prog in ("rm", "find"):
                self._rm_outside(parts, idx, base, unknown, out)
            if prog == "git":
                self._git_force_push(p, out)
            self._reverse_shell(parts, idx, info, out)
            if p.argv and (prog in DESTRUCTIVE_PROGRAMS or prog.startswith("mkfs.") or (
                    info is not None and info.kind != "shell")):
                self._destructive(p, info, base, out)
            if ops:
                self._files(p, ops, base, out)
        for fn in result.functions:
            calls = sum(1 for p in parts if p.function == fn and p.argv and p.argv[0] == fn)
            if calls >= 2:
                self._flag(out, "destructive",
                           f"fork bomb: function {_show(fn, 40)!r} calls itself repeatedly")

    # -- lists ------------------------------------------------------------------------------
    def _judge_name(self, name: str, out: _Out, *, full: bool) -> None:
        v = self._names.get(name)
        if v is None:
            v = self._verdict(name)
            if len(self._names) < _CACHE_SIZE:
                self._names[name] = v
        if v.deny is not None:
            out.add(v.deny)
        if v.ask is not None:
            out.add(v.ask)
        if not full:
            return
        out.programs.append(name)
        if v.listed:
            return
        out.unlisted = True
        if v.default is not None:
            out.add(v.default)

    def _verdict(self, name: str) -> _NameVerdict:
        deny, ask, allow = self._deny.first(name), self._ask.first(name), self._allow.first(name)
        shown = _show(name, 60)
        default = None
        if self._default == "deny":
            default = Finding("deny", f"{GUARD}.default", GUARD, "medium",
                              f"{shown} is on no commands list (default: deny)")
        elif self._default == "ask":
            default = Finding("ask", f"{GUARD}.default", GUARD, "low",
                              f"{shown} is on no commands list (default: ask)")
        return _NameVerdict(
            None if deny is None else Finding(
                "deny", f"{GUARD}.deny", GUARD, "high",
                f"{shown} is on the commands deny list ({deny!r})"),
            None if ask is None else Finding(
                "ask", f"{GUARD}.ask", GUARD, "medium",
                f"{shown} is on the commands ask list ({ask!r})"),
            deny is not None or ask is not None or allow is not None,
            default)

    def _patterns_of(self, p: Part, out: _Out) -> None:
        if not self._patterns:
            return
        text = " ".join(p.argv)
        for pat in self._patterns:
            if pat.regex.search(text):
                out.add(Finding(pat.effect, f"{GUARD}.pattern.{pat.id}", GUARD, pat.severity,
                                pat.message))

    # -- paths --------------------------------------------------------------------------------
    def _base(self, p: Part, cwd: str) -> tuple[str, bool]:
        if p.cwd == "":
            return cwd, False
        if p.cwd is None:
            return cwd, True
        try:
            return normalize_path(self._expand(p.cwd, cwd), cwd, self._home), False
        except ValueError:
            return cwd, True


# -- compilation ------------------------------------------------------------------------------
def _names(section: Section, key: str) -> _Names:
    raw = section.raw(key)
    if isinstance(raw, list):
        for i, item in enumerate(raw):
            if not isinstance(item, str):
                raise PolicySchemaError(
                    f"{section.path(key)}[{i}]: {item!r} is not a program name; quote it "
                    "(YAML reads true, false, yes, no, on, off and numbers as other types)",
                    location=section.item_loc(key, i),
                )
    patterns = section.strings(key, warn_empty=True)
    for i, p in enumerate(patterns):
        if not p or "/" in p or "\x00" in p:
            raise PolicySchemaError(
                f"{section.path(key)}[{i}]: {p!r} is not a program name or glob "
                "(names are matched on the program's basename, without a directory)",
                location=section.item_loc(key, i),
            )
    return _Names(patterns)


def compile_guard(section: Section, cc: CompileContext) -> CommandsGuard:
    section.only("allow", "ask", "deny", "default", "checks", "patterns", "check_paths",
                 "max_length", "inherit")
    checks_section = section.section("checks").only(*CHECKS)
    checks = {name: checks_section.choice(name, ("deny", "ask", "pass"), _CHECK_DEFAULT[name])
              for name in CHECKS}
    patterns: list[_Pattern] = []
    ids: set[str] = set()
    for ps in section.sections("patterns"):
        ps.only("id", "regex", "effect", "severity", "message")
        pid = ps.req_string("id")
        if not _PATTERN_ID.fullmatch(pid):
            raise ps.fail("id", "must be letters, digits, '_', '.' or '-'")
        if pid in ids:
            raise ps.fail("id", f"duplicate pattern id {pid!r}")
        ids.add(pid)
        regex = compile_regex(ps.req_string("regex"), location=ps.loc("regex"))
        effect = ps.choice("effect", ("deny", "ask"), "deny")
        severity = ps.severity("severity", "high" if effect == "deny" else "medium")
        message = ps.string("message") or f"the command matches pattern {pid!r}"
        patterns.append(_Pattern(pid, regex, cast(Effect, effect), cast(Severity, severity),
                                 message))
    paths_guard = cc.guards.get("paths")
    checker = cast(_PathChecker, paths_guard) if hasattr(paths_guard, "check_path") else None
    return CommandsGuard(
        allow=_names(section, "allow"),
        ask=_names(section, "ask"),
        deny=_names(section, "deny"),
        default=section.choice("default", ("pass", "ask", "deny"), "pass"),
        checks=checks,
        patterns=tuple(patterns),
        check_paths=section.boolean("check_paths", True),
        max_length=section.integer("max_length", 100_000, minimum=1) or 100_000,
        workspace=cc.workspace,
        home=cc.home,
        paths_guard=checker,
    )
