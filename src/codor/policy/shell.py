"""Shell command analysis: which programs a command string would run, with what, and how joined.

Pure and I/O-free: nothing is executed, no file is read. :func:`parse_command` turns a shell
string into the *simple command parts* it would run; :func:`parse_argv` does the same for an
argv that is already split (it is not shell-parsed, but wrappers are still unwrapped). Both are
cached and never raise: input that cannot be parsed gives a result with ``unparseable`` set
(and whatever parts could be read before the problem).

Each :class:`Part` has its argv (quotes removed, leading ``VAR=value`` assignments split off
into ``assigns``), its redirections (``> >> < 2> &> <<EOF <<<`` with targets and heredoc
bodies), the parts piped into it (``stdin_from``), the parts run by substitutions inside its
words (``inputs``: ``$(...)``, backticks, ``<(...)``, ``>(...)``), and the wrappers that were
removed to reach it (``sudo env X=1 timeout 5 bash -c "curl x | sh"`` gives the parts ``curl x``
and ``sh`` with wrappers ``sudo, env, timeout, bash``).

Understood: ``; && || | |& &``, newlines, comments, ``( )``, ``{ ;}``, ``if/while/until/for/
select/case``, functions, ``[[ ]]`` and ``(( ))``, single/double/``$'...'`` quotes, escapes,
brace expansion of literal words (``{rm,-rf,/}``), ``$IFS`` splitting, variables assigned
earlier in the same command (``c=curl; $c x``), heredocs (``<<EOF``, ``<<-EOF``, ``<<'EOF'``).
A script that reaches a shell or Python on standard input (heredoc, here-string, ``echo ... |
sh``) is analysed too.

Unwrapped: env, sudo, doas, su/runuser -c, pkexec, timeout, nice, nohup, time, command, builtin,
exec, stdbuf, ionice, setsid, chroot, taskset, chrt, unbuffer, busybox, flock, watch, xargs,
``uv/poetry/pipenv/pdm run``, ``sh/bash/zsh/dash/ksh/... -c`` and ``eval`` (strings are parsed
recursively, at most :data:`MAX_DEPTH` levels). ``python -c`` code is read with :mod:`ast`:
``os.system``, ``os.popen``, ``os.exec*``, ``os.spawn*``, ``subprocess.*`` and ``exec`` with
literal arguments become parts; anything computed at run time is reported in ``dynamic``.
``find -exec`` commands and ``system("...")`` literals in perl/ruby/node/php code are parts too.

Helpers for guards and rules: :func:`file_ops` (which files a part reads, writes or deletes),
:func:`interpreter` (how an interpreter gets its program), :func:`programs_of` (every program
and wrapper, for the rules' ``program`` field) and :func:`write_targets` (paths written or
deleted, for the built-in protections).
"""

from __future__ import annotations

import ast
import re
import shlex
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

__all__ = [
    "MAX_DEPTH",
    "PRIVILEGED",
    "SHELLS",
    "FileOp",
    "Interp",
    "ParseResult",
    "Part",
    "Redirect",
    "file_ops",
    "interpreter",
    "is_recursive",
    "looks_like_path",
    "parse_argv",
    "parse_command",
    "perm_targets",
    "program_name",
    "programs_of",
    "write_targets",
]

#: How many strings deep the parser follows ``bash -c``, ``eval``, heredoc scripts and code.
MAX_DEPTH = 6
_MAX_NEST = 40  # nested syntax ($( ( { ...) across all levels
_MAX_PARTS = 4000
_MAX_BRACE = 256


# --------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Redirect:
    """One redirection. ``target`` is the file word (or the heredoc delimiter); ``body`` is the
    heredoc or here-string text; ``quoted`` says the heredoc delimiter was quoted."""

    op: str
    target: str
    fd: int | None = None
    body: str | None = None
    quoted: bool = False


@dataclass(frozen=True, slots=True)
class Part:
    """One simple command that would run.

    ``stdin_from`` and ``inputs`` are indices into :attr:`ParseResult.parts`. ``expanded[i]``
    is true when ``argv[i]`` holds a run-time expansion (``$VAR``, ``$(...)``), kept verbatim.
    ``cwd`` is the directory changed to by earlier ``cd`` in the same command, as written
    (``""``: unchanged, ``None``: unknown). ``sink`` is ``shell``, ``python`` or ``interp``
    when the part is an interpreter reading its program from standard input.
    """

    argv: tuple[str, ...]
    assigns: tuple[str, ...] = ()
    redirects: tuple[Redirect, ...] = ()
    stdin_from: tuple[int, ...] = ()
    inputs: tuple[int, ...] = ()
    wrappers: tuple[str, ...] = ()
    origin: str = "command"
    expanded: tuple[bool, ...] = ()
    cwd: str | None = ""
    function: str | None = None
    sink: str | None = None
    #: The basename of ``argv[0]`` (``""`` when there is no argv).
    program: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "program", program_name(self.argv[0]) if self.argv else "")
        if len(self.expanded) != len(self.argv):
            object.__setattr__(self, "expanded", (False,) * len(self.argv))


@dataclass(frozen=True, slots=True)
class ParseResult:
    """Every part a command would run; ``dynamic`` lists code the parser could not see."""

    parts: tuple[Part, ...]
    unparseable: bool = False
    error: str | None = None
    dynamic: tuple[str, ...] = ()
    functions: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Interp:
    """How an interpreter command gets its program: inline ``code``, a ``script`` file, or
    standard input (``sink``)."""

    kind: str  # shell | python | interp
    sink: bool
    script: str | None
    script_index: int | None
    code: str | None
    code_index: int | None


def program_name(word: str) -> str:
    """The basename of a command word: ``/usr/bin/env`` -> ``env``."""
    stripped = word.rstrip("/")
    return stripped.rsplit("/", 1)[-1] if stripped else word


# --------------------------------------------------------------------------------------------
# Interpreters
# --------------------------------------------------------------------------------------------
SHELLS = frozenset({"sh", "bash", "rbash", "zsh", "dash", "ksh", "ksh93", "mksh", "pdksh",
                    "oksh", "ash", "yash", "posh", "fish", "csh", "tcsh"})
_PYTHON_RE = re.compile(r"(?:python|pypy)(?:\d+(?:\.\d+)*)?[dmu]?")
# interpreter -> (short options giving inline code, short options taking a value)
_INTERP_FLAGS: dict[str, tuple[str, str]] = {
    "perl": ("eE", ""), "ruby": ("e", ""), "node": ("ep", "r"), "nodejs": ("ep", "r"),
    "php": ("r", "cdf"), "lua": ("e", "l"), "Rscript": ("e", ""), "pwsh": ("c", ""),
    "powershell": ("c", ""), "deno": ("", ""), "bun": ("e", ""), "tclsh": ("", ""),
}


def is_python(prog: str) -> bool:
    return _PYTHON_RE.fullmatch(prog) is not None


def interpreter(argv: tuple[str, ...] | list[str]) -> Interp | None:
    """Classify an interpreter command (``None`` when ``argv[0]`` is not one)."""
    if not argv:
        return None
    prog = program_name(argv[0])
    if prog in SHELLS:
        kind, code_flags, arg_flags = "shell", "c", "oO"
    elif is_python(prog):
        kind, code_flags, arg_flags = "python", "c", "WXm"
    elif prog in _INTERP_FLAGS:
        kind = "interp"
        code_flags, arg_flags = _INTERP_FLAGS[prog]
    else:
        return None
    n = len(argv)
    i = 1
    stdin = c_mode = module = False
    code: str | None = None
    code_index: int | None = None
    while i < n and code is None and not module:
        a = argv[i]
        if a == "--":
            i += 1
            break
        if a == "-":
            stdin = True
            break
        if a.startswith("--"):
            name, eq, value = a.partition("=")
            if name in ("--command", "--eval", "--print") and kind != "python":
                if eq:
                    code, code_index = value, i
                elif i + 1 < n:
                    code, code_index = argv[i + 1], i + 1
                else:
                    code, code_index = "", i
                i += 2
                break
            i += 2 if kind == "shell" and name in ("--rcfile", "--init-file") and not eq else 1
            continue
        if len(a) > 1 and (a[0] == "-" or (kind == "shell" and a[0] == "+")):
            i += 1
            for j in range(1, len(a)):
                ch = a[j]
                if ch in code_flags:
                    if kind == "shell":
                        c_mode = True
                        continue
                    if j + 1 < len(a):
                        code, code_index = a[j + 1 :], i - 1
                    elif i < n:
                        code, code_index = argv[i], i
                        i += 1
                    else:
                        code, code_index = "", i - 1
                    break
                if ch in arg_flags:
                    if kind == "python" and ch == "m":
                        module = True
                    elif j + 1 == len(a):
                        i += 1
                    break
                if kind == "shell" and ch == "s":
                    stdin = True
            continue
        break
    script: str | None = None
    script_index: int | None = None
    if kind == "shell" and c_mode and code is None:
        if i < n:
            code, code_index = argv[i], i
        else:
            code, code_index = "", None
    elif code is None and not module and not stdin and i < n:
        script, script_index = argv[i], i
    sink = code is None and not module and (stdin or script is None
                                            or script in ("-", "/dev/stdin"))
    return Interp(kind, sink, script, script_index, code, code_index)


