"""Find Python tests weakened so they pass, by comparing the syntax trees of each changed test
file before and after the session.

Tests (``test*`` functions, and ``test*`` methods of classes, mixins included) are
matched by qualified name (``Class.method``) within a file, then across the changed files (a
test moved to another file), then by the similarity of their code (a test renamed), so moving
or renaming a test is not a deletion. For each matched or new test: assertions removed, an
assertion that cannot fail added (``assert True``, ``assert x == x``, a body reduced to
``pass``), a skip or xfail added, no assertion at all, a literal expected value edited; and
tests left unmatched at the start are deleted. Assertions are ``assert`` statements and calls
of ``assert*`` methods or functions, ``pytest.raises``/``warns``/``fail``, ``self.fail`` and
functions or methods of the same file that assert; a test calling a ``check_*``, ``verify_*``,
``expect_*`` or ``ensure_*`` function is not reported as having no assertion. A file that does
not parse on either side, or is over 1 MB, is skipped.
"""

from __future__ import annotations

import ast
import re
import warnings
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Final

from codor.claims.change import Change
from codor.claims.finding import Finding
from codor.claims.pathkinds import is_test_path
from codor.claims.testpairs import finding, new_lines, pair

__all__ = ["detect"]

MAX_BYTES: Final = 1_000_000
_SKIP_MARKS: Final = frozenset({"skip", "skipif", "xfail", "skipIf", "skipUnless",
                                "expectedFailure"})
_SKIP_CALLS: Final = frozenset({"skip", "xfail", "pytest.skip", "pytest.xfail", "self.skipTest"})
_ASSERT_CALLS: Final = frozenset({"raises", "warns", "deprecated_call", "fail"})
_EQUAL_CALLS: Final = frozenset({"assertEqual", "assertEquals", "assertIs",
                                 "assertAlmostEqual", "assertNotEqual"})
_CHECKERS: Final = ("check_", "verify_", "expect_", "ensure_")
FuncNode = ast.FunctionDef | ast.AsyncFunctionDef


@dataclass(slots=True)
class _Test:
    path: str
    qualname: str
    line: int
    asserts: int = 0
    trivial: list[tuple[int, str]] = field(default_factory=list)
    skips: list[tuple[int, str]] = field(default_factory=list)
    expected: dict[str, list[tuple[str, int, str]]] = field(default_factory=dict)
    body: str = ""
    source: str = ""
    empty: bool = False
    checks: bool = False  # calls a check_*/verify_*/expect_* helper from elsewhere

    @property
    def where(self) -> str:
        return f"{self.path}::{self.qualname.replace('.', '::')}"


@dataclass(slots=True)
class _Module:
    tests: dict[str, _Test]
    skips: dict[str, list[tuple[int, str]]]  # "" (the module) or a class's qualname → skips


def _dotted(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    if isinstance(node, ast.Call):
        return _dotted(node.func)
    return ""


def _call_name(call: ast.Call) -> str:
    return _dotted(call.func).rsplit(".", 1)[-1]


def _marks(node: ast.AST) -> list[tuple[int, str]]:
    """Skip/xfail markers anywhere in a decorator or a ``pytestmark`` value."""
    out = []
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name | ast.Attribute):
            parts = _dotted(sub).split(".")
            if parts[-1] in _SKIP_MARKS and (len(parts) == 1 or parts[-2] in ("mark",
                                                                              "unittest")):
                out.append((sub.lineno, ast.unparse(sub)))
    return out


def _is_skip(node: ast.AST) -> bool:
    """``pytest.skip(...)``, ``pytest.xfail(...)``, ``self.skipTest(...)``, ``raise SkipTest``."""
    if isinstance(node, ast.Call):
        return _dotted(node.func) in _SKIP_CALLS
    return isinstance(node, ast.Raise) and node.exc is not None and _dotted(node.exc).endswith(
        "SkipTest")


def _skip_calls(nodes: Sequence[ast.stmt]) -> list[tuple[int, str]]:
    return [(getattr(sub, "lineno", 0), ast.unparse(sub)[:80])
            for stmt in nodes for sub in ast.walk(stmt) if _is_skip(sub)]


