"""Find JavaScript/TypeScript, Go and Rust tests weakened so they pass, at the level of regular
expressions (no parser): the same patterns as :mod:`codor.claims.pytests`.

Comments and string contents are blanked first (offsets kept), so an ``expect(`` in a comment
or a string does not count and parentheses in strings do not upset block extents. A JS test is
an ``it(``/``test(`` call with a literal title, keyed by its enclosing ``describe`` titles and
its own; its block runs to the call's closing parenthesis. Assertions are ``expect``/``assert``
calls and ``.should``. Skips are ``.skip``/``.todo``/``x``-prefixed calls and ``this.skip()``;
``.only``/``f``-prefixed calls are ``tests.only_added``. Go: ``Test*`` functions,
``t.Error*``/``t.Fatal*``/``assert.``/``require.`` assertions, ``t.Skip*`` added. Rust:
``#[test]`` functions in any ``.rs`` file, ``assert*!`` macros, ``#[ignore]`` added.
"""

from __future__ import annotations

import bisect
import functools
import posixpath
import re
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
_JS_EXTS: Final = frozenset({"js", "jsx", "mjs", "cjs", "ts", "tsx", "mts", "cts"})
_STRING: Final = r"""|"(?:\\.|[^"\\\n])*"?|'(?:\\.|[^'\\\n])*'?"""
_LEXERS: Final = {
    "js": re.compile(r"//[^\n]*|/\*[\s\S]*?(?:\*/|$)" + _STRING
                     + r"|`(?:\\.|[^`\\])*`?|(?<=[(,=:\[!&|?{};])\s*/(?![/*])"
                       r"(?:\\.|\[(?:\\.|[^\]\\\n])*\]|[^/\\\n\[])+/"),
    "go": re.compile(r"//[^\n]*|/\*[\s\S]*?(?:\*/|$)" + _STRING + r"|`[^`]*`?"),
    "rs": re.compile(r"//[^\n]*|/\*[\s\S]*?(?:\*/|$)|r(#*)\"[\s\S]*?(?:\"\1|$)"
                     r"|\"(?:\\.|[^\"\\])*\"?|'(?:\\(?:u\{[^}]*\}|x..|.)|[^'\\\n])'"),
}
_CALL: Final = re.compile(r"(?<![\w.$])([xf]?)(it|test|describe|context|suite|specify)"
                          r"((?:\s*\.\s*\w+)*)\s*\(")
_JS_ASSERT: Final = re.compile(r"\bexpect\w*\s*[.(]|\bassert\w*\s*[.(]|\.should\b")
_LIT: Final = r"""(true|false|null|undefined|-?\d+(?:\.\d+)?|'[^'\n]*'|"[^"\n]*"|[\w.$]+)"""
_TRIVIAL: Final = re.compile(
    rf"expect\(\s*{_LIT}\s*\)\s*\.\s*(?:toBe|toEqual|toStrictEqual)\(\s*\1\s*\)"
    r"|expect\(\s*(?:true|1|'[^'\n]+'|\"[^\"\n]+\")\s*\)\s*\.\s*(?:toBeTruthy|toBeDefined)\(\s*\)"
    r"|expect\(\s*(?:false|0|null|undefined|''|\"\")\s*\)\s*\.\s*toBeFalsy\(\s*\)"
    r"|\bassert(?:\.ok)?\(\s*(?:true|1)\s*\)"
    rf"|\bassert\.(?:equal|strictEqual|deepEqual|deepStrictEqual)\(\s*{_LIT}\s*,\s*\2\s*\)")
_JS_VALUE: Final = re.compile(r"-?\d[\d_]*(?:\.\d+)?(?:e[+-]?\d+)?|true|false|null|undefined"
                              r"|'[^'\n]*'|\"[^\"\n]*\"|`[^`$]*`")
_MATCHER: Final = re.compile(r"\s*\.\s*(not\s*\.\s*)?(toBe|toEqual|toStrictEqual|toBeCloseTo"
                             r"|toHaveLength|toContain|toMatch)\s*\(")
