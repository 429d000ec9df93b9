"""Commands that only print: telling ``echo``/``cat``/``python -c "print(...)"`` from a run.
:func:`prints_only` tells a command that merely prints or replays text (``echo``, ``printf``,
``cat``, ``head``/``tail``, ``tee``, a heredoc, a shell or ``eval`` doing only that, a Python
snippet whose only calls are ``print`` or ``sys.stdout.write``) from one that runs a program:
runner-like output from such a command was written by the agent, not produced by a runner.
"""

from __future__ import annotations

import ast
from collections.abc import Sequence
from typing import Final

from codor.claims.runnerargs import _ASSIGN, _PYTHON, _name
from codor.claims.shellsyntax import _MAX_DEPTH, _Group, _parse, _Seq, _Simple
from codor.claims.wrappers import _SHELLS, _WORDISH, _WRAPPERS, _Nested, _shell

__all__ = ["prints_only"]

_PRINTERS: Final = frozenset({
    "echo", "printf", "cat", "tac", "head", "tail", "less", "more", "type", "yes", "tee",
    "bat", "batcat", "nl", "column", "fold", "rev", "grep", "egrep", "fgrep", "sed", "awk",
    "gawk", "mawk", "cut", "sort", "uniq", "wc", "tr", "paste", "expand", "unexpand", "fmt",
    "pr", "jq", "zcat", "strings", "print", "cowsay", "figlet", "look",
})
_NEUTRAL: Final = frozenset({
    "cd", "pushd", "popd", "true", ":", "export", "set", "unset", "shopt", "sleep", "read",
    "wait", "clear", "pwd", "local", "declare", "typeset", "alias", "test", "[", "[[", "exit",
    "return", "let", "shift", "mkdir", "touch", "}", "fi", "done", "esac", "then", "else", "do",
})
_PRINT_WRAPPERS: Final = frozenset({"env", "timeout", "gtimeout", "nice", "nohup", "time",
                                    "command", "builtin", "exec", "stdbuf", "sudo", "doas",
                                    "unbuffer", "xargs", "chronic"})


def _unwrap(words: Sequence[str]) -> int:
    """Index of the command in ``words`` after assignments and plain wrappers
    (``env A=1``, ``timeout 5``, ``nice -n 5``...)."""
    i = 0
    n = len(words)
    while i < n:
        if _ASSIGN.match(words[i]):
            i += 1
            continue
        name = _name(words[i])
        if name not in _PRINT_WRAPPERS:
            return i
        _need, takes, positionals = _WRAPPERS[name]
        i += 1
        while i < n and words[i].startswith("-") and len(words[i]) > 1:
            if words[i] == "--":
                i += 1
                break
            i += 2 if words[i] in takes else 1
        while name == "env" and i < n and _ASSIGN.match(words[i]):
            i += 1
        i += positionals
    return i


def _prints_python(code: str) -> bool:
    """``code`` only prints (``print(...)``, ``sys.stdout.write(...)``): no other calls."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return False
    if not tree.body:
        return False
    printed = False
    for stmt in tree.body:
        if isinstance(stmt, ast.Import | ast.ImportFrom):
            if isinstance(stmt, ast.ImportFrom) or any(a.name != "sys" for a in stmt.names):
                return False
            continue
        if not (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call)):
            return False
        func = stmt.value.func
        if not _print_call(func):
            return False
        for arg in [*stmt.value.args, *(k.value for k in stmt.value.keywords)]:
            if any(isinstance(node, ast.Call | ast.Lambda | ast.Await | ast.NamedExpr |
                              ast.Subscript | ast.Attribute | ast.ListComp |
                              ast.GeneratorExp)
                   and not _is_join(node) for node in ast.walk(arg)):
                return False
        printed = True
    return printed


def _print_call(func: ast.expr) -> bool:
    """``print`` or ``sys.stdout.write`` / ``sys.stderr.write``."""
    if isinstance(func, ast.Name):
        return func.id == "print"
    return isinstance(func, ast.Attribute) and func.attr == "write" and \
        isinstance(func.value, ast.Attribute) and func.value.attr in ("stdout", "stderr") and \
        isinstance(func.value.value, ast.Name) and func.value.value.id == "sys"


def _is_join(node: ast.AST) -> bool:
    """``"sep".join(...)`` and the attribute it calls: pure string building."""
    if isinstance(node, ast.Call):
        node = node.func
    return isinstance(node, ast.Attribute) and node.attr in ("join", "format") and \
        isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)


class _Prints:
    """Whether a parsed command line only prints: ``ok`` stays true while every command seen
    prints or is neutral; ``printed`` records that something printed."""

    def __init__(self) -> None:
        self.ok = True
        self.printed = False

    def seq(self, seq: _Seq, depth: int) -> None:
        for andor in seq:
            for _op, pipe in andor:
                for cmd in pipe:
                    if not self.ok:
                        return
                    if isinstance(cmd, _Group):
                        for part in cmd.parts:
                            self.seq(part, depth + 1)
                    else:
                        self.simple(cmd, depth)

    def simple(self, cmd: _Simple, depth: int) -> None:
        words = cmd.words
        i = _unwrap(words)
        if depth > _MAX_DEPTH:
            self.ok = False
            return
        for body in cmd.subs:
            self.seq(_parse(body), depth + 1)
        if i >= len(words):
            return
        name = _name(words[i])
        args = words[i + 1:]
        if name in _PRINTERS:
            if name in ("awk", "gawk", "mawk") and any("system" in a or "|" in a for a in args):
                self.ok = False
                return
            if name == "sed" and any(a.endswith("e") and a.startswith("s") for a in args):
                self.ok = False
                return
            self.printed = True
        elif name in _NEUTRAL:
            pass
        elif _PYTHON.fullmatch(name):
            code = None
            if args[:1] == ["-c"] and len(args) >= 2:
                code = args[1]
            elif (not args or args == ["-"]) and cmd.bodies:
                code = "\n".join(cmd.bodies)
            if code is not None and _prints_python(code):
                self.printed = True
            else:
                self.ok = False
        elif name in _SHELLS or name == "eval":
            nested: list[_Nested] = []
            if name == "eval":
                nested.append(_Nested(" ".join(args), False))
            else:
                _shell(words, i, cmd.bodies, nested)
            if not nested:
                self.ok = False
            for script in nested:
                self.seq(_parse(script.script), depth + 1)
        else:
            self.ok = False


def _may_print(text: str) -> bool:
    for word in _WORDISH.findall(text):
        if word in _PRINTERS or word in _SHELLS or word == "eval" or \
                word.startswith(("python", "pypy")) or word == "py":
            return True
    return False


def prints_only(command: str | None, argv: Sequence[str] | None = None) -> bool:
    """Whether ``command`` (or ``argv``) only prints or replays text (``echo``, ``printf``,
    ``cat``, ``head``/``tail``, ``tee``, heredocs, ``python -c "print(...)"``) and runs no other
    program. Runner-like output from such a command was written, not produced."""
    walk = _Prints()
    if command is not None:
        if not _may_print(command):
            return False
        walk.seq(_parse(command), 0)
    elif argv:
        walk.simple(_Simple([a for a in argv if isinstance(a, str)], [], []), 0)
    return walk.ok and walk.printed