# --------------------------------------------------------------------------------------------
# Wrappers
# --------------------------------------------------------------------------------------------
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
_AWKS = frozenset({"awk", "gawk", "mawk", "nawk", "busybox-awk"})
_SCRIPT_SPEC = _Spec("cEIOTBo", _fs("--command", "--echo", "--log-in", "--log-out",
                                    "--log-timing", "--log-io", "--output-limit"))
_ASSIGN_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\[[^\]]*\])?\+?=")
_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


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


# --------------------------------------------------------------------------------------------
# Python code
# --------------------------------------------------------------------------------------------
_PY_SHELL = frozenset({"os.system", "os.popen", "os.popen2", "os.popen3", "os.popen4",
                       "subprocess.getoutput", "subprocess.getstatusoutput",
                       "commands.getoutput", "commands.getstatusoutput",
                       "asyncio.create_subprocess_shell"})
_PY_SUBPROCESS = frozenset({"subprocess.run", "subprocess.call", "subprocess.check_call",
                            "subprocess.check_output", "subprocess.Popen"})
_PY_EXEC_L = {"os.execl": 0, "os.execle": 0, "os.execlp": 0, "os.execlpe": 0,
              "os.spawnl": 1, "os.spawnle": 1, "os.spawnlp": 1, "os.spawnlpe": 1}
_PY_EXEC_V = {"os.execv": 0, "os.execve": 0, "os.execvp": 0, "os.execvpe": 0,
              "os.spawnv": 1, "os.spawnve": 1, "os.spawnvp": 1, "os.spawnvpe": 1,
              "os.posix_spawn": 0, "os.posix_spawnp": 0}
_PY_CODE = frozenset({"exec", "eval", "builtins.exec", "builtins.eval"})
_PY_KNOWN = (_PY_SHELL | _PY_SUBPROCESS | frozenset(_PY_EXEC_L) | frozenset(_PY_EXEC_V)
             | frozenset({"pty.spawn", "asyncio.create_subprocess_exec"}))
_PY_IMPORTERS = frozenset({"__import__", "importlib.import_module"})


def _fold(node: ast.AST, depth: int = 0) -> str | None:
    """The value of a string expression built only from literals, else ``None``."""
    if depth > 40:
        return None
    if isinstance(node, ast.Constant):
        return node.value if isinstance(node.value, str) else None
    if isinstance(node, ast.JoinedStr):
        out = []
        for v in node.values:
            got = _fold(v, depth + 1)
            if got is None:
                return None
            out.append(got)
        return "".join(out)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _fold(node.left, depth + 1), _fold(node.right, depth + 1)
        return None if left is None or right is None else left + right
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr == "join" and len(node.args) == 1 and not node.keywords):
        sep = _fold(node.func.value, depth + 1)
        items = _fold_list(node.args[0], depth + 1)
        return None if sep is None or items is None else sep.join(items)
    return None


def _fold_list(node: ast.AST, depth: int = 0) -> list[str] | None:
    if depth > 40:
        return None
    if isinstance(node, ast.List | ast.Tuple):
        out = []
        for elt in node.elts:
            got = _fold(elt, depth + 1)
            if got is None:
                return None
            out.append(got)
        return out
    if isinstance(node, ast.Call) and not node.keywords:
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr == "split" and not node.args:
            text = _fold(func.value, depth + 1)
            return None if text is None else text.split()
        if (isinstance(func, ast.Attribute) and func.attr == "split"
                and isinstance(func.value, ast.Name) and func.value.id == "shlex"
                and len(node.args) == 1):
            text = _fold(node.args[0], depth + 1)
            if text is None:
                return None
            try:
                return shlex.split(text)
            except ValueError:
                return None
    return None


class _PyNames:
    """Import aliases of one module: which local name means which dotted name."""

    def __init__(self, tree: ast.AST) -> None:
        self.aliases: dict[str, str] = {}
        self.stars: list[str] = []
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    if a.asname:
                        self.aliases[a.asname] = a.name
                    else:
                        head = a.name.split(".")[0]
                        self.aliases[head] = head
            elif isinstance(node, ast.ImportFrom) and node.module:
                for a in node.names:
                    if a.name == "*":
                        self.stars.append(node.module)
                    else:
                        self.aliases[a.asname or a.name] = f"{node.module}.{a.name}"

    def qual(self, node: ast.AST, depth: int = 0) -> str | None:
        attrs: list[str] = []
        while isinstance(node, ast.Attribute) and len(attrs) < 64:
            attrs.append(node.attr)
            node = node.value
        if isinstance(node, ast.Name):
            base = self.aliases.get(node.id)
            if base is None:
                base = node.id
                if not attrs:
                    for mod in self.stars:
                        if f"{mod}.{node.id}" in _PY_KNOWN:
                            base = f"{mod}.{node.id}"
        elif isinstance(node, ast.Call) and node.args and depth < 8:
            if self.qual(node.func, depth + 1) not in _PY_IMPORTERS:
                return None
            base = _fold(node.args[0]) or ""
            if not base:
                return None
        else:
            return None
        return ".".join([base, *reversed(attrs)])


def _kw(call: ast.Call, name: str) -> ast.AST | None:
    for k in call.keywords:
        if k.arg == name:
            return k.value
    return None