_ASSERT_EQ: Final = re.compile(r"\bassert\s*\.\s*(equal|strictEqual|deepEqual|deepStrictEqual)"
                               r"\s*\(")
_GO_FUNC: Final = re.compile(r"^func\s+((?:Test|Fuzz)\w*)\s*\(\s*(\w+)\s+\*testing\.[TF]\s*\)",
                             re.M)
_RS_FN: Final = re.compile(r"((?:#!?\[[^\]]*\]\s*)+)(?:pub(?:\([^)]*\))?\s+)?(?:const\s+)?"
                           r"(?:async\s+)?(?:unsafe\s+)?fn\s+(\w+)")
_RS_TEST: Final = re.compile(r"#\[\s*(?:[\w:]+::)?(?:test|rstest|test_case)\b")
_RS_ASSERT: Final = re.compile(r"\b(?:debug_)?assert\w*!|should_panic")
_BRACKETS: Final = re.compile(r"[(){}]")
_OPENER: Final = {")": "(", "}": "{"}
_EXPECT: Final = re.compile(r"\bexpect\s*\(")
_SPACES: Final = re.compile(r"\s+")
_SPACE_QUOTE: Final = re.compile(r"\s*(['\"`])")
_SPACE_PAREN: Final = re.compile(r"\s*\(")
_JS_MODS: Final = frozenset({"skip", "only", "todo", "each", "concurrent", "skipIf", "runIf",
                             "fixme", "fails", "failing", "serial", "parallel", "sequential",
                             "describe"})
_JS_SKIPS: Final = frozenset({"skip", "todo", "skipIf", "fixme", "fails", "failing"})


@dataclass(slots=True)
class _Block:
    path: str
    key: str
    line: int
    asserts: int = 0
    body: str = ""
    source: str = ""
    todo: bool = False
    trivial: list[tuple[int, str]] = field(default_factory=list)
    expected: dict[str, list[tuple[str, int]]] = field(default_factory=dict)

    @property
    def where(self) -> str:
        return f"{self.path}::{self.key}"


@dataclass(slots=True)
class _File:
    blocks: dict[str, _Block] = field(default_factory=dict)
    marks: list[tuple[str, int, str]] = field(default_factory=list)  # pattern, line, text


def _lang(path: str) -> str | None:
    ext = posixpath.basename(path).rsplit(".", 1)[-1].lower()
    if ext in _JS_EXTS and is_test_path(path):
        return "js"
    if ext == "go" and path.endswith("_test.go"):
        return "go"
    return "rs" if ext == "rs" else None


def _blank(text: str) -> str:
    return re.sub(r"[^\n]", " ", text)


def _mask(text: str, lang: str) -> tuple[str, str]:
    """(``text`` with comments blanked, with comments and string contents blanked)."""
    keep, bare, last = [], [], 0
    for m in _LEXERS[lang].finditer(text):
        tok = m.group(0)
        keep.append(text[last:m.start()])
        bare.append(text[last:m.start()])
        if tok.startswith(("//", "/*")):
            keep.append(_blank(tok))
            bare.append(_blank(tok))
        else:
            keep.append(tok)
            lead = len(tok) - len(tok.lstrip()) + 1
            bare.append(tok[:lead] + _blank(tok[lead:-1]) + tok[-1] if len(tok) > lead else tok)
        last = m.end()
    keep.append(text[last:])
    bare.append(text[last:])
    return "".join(keep), "".join(bare)


@functools.lru_cache(maxsize=4)
def _closers(code: str) -> dict[int, int]:
    """Offsets of each ``(`` and ``{`` of ``code`` → that of the bracket closing it."""
    out: dict[int, int] = {}
    stacks: dict[str, list[int]] = {"(": [], "{": []}
    for m in _BRACKETS.finditer(code):
        ch = m.group(0)
        if ch in stacks:
            stacks[ch].append(m.start())
        elif stacks[_OPENER[ch]]:
            out[stacks[_OPENER[ch]].pop()] = m.start()
    return out


