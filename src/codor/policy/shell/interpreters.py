"""Interpreters: how a shell, Python or another interpreter gets its program, and the commands
that literal Python (read with :mod:`ast`) or perl/ruby/node/php code would run."""

from __future__ import annotations

import ast
import re
import shlex
import warnings
from functools import lru_cache
from typing import Any

from codor.policy.shell.model import Interp, program_name

__all__ = ["SHELLS", "interp_commands", "interpreter", "is_python", "python_commands"]

SHELLS = frozenset({"sh", "bash", "rbash", "zsh", "dash", "ksh", "ksh93", "mksh", "pdksh",
                    "oksh", "ash", "yash", "posh", "fish", "csh", "tcsh"})
_PYTHON_RE = re.compile(r"(?:python|pypy)(?:\d+(?:\.\d+)*)?[dmu]?")
# interpreter -> (short options giving inline code, short options taking a value)
_INTERP_FLAGS: dict[str, tuple[str, str]] = {
    "perl": ("eE", ""), "ruby": ("e", ""), "node": ("ep", "r"), "nodejs": ("ep", "r"),
    "php": ("r", "cdf"), "lua": ("e", "l"), "Rscript": ("e", ""), "pwsh": ("c", ""),
    "powershell": ("c", ""), "deno": ("", ""), "bun": ("e", ""), "tclsh": ("", ""),
}
_AWKS = frozenset({"awk", "gawk", "mawk", "nawk", "busybox-awk"})


def is_python(prog: str) -> bool:
    return _PYTHON_RE.fullmatch(prog) is not None


_SHELL_FLAGS = ("shell", "c", "oO")
_PYTHON_FLAGS = ("python", "c", "WXm")
_OTHER_FLAGS = {prog: ("interp", *flags) for prog, flags in _INTERP_FLAGS.items()}


def _flags(prog: str) -> tuple[str, str, str] | None:
    """(kind, options giving inline code, options taking a value) of an interpreter (no
    name is both a shell, a Python and another interpreter, so the order does not matter)."""
    if prog in SHELLS:
        return _SHELL_FLAGS
    flags = _OTHER_FLAGS.get(prog)
    if flags is not None:
        return flags
    if prog.startswith(("python", "pypy")) and is_python(prog):
        return _PYTHON_FLAGS
    return None


def interpreter(argv: tuple[str, ...] | list[str]) -> Interp | None:
    """Classify an interpreter command (``None`` when ``argv[0]`` is not one)."""
    if not argv:
        return None
    flags = _flags(program_name(argv[0]))
    if flags is None:
        return None
    if len(argv) <= 3 and max(map(len, argv)) <= 64:  # ``bash``, ``python3 -``... repeat
        return _interpreter_short(tuple(argv), flags)
    return _interpreter(argv, flags)


@lru_cache(maxsize=1024)
def _interpreter_short(argv: tuple[str, ...], flags: tuple[str, str, str]) -> Interp:
    return _interpreter(argv, flags)


def _interpreter(argv: tuple[str, ...] | list[str], flags: tuple[str, str, str]) -> Interp:
    kind, code_flags, arg_flags = flags
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