def _literal(node: ast.expr) -> str | None:
    if isinstance(node, ast.Call) and _call_name(node) == "approx" and node.args:
        node = node.args[0]
    if isinstance(node, ast.Name | ast.Attribute | ast.Call):
        return None
    try:
        return _canon(ast.literal_eval(node))
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None


def _canon(value: object) -> str:
    """``repr`` with sets and dicts in a fixed order, so reordering is not an edit."""
    if isinstance(value, set | frozenset):
        return "{" + ", ".join(sorted(_canon(v) for v in value)) + "}"
    if isinstance(value, dict):
        return "{" + ", ".join(sorted(f"{_canon(k)}: {_canon(v)}" for k, v in value.items())) + "}"
    if isinstance(value, list | tuple):
        inner = ", ".join(_canon(v) for v in value)
        return f"[{inner}]" if isinstance(value, list) else f"({inner}{',' * (len(value) == 1)})"
    return repr(value)


def _truthy(node: ast.expr) -> bool:
    """Whether an assertion of ``node`` cannot fail."""
    if isinstance(node, ast.Constant):
        return bool(node.value)
    if isinstance(node, ast.Tuple | ast.List):
        return bool(node.elts)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return isinstance(node.operand, ast.Constant) and not node.operand.value
    if isinstance(node, ast.BoolOp) and isinstance(node.op, ast.Or):
        return any(_truthy(v) for v in node.values)
    if isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(
            node.ops[0], ast.Eq | ast.Is | ast.GtE | ast.LtE):
        return _same_pure(node.left, node.comparators[0])
    return False


def _same_pure(a: ast.expr, b: ast.expr) -> bool:
    """The same expression, without calls (``f() is f()`` tests a cache, it can fail)."""
    return type(a) is type(b) and not any(isinstance(n, ast.Call) for n in ast.walk(a)) and (
        ast.dump(a) == ast.dump(b))


def _trivial_call(call: ast.Call) -> bool:
    name, args = _call_name(call), call.args
    if name in ("assertTrue", "assert_") and args:
        return _truthy(args[0])
    if name == "assertFalse" and args:
        return isinstance(args[0], ast.Constant) and not args[0].value
    if name == "assertIsNone" and args:
        return isinstance(args[0], ast.Constant) and args[0].value is None
    return name in _EQUAL_CALLS - {"assertNotEqual"} and len(args) >= 2 and _same_pure(
        args[0], args[1])


def _expectation(node: ast.AST, src: _Source) -> tuple[str, str, ast.expr] | None:
    """(subject, literal, literal node) of an assertion comparing something to a literal."""
    if isinstance(node, ast.Assert) and isinstance(node.test, ast.Compare) and len(
            node.test.ops) == 1:
        pair, op = (node.test.left, node.test.comparators[0]), type(node.test.ops[0]).__name__
    elif isinstance(node, ast.Call) and _call_name(node) in _EQUAL_CALLS and len(node.args) >= 2:
        pair, op = (node.args[0], node.args[1]), _call_name(node)
    else:
        return None
    for subject, expected in (pair, pair[::-1]):
        value = _literal(expected)
        if value is not None and _literal(subject) is None:
            return op + ":" + re.sub(r"\s+", "", src.of(subject)), value, expected
    return None


def _is_assertion(node: ast.AST, helpers: frozenset[str]) -> bool:
    if isinstance(node, ast.Assert):
        return True
    if not isinstance(node, ast.Call):
        return False
    name = _call_name(node)
    return name.lower().startswith("assert") or name in _ASSERT_CALLS or name in helpers


def _statements(node: FuncNode) -> list[ast.stmt]:
    body = node.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
            and isinstance(body[0].value.value, str):
        body = body[1:]
    return body


class _Source:
    """Source text of nodes, cheaper than :func:`ast.unparse` (offsets count UTF-8 bytes)."""

    def __init__(self, text: str) -> None:
        self.lines = re.split(rb"\r\n|\r|\n", text.encode("utf-8", "surrogatepass"))

    def of(self, first: ast.AST, last: ast.AST | None = None) -> str:
        last = last or first
        start, c0 = getattr(first, "lineno", 0) - 1, getattr(first, "col_offset", 0)
        end, c1 = (getattr(last, "end_lineno", None) or start + 1) - 1, getattr(
            last, "end_col_offset", None)
        if start == end:
            return self.lines[start][c0:c1].decode("utf-8", "replace") if start < len(
                self.lines) else ""
        lines = [self.lines[start][c0:], *self.lines[start + 1:end], self.lines[end][:c1]] if (
            end < len(self.lines)) else []
        return "\n".join(line.decode("utf-8", "replace").strip() for line in lines)


