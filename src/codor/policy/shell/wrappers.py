"""Wrappers: peeling ``env``, ``sudo``, ``timeout``, ``xargs``, ``bash -c``, ``eval``... off a
command until the program it runs is reached (or the script string it runs)."""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from codor.policy.shell.interpreters import SHELLS, interpreter
from codor.policy.shell.model import program_name
from codor.policy.shell.words import _ASSIGN_RE

__all__ = ["PRIVILEGED"]


@dataclass(frozen=True, slots=True)
class _Spec:
    short_arg: str = ""
    long_arg: frozenset[str] = frozenset()
    positional: int = 0
    assigns: bool = False
    noexec: str = ""
    long_noexec: frozenset[str] = frozenset()
    attached: str = ""  # short options whose value may only be attached (xargs -i{})


def _fs(*names: str) -> frozenset[str]:
    return frozenset(names)


_TIMEOUT = _Spec("sk", _fs("--signal", "--kill-after"), positional=1)
_SPECS: dict[str, _Spec] = {
    "sudo": _Spec("CDgpRrtTUu", _fs("--chdir", "--close-from", "--group", "--host", "--prompt",
                                    "--chroot", "--role", "--type", "--command-timeout",
                                    "--other-user", "--user"),
                  assigns=True, noexec="lvKVeh",
                  long_noexec=_fs("--list", "--validate", "--remove-timestamp", "--version",
                                  "--edit", "--help")),
    "doas": _Spec("Cu", noexec="L"),
    "pkexec": _Spec("", _fs("--user")),
    "timeout": _TIMEOUT,
    "gtimeout": _TIMEOUT,
    "nice": _Spec("n", _fs("--adjustment")),
    "nohup": _Spec(),
    "time": _Spec("fo", _fs("--format", "--output")),
    "command": _Spec(noexec="vV"),
    "builtin": _Spec(),
    "exec": _Spec("a"),
    "stdbuf": _Spec("ioe", _fs("--input", "--output", "--error")),
    "ionice": _Spec("cnpPu", noexec="pPu"),
    "setsid": _Spec(),
    "chroot": _Spec("", _fs("--userspec", "--groups"), positional=1),
    "taskset": _Spec(positional=1, noexec="p"),
    "chrt": _Spec(positional=1, noexec="pm"),
    "unbuffer": _Spec(),
    "noglob": _Spec(),
    "nocorrect": _Spec(),
    "busybox": _Spec(),
    "xargs": _Spec("adEILnPs", _fs("--arg-file", "--delimiter", "--max-lines", "--max-args",
                                   "--max-procs", "--max-chars", "--process-slot-var"),
                   attached="eil"),
}
#: Wrappers that change the user a command runs as (judged as programs in their own right).
PRIVILEGED = frozenset({"sudo", "doas", "su", "runuser", "pkexec"})
_RUNNERS = frozenset({"uv", "poetry", "pipenv", "pdm", "hatch"})
_RUN_SPEC = _Spec("pw", _fs("--with", "--with-editable", "--with-requirements", "--python",
                            "--project", "--directory", "--env-file", "--extra", "--group",
                            "--package", "--index", "--default-index", "--index-url",
                            "--extra-index-url", "--find-links", "--env", "-e"))
_ENV_SPEC = _Spec("uCS", _fs("--unset", "--chdir", "--split-string"))
_SU_SPEC = _Spec("csgGwu", _fs("--command", "--shell", "--group", "--supp-group",
                               "--whitelist-environment", "--user"))
_WATCH_SPEC = _Spec("n", _fs("--interval"), attached="d")
_FLOCK_SPEC = _Spec("wEc", _fs("--timeout", "--conflict-exit-code", "--command"))
_SCRIPT_SPEC = _Spec("cEIOTBo", _fs("--command", "--echo", "--log-in", "--log-out",
                                    "--log-timing", "--log-io", "--output-limit"))
#: Every program :func:`_unwrap` may peel off (any other program is returned as it is).
_UNWRAPS = frozenset(_SPECS) | SHELLS | _RUNNERS | frozenset(
    {"env", "eval", "script", "su", "runuser", "watch", "flock"})


def _skip_options(
    argv: list[str], i: int, spec: _Spec
) -> tuple[int, set[str], set[str], dict[str, str]]:
    """Skip getopt-style options from ``i``; return the index of the first operand, the short
    letters and long names seen, and the option values by letter/name."""
    n = len(argv)
    seen: set[str] = set()
    longs: set[str] = set()
    values: dict[str, str] = {}
    while i < n:
        a = argv[i]
        if a == "--":
            i += 1
            break
        if a.startswith("--") and len(a) > 2:
            name, eq, value = a.partition("=")
            longs.add(name)
            if name in spec.long_arg and not eq:
                values[name] = argv[i + 1] if i + 1 < n else ""
                i += 2
            else:
                values[name] = value
                i += 1
            continue
        if len(a) > 1 and a[0] == "-":
            i += 1
            for j in range(1, len(a)):
                ch = a[j]
                seen.add(ch)
                if ch in spec.attached:
                    break
                if ch in spec.short_arg:
                    if j + 1 < len(a):
                        values[ch] = a[j + 1 :]
                    else:
                        values[ch] = argv[i] if i < n else ""
                        i += 1
                    break
            continue
        break
    return min(i, n), seen, longs, values