def _close(code: str, start: int) -> int:
    """Offset of the bracket closing the one at ``start`` (the end of ``code`` if none)."""
    return _closers(code).get(start, len(code))


def _args(bare: str, keep: str, open_at: int) -> tuple[list[str], int]:
    """The top-level arguments of the call whose ``(`` is at ``open_at``, and its end (none
    when the call is unclosed or longer than any assertion's)."""
    end = _close(bare, open_at)
    if end - open_at > 4000:
        return [], end
    out, depth, begin = [], 0, open_at + 1
    for i in range(open_at + 1, end):
        ch = bare[i]
        depth += 1 if ch in "([{" else -1 if ch in ")]}" else 0
        if ch == "," and depth == 0:
            out.append(keep[begin:i].strip())
            begin = i + 1
    out.append(keep[begin:end].strip())
    return [a for a in out if a], end


def _is_value(text: str) -> bool:
    if _JS_VALUE.fullmatch(text):
        return True
    if not text.startswith(("[", "{")):
        return False
    rest = re.sub(r"'[^'\n]*'|\"[^\"\n]*\"", "0", text)
    rest = re.sub(r"\b[A-Za-z_$][\w$]*\s*:|\b(?:true|false|null|undefined)\b", "0", rest)
    return bool(re.fullmatch(r"[\s\d.,\[\]{}+\-eE_]*", rest))


def _expected(bare: str, keep: str, lo: int, hi: int, lines: list[int]) -> dict[
        str, list[tuple[str, int]]]:
    out: dict[str, list[tuple[str, int]]] = {}
    for m in _EXPECT.finditer(bare[lo:hi]):
        subject, end = _args(bare, keep, lo + m.end() - 1)
        matcher = _MATCHER.match(bare, end + 1)
        if len(subject) != 1 or matcher is None:
            continue
        value, _ = _args(bare, keep, matcher.end() - 1)
        if len(value) == 1 and _is_value(value[0]) and not _is_value(subject[0]):
            negated = "not." if matcher.group(1) else ""
            key = f"expect({_squash(subject[0])}).{negated}{matcher.group(2)}"
            out.setdefault(key, []).append((value[0], _line(lines, lo + m.start())))
    for m in _ASSERT_EQ.finditer(bare[lo:hi]):
        args, _ = _args(bare, keep, lo + m.end() - 1)
        if len(args) >= 2 and _is_value(args[1]) and not _is_value(args[0]):
            key = f"assert.{m.group(1)}({_squash(args[0])}, ...)"
            out.setdefault(key, []).append((args[1], _line(lines, lo + m.start())))
    return out


def _squash(text: str) -> str:
    return _SPACES.sub("", text)


def _line(lines: list[int], offset: int) -> int:
    return bisect.bisect_right(lines, offset) + 1


class _TooComplex(Exception):
    """Blocks nested so deep that examining them would take too long: skip the file."""


def _spend(budget: list[int], size: int) -> None:
    budget[0] -= size
    if budget[0] < 0:
        raise _TooComplex


def _unique(key: str, seen: Counter[str]) -> str:
    seen[key] += 1
    return key if seen[key] == 1 else f"{key} #{seen[key]}"