def _analyse(path: str, qualname: str, node: FuncNode, helpers: frozenset[str],
             src: _Source) -> _Test:
    body = _statements(node)
    text = src.of(body[0], body[-1]) if body else ""
    test = _Test(path, qualname, node.lineno, body=text, source=text[:2000])
    test.empty = all(isinstance(s, ast.Pass) or (isinstance(s, ast.Expr) and isinstance(
        s.value, ast.Constant) and s.value.value is Ellipsis) for s in body)
    test.skips = [m for d in node.decorator_list for m in _marks(d)]
    for stmt in body:
        for sub in ast.walk(stmt):
            if _is_skip(sub):
                test.skips.append((getattr(sub, "lineno", 0), src.of(sub)[:80]))
            if isinstance(sub, ast.Call) and _call_name(sub).startswith(_CHECKERS):
                test.checks = True
            if not isinstance(sub, ast.Assert | ast.Call) or not _is_assertion(sub, helpers):
                continue
            test.asserts += 1
            shown = src.of(sub)[:100]
            if (isinstance(sub, ast.Assert) and _truthy(sub.test)) or (
                    isinstance(sub, ast.Call) and _trivial_call(sub)):
                test.trivial.append((sub.lineno, shown))
            expectation = _expectation(sub, src)
            if expectation is not None:
                key, value, _ = expectation
                test.expected.setdefault(key, []).append((value, sub.lineno, shown))
    return test


def _helpers(tree: ast.Module) -> frozenset[str]:
    """Names of the module's non-test functions that assert (directly or through another)."""
    funcs, todo = [], list(tree.body)
    while todo:
        node = todo.pop()
        if isinstance(node, ast.ClassDef):
            todo += node.body
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and not node.name.startswith(
                "test"):
            funcs.append(node)
    names: frozenset[str] = frozenset()
    for _ in range(4):
        found = frozenset(f.name for f in funcs if any(
            _is_assertion(s, names) for s in ast.walk(f)))
        if found == names:
            break
        names = found
    return names


def _parse(path: str, text: str | None) -> _Module | None:
    if text is None or len(text) > MAX_BYTES:
        return None
    try:
        with warnings.catch_warnings():  # "\d" in a string: a warning, or an error under -W
            warnings.simplefilter("ignore")
            tree = ast.parse(text)
        helpers = _helpers(tree)
        module = _Module({}, {"": []})
        top = [s for s in tree.body if not isinstance(s, ast.FunctionDef | ast.AsyncFunctionDef
                                                       | ast.ClassDef)]
        module.skips[""] = _skip_calls(top) + [m for s in top if _pytestmark(s)
                                               for m in _marks(s)]
        _collect(path, tree.body, "", helpers, module, _Source(text))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    return module


def _pytestmark(stmt: ast.stmt) -> bool:
    targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target] if isinstance(
        stmt, ast.AnnAssign | ast.AugAssign) else []
    return any(isinstance(t, ast.Name) and t.id == "pytestmark" for t in targets)


def _collect(path: str, body: list[ast.stmt], prefix: str, helpers: frozenset[str],
             module: _Module, src: _Source) -> None:
    for node in body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith(
                "test"):
            module.tests[prefix + node.name] = _analyse(path, prefix + node.name, node, helpers,
                                                        src)
        elif isinstance(node, ast.ClassDef):  # any class: contract mixins hold tests too
            module.skips[prefix + node.name] = [m for d in node.decorator_list
                                                for m in _marks(d)]
            _collect(path, node.body, f"{prefix}{node.name}.", helpers, module, src)


def _match(before: list[_Test],
           after: list[_Test]) -> Iterator[tuple[_Test | None, _Test | None]]:
    """Pairs (before, after): same file and name, then moved, then renamed; None unmatched."""
    keys: tuple[Callable[[_Test], object], ...] = (
        lambda t: (t.path, t.qualname), lambda t: t.qualname,
        lambda t: t.qualname.rsplit(".", 1)[-1], lambda t: t.body)
    return pair(before, after, keys)