@dataclass(slots=True)
class _Unwrapped:
    argv: list[str]
    expanded: list[bool]
    wrappers: list[str]
    assigns: list[str]
    script: str | None = None
    script_dyn: bool = False
    script_via: str = ""


def _unwrap(argv: list[str], expanded: list[bool]) -> _Unwrapped:
    """Peel wrappers off a command until the wrapped program is reached."""
    u = _Unwrapped(argv, expanded, [], [])
    for _ in range(24):
        argv, expanded = u.argv, u.expanded
        if not argv or expanded[0]:
            return u
        prog = program_name(argv[0])
        start: int | None = None
        n = len(argv)
        if prog in _SPECS:
            spec = _SPECS[prog]
            i, seen, longs, _values = _skip_options(argv, 1, spec)
            noexec = bool(seen & set(spec.noexec)) or bool(longs & spec.long_noexec)
            if spec.assigns:
                while i < n and _ASSIGN_RE.match(argv[i]):
                    u.assigns.append(argv[i])
                    i += 1
            i += spec.positional
            if noexec or i >= n:
                return u
            if prog == "sudo" and seen & {"s", "i"}:
                return _to_script(u, prog, argv[i:], expanded[i:])
            start = i
        elif prog == "env":
            i, seen, longs, values = _skip_options(argv, 1, _ENV_SPEC)
            while i < n and _ASSIGN_RE.match(argv[i]):
                u.assigns.append(argv[i])
                i += 1
            split = values.get("S", values.get("--split-string"))
            if split is not None:
                try:
                    words = shlex.split(split)
                except ValueError:
                    words = split.split()
                dyn = any(expanded)
                u.wrappers.append(prog)
                u.argv = words + argv[i:]
                u.expanded = [dyn] * len(words) + expanded[i:]
                continue
            if i >= n:
                return u
            start = i
        elif prog in SHELLS:
            info = interpreter(argv)
            if info is None or info.code is None:
                return u
            u.wrappers.append(prog)
            u.script = info.code
            u.script_dyn = info.code_index is not None and expanded[info.code_index]
            u.script_via = f"{prog} -c"
            u.argv, u.expanded = [], []
            return u
        elif prog == "eval":
            if n < 2:
                return u
            return _to_script(u, prog, argv[1:], expanded[1:])
        elif prog == "script":
            _i, _seen, _longs, values = _skip_options(argv, 1, _SCRIPT_SPEC)
            code = values.get("c", values.get("--command"))
            if code is None:
                return u
            u.wrappers.append(prog)
            u.script, u.script_via, u.argv, u.expanded = code, "script -c", [], []
            u.script_dyn = any(expanded)
            return u
        elif prog in ("su", "runuser"):
            i, seen, longs, values = _skip_options(argv, 1, _SU_SPEC)
            code = values.get("c", values.get("--command"))
            if code is not None:
                u.wrappers.append(prog)
                u.script, u.script_via, u.argv, u.expanded = code, f"{prog} -c", [], []
                u.script_dyn = any(expanded)
                return u
            if prog == "runuser" and "u" in seen and i < n:
                start = i
            else:
                return u
        elif prog == "watch":
            i, seen, longs, _values = _skip_options(argv, 1, _WATCH_SPEC)
            if i >= n:
                return u
            if "x" in seen or "--exec" in longs:
                start = i
            else:
                return _to_script(u, prog, argv[i:], expanded[i:])
        elif prog == "flock":
            i, seen, longs, values = _skip_options(argv, 1, _FLOCK_SPEC)
            code = values.get("c", values.get("--command"))
            i += 1  # the lock file or descriptor
            if i < n and argv[i] in ("-c", "--command"):
                code = argv[i + 1] if i + 1 < n else ""
            if code is not None:
                u.wrappers.append(prog)
                u.script, u.script_via, u.argv, u.expanded = code, "flock -c", [], []
                u.script_dyn = any(expanded)
                return u
            if i >= n:
                return u
            start = i
        elif prog in _RUNNERS and n > 2 and argv[1] == "run":
            i, _seen, _longs, _values = _skip_options(argv, 2, _RUN_SPEC)
            if i >= n:
                return u
            start = i
        if start is None:
            return u
        u.wrappers.append(prog)
        u.argv, u.expanded = argv[start:], expanded[start:]
    return u


def _to_script(u: _Unwrapped, prog: str, words: list[str], dyn: list[bool]) -> _Unwrapped:
    u.wrappers.append(prog)
    u.script = " ".join(words)
    u.script_dyn = any(dyn)
    u.script_via = prog
    u.argv, u.expanded = [], []
    return u
