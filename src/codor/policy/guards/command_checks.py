"""The ``commands`` guard's built-in detectors (its ``checks``): pipe_to_shell,
rm_outside_workspace, credential_read, git_force_push, reverse_shell, destructive and
dynamic_code, each judging one part of a parsed command. The configuration and the guard
itself are in :mod:`codor.policy.guards.commands`."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import cast

from codor.model import Effect, Severity
from codor.policy.guards.base import Finding
from codor.policy.paths import normalize_path
from codor.policy.patterns import GlobSet
from codor.policy.shell import (
    FileOp,
    Interp,
    Part,
    is_recursive,
    perm_targets,
)

__all__ = ["CHECKS", "DESTRUCTIVE_PROGRAMS", "DOWNLOADERS", "GUARD", "CommandChecks"]

GUARD = "commands"
CHECKS: tuple[str, ...] = ("pipe_to_shell", "rm_outside_workspace", "credential_read",
                           "git_force_push", "reverse_shell", "destructive", "dynamic_code",
                           "unparseable")
_CHECK_SEVERITY: dict[str, Severity] = {
    "pipe_to_shell": "critical", "rm_outside_workspace": "critical",
    "credential_read": "high", "git_force_push": "high", "reverse_shell": "critical",
    "destructive": "critical", "dynamic_code": "medium", "unparseable": "high",
}

# -- what programs are ------------------------------------------------------------------------
_DOWNLOADERS = frozenset({"curl", "wget", "fetch", "aria2c", "http", "https", "xh", "httpie",
                          "lwp-request", "lwp-download", "GET", "POST", "lynx", "w3m", "links",
                          "elinks", "ftp", "tftp", "nc", "ncat", "netcat", "socat", "telnet",
                          "ssh", "iwr", "irm"})
DOWNLOADERS = _DOWNLOADERS
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
_CURL_REMOTE_NAME = re.compile(r"-[a-zA-Z]*O[a-zA-Z]*")
#: Programs :meth:`CommandChecks._destructive` judges by name (other parts only for code).
DESTRUCTIVE_PROGRAMS = _MKFS | _POWER | frozenset(
    {"systemctl", "init", "telinit", "kill", "shred", "chmod", "chown", "chgrp", "dd"})

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


class CommandChecks:
    """The detectors, a base of :class:`~codor.policy.guards.commands.CommandsGuard`: each
    judges one part and flags what it finds with :meth:`_flag`."""

    _checks: dict[str, str]
    _workspace: str
    _home: str
    _creds: GlobSet
    _not_creds: GlobSet

    def _flag(self, out: _Out, check: str, message: str) -> None:
        effect = self._checks[check]
        if effect != "pass":
            out.add(Finding(cast(Effect, effect), f"{GUARD}.{check}", GUARD,
                            _CHECK_SEVERITY[check], message))

    # -- paths --------------------------------------------------------------------------------
    def _expand(self, raw: str, cwd: str) -> str:
        for var, value in (("$HOME", self._home), ("${HOME}", self._home), ("$PWD", cwd),
                           ("${PWD}", cwd)):
            if raw == var or raw.startswith(var + "/"):
                return value.rstrip("/") + raw[len(var):] if raw != var else value
        return raw

    def _resolve(self, raw: str, base: str) -> str | None:
        try:
            return normalize_path(self._expand(raw, base), base, self._home)
        except ValueError:
            return None

    def _files(self, p: Part, ops: Sequence[FileOp], base: str, out: _Out) -> None:
        """``ops``: ``file_ops(p, self._creds.matches)``."""
        for op in ops:
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
                       downloads: set[str], ops: Sequence[FileOp], out: _Out) -> None:
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
            for path in self._download_targets(p, ops, base):
                downloads.add(path)

    def _download_targets(self, p: Part, ops: Sequence[FileOp], base: str) -> list[str]:
        # the writes of file_ops do not depend on its cred_name
        raws = [op.path for op in ops if op.op == "write"]
        remote_name = p.program == "wget" and not any(
            a in ("-O", "--output-document") or a.startswith(("-O", "--output-document="))
            for a in p.argv[1:])
        remote_name = remote_name or (p.program == "curl" and any(
            _CURL_REMOTE_NAME.fullmatch(a) or a == "--remote-name"
            for a in p.argv[1:]))
        if remote_name:
            urls = [a for a in p.argv[1:] if _URL.match(a)]
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
        # one search in the words joined by newlines (no needle spans a newline)
        words = "\n".join([*p.argv, *(r.target for r in p.redirects)] if p.redirects
                          else p.argv)
        if "/dev/" in words and any(d in words for d in _NET_DEV):
            self._flag(out, "reverse_shell", "the command opens a network socket via /dev/tcp")
            return
        prog = p.program
        if info is None and prog not in _NET_TOOLS:
            return  # nothing below applies
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