def _compare(b: _Test | None, a: _Test) -> Iterator[Finding]:
    for line, text in new_lines(a.skips, b.skips if b else []):
        yield finding("tests.skip_added", f"{a.where}: skip added ({text})", a.path, line)
    if b is not None and not b.empty and a.empty:
        lost = f" ({b.asserts} assertions removed)" if b.asserts else ""
        yield finding("tests.trivial_assertion", f"{a.where}: test body reduced to pass{lost}",
                       a.path, a.line)
        return
    trivial = new_lines(a.trivial, b.trivial if b else [])
    if trivial:
        yield finding("tests.trivial_assertion",
                       f"{a.where}: assertion that cannot fail: {trivial[0][1]}", a.path,
                       trivial[0][0])
    if b is not None and a.asserts < b.asserts:
        n = b.asserts - a.asserts
        yield finding("tests.assertion_removed",
                       f"{a.where}: {n} assertion{'s' * (n > 1)} removed "
                       f"({b.asserts} → {a.asserts})", a.path, a.line)
    elif a.asserts == 0 and not a.checks and (b is None or a.body != b.body):
        state = "new" if b is None else "changed"
        yield finding("tests.no_assertion", f"{a.where}: {state} test has no assertion",
                       a.path, a.line)
    if b is not None:
        yield from _expected_changed(b, a)


def _expected_changed(b: _Test, a: _Test) -> Iterator[Finding]:
    for key, values in a.expected.items():
        old = Counter(v for v, _, _ in b.expected.get(key, []))
        new = Counter(v for v, _, _ in values)
        gone, extra = list((old - new).elements()), new - old
        for value, line, text in values:
            if extra[value] > 0 and gone:
                extra[value] -= 1
                yield finding("tests.expected_changed",
                               f"{a.where}: expected value changed {_short(gone.pop(0))} → "
                               f"{_short(value)} ({text})", a.path, line)


def _short(text: str) -> str:
    return text if len(text) <= 60 else text[:57] + "..."


def _deleted(tests: list[_Test], gone_files: dict[str, int]) -> Iterator[Finding]:
    by_file: dict[str, list[_Test]] = {}
    for t in tests:
        by_file.setdefault(t.path, []).append(t)
    for path, lost in by_file.items():
        if path in gone_files:
            names = ", ".join(t.qualname for t in lost[:5]) + (", ..." if len(lost) > 5 else "")
            total = gone_files[path]
            what = f"with {total} test{'s' * (total > 1)}" if len(lost) == total else (
                f"and {len(lost)} of its {total} tests are nowhere else")
            yield finding("tests.deleted", f"{path}: test file deleted {what} ({names})", path,
                           lost[0].line)
        else:
            for t in lost:
                yield finding("tests.deleted", f"{t.where}: test deleted", path, t.line)


def detect(changes: Sequence[Change]) -> list[Finding]:
    """Tests weakened in the changed Python test files of ``changes``."""
    before: list[_Test] = []
    after: list[_Test] = []
    findings: list[Finding] = []
    gone_files: dict[str, int] = {}  # deleted test file → how many tests it had
    for change in changes:
        if not (change.path.endswith(".py") and is_test_path(change.path)):
            continue
        old = _parse(change.path, change.before) if change.before is not None else _Module(
            {}, {})
        new = _parse(change.path, change.after) if change.after is not None else _Module({}, {})
        if old is None or new is None:
            continue
        if change.after is None:
            gone_files[change.path] = len(old.tests)
        before += old.tests.values()
        after += new.tests.values()
        for scope, skips in new.skips.items():
            label = f"{change.path}::{scope.replace('.', '::')}" if scope else change.path
            for line, text in new_lines(skips, old.skips.get(scope, [])):
                findings.append(finding("tests.skip_added", f"{label}: skip added ({text})",
                                         change.path, line))
    pairs = list(_match(before, after))
    for b, a in pairs:
        if a is not None:
            findings += _compare(b, a)
    findings += _deleted([b for b, a in pairs if a is None and b is not None], gone_files)
    return findings
