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
from codor.policy.paths import normalize_path
from codor.policy.patterns import GlobSet, compile_regex
from codor.policy.schema import Section
from codor.policy.shell import (
    PRIVILEGED,
    Interp,
    ParseResult,
    Part,
    file_ops,
    interpreter,
    is_recursive,
    parse_argv,
    parse_command,
    perm_targets,
)

__all__ = ["CHECKS", "CommandsGuard", "compile_guard"]

GUARD = "commands"
CHECKS: tuple[str, ...] = ("pipe_to_shell", "rm_outside_workspace", "credential_read",
                           "git_force_push", "reverse_shell", "destructive", "dynamic_code",
                           "unparseable")
_CHECK_DEFAULT = {name: ("ask" if name == "dynamic_code" else "deny") for name in CHECKS}
_CHECK_SEVERITY: dict[str, Severity] = {
    "pipe_to_shell": "critical", "rm_outside_workspace": "critical",
    "credential_read": "high", "git_force_push": "high", "reverse_shell": "critical",
    "destructive": "critical", "dynamic_code": "medium", "unparseable": "high",
}
_PATTERN_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
_CACHE_SIZE = 4096

# -- what programs are ------------------------------------------------------------------------
_DOWNLOADERS = frozenset({"curl", "wget", "fetch", "aria2c", "http", "https", "xh", "httpie",
                          "lwp-request", "lwp-download", "GET", "POST", "lynx", "w3m", "links",
                          "elinks", "ftp", "tftp", "nc", "ncat", "netcat", "socat", "telnet",
                          "ssh", "iwr", "irm"})
_DECODERS = frozenset({"base64", "base32", "basenc", "xxd", "uudecode", "openssl", "rev", "tr",
                       "gunzip", "zcat", "bzcat", "xzcat", "gzip", "bzip2", "xz", "zstd",
                       "unzstd", "gpg"})
_NET_TOOLS = frozenset({"nc", "ncat", "netcat", "nc.traditional", "nc.openbsd", "socat",
                        "telnet", "cryptcat", "pwncat"})
_MKFS = frozenset({"mkfs", "mke2fs", "mkswap", "wipefs", "blkdiscard", "mkdosfs", "mkntfs"})
_POWER = frozenset({"shutdown", "reboot", "halt", "poweroff"})
_PROTECTED_BRANCH = re.compile(r"(?:refs/heads/)?(?:main|master|trunk|develop|development|"
                               r"production|prod|stable|release(?:[/-].*)?)")
_DEVICE = re.compile(r"/dev/(?:sd[a-z]|hd[a-z]|vd[a-z]|xvd[a-z]|nvme\d|mmcblk\d|disk\d|"
                     r"mapper/|md\d|dm-\d|loop\d|sr\d|mem$|kmem$|port$)")
_SAFE_DEV = re.compile(r"/dev/(?:null|zero|stdin|stdout|stderr|tty|random|urandom|full|"
                       r"fd/\d+|pts/\d+)")
_NET_DEV = ("/dev/tcp/", "/dev/udp/")
_REVERSE_CODE = re.compile(
    r"(?is)(?=.*(?:socket|fsockopen|tcpsocket|net\.connect|net\.socket))"
    r"(?=.*(?:dup2|pty\.spawn|/bin/(?:ba|z|da)?sh\b|\bexec\b|subprocess|popen|child_process|"
    r"proc_open|spawn|system\s*\())"
)
_FORK_CODE = re.compile(r"(?s)fork\s*(?:\(\s*\))?\s*while\s*fork|while\s*(?:True|1)\s*:\s*"
                        r"(?:os\.)?fork\(\)")
_SOCAT_EXEC = re.compile(r"(?i)^(?:exec|system):")
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")