def _js(path: str, keep: str, bare: str, lines: list[int]) -> _File:
    out, seen, budget = _File(), Counter[str](), [4 * len(bare) + 100_000]
    spans: list[tuple[int, str]] = []  # open describes: end, title
    for m in _CALL.finditer(bare):
        prefix, name, chain = m.group(1), m.group(2), re.sub(r"\s", "", m.group(3))
        mods = set(chain.split(".")[1:])
        if not mods <= _JS_MODS:
            continue
        open_at = m.end() - 1
        if mods & {"each", "skipIf", "runIf"} and not _SPACE_QUOTE.match(bare, open_at + 1):
            again = _SPACE_PAREN.match(bare, _close(bare, open_at) + 1)
            open_at = again.end() - 1 if again else open_at
        quote = _SPACE_QUOTE.match(bare, open_at + 1)
        title, end = "", -1
        if quote:
            end = bare.find(quote.group(1), quote.end())
            title = keep[quote.end():end] if end > 0 else ""
        line = _line(lines, m.start())
        label = f"{prefix}{name}{chain}({quote.group(1) + title + quote.group(1) if quote else ''})"
        text = label if quote else f"{prefix}{name}{chain}(...) {keep[m.start():m.start() + 60]}"
        if (prefix == "x" and quote) or mods & _JS_SKIPS:
            out.marks.append(("tests.skip_added", line, text))
        if (prefix == "f" and quote) or "only" in mods:
            out.marks.append(("tests.only_added", line, text))
        if not quote:
            continue
        close = _close(bare, open_at)
        while spans and spans[-1][0] < m.start():
            spans.pop()
        if name in ("describe", "context", "suite") or "describe" in mods:
            spans.append((close, title))
            continue
        key = _unique(" > ".join([t for _, t in spans] + [title]), seen)
        lo = end + 1 if end > 0 else quote.end()
        body = bare[lo:close]
        _spend(budget, len(body))
        out.blocks[key] = _Block(
            path, key, line, len(_JS_ASSERT.findall(body)), _squash(body),
            _squash(keep[lo:close])[:2000], "todo" in mods,
            [(_line(lines, lo + t.start()), t.group(0))
             for t in _TRIVIAL.finditer(keep[lo:close])],
            _expected(bare, keep, lo, close, lines))
    out.marks += [("tests.skip_added", _line(lines, m.start()), "this.skip()")
                  for m in re.finditer(r"\bthis\s*\.\s*skip\s*\(", bare)]
    return out


def _go(path: str, keep: str, bare: str, lines: list[int]) -> _File:
    out, budget = _File(), [4 * len(bare) + 100_000]
    for m in _GO_FUNC.finditer(bare):
        name, t = m.group(1), re.escape(m.group(2))
        start = bare.find("{", m.end())
        close = _close(bare, start) if start >= 0 else start
        _spend(budget, close - start)
        body, source = bare[start:close], _squash(keep[start:close])[:2000]
        asserts = re.findall(rf"\b{t}\.(?:Error|Errorf|Fatal|Fatalf|Fail|FailNow)\s*\("
                             r"|\b(?:assert|require)\.\w+\s*\(", body)
        out.blocks[name] = _Block(path, name, _line(lines, m.start()), len(asserts),
                                  _squash(body), source)
        out.marks += [("tests.skip_added", _line(lines, start + s.start()),
                       f"{name}: {s[0].rstrip('( ')}")
                      for s in re.finditer(rf"\b{t}\.Skip(?:f|Now)?\s*\(", body)]
    return out


def _rust(path: str, keep: str, bare: str, lines: list[int]) -> _File:
    out, seen, budget = _File(), Counter[str](), [4 * len(bare) + 100_000]
    for m in _RS_FN.finditer(bare):
        attrs, name = m.group(1), m.group(2)
        if not _RS_TEST.search(attrs):
            continue
        start = bare.find("{", m.end())
        close = _close(bare, start) if start >= 0 else start
        _spend(budget, close - start)
        body, source = bare[start:close], _squash(keep[start:close])[:2000]
        key = _unique(name, seen)
        out.blocks[key] = _Block(path, key, _line(lines, m.start(2)),
                                  len(_RS_ASSERT.findall(attrs + body)),
                                  _squash(body), source)
        out.marks += [("tests.skip_added", _line(lines, m.start() + i.start()),
                       f"{name}: #[ignore]") for i in re.finditer(r"#\[\s*ignore\b", attrs)]
    return out


