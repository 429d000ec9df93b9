"""The phrase rules of :mod:`codor.claims.extract`: :func:`candidates` runs them on one
:class:`~codor.claims.sentence.Sentence` — tests (pass, fail, not run, added), checks (build,
lint, type check), commands, files, commits, manual checks, vague words and attribution —
honouring negation and hedges; :mod:`codor.claims.extract` merges and places what they find.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from typing import Final

from codor.claims import phrases as P
from codor.claims.claim import ClaimKind, Scope
from codor.claims.filerefs import file_claims
from codor.claims.pathkinds import is_test_path
from codor.claims.segment import Unit
from codor.claims.sentence import Candidate, Sentence, classify

__all__ = ["candidates"]

_WORDS = re.compile(r"[\w'-]+|[✓✗:|]")
_COUNT_BEFORE = re.compile(rf"(?:^|[\s(])(?P<n>{P.NUM})\s+(?:[\w-]+\s+){{0,2}}$")
_GAP_COUNT = re.compile(r"[\s:(|=-]*(?P<n>\d{1,6})\b")
_SUBSET_AFTER = re.compile(r"[\s,]*(?:for|in(?!\s+\d)|under|from|covering|of|on)\b")
_EXCEPT = re.compile(rf"[^;.]{{0,40}}?\bexcept(?:\s+for)?\s+(?:(?P<n>{P.NUM_A})\b)?")
_NAMED_TESTS = re.compile(r"\s*(?:`[^`]+`|[\w./-]*test_\w+|[\w./-]*\.(?:test|spec)\.\w+)"
                          r"(?:\s*(?:,|and|&)\s*(?:`[^`]+`|[\w./-]*test_\w+))*")
_NOT_BEFORE = re.compile(r"\bnot\s+(?:all|every|any|the)?\s*(?:\w+\s+)?$")
_NARROW = re.compile(r"(?:^|\s)(?:-k|-t|--grep|-run|--testnamepattern|--filter)(?:\s|=)|::|"
                     r"\S\.(?:py|[jt]sx?|go|rs|rb)\b")
_CMD_LIST = re.compile(r"[\s,()]*(?:(?:and|then|&&?|plus|as\s+well\s+as|followed\s+by)\s*)?"
                       r"(?:then\s+)?[\s(]*")
_CMD_GAP_STOP = frozenset(["and", "then", "but", "so", "which", "that", "fixed", "updated",
                           "added", "changed", "removed", "created", "wrote", "found"])
_DETERMINERS: Final = frozenset(["the", "a", "an", "my", "our", "your", "these", "those", "its",
                                 "their"])
_KIND_OF: Final[dict[str, ClaimKind]] = {
    "test": "tests.pass", "lint": "lint.pass", "typecheck": "typecheck.pass",
    "types": "typecheck.pass", "build": "build.pass", "lint2": "lint.pass"}
_NEXT_WORD = re.compile(r"`?\s+([a-z]+)")
#: Words that may follow a commit id; an all-digit "id" followed by another word is a count
#: ("pushed 1000000 rows").
_AFTER_ID: Final = frozenset(["on", "to", "and", "in", "into", "onto", "at", "with", "for", "as",
                              "from", "of", "which", "that", "then"])
_MORE_SHAS = re.compile(r"`?\s*(?:,\s*(?:and\s+)?|and\s+|&\s*)`?([0-9a-f]{7,40})(?![0-9a-z])")
_PAREN_CMD = re.compile(r"\s*\(\s*`([^`\n]+)`\s*\)")
_LEAD_MARK = re.compile(r"[\s|]*([✓✗])\s*")
_AFTER_SUBJECT = re.compile(r"\s*(?:$|[(:—–|-])")
_TESTY = re.compile(r"test|spec|suite|pass|fail|✓|✗")
_CHECKY = re.compile(r"`|lint|type|build|compil|mypy|ruff|tsc|eslint|pyright|flake8|clippy|vet|"
                     r"biome|prettier|rubocop|shellcheck|jest|vitest|mocha|pytest|unittest|"
                     r"cargo|npm|yarn|pnpm|rspec|phpunit")
_MANUAL_KEYS: Final = frozenset(k for rx in (*P.BROWSER, *P.ATTRIBUTION, P.VAGUE)
                                for k in P.GUARDS[rx])


def _scope(pre: str, noun: str, gap: str) -> Scope:
    words = _WORDS.findall(pre)[-4:]
    if any(w in P.ALL_WORDS for w in words):
        return "all"
    if noun in ("test", "spec", "test case", "test-case") or _SUBSET_AFTER.match(gap):
        return "subset"
    for w in reversed(words):
        if w in _DETERMINERS or P.number(w) is not None:
            continue
        return "all" if w in P.STOP_WORDS else "subset"
    return "all"


def _tests(t: Sentence, out: list[Candidate], unit: Unit) -> None:
    low, live = t.low, t.live
    runner, rcmd = t.runner()
    narrow: Scope | None = "subset" if rcmd and _NARROW.search(rcmd) else None

    def fail_ok(a: int, b: int) -> bool:
        return not t.negated(a, b) and P.FAIL_SUPPRESS.search(
            low, t.window(a), min(t.clause_end(b), b + 200)) is None

    def passing(a: int, b: int) -> bool:
        return not t.negated(a, b) and P.PASS_SUPPRESS.search(low, t.window(a), b) is None

    for rx in P.NOT_RUN:
        for m in t.scan(rx, t.cond):
            groups = m.groupdict()
            obj = groups.get("obj") or (f"`{groups['cmd']}`" if groups.get("cmd") else "")
            found = classify(obj.strip("`")) if obj else None
            if obj.startswith("`") and (found is None or found[0] != "test"):
                continue
            label = found[1] if found is not None and found[0] == "test" else None
            out.append(Candidate(m.start(), "tests.not_run", runner=label))
    for rx in P.FAIL_COUNT:
        for m in t.scan(rx, live):
            n = P.number(m["n"])
            if n and fail_ok(m.start(), m.end()):
                out.append(Candidate(m.start(), "tests.fail", count=n, runner=runner, command=rcmd))
    for m in t.scan(P.RATIO, live):
        n, total = int(m["n"]), int(m["t"])
        if total > 0 and n <= total and passing(m.start(), m.end()):
            out.append(Candidate(m.start(), "tests.pass", count=n, scope="all", runner=runner,
                                 command=rcmd) if n == total else
                       Candidate(m.start(), "tests.fail", count=total - n, runner=runner,
                                 command=rcmd))
    for m in t.scan(P.TESTS_FAIL, live):
        if fail_ok(m.start(), m.end()):
            out.append(Candidate(m.start(), "tests.fail", runner=runner, command=rcmd))
    for m in t.scan(P.SUBJECT_FAIL, live):
        subj = t.norm[m.start("subj"):m.end("subj")]
        found = classify(subj.strip("`"))
        zero = m["gap"].split()[-1:] in (["0"], ["no"], ["zero"])
        if found is not None and found[0] == "test" and not zero and fail_ok(m.start(), m.end()):
            out.append(Candidate(m.start(), "tests.fail", runner=found[1],
                                 command=subj.strip("`") if subj.startswith("`") else None))
    for m in t.scan(P.TESTS_PASS, live):
        a, b = m.start(), m.end()
        ws = t.window(a)
        if t.negated(a, b):
            if P.NEG.search(m["gap"]) or _NOT_BEFORE.search(t.cond, ws, a):
                out.append(Candidate(a, "tests.fail", runner=runner, command=rcmd))
            continue
        if P.PASS_SUPPRESS.search(low, ws, b):
            continue
        ex = _EXCEPT.match(low, b)
        if ex is not None:
            n = P.number(ex["n"]) if ex["n"] else None
            named = _NAMED_TESTS.match(low, ex.end()) if n is None else None
            if named is not None and named.group().strip():
                n = len(re.findall(r"`[^`]+`|[\w./-]*test_\w+|[\w./-]*\.(?:test|spec)\.\w+",
                                   named.group()))
            out.append(Candidate(a, "tests.fail", count=n, runner=runner, command=rcmd))
            continue
        pre = low[ws:a]
        cm = _COUNT_BEFORE.search(pre) or _GAP_COUNT.match(m["gap"])
        out.append(Candidate(a, "tests.pass", count=P.number(cm["n"]) if cm else None,
                             scope=narrow or _scope(pre, m["noun"], m["gap"]), runner=runner,
                             command=rcmd))
    for rx in P.PASS_COUNT:
        for m in t.scan(rx, live):
            if passing(m.start(), m.end()):
                out.append(Candidate(m.start(), "tests.pass", count=P.number(m["n"] or ""),
                                     scope=narrow or "all", runner=runner, command=rcmd))
    for m in t.scan(P.NEW_TESTS, live):
        if not t.negated(m.start(), m.end()):
            out.append(Candidate(m.start(), "tests.added", count=P.number(m["n"])))
    for m in t.scan(P.TESTS_ADDED, live):
        if t.negated(m.start(), m.end()) or (
                m["v"] in ("add", "write", "create") and not _at_item_start(t, unit, m.start())):
            continue
        in_files = tuple(p for a, _, p, cmd in t.paths()
                         if a > m.end() and not cmd and is_test_path(p))
        out.append(Candidate(m.start(), "tests.added", count=P.number(m["n"] or ""),
                             paths=in_files))


def _at_item_start(t: Sentence, unit: Unit, pos: int) -> bool:
    return unit.item and unit.first and not t.low[:pos].strip(" ✓✗-:#>[]()|\"'")


def _subject(t: Sentence, out: list[Candidate], s: re.Match[str], pos: int,
             named: str | None = None) -> None:
    if s["cmd"] is not None:
        cmd = t.norm[s.start("cmd"):s.end("cmd")]
        found = classify(cmd)
        if found is None:
            return
        if found[0] == "test":
            out.append(Candidate(pos, "tests.pass", runner=found[1], command=cmd,
                                 scope="subset" if _NARROW.search(cmd) else "all"))
        else:
            out.append(Candidate(pos, _KIND_OF[found[0]], command=cmd))
    elif s["tool"] is not None:
        word = t.norm[s.start("tool"):s.end("tool")]
        found = classify(word)
        if found is None:
            return
        if found[0] == "test":
            out.append(Candidate(pos, "tests.pass", runner=found[1], scope="all"))
        else:
            out.append(Candidate(pos, _KIND_OF[found[0]], command=word))
    else:
        group = s.lastgroup or ""
        found = classify(named) if named else None
        command = named if found is not None and _KIND_OF[found[0]] == _KIND_OF[group] else None
        if group in _KIND_OF:
            out.append(Candidate(pos, _KIND_OF[group], command=command))


def _checks(t: Sentence, out: list[Candidate]) -> None:
    live, low = t.live, t.low
    lead = _LEAD_MARK.match(low)
    if lead is not None:  # "✅ `ruff check .`", "✅ Lint", "❌ `pytest`"
        s = P.SUBJ_ONE.match(low, lead.end())
        if s is not None and _AFTER_SUBJECT.match(low, s.end()):
            if lead.group(1) == "✓":
                _subject(t, out, s, lead.start(1))
            elif s["cmd"] is not None or s["tool"] is not None:
                found = classify(s.group().strip("`"))
                if found is not None and found[0] == "test":
                    out.append(Candidate(lead.start(1), "tests.fail", runner=found[1]))
    for rx in (P.CHECK_CODE, P.CHECK, P.CHECK_NOUN, P.VERB_FIRST):
        for m in t.scan(rx, live):
            if not t.negated(m.start(), m.end()):
                named = _PAREN_CMD.match(low, m.end())  # "type checks pass (`pyright`)"
                command = t.norm[named.start(1):named.end(1)] if named else None
                for s in P.SUBJ_ONE.finditer(t.low, m.start("subj")):
                    if s.start() >= m.end("subj"):
                        break
                    _subject(t, out, s, m.start(), command)
    for rx in (P.NO_ERRORS, P.COMPILES):
        for m in t.scan(rx, live):
            if not t.negated(m.start(), m.end()) and m.lastgroup in _KIND_OF:
                out.append(Candidate(m.start(), _KIND_OF[m.lastgroup]))


def _commands(t: Sentence, out: list[Candidate], unit: Unit) -> None:
    spans, low = t.spans, t.low
    starts = [a for a, _, _ in spans]
    for m in t.scan(P.RAN_VERB, t.live):
        if t.negated(m.start(), m.end()):
            continue
        i, prev, pos = bisect_left(starts, m.end()), m.end(), m.start()
        while i < len(spans):
            a, b, content = spans[i]
            between = low[prev:a]
            if prev == m.end():
                words = between.split()
                ok = len(words) <= 5 and not _CMD_GAP_STOP.intersection(words) and not any(
                    c in between for c in ".;!?")
            else:
                ok = _CMD_LIST.fullmatch(between) is not None
            if not ok:
                break
            out.append(Candidate(pos, "command.ran", command=content))
            i, prev, pos = i + 1, b, a
    for m in t.scan(P.RAN_PASSIVE, t.live):
        if not t.negated(m.start(), m.end()):
            command = t.norm[m.start("cmd"):m.end("cmd")]
            out.append(Candidate(m.start(), "command.ran", command=command))
    if unit.section == "commands" and unit.item and unit.first and spans:
        a, _, content = spans[0]
        if not low[:a].strip(" ✓✗-:#>[]()|") and (classify(content) or " " in content):
            out.append(Candidate(a, "command.ran", command=content))


def _other(t: Sentence, out: list[Candidate], unit: Unit) -> None:
    low, live, cond = t.low, t.live, t.cond
    paths = t.paths()
    if paths:
        for pos, kind, path in file_claims(
                low, live, paths, negated=t.negated,
                at_item_start=lambda p: _at_item_start(t, unit, p), section=unit.section,
                listed=unit.item and unit.first, table=unit.kind == "row" and unit.file_table):
            out.append(Candidate(pos, kind, paths=(path,)))
            if kind == "file.created" and is_test_path(path):
                out.append(Candidate(pos, "tests.added", paths=(path,)))
    for m in t.scan(P.COMMIT, live):
        sha = m["sha"]
        after = _NEXT_WORD.match(low, m.end())
        counted = sha.isdigit() and after is not None and after.group(1) not in _AFTER_ID
        if (not counted and not t.negated(m.start(), m.end()) and
                P.COMMIT_SUPPRESS.search(low, t.window(m.start()), m.start("sha")) is None):
            out.append(Candidate(m.start(), "git.commit", commit=sha))
            more = _MORE_SHAS.match(live, m.end())
            while more is not None:  # "committed abc1234 and def5678"
                out.append(Candidate(more.start(1), "git.commit", commit=more.group(1)))
                more = _MORE_SHAS.match(live, more.end())
    if t.present.isdisjoint(_MANUAL_KEYS):
        return
    for rx in P.BROWSER:
        out.extend(Candidate(m.start(), "browser.verified") for m in t.scan(rx, live)
                   if not t.negated(m.start(), m.end()))
    for rx in P.ATTRIBUTION:
        out.extend(Candidate(m.start(), "attribution") for m in t.scan(rx, cond)
                   if not t.negated(m.start(), m.end()))
    out.extend(Candidate(m.start(), "vague") for m in t.scan(P.VAGUE, cond)
               if not t.negated(m.start(), m.end()))


def candidates(t: Sentence, unit: Unit) -> list[Candidate]:
    """Everything the rules find in one unit, unmerged, in no particular order."""
    found: list[Candidate] = []
    if not t.low:
        return found
    if _TESTY.search(t.low):
        _tests(t, found, unit)
    if _CHECKY.search(t.low):
        _checks(t, found)
    if t.spans:
        _commands(t, found, unit)
    _other(t, found, unit)
    return found