# Built-in credential files (read = denied by the credential_read check).
_CREDENTIALS = (
    "**/.ssh/**", "id_rsa", "id_rsa.*", "id_dsa", "id_ecdsa", "id_ed25519", "*.pem", "*.key",
    "*.p12", "*.pfx", "*.jks", "*.keystore", "*.ppk", ".env", ".env.*", ".netrc", "_netrc",
    ".pgpass", ".git-credentials", "**/.aws/credentials", "**/.aws/sso/cache/**",
    "**/.docker/config.json", "**/.kube/config", "**/.config/gcloud/**", "**/.azure/**",
    "**/.gnupg/**", "**/.config/gh/hosts.yml", ".vault-token", "~/.npmrc", "~/.pypirc",
    "**/.terraform.d/credentials.tfrc.json", "/etc/shadow", "/etc/shadow-", "/etc/gshadow",
    "/etc/gshadow-", "/etc/master.passwd", "/etc/ssh/ssh_host_*_key", "/etc/ssl/private/**",
    "/proc/*/environ",
)
_NOT_CREDENTIALS = (
    "*.pub", "**/.ssh/known_hosts", "**/.ssh/known_hosts.*", "**/.ssh/config",
    "**/.ssh/authorized_keys", ".env.example", ".env.sample", ".env.template", ".env.dist",
    ".env.defaults",
)

_CRITICAL = frozenset({"/", "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib32",
                       "/lib64", "/opt", "/proc", "/root", "/sbin", "/srv", "/sys", "/usr",
                       "/var"})


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
class _Analysis:
    findings: tuple[Finding, ...]
    path_ops: tuple[tuple[str, str, str], ...]


class _Out:
    """Findings of one analysis, deduplicated, with what the allow decision needs."""

    __slots__ = ("blocked", "findings", "paths", "programs", "seen", "unlisted")

    def __init__(self) -> None:
        self.findings: list[Finding] = []
        self.seen: set[tuple[str, str]] = set()
        self.programs: list[str] = []
        self.unlisted = False
        self.blocked = False
        self.paths: list[tuple[str, str, str]] = []

    def add(self, f: Finding) -> None:
        key = (f.rule, f.message)
        if key not in self.seen:
            self.seen.add(key)
            self.findings.append(f)
            if f.effect in ("deny", "ask"):
                self.blocked = True