def _analyse(path: str, text: str | None) -> _File | None:
    lang = _lang(path)
    if lang is None or text is None or len(text) > MAX_BYTES:
        return None
    keep, bare = _mask(text, lang)
    lines = [m.start() for m in re.finditer("\n", text)]
    try:
        return {"js": _js, "go": _go, "rs": _rust}[lang](path, keep, bare, lines)
    except _TooComplex:
        return None


def _match(before: list[_Block],
           after: list[_Block]) -> Iterator[tuple[_Block | None, _Block | None]]:
    """Pairs (before, after): same file and name, then moved, then renamed; None unmatched."""
    keys: tuple[Callable[[_Block], object], ...] = (
        lambda b: (b.path, b.key), lambda b: b.key, lambda b: b.key.rsplit(" > ", 1)[-1],
        lambda b: b.body)
    return pair(before, after, keys)


def _compare(b: _Block | None, a: _Block) -> Iterator[Finding]:
    trivial = new_lines(a.trivial, b.trivial if b else [])
    if trivial:
        yield finding("tests.trivial_assertion",
                       f"{a.where}: assertion that cannot fail: {trivial[0][1]}", a.path,
                       trivial[0][0])
    if b is not None and a.asserts < b.asserts:
        n = b.asserts - a.asserts
        yield finding("tests.assertion_removed", f"{a.where}: {n} assertion{'s' * (n > 1)} "
                       f"removed ({b.asserts} → {a.asserts})", a.path, a.line)
    elif a.asserts == 0 and not a.todo and (b is None or a.body != b.body):
        yield finding("tests.no_assertion", f"{a.where}: {'new' if b is None else 'changed'}"
                       " test has no assertion", a.path, a.line)
    for key, values in a.expected.items() if b is not None else ():
        old = Counter(v for v, _ in b.expected.get(key, [])) if b else Counter()
        gone, extra = list((old - Counter(v for v, _ in values)).elements()), Counter(
            v for v, _ in values) - old
        for value, line in values:
            if extra[value] > 0 and gone:
                extra[value] -= 1
                yield finding("tests.expected_changed", f"{a.where}: expected value changed "
                               f"{gone.pop(0)} → {value} ({key})", a.path,
                               line)


def detect(changes: Sequence[Change]) -> list[Finding]:
    """Tests weakened in the changed JS/TS, Go and Rust test files of ``changes``."""
    before: list[_Block] = []
    after: list[_Block] = []
    findings: list[Finding] = []
    gone_files: set[str] = set()
    for change in changes:
        if _lang(change.path) is None:
            continue
        old = _analyse(change.path, change.before) if change.before is not None else _File()
        new = _analyse(change.path, change.after) if change.after is not None else _File()
        if old is None or new is None:
            continue
        if change.after is None:
            gone_files.add(change.path)
        before += old.blocks.values()
        after += new.blocks.values()
        for pid in ("tests.skip_added", "tests.only_added"):
            marks = [(line, text) for p, line, text in new.marks if p == pid]
            for line, text in new_lines(marks, [(ln, t) for p, ln, t in old.marks if p == pid]):
                what = "skip added" if pid == "tests.skip_added" else ".only added"
                findings.append(finding(pid, f"{change.path}:{line}: {what} ({text})",
                                         change.path, line))
    pairs = list(_match(before, after))
    for b, a in pairs:
        if a is not None:
            findings += _compare(b, a)
    lost: dict[str, list[_Block]] = {}
    for b, a in pairs:
        if a is None and b is not None:
            lost.setdefault(b.path, []).append(b)
    for path, blocks in lost.items():
        if path in gone_files:
            names = ", ".join(b.key for b in blocks[:5]) + (", ..." if len(blocks) > 5 else "")
            findings.append(finding("tests.deleted", f"{path}: test file deleted with "
                                     f"{len(blocks)} test{'s' * (len(blocks) > 1)} ({names})",
                                     path, blocks[0].line))
        else:
            findings += [finding("tests.deleted", f"{b.where}: test deleted", path, b.line)
                         for b in blocks]
    return findings