def python_commands(code: str) -> tuple[list[tuple[str, Any]], list[str]]:
    """Commands a piece of Python code runs: ``("shell", str)``, ``("argv", list)`` or
    ``("python", str)`` (code given to ``exec``), and messages for what is not literal."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree = ast.parse(code)
    except Exception:
        return [], ["python code that could not be parsed"]
    names = _PyNames(tree)
    out: list[tuple[str, Any]] = []
    dynamic: list[str] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        q = names.qual(node.func)
        if q is None:
            continue
        args = node.args
        if any(isinstance(a, ast.Starred) for a in args):
            if q in _PY_KNOWN or q in _PY_CODE:
                dynamic.append(f"python: {q} with arguments computed at run time")
            continue
        if q in _PY_SHELL:
            first = args[0] if args else _kw(node, "cmd") or _kw(node, "command")
            text = _fold(first) if first is not None else None
            if text is None:
                dynamic.append(f"python: {q} with a command computed at run time")
            else:
                out.append(("shell", text))
        elif q in _PY_SUBPROCESS:
            first = args[0] if args else _kw(node, "args")
            shell_node = _kw(node, "shell")
            shell: bool | None = False
            if shell_node is not None:
                shell = (shell_node.value if isinstance(shell_node, ast.Constant)
                         and isinstance(shell_node.value, bool) else None)
            text = _fold(first) if first is not None else None
            items = _fold_list(first) if first is not None and text is None else None
            if text is not None:
                out.append(("argv", [text]) if shell is False else ("shell", text))
            elif items:
                out.append(("shell", items[0]) if shell is True else ("argv", items))
            else:
                dynamic.append(f"python: {q} with a command computed at run time")
        elif q in _PY_EXEC_L:
            off = _PY_EXEC_L[q]
            vals = [_fold(a) for a in args[off:]]
            if q.endswith("e") and vals:
                vals = vals[:-1]
            if not vals or any(v is None for v in vals):
                dynamic.append(f"python: {q} with arguments computed at run time")
            else:
                lits = [v for v in vals if v is not None]
                out.append(("argv", [lits[0], *lits[2:]]))
        elif q in _PY_EXEC_V:
            off = _PY_EXEC_V[q]
            path = _fold(args[off]) if len(args) > off else None
            lst = _fold_list(args[off + 1]) if len(args) > off + 1 else None
            if path is None or lst is None:
                dynamic.append(f"python: {q} with arguments computed at run time")
            else:
                out.append(("argv", [path, *lst[1:]]))
        elif q == "pty.spawn":
            text = _fold(args[0]) if args else None
            items = _fold_list(args[0]) if args and text is None else None
            if text is not None:
                out.append(("argv", [text]))
            elif items:
                out.append(("argv", items))
            else:
                dynamic.append(f"python: {q} with a command computed at run time")
        elif q == "asyncio.create_subprocess_exec":
            vals = [_fold(a) for a in args]
            if not vals or any(v is None for v in vals):
                dynamic.append(f"python: {q} with arguments computed at run time")
            else:
                out.append(("argv", [v for v in vals if v is not None]))
        elif q in _PY_CODE:
            text = _fold(args[0]) if args else None
            if text is None:
                dynamic.append(f"python: {q} of code computed at run time")
            else:
                out.append(("python", text))
    return out, dynamic


# perl/ruby/node/php: shell strings given literally to system(), exec(), backticks...
_INTERP_SHELL_RE = re.compile(
    r"""(?:\b(?:system|exec|execSync|spawnSync|popen|shell_exec|passthru|proc_open|qx)"""
    r"""\s*\(?\s*(['"])((?:\\.|(?!\1).)*)\1|`([^`]*)`)""",
    re.DOTALL,
)


def interp_commands(code: str) -> list[str]:
    """Literal shell strings passed to ``system``/``exec``/backticks in perl, ruby, node, php."""
    out = []
    for m in _INTERP_SHELL_RE.finditer(code):
        text = m.group(2) if m.group(2) is not None else m.group(3)
        if text:
            out.append(text)
    return out


# --------------------------------------------------------------------------------------------
# The parser
# --------------------------------------------------------------------------------------------
_BLANKS = " \t\r"
_META = frozenset(" \t\r\n;&|()<>")
_RESERVED_RE = re.compile(
    r"(if|then|elif|else|fi|do|done|case|esac|while|until|for|select|function|coproc|time"
    r"|\{|\}|!|\[\[)(?=[ \t\r\n;&|()<>]|\Z)"
)
_TERMINATORS = frozenset({"then", "elif", "else", "fi", "do", "done", "esac", "}"})
_REDIR_RE = re.compile(r"(\d+|\{[A-Za-z_][A-Za-z0-9_]*\})?(&>>|&>|<<<|<<-|<<|<>|<&|>>|>&|>\||<|>)")
_FUNC_PARENS_RE = re.compile(r"\(\s*\)")
_ANSI = {"n": "\n", "t": "\t", "r": "\r", "a": "\a", "b": "\b", "e": "\x1b", "E": "\x1b",
         "f": "\f", "v": "\v", "\\": "\\", "'": "'", '"': '"', "?": "?"}
_SPLIT_WS = re.compile(r"[ \t\n]+")
_PLAIN_RE = re.compile(r"[^ \t\r\n;&|()<>\\'\"$`]+")
_DQ_PLAIN_RE = re.compile(r"[^\"\\$`]+")


class _RedirDraft:
    __slots__ = ("body", "fd", "op", "owner", "quoted", "strip", "target")

    def __init__(self, op: str, target: str, fd: int | None, quoted: bool = False) -> None:
        self.op, self.target, self.fd, self.quoted = op, target, fd, quoted
        self.body: str | None = target if op == "<<<" else None
        self.strip = op == "<<-"
        self.owner = -1

    def freeze(self) -> Redirect:
        return Redirect(self.op, self.target, self.fd, self.body, self.quoted)


class _Draft:
    __slots__ = ("argv", "assigns", "cwd", "depth", "expanded", "fed", "function", "inputs",
                 "origin", "redirects", "sink", "stdin_from", "wrappers")

    def __init__(self, argv: list[str], expanded: list[bool], assigns: list[str],
                 redirects: list[_RedirDraft], inputs: list[int], wrappers: tuple[str, ...],
                 origin: str, cwd: str | None, function: str | None, depth: int) -> None:
        self.argv, self.expanded, self.assigns = argv, expanded, assigns
        self.redirects, self.inputs, self.wrappers = redirects, inputs, wrappers
        self.origin, self.cwd, self.function, self.depth = origin, cwd, function, depth
        self.stdin_from: tuple[int, ...] = ()
        self.sink: str | None = None
        self.fed = False

    def freeze(self) -> Part:
        return Part(tuple(self.argv), tuple(self.assigns),
                    tuple(r.freeze() for r in self.redirects), self.stdin_from,
                    tuple(sorted(set(self.inputs))), self.wrappers, self.origin,
                    tuple(self.expanded), self.cwd, self.function, self.sink)


class _State:
    __slots__ = ("dynamic", "errors", "functions", "nest", "parts", "vars")

    def __init__(self) -> None:
        self.parts: list[_Draft] = []
        self.errors: list[str] = []
        self.dynamic: list[str] = []
        self.functions: list[str] = []
        self.vars: dict[str, str] = {}
        self.nest = 0


class _Word:
    __slots__ = ("chars", "dyn", "inputs", "lit", "quoted", "splits")

    def __init__(self) -> None:
        self.chars: list[str] = []
        self.dyn = False
        self.quoted = False
        self.inputs: list[int] = []
        self.lit = -1  # length of chars when the first quote or expansion was seen
        self.splits: list[int] = []

    def mark(self) -> None:
        if self.lit < 0:
            self.lit = sum(len(c) for c in self.chars)

    def text(self) -> str:
        return "".join(self.chars)

    def is_assignment(self) -> bool:
        text = self.text()
        m = _ASSIGN_RE.match(text)
        return m is not None and (self.lit < 0 or m.end() <= self.lit)

    def texts(self, source: str) -> list[str]:
        text = self.text()
        if self.splits:
            pieces, last = [], 0
            for pos in [*self.splits, len(text)]:
                pieces.append(text[last:pos])
                last = pos
            words = [p for p in pieces if p]
        else:
            words = [text]
        if "{" in source and not any(c in source for c in "'\"\\$`"):
            out: list[str] = []
            for w in words:
                out.extend(_brace_expand(w))
            return out
        return words


class _TooBig(Exception):
    pass


def _brace_expand(word: str, budget: int = _MAX_BRACE) -> list[str]:
    """Bash brace expansion of a literal word (``{a,b}``, ``x{1..3}``); capped in size."""
    try:
        return _expand_braces(word, budget)
    except _TooBig:
        return [word]


def _expand_braces(word: str, budget: int) -> list[str]:
    depth, start = 0, -1
    for i, c in enumerate(word):
        if c == "{":
            if depth == 0:
                start = i
            depth += 1
        elif c == "}" and depth:
            depth -= 1
            if depth == 0:
                alts = _brace_alternatives(word[start + 1 : i])
                if alts is None:
                    continue
                pre = word[:start]
                tails = _expand_braces(word[i + 1 :], budget)
                out: list[str] = []
                for alt in alts:
                    for head in _expand_braces(alt, budget):
                        for tail in tails:
                            out.append(pre + head + tail)
                            if len(out) > budget:
                                raise _TooBig
                return out
    return [word]


def _brace_alternatives(inner: str) -> list[str] | None:
    parts, depth, last = [], 0, 0
    for i, c in enumerate(inner):
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
        elif c == "," and depth == 0:
            parts.append(inner[last:i])
            last = i + 1
    if parts:
        parts.append(inner[last:])
        return parts
    m = re.fullmatch(r"(-?\d+)\.\.(-?\d+)", inner)
    if m:
        a, b = int(m.group(1)), int(m.group(2))
        if abs(b - a) > _MAX_BRACE:
            return None
        step = 1 if b >= a else -1
        return [str(x) for x in range(a, b + step, step)]
    m = re.fullmatch(r"([A-Za-z])\.\.([A-Za-z])", inner)
    if m:
        a, b = ord(m.group(1)), ord(m.group(2))
        step = 1 if b >= a else -1
        return [chr(x) for x in range(a, b + step, step)]
    return None


class _Parser:
    """Recursive descent over one string; parts go into the shared :class:`_State`."""

    def __init__(self, text: str, st: _State, depth: int, origin: str,
                 wrappers: tuple[str, ...], cwd: str | None, function: str | None) -> None:
        self.s = text
        self.n = len(text)
        self.i = 0
        self.st = st
        self.depth = depth
        self.origin = origin
        self.wrappers = wrappers
        self.cwd = cwd
        self.function = function
        self.pending: list[_RedirDraft] = []
        self.dirs: list[str | None] = []  # pushd stack

    # -- bookkeeping ----------------------------------------------------------------------
    def error(self, message: str) -> None:
        if len(self.st.errors) < 8:
            self.st.errors.append(message)

    def dynamic(self, message: str) -> None:
        if message not in self.st.dynamic and len(self.st.dynamic) < 32:
            self.st.dynamic.append(message)

    def add(self, argv: list[str], expanded: list[bool], assigns: list[str],
            reds: list[_RedirDraft], inputs: list[int], wrappers: tuple[str, ...],
            origin: str) -> int:
        parts = self.st.parts
        if len(parts) >= _MAX_PARTS:
            self.error("too many commands")
            self.i = self.n
            return -1
        d = _Draft(argv, expanded, assigns, reds, inputs, wrappers, origin, self.cwd,
                   self.function, self.depth)
        idx = len(parts)
        for r in reds:
            r.owner = idx
        parts.append(d)
        return idx

    def run(self) -> list[int]:
        ids: list[int] = []
        while True:
            ids += self.parse_list(frozenset())
            if self.i >= self.n:
                break
            self.error(f"unexpected {self.s[self.i]!r}")
            self.i += 1
        if self.pending:
            for r in self.pending:
                r.body = r.body or ""
            self.pending.clear()
        return ids

    def sub_parse(self, text: str, origin: str, wrappers: tuple[str, ...]) -> list[int]:
        if self.depth + 1 > MAX_DEPTH:
            self.error("commands nested too deeply")
            return []
        p = _Parser(text, self.st, self.depth + 1, origin, wrappers, self.cwd, self.function)
        return p.run()

    def scan_text(self, text: str) -> list[int]:
        """Parts run by the ``$(...)`` and backticks of a double-quote-like text."""
        if self.depth + 1 > MAX_DEPTH:
            self.error("commands nested too deeply")
            return []
        before = len(self.st.parts)
        p = _Parser(text, self.st, self.depth + 1, "substitution", self.wrappers, self.cwd,
                    self.function)
        w = _Word()
        i = 0
        while i < p.n:
            c = text[i]
            if c == "\\":
                i += 2
            elif c == "$":
                i = p.read_dollar(i, w, True)
            elif c == "`":
                i = p.read_backtick(i, w)
            else:
                i += 1
        return list(range(before, len(self.st.parts)))

    # -- lexing ---------------------------------------------------------------------------
    def skip_blanks(self) -> None:
        s, n, i = self.s, self.n, self.i
        while i < n:
            c = s[i]
            if c in _BLANKS:
                i += 1
            elif c == "\\" and i + 1 < n and s[i + 1] == "\n":
                i += 2
            elif c == "#":
                j = s.find("\n", i)
                i = n if j < 0 else j
            else:
                break
        self.i = i

    def skip_ws(self) -> None:
        while True:
            self.skip_blanks()
            if self.i < self.n and self.s[self.i] == "\n":
                self.newline()
            else:
                return

    def newline(self) -> None:
        self.i += 1
        if self.pending:
            self.read_heredocs()

    def read_heredocs(self) -> None:
        s, n = self.s, self.n
        pending, self.pending = self.pending, []
        for r in pending:
            lines: list[str] = []
            while self.i < n:
                j = s.find("\n", self.i)
                end = n if j < 0 else j
                line = s[self.i : end]
                self.i = n if j < 0 else j + 1
                if r.strip:
                    line = line.lstrip("\t")
                if line == r.target or line.rstrip("\r") == r.target:
                    break
                lines.append(line)
            body = "\n".join(lines) + ("\n" if lines else "")
            r.body = body
            if not r.quoted and ("$(" in body or "`" in body or "${" in body):
                ids = self.scan_text(body)
                if 0 <= r.owner < len(self.st.parts):
                    self.st.parts[r.owner].inputs.extend(ids)

    def peek_reserved(self) -> str | None:
        m = _RESERVED_RE.match(self.s, self.i)
        return m.group(1) if m else None

    def at_word(self, word: str) -> bool:
        s, i = self.s, self.i
        if not s.startswith(word, i):
            return False
        j = i + len(word)
        return j >= self.n or s[j] in _META

    def at_stop(self, stops: frozenset[str]) -> bool:
        s, i = self.s, self.i
        if ")" in stops and s[i] == ")":
            return True
        if ";;" in stops and (s.startswith(";;", i) or s.startswith(";&", i)):
            return True
        r = self.peek_reserved()
        return r is not None and r in stops

    def expect_word(self, word: str) -> bool:
        self.skip_ws()
        if self.i < self.n and self.peek_reserved() == word:
            self.i += len(word)
            return True
        self.error(f"missing {word!r}")
        return False

    # -- grammar --------------------------------------------------------------------------
    def parse_list(self, stops: frozenset[str]) -> list[int]:
        st = self.st
        st.nest += 1
        try:
            if st.nest > _MAX_NEST:
                self.error("commands nested too deeply")
                self.i = self.n
                return []
            ids: list[int] = []
            while True:
                self.skip_ws()
                if self.i >= self.n or self.at_stop(stops):
                    return ids
                ids += self.parse_and_or()
                self.skip_blanks()
                if self.i >= self.n:
                    return ids
                c = self.s[self.i]
                if c == "\n":
                    self.newline()
                elif (c == ";" and not self.s.startswith((";;", ";&"), self.i)) or (
                        c == "&" and not self.s.startswith(("&&", "&>"), self.i)):
                    self.i += 1
                else:
                    return ids
        finally:
            st.nest -= 1

    def parse_and_or(self) -> list[int]:
        ids = self.parse_pipeline()
        while True:
            self.skip_blanks()
            if self.s.startswith(("&&", "||"), self.i):
                op = self.s[self.i : self.i + 2]
                self.i += 2
                self.skip_ws()
                if self.i >= self.n:
                    self.error(f"expected a command after {op!r}")
                    return ids
                ids += self.parse_pipeline()
            else:
                return ids

    def parse_pipeline(self) -> list[int]:
        while True:
            self.skip_blanks()
            r = self.peek_reserved()
            if r == "!":
                self.i += 1
            elif r == "time":
                self.i += 4
                self.skip_blanks()
                if self.at_word("-p"):
                    self.i += 2
            else:
                break
        saved = self.cwd
        cur = self.parse_command()
        ids = list(cur)
        piped = False
        parts = self.st.parts
        while True:
            self.skip_blanks()
            s, i = self.s, self.i
            if i >= self.n or s[i] != "|" or s.startswith("||", i):
                break
            self.i += 2 if s.startswith("|&", i) else 1
            self.skip_ws()
            self.cwd = saved
            piped = True
            nxt = self.parse_command()
            for k in nxt:
                d = parts[k]
                d.stdin_from = tuple(dict.fromkeys((*d.stdin_from, *cur)))
            cur = nxt
            ids += nxt
        if piped:
            self.cwd = saved
        return ids

    def parse_command(self) -> list[int]:
        self.skip_blanks()
        s, i = self.s, self.i
        if i >= self.n:
            self.error("expected a command")
            return []
        c = s[i]
        if c in ";&|)\n":
            self.error(f"unexpected {c!r}")
            return []
        ids: list[int] = []
        r = self.peek_reserved()
        if r is not None and r in _TERMINATORS:
            self.error(f"unexpected {r!r}")
            self.i += len(r)
            return []
        if r in ("!", "time", "coproc"):
            self.i += len(r)
            return self.parse_command()
        if r == "{":
            self.i += 1
            ids = self.parse_list(frozenset({"}"}))
            self.expect_word("}")
        elif r == "if":
            ids = self.parse_if()
        elif r in ("while", "until"):
            self.i += len(r)
            ids = self.parse_list(frozenset({"do"}))
            if self.expect_word("do"):
                ids += self.parse_list(frozenset({"done"}))
                self.expect_word("done")
        elif r in ("for", "select"):
            ids = self.parse_for(r)
        elif r == "case":
            ids = self.parse_case()
        elif r == "function":
            self.i += len(r)
            self.skip_blanks()
            w = self.read_word()
            self.skip_blanks()
            m = _FUNC_PARENS_RE.match(s, self.i)
            if m:
                self.i = m.end()
            self.parse_function(w.text() if w else "")
            return []
        elif r == "[[":
            self.i += 2
            self.parse_cond()
        elif s.startswith("((", i):
            self.skip_arith()
        elif c == "(":
            self.i += 1
            saved = self.cwd
            ids = self.parse_list(frozenset({")"}))
            self.skip_ws()
            if self.i < self.n and self.s[self.i] == ")":
                self.i += 1
            else:
                self.error("missing ')'")
            self.cwd = saved
        else:
            return self.parse_simple()
        self.trailing_redirects()
        return ids

    def parse_if(self) -> list[int]:
        self.i += 2
        ids = self.parse_list(frozenset({"then"}))
        if not self.expect_word("then"):
            return ids
        ids += self.parse_list(frozenset({"elif", "else", "fi"}))
        while True:
            self.skip_ws()
            r = self.peek_reserved() if self.i < self.n else None
            if r == "elif":
                self.i += 4
                ids += self.parse_list(frozenset({"then"}))
                if not self.expect_word("then"):
                    return ids
                ids += self.parse_list(frozenset({"elif", "else", "fi"}))
            elif r == "else":
                self.i += 4
                ids += self.parse_list(frozenset({"fi"}))
                self.expect_word("fi")
                return ids
            elif r == "fi":
                self.i += 2
                return ids
            else:
                self.error("missing 'fi'")
                return ids

    def parse_for(self, word: str) -> list[int]:
        self.i += len(word)
        self.skip_blanks()
        ids: list[int] = []
        if self.s.startswith("((", self.i):
            self.skip_arith()
        else:
            if self.read_word() is None:
                self.error(f"missing variable after {word!r}")
                return ids
            self.skip_ws()
            if self.at_word("in"):
                self.i += 2
                while True:
                    self.skip_blanks()
                    if self.i >= self.n or self.s[self.i] in ";\n":
                        break
                    w = self.read_word()
                    if w is None:
                        self.error(f"unexpected {self.s[self.i]!r} in {word!r} list")
                        self.i += 1
                        break
        self.skip_blanks()
        if self.i < self.n and self.s[self.i] == ";":
            self.i += 1
        self.skip_ws()
        r = self.peek_reserved() if self.i < self.n else None
        if r == "{":
            self.i += 1
            ids += self.parse_list(frozenset({"}"}))
            self.expect_word("}")
        elif self.expect_word("do"):
            ids += self.parse_list(frozenset({"done"}))
            self.expect_word("done")
        return ids

    def parse_case(self) -> list[int]:
        self.i += 4
        self.skip_blanks()
        ids: list[int] = []
        if self.read_word() is None:
            self.error("missing word after 'case'")
            return ids
        self.skip_ws()
        if not self.at_word("in"):
            self.error("missing 'in' after 'case'")
            return ids
        self.i += 2
        s = self.s
        while True:
            self.skip_ws()
            if self.i >= self.n:
                self.error("missing 'esac'")
                return ids
            if self.peek_reserved() == "esac":
                self.i += 4
                return ids
            if s[self.i] == "(":
                self.i += 1
            while True:
                self.skip_blanks()
                if self.i >= self.n:
                    self.error("missing ')' in case pattern")
                    return ids
                c = s[self.i]
                if c == ")":
                    self.i += 1
                    break
                if c == "|":
                    self.i += 1
                    continue
                if self.read_word() is None:
                    self.error(f"unexpected {c!r} in case pattern")
                    self.i += 1
            ids += self.parse_list(frozenset({"esac", ";;"}))
            self.skip_ws()
            if s.startswith(";;&", self.i):
                self.i += 3
            elif s.startswith((";;", ";&"), self.i):
                self.i += 2
            elif self.i < self.n and self.peek_reserved() == "esac":
                self.i += 4
                return ids
            else:
                self.error("missing ';;' or 'esac'")
                return ids

    def parse_function(self, name: str) -> None:
        self.skip_ws()
        saved = self.function
        self.function = name
        if name and name not in self.st.functions:
            self.st.functions.append(name)
        try:
            if self.i >= self.n:
                self.error("missing function body")
                return
            self.parse_command()
        finally:
            self.function = saved

    def parse_cond(self) -> None:
        """``[[ ... ]]``: only the substitutions inside run."""
        s = self.s
        while True:
            self.skip_ws()
            if self.i >= self.n:
                self.error("missing ']]'")
                return
            if self.at_word("]]"):
                self.i += 2
                return
            if s[self.i] in "<>&|()!;":
                self.i += 1
                continue
            if self.read_word() is None:
                self.i += 1

    def arith_end(self, i: int) -> int | None:
        """End (exclusive) of ``((...))`` starting at ``i``, or ``None`` if it is not one."""
        s, n = self.s, self.n
        depth, j = 0, i
        while j < n:
            c = s[j]
            if c == "(":
                depth += 1
            elif c == ")":
                depth -= 1
                if depth == 1:
                    return j + 2 if s.startswith(")", j + 1) else None
            j += 1
        return None

    def skip_arith(self) -> None:
        end = self.arith_end(self.i)
        if end is None:
            self.error("unclosed '(('")
            self.i = self.n
            return
        inner = self.s[self.i + 2 : end - 2]
        self.i = end
        if "$(" in inner or "`" in inner:
            self.scan_text(inner)

    def trailing_redirects(self) -> None:
        reds: list[_RedirDraft] = []
        inputs: list[int] = []
        while True:
            self.skip_blanks()
            if not self.read_redirect(reds, inputs):
                break
        if reds:
            self.add([], [], [], reds, inputs, self.wrappers, self.origin)

    def parse_simple(self) -> list[int]:
        s = self.s
        argv: list[str] = []
        dyn: list[bool] = []
        assigns: list[str] = []
        reds: list[_RedirDraft] = []
        inputs: list[int] = []
        while True:
            self.skip_blanks()
            i = self.i
            if i >= self.n:
                break
            c = s[i]
            if c in "\n;|)":
                break
            if c == "&" and not s.startswith("&>", i):
                break
            if c == "(":
                m = _FUNC_PARENS_RE.match(s, i)
                if m and len(argv) == 1 and not assigns and not reds:
                    self.i = m.end()
                    self.parse_function(argv[0])
                    return []
                self.error("unexpected '('")
                break
            if not (c in "<>" and s.startswith("(", i + 1)) and self.read_redirect(reds, inputs):
                continue
            w = self.read_word()
            if w is None:
                self.error(f"unexpected {c!r}")
                self.i += 1
                continue
            inputs.extend(w.inputs)
            if not argv and w.is_assignment():
                assigns.append(w.text())
                name = w.text().split("=", 1)[0]
                if w.dyn or "[" in name or name.endswith("+"):
                    self.st.vars.pop(name.rstrip("+").split("[")[0], None)
                else:
                    self.st.vars[name] = w.text().split("=", 1)[1]
                continue
            texts = w.texts(s[i : self.i])
            argv.extend(texts)
            dyn.extend([w.dyn] * len(texts))
        if not argv and not assigns and not reds:
            self.error("expected a command")
            return []
        return self.finish(argv, dyn, assigns, reds, inputs, self.wrappers, self.origin)

    def read_redirect(self, reds: list[_RedirDraft], inputs: list[int]) -> bool:
        m = _REDIR_RE.match(self.s, self.i)
        if not m:
            return False
        fd_text, op = m.group(1), m.group(2)
        if fd_text is None and op in ("<", ">") and self.s.startswith("(", m.end()):
            return False
        self.i = m.end()
        fd = int(fd_text) if fd_text and fd_text.isdigit() and len(fd_text) < 6 else None
        self.skip_blanks()
        w = self.read_word()
        if w is None:
            self.error(f"missing target after {op!r}")
            return True
        target = " ".join(w.texts(""))
        if op in ("<<", "<<-"):
            r = _RedirDraft(op, target, fd, quoted=w.quoted)
            self.pending.append(r)
        else:
            r = _RedirDraft(op, target, fd)
            inputs.extend(w.inputs)
        reds.append(r)
        return True

    # -- words ----------------------------------------------------------------------------
    def read_word(self) -> _Word | None:
        s, n = self.s, self.n
        start = i = self.i
        w = _Word()
        while i < n:
            c = s[i]
            if c in "<>" and i == start and s.startswith("(", i + 1):
                i = self.read_procsub(i, w)
                continue
            if c in _META:
                if c == "(" and w.chars:
                    text = w.text()
                    if text and (text[-1] in "@!+*?" or _ASSIGN_RE.fullmatch(text)):
                        i = self.read_parens(i, w)
                        continue
                break
            if c == "\\":
                if i + 1 < n:
                    if s[i + 1] == "\n":
                        i += 2
                        continue
                    w.mark()
                    w.quoted = True
                    w.chars.append(s[i + 1])
                    i += 2
                else:
                    w.chars.append("\\")
                    i += 1
            elif c == "'":
                w.mark()
                w.quoted = True
                j = s.find("'", i + 1)
                if j < 0:
                    self.error("unclosed single quote")
                    w.chars.append(s[i + 1 :])
                    i = n
                else:
                    w.chars.append(s[i + 1 : j])
                    i = j + 1
            elif c == '"':
                i = self.read_dquote(i + 1, w)
            elif c == "$":
                i = self.read_dollar(i, w, False)
            elif c == "`":
                i = self.read_backtick(i, w)
            else:
                m = _PLAIN_RE.match(s, i)
                end = m.end() if m else i + 1
                w.chars.append(s[i:end])
                i = end
        self.i = i
        if i == start:
            return None
        return w

    def read_parens(self, i: int, w: _Word) -> int:
        """Extglob ``@(...)`` or an array assignment ``a=(...)``: kept verbatim."""
        s, n = self.s, self.n
        depth, j = 0, i
        while j < n:
            c = s[j]
            if c == "\\":
                j += 2
                continue
            if c == "(":
                depth += 1
            elif c == ")":
                depth -= 1
                if depth == 0:
                    break
            j += 1
        if j >= n:
            self.error("unclosed '('")
            j = n - 1
        inner = s[i + 1 : j]
        w.mark()
        w.chars.append(s[i : j + 1])
        if "$(" in inner or "`" in inner:
            w.inputs.extend(self.scan_text(inner))
            w.dyn = True
        return j + 1

    def read_dquote(self, i: int, w: _Word) -> int:
        s, n = self.s, self.n
        w.mark()
        w.quoted = True
        while i < n:
            c = s[i]
            if c == '"':
                return i + 1
            if c == "\\" and i + 1 < n:
                d = s[i + 1]
                if d == "\n":
                    i += 2
                elif d in '$`"\\':
                    w.chars.append(d)
                    i += 2
                else:
                    w.chars.append("\\")
                    i += 1
            elif c == "$":
                i = self.read_dollar(i, w, True)
            elif c == "`":
                i = self.read_backtick(i, w)
            else:
                m = _DQ_PLAIN_RE.match(s, i)
                end = m.end() if m else i + 1
                w.chars.append(s[i:end])
                i = end
        self.error("unclosed double quote")
        return n

    def read_dollar(self, i: int, w: _Word, in_dquote: bool) -> int:
        s, n = self.s, self.n
        nxt = s[i + 1] if i + 1 < n else ""
        if nxt == "(":
            if s.startswith("$((", i):
                end = self.arith_end(i + 1)
                if end is not None:
                    inner = s[i + 3 : end - 2]
                    w.mark()
                    w.dyn = True
                    w.chars.append(s[i:end])
                    if "$(" in inner or "`" in inner:
                        w.inputs.extend(self.scan_text(inner))
                    return end
            return self.read_subst(i, 2, w, "substitution", ")")
        if nxt == "{":
            return self.read_param(i, w, in_dquote)
        if nxt == "'" and not in_dquote:
            return self.read_ansi(i + 2, w)
        if nxt == '"' and not in_dquote:
            return self.read_dquote(i + 2, w)
        m = _NAME_RE.match(s, i + 1)
        if m:
            self.expand_name(m.group(0), s[i : m.end()], w, in_dquote)
            return m.end()
        if nxt and nxt in "0123456789@*#?$!-":
            w.mark()
            w.dyn = True
            w.chars.append(s[i : i + 2])
            return i + 2
        w.chars.append("$")
        return i + 1

    def expand_name(self, name: str, source: str, w: _Word, in_dquote: bool) -> None:
        w.mark()
        custom_ifs = "IFS" in self.st.vars
        if name == "IFS" and not in_dquote and not custom_ifs:
            w.splits.append(len(w.text()))
            return
        value = self.st.vars.get(name)
        if value is None or (custom_ifs and not in_dquote):  # splitting is unknown
            w.dyn = True
            w.chars.append(source)
            return
        if in_dquote:
            w.chars.append(value)
            return
        for k, piece in enumerate(_SPLIT_WS.split(value)):
            if k:
                w.splits.append(len(w.text()))
            w.chars.append(piece)

    def read_param(self, i: int, w: _Word, in_dquote: bool) -> int:
        s, n = self.s, self.n
        depth, j = 1, i + 2
        while j < n:
            c = s[j]
            if c == "\\":
                j += 2
                continue
            if c == "'" and not in_dquote:
                k = s.find("'", j + 1)
                j = n if k < 0 else k + 1
                continue
            if c == "{" and s[j - 1] == "$":
                depth += 1
            elif c == "}":
                depth -= 1
                if depth == 0:
                    break
            j += 1
        if j >= n:
            self.error("unclosed '${'")
            j = n - 1
        inner = s[i + 2 : j]
        if _NAME_RE.fullmatch(inner):
            self.expand_name(inner, s[i : j + 1], w, in_dquote)
            return j + 1
        w.mark()
        w.dyn = True
        w.chars.append(s[i : j + 1])
        if "$(" in inner or "`" in inner:
            w.inputs.extend(self.scan_text(inner))
        return j + 1

    def read_ansi(self, i: int, w: _Word) -> int:
        s, n = self.s, self.n
        w.mark()
        w.quoted = True
        while i < n and s[i] != "'":
            c = s[i]
            if c != "\\" or i + 1 >= n:
                w.chars.append(c)
                i += 1
                continue
            d = s[i + 1]
            i += 2
            if d in _ANSI:
                w.chars.append(_ANSI[d])
            elif d in "xuU01234567":
                if d == "x":
                    m = re.compile(r"[0-9A-Fa-f]{1,2}").match(s, i)
                    base = 16
                elif d == "u":
                    m = re.compile(r"[0-9A-Fa-f]{1,4}").match(s, i)
                    base = 16
                elif d == "U":
                    m = re.compile(r"[0-9A-Fa-f]{1,8}").match(s, i)
                    base = 16
                else:
                    m = re.compile(r"[0-7]{0,2}").match(s, i)
                    base = 8
                digits = (d if base == 8 else "") + (m.group(0) if m else "")
                if m:
                    i = m.end()
                code = int(digits, base) if digits else 0
                w.chars.append(chr(code) if 0 < code <= 0x10FFFF else "")
            elif d == "c" and i < n:
                w.chars.append(chr(ord(s[i]) & 0x1F))
                i += 1
            else:
                w.chars.append("\\" + d)
        if i >= n:
            self.error("unclosed $'...' quote")
            return n
        return i + 1

    def read_backtick(self, i: int, w: _Word) -> int:
        s, n = self.s, self.n
        j = i + 1
        raw: list[str] = []
        while j < n and s[j] != "`":
            if s[j] == "\\" and j + 1 < n:
                raw.append(s[j + 1] if s[j + 1] in "`$\\" else s[j : j + 2])
                j += 2
                continue
            raw.append(s[j])
            j += 1
        if j >= n:
            self.error("unclosed backquote")
            j = n - 1
        before = len(self.st.parts)
        self.sub_parse("".join(raw), "substitution", self.wrappers)
        w.mark()
        w.dyn = True
        w.chars.append(s[i : j + 1])
        w.inputs.extend(range(before, len(self.st.parts)))
        return j + 1

    def read_procsub(self, i: int, w: _Word) -> int:
        return self.read_subst(i, 2, w, "process-substitution", ")")

    def read_subst(self, i: int, skip: int, w: _Word, origin: str, close: str) -> int:
        before = len(self.st.parts)
        saved_cwd, saved_origin = self.cwd, self.origin
        self.origin = origin
        self.i = i + skip
        self.parse_list(frozenset({close}))
        self.skip_ws()
        if self.i < self.n and self.s[self.i] == close:
            self.i += 1
        else:
            self.error(f"unclosed {self.s[i : i + skip]!r}")
        self.cwd, self.origin = saved_cwd, saved_origin
        w.mark()
        w.dyn = True
        w.chars.append(self.s[i : self.i])
        w.inputs.extend(range(before, len(self.st.parts)))
        return self.i

    # -- commands -------------------------------------------------------------------------
    def finish(self, argv: list[str], dyn: list[bool], assigns: list[str],
               reds: list[_RedirDraft], inputs: list[int], wrappers: tuple[str, ...],
               origin: str) -> list[int]:
        u = _unwrap(argv, dyn)
        wraps = wrappers + tuple(u.wrappers)
        if u.script is not None:
            if u.script_dyn:
                self.dynamic(f"{u.script_via} runs a command string computed at run time")
            if reds:
                self.add([], [], assigns + u.assigns, reds, inputs, wraps, origin)
            return self.sub_parse(u.script, "string", wraps)
        idx = self.add(u.argv, u.expanded, assigns + u.assigns, reds, inputs, wraps, origin)
        if idx < 0 or not u.argv:
            return [idx] if idx >= 0 else []
        argv, dyn = u.argv, u.expanded
        if dyn[0]:
            self.dynamic(f"the command name {_short(argv[0])} is computed at run time")
            return [idx]
        prog = program_name(argv[0])
        if prog in ("cd", "pushd"):
            if prog == "pushd":
                self.dirs.append(self.cwd)
            self.change_dir(argv, dyn)
        elif prog == "popd":
            self.cwd = self.dirs.pop() if self.dirs else None
        elif prog in ("export", "declare", "typeset", "local", "readonly"):
            for a, d in zip(argv[1:], dyn[1:], strict=False):
                m = _ASSIGN_RE.match(a)
                if m and not d and not a[: m.end()].endswith("+="):
                    self.st.vars[a[: m.end() - 1]] = a[m.end() :]
        elif prog == "find":
            self.find_exec(argv, dyn, (*wraps, "find"))
        elif prog in _AWKS:
            self.awk_system(argv, dyn, (*wraps, prog))
        info = interpreter(argv)
        if info is not None:
            draft = self.st.parts[idx]
            draft.sink = info.kind if info.sink else None
            inner = (*wraps, prog)
            code_dyn = info.code_index is not None and dyn[info.code_index]
            if info.code is not None and info.kind == "python":
                self.run_python(info.code, code_dyn, inner, 0)
            elif info.code is not None and info.kind == "interp":
                if code_dyn:
                    self.dynamic(f"{prog} runs code computed at run time")
                for text in interp_commands(info.code):
                    self.sub_parse(text, "string", inner)
        return [idx]

    def change_dir(self, argv: list[str], dyn: list[bool]) -> None:
        k = 1
        while k < len(argv) and argv[k].startswith("-") and argv[k] != "-":
            k += 1
        if k >= len(argv):
            self.cwd = "~"
            return
        target, d = argv[k], dyn[k]
        home = target.startswith(("$HOME", "${HOME}"))
        rest = target[7:] if target.startswith("${HOME}") else target[5:]
        if target == "-" or (d and not (home and "$" not in rest)):
            self.cwd = None
        elif target.startswith(("/", "~")) or home:
            self.cwd = target
        elif self.cwd is None:
            self.cwd = None
        else:
            self.cwd = f"{self.cwd}/{target}" if self.cwd else target

    def find_exec(self, argv: list[str], dyn: list[bool], wraps: tuple[str, ...]) -> None:
        k = 1
        roots: list[str] = []
        while k < len(argv) and not argv[k].startswith(("-", "(", "!")):
            roots.append(argv[k])
            k += 1
        root = (roots[0] if roots else ".").rstrip("/") or "/"
        placeholder = "/{}" if root == "/" else f"{root}/{{}}"
        while k < len(argv):
            if argv[k] in ("-exec", "-execdir", "-ok", "-okdir"):
                j = k + 1
                while j < len(argv) and argv[j] not in (";", "+"):
                    j += 1
                cmd = [placeholder if a == "{}" else a for a in argv[k + 1 : j]]
                if cmd:
                    self.finish(cmd, dyn[k + 1 : j], [], [], [], wraps, "find-exec")
                k = j
            k += 1

    def awk_system(self, argv: list[str], dyn: list[bool], wraps: tuple[str, ...]) -> None:
        """``awk 'BEGIN { system("...") }'``: literal commands of the awk program."""
        k = 1
        while k < len(argv) and argv[k].startswith("-") and argv[k] != "--":
            if argv[k] in ("-f", "--file"):
                return
            k += 2 if argv[k] in ("-F", "-v") else 1
        if k < len(argv) and argv[k] == "--":
            k += 1
        if k >= len(argv):
            return
        if dyn[k]:
            self.dynamic(f"{wraps[-1]} runs a program computed at run time")
        for text in interp_commands(argv[k]):
            self.sub_parse(text, "string", wraps)
        if re.search(r'\|\s*"|\|&\s*"|"[^"]*"\s*\|&?\s*getline', argv[k]):
            for text in re.findall(r'"((?:\\.|[^"\\])*)"\s*\|&?\s*getline|'
                                   r'\|&?\s*"((?:\\.|[^"\\])*)"', argv[k]):
                for piece in text:
                    if piece:
                        self.sub_parse(piece, "string", wraps)

    def run_python(self, code: str, code_dyn: bool, wraps: tuple[str, ...], level: int) -> None:
        if code_dyn:
            self.dynamic("python runs code computed at run time")
        if level > MAX_DEPTH:
            self.error("python code nested too deeply")
            return
        cmds, dynamic = python_commands(code)
        for msg in dynamic:
            self.dynamic(msg)
        for kind, value in cmds:
            if kind == "shell":
                self.sub_parse(value, "python", wraps)
            elif kind == "argv":
                self.finish(list(value), [False] * len(value), [], [], [], wraps, "python")
            else:
                self.run_python(value, False, wraps, level + 1)


def _short(text: str, limit: int = 60) -> str:
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")


# --------------------------------------------------------------------------------------------
# Scripts reaching an interpreter on standard input
# --------------------------------------------------------------------------------------------
def _literal_output(d: _Draft) -> tuple[str, bool] | None:
    """What a part writes to its stdout, when that is fixed text (echo, printf, cat <<EOF)."""
    if not d.argv:
        return None
    prog = program_name(d.argv[0])
    args, dyn = d.argv[1:], d.expanded[1:]
    if prog == "echo":
        k = 0
        while k < len(args) and re.fullmatch(r"-[neE]+", args[k]):
            k += 1
        return " ".join(args[k:]) + "\n", any(dyn[k:])
    if prog == "printf" and args:
        fmt = args[0].replace("\\n", "\n").replace("\\t", "\t").replace("\\\\", "\\")
        for a in args[1:]:
            fmt = fmt.replace("%s", a, 1)
        return fmt, any(dyn)
    if prog == "cat" and not args:
        for r in d.redirects:
            if r.op in ("<<", "<<-", "<<<") and r.fd in (None, 0) and r.body is not None:
                return r.body, False
    return None


def _finalize(st: _State) -> None:
    k = 0
    while k < len(st.parts):
        d = st.parts[k]
        k += 1
        if d.sink not in ("shell", "python") or d.fed:
            continue
        d.fed = True
        texts: list[tuple[str, bool]] = []
        for r in d.redirects:
            if r.op in ("<<", "<<-", "<<<") and r.fd in (None, 0) and r.body is not None:
                texts.append((r.body, False))
        for j in d.stdin_from:
            got = _literal_output(st.parts[j])
            if got is not None:
                texts.append(got)
        if not texts:
            continue
        prog = program_name(d.argv[0])
        p = _Parser("", st, d.depth, "stdin", (*d.wrappers, prog), d.cwd, d.function)
        for text, dyn in texts:
            if dyn:
                p.dynamic(f"{prog} reads a script computed at run time")
            if d.sink == "shell":
                p.sub_parse(text, "stdin", p.wrappers)
            else:
                p.run_python(text, False, p.wrappers, d.depth)


# --------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_SCP_REMOTE = re.compile(r"^[^/]*:")
# program -> short options that take a value; every operand is read
_READ_ALL: dict[str, str] = {
    "cat": "", "tac": "", "head": "nc", "tail": "ncs", "less": "", "more": "", "nl": "bdfhilnsvw",
    "wc": "", "diff": "UCDFILSx", "cmp": "in", "sort": "kotST", "uniq": "fsw", "cut": "bcdf",
    "od": "AjNtw", "xxd": "clsgo", "hexdump": "enfs", "strings": "nt", "md5sum": "",
    "sha1sum": "", "sha224sum": "", "sha256sum": "", "sha384sum": "", "sha512sum": "",
    "b2sum": "", "cksum": "", "base64": "w", "base32": "w", "bat": "lHr", "view": "",
    "source": "", ".": "", "paste": "d", "join": "12jteo", "column": "stc", "fold": "w",
    "fmt": "w", "expand": "t", "zcat": "", "bzcat": "", "xzcat": "", "zless": "",
    "iconv": "ft", "split": "abCdln", "vim": "", "vi": "", "nano": "", "emacs": "",
}
# listing and metadata only: reads for the paths guard, but not of a file's content
_LIST_ONLY: dict[str, str] = {
    "ls": "IwT", "stat": "c", "file": "fmM", "du": "dBtX", "tree": "LPIo", "realpath": "",
    "readlink": "", "dirname": "", "basename": "",
}
# program -> short options taking a value; first operand is a pattern unless one is given
_PATTERN_FIRST: dict[str, tuple[str, str]] = {
    "grep": ("efmABCDd", "ef"), "egrep": ("efmABCDd", "ef"), "fgrep": ("efmABCDd", "ef"),
    "zgrep": ("efmABCDd", "ef"), "rg": ("efgmABCtTjrEM", "ef"), "ag": ("ABCGgm", ""),
    "ack": ("ABCm", ""), "awk": ("fFv", "f"), "gawk": ("fFv", "f"), "mawk": ("fFv", "f"),
    "sed": ("efl", "ef"),
}
_WRITE_ALL: dict[str, str] = {"tee": "", "touch": "dtr", "mkdir": "m", "truncate": "sr"}
_DELETE_ALL: dict[str, str] = {"rm": "", "rmdir": "", "unlink": "", "shred": "ns", "srm": ""}
_NO_PATHS = frozenset({"echo", "printf", "test", "[", "true", "false", ":", "export", "alias",
                       "which", "type", "cd", "pushd", "popd", "declare", "local", "set",
                       "unset", "readonly", "typeset", "read", "exit", "return", "ssh",
                       "kill", "sleep", "date", "whoami", "pwd", "env", "printenv"})

@dataclass(frozen=True, slots=True)
class FileOp:
    """One file a part touches: ``read``, ``write`` or ``delete``, the path as written, and
    whether the file's content is read (listing a directory or a link target is not)."""

    op: str
    path: str
    content: bool = False


def _getopt(args: Sequence[str], value_letters: str) -> tuple[list[int], set[str], dict[str, str]]:
    """Operand indices, option letters / long names seen, and option values."""
    operands: list[int] = []
    seen: set[str] = set()
    values: dict[str, str] = {}
    i, n = 0, len(args)
    while i < n:
        a = args[i]
        if a == "--":
            operands.extend(range(i + 1, n))
            break
        if a.startswith("--") and len(a) > 2:
            name, _eq, value = a.partition("=")
            seen.add(name)
            values[name] = value
        elif len(a) > 1 and a[0] == "-":
            for j in range(1, len(a)):
                ch = a[j]
                seen.add(ch)
                if ch in value_letters:
                    if j + 1 < len(a):
                        values[ch] = a[j + 1 :]
                    elif i + 1 < n:
                        i += 1
                        values[ch] = args[i]
                    break
        else:
            operands.append(i)
        i += 1
    return operands, seen, values


def looks_like_path(arg: str, cred_name: Callable[[str], bool] | None = None) -> bool:
    """A word that names a file: contains ``/``, starts with ``~`` or ``.``, or is a
    credential file name (``cred_name``); URLs, ``user@host:`` and ``KEY=value`` are not."""
    if not arg or any(c in arg for c in " \t\n") or _URL.match(arg):
        return False
    if re.match(r"^[\w.-]+@[\w.-]+:", arg) or re.match(r"^\w+=", arg):
        return False
    return "/" in arg or arg.startswith(("~", ".", "$HOME", "${HOME}")) or (
        cred_name is not None and cred_name(arg))


def file_ops(p: Part, cred_name: Callable[[str], bool] | None = None) -> list[FileOp]:
    """The files a part reads, writes or deletes, by what its program is known to do (and
    its redirections); for other programs, path-looking arguments are reads."""
    ops: list[FileOp] = []
    for r in p.redirects:
        if r.op in ("<<", "<<-", "<<<"):
            continue
        t = r.target
        if r.op in (">&", "<&") and (t.isdigit() or t in ("-", "")):
            continue
        if r.op in ("<", "<&"):
            ops.append(FileOp("read", t, True))
        elif r.op == "<>":
            ops += [FileOp("read", t, True), FileOp("write", t)]
        else:
            ops.append(FileOp("write", t))
    if not p.argv or p.expanded[:1] == (True,):
        return ops
    prog = p.program
    args = p.argv[1:]
    if prog in _READ_ALL or prog in _LIST_ONLY:
        content = prog in _READ_ALL
        letters = _READ_ALL.get(prog, _LIST_ONLY.get(prog, ""))
        operands, _seen, _values = _getopt(args, letters)
        ops += [FileOp("read", args[k], content) for k in operands]
    elif prog in _PATTERN_FIRST:
        letters, given = _PATTERN_FIRST[prog]
        operands, seen, values = _getopt(args, letters)
        if "f" in given and "f" in values:
            ops.append(FileOp("read", values["f"], True))
        explicit = bool(seen & set(given)) or bool(seen & {"--regexp", "--file", "--expression"})
        files = operands if explicit else operands[1:]
        in_place = prog == "sed" and ("i" in seen or "--in-place" in seen)
        ops += [FileOp("write", args[k]) if in_place else FileOp("read", args[k], True)
                for k in files]
    elif prog in _WRITE_ALL:
        operands, _seen, values = _getopt(args, _WRITE_ALL[prog])
        ops += [FileOp("write", args[k]) for k in operands]
        if "r" in values:
            ops.append(FileOp("read", values["r"]))
    elif prog in _DELETE_ALL:
        operands, _seen, _values = _getopt(args, _DELETE_ALL[prog])
        ops += [FileOp("delete", args[k]) for k in operands]
    elif prog in ("cp", "mv", "install", "ln", "rsync", "scp"):
        ops += _copy_ops(prog, args)
    elif prog in ("chmod", "chown", "chgrp"):
        ops += [FileOp("write", a) for a in perm_targets(prog, args)]
    elif prog == "dd":
        for a in args:
            if a.startswith("if="):
                ops.append(FileOp("read", a[3:], True))
            elif a.startswith("of="):
                ops.append(FileOp("write", a[3:]))
    elif prog in ("curl", "wget"):
        ops += download_ops(prog, args)
    elif prog == "find":
        k = 0
        while k < len(args) and not args[k].startswith(("-", "(", "!")):
            ops.append(FileOp("read", args[k]))
            k += 1
        if "-delete" in args:
            root = (args[0] if k else ".").rstrip("/")
            ops.append(FileOp("delete", f"{root}/{{}}"))
    elif prog not in _NO_PATHS:
        for a in args:
            value = a.partition("=")[2] if a.startswith("--") else a
            if not value.startswith("-") and looks_like_path(value, cred_name):
                ops.append(FileOp("read", value, True))
    return ops


def _copy_ops(prog: str, args: Sequence[str]) -> list[FileOp]:
    letters = {"cp": "St", "mv": "St", "install": "gmoSt", "ln": "St", "rsync": "eBfT",
               "scp": "cFiJlPoS"}[prog]
    operands, seen, values = _getopt(args, letters)
    files = [args[k] for k in operands]
    if prog in ("rsync", "scp"):
        files = [f for f in files if not _SCP_REMOTE.match(f)] if files else []
        remote_dst = bool(operands) and _SCP_REMOTE.match(args[operands[-1]]) is not None
        if remote_dst:
            return [FileOp("read", f, True) for f in files]
    target = values.get("t") or values.get("--target-directory")
    if prog == "install" and "d" in seen:
        return [FileOp("write", f) for f in files]
    if target:
        srcs, dst = files, target
    elif len(files) >= 2:
        srcs, dst = files[:-1], files[-1]
    else:
        return []
    src_op = "delete" if prog == "mv" else "read"
    out = [] if prog == "ln" else [FileOp(src_op, s, True) for s in srcs]
    out.append(FileOp("write", dst))
    return out


def perm_targets(prog: str, args: Sequence[str]) -> list[str]:
    """The files of ``chmod``/``chown``/``chgrp`` arguments (the mode or owner left out)."""
    rest = [a for a in args if not re.fullmatch(r"-[cfvRhHLP]+|--[a-z-]+(=.*)?", a)]
    if any(a.startswith("--reference") for a in args):
        return rest
    return rest[1:]


def is_recursive(args: Sequence[str]) -> bool:
    """``-r``/``-R``/``--recursive`` among the options."""
    for a in args:
        if a == "--":
            return False
        if a == "--recursive":
            return True
        if len(a) > 1 and a[0] == "-" and a[1] != "-" and ("r" in a or "R" in a):
            return True
    return False


def download_ops(prog: str, args: Sequence[str]) -> list[FileOp]:
    ops: list[FileOp] = []
    i = 0
    while i < len(args):
        a = args[i]
        name, eq, value = a.partition("=")
        if not eq and i + 1 < len(args) and (
            (prog == "curl" and a in ("-o", "--output", "-T", "--upload-file", "-K", "--config",
                                      "-d", "--data", "--data-binary", "--data-urlencode",
                                      "--data-raw", "--json", "-F", "--form", "-c",
                                      "--cookie-jar"))
            or (prog == "wget" and a in ("-O", "--output-document", "-o", "--output-file",
                                         "-i", "--input-file", "--post-file", "--body-file",
                                         "-a", "--append-output"))
        ):
            value, name = args[i + 1], a
            i += 1
        i += 1
        if prog == "curl":
            if name in ("-o", "--output", "-c", "--cookie-jar"):
                ops.append(FileOp("write", value))
            elif name in ("-T", "--upload-file", "-K", "--config"):
                ops.append(FileOp("read", value, True))
            elif name in ("-d", "--data", "--data-binary", "--data-urlencode", "--json"):
                if value.startswith("@"):
                    ops.append(FileOp("read", value[1:], True))
            elif name in ("-F", "--form"):
                m = re.search(r"=[@<]([^;]+)", value)
                if m:
                    ops.append(FileOp("read", m.group(1), True))
        elif name in ("-O", "--output-document", "-o", "--output-file", "-a",
                      "--append-output"):
            if value != "-":
                ops.append(FileOp("write", value))
        elif name in ("-i", "--input-file", "--post-file", "--body-file"):
            ops.append(FileOp("read", value, True))
    return ops



# --------------------------------------------------------------------------------------------
# Entry points
# --------------------------------------------------------------------------------------------
def _result(st: _State) -> ParseResult:
    _finalize(st)
    return ParseResult(
        tuple(d.freeze() for d in st.parts),
        bool(st.errors),
        st.errors[0] if st.errors else None,
        tuple(st.dynamic),
        tuple(st.functions),
    )


def _failed(exc: BaseException) -> ParseResult:
    if isinstance(exc, RecursionError):
        return ParseResult((), True, "command nested too deeply")
    return ParseResult((), True, f"command could not be analysed ({type(exc).__name__})")


@lru_cache(maxsize=4096)
def parse_command(command: str) -> ParseResult:
    """Every part the shell command string would run (never raises)."""
    try:
        st = _State()
        _Parser(command, st, 0, "command", (), "", None).run()
        return _result(st)
    except Exception as exc:  # fail closed: the guard turns this into a deny
        return _failed(exc)


@lru_cache(maxsize=1024)
def parse_argv(argv: tuple[str, ...]) -> ParseResult:
    """Every part an already-split argv would run: not shell-parsed, but unwrapped."""
    try:
        st = _State()
        if argv:
            p = _Parser("", st, 0, "command", (), "", None)
            p.finish(list(argv), [False] * len(argv), [], [], [], (), "command")
        return _result(st)
    except Exception as exc:
        return _failed(exc)


def _results(command: str | None, argv: Sequence[str] | None) -> list[ParseResult]:
    out = []
    if command is not None:
        out.append(parse_command(command))
    if argv is not None:
        out.append(parse_argv(tuple(argv)))
    return out


def programs_of(command: str | None, argv: Sequence[str] | None = None) -> tuple[str, ...]:
    """Basenames of every program (and wrapper) the command or argv would run, in order."""
    names: dict[str, None] = {}
    for result in _results(command, argv):
        for p in result.parts:
            for w in p.wrappers:
                names[w] = None
            if p.argv and not p.expanded[0]:
                names[p.program] = None
    return tuple(names)


def write_targets(command: str | None, argv: Sequence[str] | None = None) -> tuple[str, ...]:
    """Paths the command or argv would write or delete (redirections, ``tee``, ``cp``/``mv``
    destinations, ``rm``, ``sed -i``...). Relative paths stay relative to the action's cwd,
    joined with any ``cd`` before them; ``$HOME/`` is written ``~/``."""
    paths: dict[str, None] = {}
    for result in _results(command, argv):
        for p in result.parts:
            for op in file_ops(p):
                if op.op in ("write", "delete") and op.path and op.path != "-":
                    paths[_joined(op.path, p.cwd)] = None
    return tuple(paths)


def _joined(path: str, cwd: str | None) -> str:
    for var in ("$HOME", "${HOME}"):
        if path == var or path.startswith(var + "/"):
            path = "~" + path[len(var) :]
    if not cwd or path.startswith(("/", "~")):
        return path
    for var in ("$HOME", "${HOME}"):
        if cwd == var or cwd.startswith(var + "/"):
            cwd = "~" + cwd[len(var) :]
    return f"{cwd.rstrip('/')}/{path}"