def _show(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


class CommandsGuard:
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
        self._names: dict[str, tuple[str | None, str | None, str | None]] = {}
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

    def _flag(self, out: _Out, check: str, message: str) -> None:
        effect = self._checks[check]
        if effect != "pass":
            out.add(Finding(cast(Effect, effect), f"{GUARD}.{check}", GUARD,
                            _CHECK_SEVERITY[check], message))

    def _judge(self, result: ParseResult, cwd: str, out: _Out) -> None:
        if result.unparseable:
            self._flag(out, "unparseable",
                       f"the command could not be parsed: {result.error or 'syntax error'}")
        for message in result.dynamic:
            self._flag(out, "dynamic_code", _show(message, 160))
        parts = result.parts
        downloads: set[str] = set()
        for idx, p in enumerate(parts):
            base, unknown = self._base(p, cwd)
            for w in p.wrappers:
                self._judge_name(w, out, full=w in PRIVILEGED)
            if p.argv:
                if p.expanded[0]:
                    out.unlisted = True
                else:
                    self._judge_name(p.program, out, full=True)
                self._patterns_of(p, out)
            info = interpreter(p.argv) if p.argv else None
            self._pipe_to_shell(parts, idx, info, base, downloads, out)
            self._rm_outside(parts, idx, base, unknown, out)
            self._git_force_push(p, out)
            self._reverse_shell(parts, idx, info, out)
            self._destructive(p, info, base, out)
            self._files(p, base, out)
        for fn in result.functions:
            calls = sum(1 for p in parts if p.function == fn and p.argv and p.argv[0] == fn)
            if calls >= 2:
                self._flag(out, "destructive",
                           f"fork bomb: function {_show(fn, 40)!r} calls itself repeatedly")

    # -- lists ------------------------------------------------------------------------------
    def _judge_name(self, name: str, out: _Out, *, full: bool) -> None:
        hits = self._names.get(name)
        if hits is None:
            hits = (self._deny.first(name), self._ask.first(name), self._allow.first(name))
            if len(self._names) < _CACHE_SIZE:
                self._names[name] = hits
        deny, ask, allow = hits
        shown = _show(name, 60)
        if deny is not None:
            out.add(Finding("deny", f"{GUARD}.deny", GUARD, "high",
                            f"{shown} is on the commands deny list ({deny!r})"))
        if ask is not None:
            out.add(Finding("ask", f"{GUARD}.ask", GUARD, "medium",
                            f"{shown} is on the commands ask list ({ask!r})"))
        if not full:
            return
        out.programs.append(name)
        if deny is not None or ask is not None or allow is not None:
            return
        out.unlisted = True
        if self._default == "deny":
            out.add(Finding("deny", f"{GUARD}.default", GUARD, "medium",
                            f"{shown} is on no commands list (default: deny)"))
        elif self._default == "ask":
            out.add(Finding("ask", f"{GUARD}.default", GUARD, "low",
                            f"{shown} is on no commands list (default: ask)"))

    def _patterns_of(self, p: Part, out: _Out) -> None:
        if not self._patterns:
            return
        text = " ".join(p.argv)
        for pat in self._patterns:
            if pat.regex.search(text):
                out.add(Finding(pat.effect, f"{GUARD}.pattern.{pat.id}", GUARD, pat.severity,
                                pat.message))

    # -- paths --------------------------------------------------------------------------------
    def _expand(self, raw: str, cwd: str) -> str:
        for var, value in (("$HOME", self._home), ("${HOME}", self._home), ("$PWD", cwd),
                           ("${PWD}", cwd)):
            if raw == var or raw.startswith(var + "/"):
                return value.rstrip("/") + raw[len(var):] if raw != var else value
        return raw

    def _base(self, p: Part, cwd: str) -> tuple[str, bool]:
        if p.cwd == "":
            return cwd, False
        if p.cwd is None:
            return cwd, True
        try:
            return normalize_path(self._expand(p.cwd, cwd), cwd, self._home), False
        except ValueError:
            return cwd, True

    def _resolve(self, raw: str, base: str) -> str | None:
        try:
            return normalize_path(self._expand(raw, base), base, self._home)
        except ValueError:
            return None

    def _files(self, p: Part, base: str, out: _Out) -> None:
        for op in file_ops(p, self._creds.matches):
            raw = op.path
            if not raw or raw == "-":
                continue
            path = self._resolve(raw, base)
            if path is None:
                out.paths.append((op.op, raw, base))
                continue
            if path.startswith(_NET_DEV) or _SAFE_DEV.fullmatch(path):
                continue
            if op.op == "write" and _DEVICE.match(path):
                self._flag(out, "destructive",
                           f"{_show(p.program or 'a redirection', 40)} writes to the device "
                           f"{_show(path, 60)}")
            if op.content and self._creds.matches(path) and not self._not_creds.matches(path):
                self._flag(out, "credential_read",
                           f"{_show(p.program or 'a redirection', 40)} reads the credential "
                           f"file {_show(raw, 80)}")
            out.paths.append((op.op, self._expand(raw, base), base))

    # -- checks -------------------------------------------------------------------------------
    def _upstream(self, parts: Sequence[Part], idx: int, names: frozenset[str]) -> str | None:
        stack = list(parts[idx].stdin_from)
        seen: set[int] = set()
        while stack:
            j = stack.pop()
            if j in seen or not 0 <= j < len(parts):
                continue
            seen.add(j)
            q = parts[j]
            if q.program in names and q.expanded[:1] != (True,):
                return q.program
            stack.extend(q.stdin_from)
        return None

    def _pipe_to_shell(self, parts: Sequence[Part], idx: int, info: Interp | None, base: str,
                       downloads: set[str], out: _Out) -> None:
        p = parts[idx]
        if not p.argv:
            return
        prog = p.program
        if p.sink:
            src = self._upstream(parts, idx, _DOWNLOADERS)
            if src:
                self._flag(out, "pipe_to_shell", f"the output of {src} is piped into {prog}")
            else:
                dec = self._upstream(parts, idx, _DECODERS)
                if dec:
                    self._flag(out, "dynamic_code",
                               f"content decoded by {dec} is piped into {prog}")
        runs_code = info is not None or prog in ("source", ".") or p.expanded[0]
        if runs_code and p.inputs:
            word = p.argv[0] if p.expanded[0] else (
                p.argv[info.script_index] if info is not None and info.script_index is not None
                else p.argv[1] if len(p.argv) > 1 and info is None else "")
            fed = word.startswith(("<(", "$(", "`")) or any(
                r.op == "<" and r.target.startswith("<(") for r in p.redirects)
            if fed:
                for j in p.inputs:
                    if 0 <= j < len(parts) and parts[j].program in _DOWNLOADERS:
                        runner = "a command computed from it" if p.expanded[0] else prog
                        self._flag(out, "pipe_to_shell",
                                   f"{runner} runs code downloaded by {parts[j].program}")
                        break
        if downloads:
            script = None
            if info is not None and info.script is not None:
                script = info.script
            elif prog in ("source", ".") and len(p.argv) > 1:
                script = p.argv[1]
            elif "/" in p.argv[0]:
                script = p.argv[0]
            target = self._resolve(script, base) if script else None
            if target is not None and target in downloads:
                self._flag(out, "pipe_to_shell",
                           f"{_show(script or '', 60)} was downloaded and is then executed")
        if prog in _DOWNLOADERS:
            for path in self._download_targets(p, base):
                downloads.add(path)

    def _download_targets(self, p: Part, base: str) -> list[str]:
        raws = [op.path for op in file_ops(p) if op.op == "write"]
        urls = [a for a in p.argv[1:] if _URL.match(a)]
        remote_name = p.program == "wget" and not any(
            a in ("-O", "--output-document") or a.startswith(("-O", "--output-document="))
            for a in p.argv[1:])
        remote_name = remote_name or (p.program == "curl" and any(
            re.fullmatch(r"-[a-zA-Z]*O[a-zA-Z]*", a) or a == "--remote-name"
            for a in p.argv[1:]))
        if remote_name:
            for url in urls:
                name = url.split("?", 1)[0].split("#", 1)[0].rstrip("/").rsplit("/", 1)[-1]
                raws.append(name or "index.html")
        out = []
        for raw in raws:
            path = self._resolve(raw, base)
            if path is not None:
                out.append(path)
        return out

    def _rm_outside(self, parts: Sequence[Part], idx: int, base: str, unknown_cwd: bool,
                    out: _Out) -> None:
        p = parts[idx]
        prog = p.program
        if prog == "rm" and is_recursive(p.argv[1:]):
            targets = []
            args = p.argv[1:]
            ends = False
            for k, a in enumerate(args, 1):
                if not ends and a == "--":
                    ends = True
                elif ends or not a.startswith("-") or a == "-":
                    targets.append((a, p.expanded[k]))
            if "xargs" in p.wrappers:
                targets += _fed_paths(parts, p)
        elif prog == "find" and "-delete" in p.argv:
            args = p.argv[1:]
            roots = []
            for k, a in enumerate(args, 1):
                if a.startswith(("-", "(", "!")):
                    break
                roots.append((a, p.expanded[k]))
            targets = roots or [(".", False)]
            filters = [a for a in args[len(roots):] if a.startswith("-") and a not in (
                "-delete", "-depth", "-mindepth", "-maxdepth", "-xdev", "-mount", "-print")]
            if filters:
                targets = [(t, d) for t, d in targets if not self._inside_or_root(t, d, base)]
        else:
            return
        for raw, dyn in targets:
            home_var = raw.startswith(("$HOME", "${HOME}"))
            rest = raw[7:] if raw.startswith("${HOME}") else raw[5:]
            if dyn and not (home_var and "$" not in rest):
                self._flag(out, "dynamic_code",
                           f"{prog} deletes {_show(raw, 60)}, a path computed at run time")
                continue
            if unknown_cwd and not raw.startswith(("/", "~")) and not home_var:
                self._flag(out, "dynamic_code",
                           f"{prog} deletes {_show(raw, 60)} after cd to an unknown directory")
                continue
            path = self._resolve(raw, base)
            if path is None:
                continue
            reason = self._outside(_strip_globs(path))
            if reason:
                self._flag(out, "rm_outside_workspace",
                           f"{prog} recursively deletes {_show(raw, 60)}, {reason}")

    def _inside_or_root(self, raw: str, dyn: bool, base: str) -> bool:
        if dyn:
            return False
        path = self._resolve(raw, base)
        if path is None:
            return False
        reason = self._outside(path)
        return reason is None or reason == "the workspace root"

    def _outside(self, path: str) -> str | None:
        ws = self._workspace
        if path == "/":
            return "the root directory"
        if path == self._home.rstrip("/"):
            return "the home directory"
        if path == ws:
            return "the workspace root"
        if ws != "/" and not path.startswith(ws.rstrip("/") + "/"):
            return "outside the workspace"
        return None

    def _git_force_push(self, p: Part, out: _Out) -> None:
        if p.program != "git":
            return
        argv = p.argv
        i = 1
        while i < len(argv):
            a = argv[i]
            if a in ("-C", "-c", "--git-dir", "--work-tree", "--namespace", "--config-env",
                     "--super-prefix"):
                i += 2
            elif a.startswith("-"):
                i += 1
            else:
                break
        if i >= len(argv) or argv[i] != "push":
            return
        args = argv[i + 1 :]
        delete = False
        positional: list[str] = []
        k = 0
        while k < len(args):
            a = args[k]
            k += 1
            if a in ("--force", "--force-with-lease", "--force-if-includes", "--mirror",
                     "--prune") or a.startswith("--force-with-lease="):
                self._flag(out, "git_force_push", f"git push {a.split('=')[0]} rewrites or "
                           "deletes remote history")
                return
            if a == "--delete":
                delete = True
            elif a in ("-o", "--push-option", "--repo", "--receive-pack", "--exec"):
                k += 1
            elif a.startswith("--"):
                continue
            elif len(a) > 1 and a[0] == "-":
                letters = a[1:].split("o", 1)[0]
                if "f" in letters:
                    self._flag(out, "git_force_push", "git push -f rewrites remote history")
                    return
                delete = delete or "d" in letters
                if "o" in a[1:] and a.endswith("o"):
                    k += 1
            else:
                positional.append(a)
        for ref in positional[1:]:
            if ref.startswith("+"):
                self._flag(out, "git_force_push",
                           f"git push {_show(ref, 40)} force-updates a branch")
                return
            dst = ref.rsplit(":", 1)[-1]
            if (delete or ref.startswith(":")) and _PROTECTED_BRANCH.fullmatch(dst):
                self._flag(out, "git_force_push",
                           f"git push deletes the protected branch {_show(dst, 40)}")
                return

    def _reverse_shell(self, parts: Sequence[Part], idx: int, info: Interp | None,
                       out: _Out) -> None:
        p = parts[idx]
        words = [*p.argv, *(r.target for r in p.redirects)]
        if any(d in w for w in words for d in _NET_DEV):
            self._flag(out, "reverse_shell", "the command opens a network socket via /dev/tcp")
            return
        prog = p.program
        if prog in _NET_TOOLS:
            for a in p.argv[1:]:
                if a in ("--exec", "--sh-exec", "--lua-exec") or (
                    len(a) > 1 and a[0] == "-" and a[1] != "-" and ("e" in a or "c" in a)
                        and prog != "socat"):
                    self._flag(out, "reverse_shell", f"{prog} {_show(a, 20)} serves a program "
                               "over the network")
                    return
                if prog == "socat" and _SOCAT_EXEC.match(a):
                    self._flag(out, "reverse_shell", "socat connects a program to the network")
                    return
        if info is not None and info.kind == "shell" and (info.sink or "-i" in p.argv):
            net = self._upstream(parts, idx, _NET_TOOLS)
            if net is None:
                for q in parts:
                    if idx in q.stdin_from and q.program in _NET_TOOLS:
                        net = q.program
                        break
            if net is not None:
                self._flag(out, "reverse_shell", f"{prog} is connected to the network by {net}")
                return
        code = self._code(p, info)
        if code and _REVERSE_CODE.search(code):
            self._flag(out, "reverse_shell",
                       f"{prog} code connects a socket to a shell or process")

    @staticmethod
    def _code(p: Part, info: Interp | None) -> str:
        if info is None or info.kind == "shell":
            return ""
        if info.code is not None:
            return info.code
        if info.sink:
            return "\n".join(r.body for r in p.redirects if r.body is not None)
        return ""

    def _destructive(self, p: Part, info: Interp | None, base: str, out: _Out) -> None:
        if not p.argv:
            return
        prog = p.program
        args = p.argv[1:]
        if prog in _MKFS or prog.startswith("mkfs."):
            self._flag(out, "destructive", f"{prog} formats a filesystem or device")
        elif prog in _POWER or (prog == "systemctl" and any(
                a in ("poweroff", "reboot", "halt", "kexec") for a in args)) or (
                prog in ("init", "telinit") and args[:1] in (("0",), ("6",))):
            self._flag(out, "destructive", f"{prog} shuts down or reboots the machine")
        elif prog == "kill" and "-1" in args[1:]:
            self._flag(out, "destructive", "kill -1 signals every process")
        elif prog == "shred" and any(a.startswith("/dev/") and not _SAFE_DEV.fullmatch(a)
                                     for a in args):
            self._flag(out, "destructive", "shred overwrites a device")
        elif prog in ("chmod", "chown", "chgrp") and is_recursive(args):
            for raw in perm_targets(prog, args):
                path = self._resolve(raw, base)
                if path is None:
                    continue
                path = _strip_globs(path)
                if path in _CRITICAL or path == self._home.rstrip("/"):
                    self._flag(out, "destructive",
                               f"{prog} -R changes permissions of {_show(raw, 40)}")
                    break
        elif prog == "dd":
            for a in args:
                if a.startswith("of=/dev/") and not _SAFE_DEV.fullmatch(a[3:]):
                    self._flag(out, "destructive", f"dd writes to the device {_show(a[3:], 40)}")
        code = self._code(p, info)
        if code and _FORK_CODE.search(code):
            self._flag(out, "destructive", f"{prog} code is a fork bomb")


def _fed_paths(parts: Sequence[Part], p: Part) -> list[tuple[str, bool]]:
    """Paths that ``find``, ``ls``, ``echo`` or ``printf`` pipe into ``xargs rm``."""
    out: list[tuple[str, bool]] = []
    for j in p.stdin_from:
        q = parts[j] if 0 <= j < len(parts) else None
        if q is None or not q.argv:
            continue
        if q.program == "find":
            for k, a in enumerate(q.argv[1:], 1):
                if a.startswith(("-", "(", "!")):
                    break
                out.append((f"{a.rstrip('/') or '/'}/{{}}" if a.strip("/") else "/{}",
                            q.expanded[k]))
        elif q.program in ("ls", "echo", "printf"):
            out += [(a, q.expanded[k]) for k, a in enumerate(q.argv[1:], 1)
                    if not a.startswith("-")]
    return out


def _strip_globs(path: str) -> str:
    """``/workspace/*`` names everything in ``/workspace``: judge the directory itself."""
    while path != "/":
        head, _sep, tail = path.rpartition("/")
        if tail and set(tail) <= set("*?[]!.{},") and any(c in tail for c in "*?["):
            path = head or "/"
        else:
            break
    return path


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
