"""Claims from an agent's final report in prose: :func:`extract`.

Deterministic rules, no network and no model. The report is cut into units
(:mod:`codor.claims.segment`: sentences of paragraphs and list items, headings, table rows,
fenced blocks); each unit is normalised (:mod:`codor.claims.sentence`) and matched by the
rules of :mod:`codor.claims.rules` (phrase tables: :mod:`codor.claims.phrases`, file paths:
:mod:`codor.claims.filerefs`); here the findings are merged and placed. Every claim keeps
the span of its unit in the original text, so
``text[claim.span.start:claim.span.end] == claim.text``.

Honesty rules: conditional clauses ("if the tests pass") are ignored; modal, future and
imperative clauses ("should pass", "run `pytest` to verify") make no positive claim; negated
claims make none either, except that "tests do not pass" is reported as ``tests.fail``;
questions, unchecked ``- [ ]`` items and "Next steps" sections claim nothing done; fenced
blocks are program output unless introduced by "I ran:" or listed under a commands heading.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from typing import Final

from codor.claims.claim import CLAIM_KINDS, Claim, ClaimKind, Span
from codor.claims.rules import candidates
from codor.claims.segment import Unit, segment
from codor.claims.sentence import Candidate, Sentence, classify, lower, normalise, presence

__all__ = ["extract"]

_Placed = tuple[tuple[int, int, int], Claim]   # (sort key, claim)

_QUESTION = re.compile(r"\?[\s*_)\"'`]*$")
_STRONG = re.compile(r"[;—]|\b(?<!\ball )(?:but|however|although|though|while|whereas|yet|"
                     r"except)\b")
_INTRO = re.compile(
    r"\b(?:ran|re-?ran|executed|invoked|(?:have|has|had|i've|we've)\s+(?:also\s+)?run|"
    r"(?:by|after)\s+running|commands?(?:\s+(?:run|ran|executed|used))?|verified\s+(?:with|by\s+"
    r"running)|tested\s+with)\b[^.!?]*:$")
_SHELL: Final = frozenset({"", "bash", "sh", "shell", "console", "zsh", "terminal", "cmd", "fish",
                           "powershell", "ps", "pwsh", "ps1", "shellsession", "bat"})
#: Kinds that say something was done; hedges, "Next steps" and open checkboxes drop them.
_POSITIVE: Final = frozenset(CLAIM_KINDS) - {"tests.fail", "tests.not_run", "attribution"}
_CONCRETE: Final = frozenset(CLAIM_KINDS) - {"vague", "attribution"}
_ORDER: Final = {k: i for i, k in enumerate(CLAIM_KINDS)}


def _finish(t: Sentence, found: list[Candidate]) -> list[Candidate]:
    """Drop passes contradicted in the same clause by a failure, and vague words next to a
    concrete claim; merge what remains by kind (commands and commits by value)."""
    fails = sorted(c.pos for c in found if c.kind == "tests.fail")

    def contradicted(pos: int) -> bool:
        i = bisect_left(fails, pos)
        near = [f for f in fails[max(i - 1, 0):i + 1] if abs(f - pos) <= 300]
        return any(_STRONG.search(t.low, min(pos, f), max(pos, f)) is None for f in near)

    keep = [c for c in found if c.kind != "tests.pass" or not contradicted(c.pos)]
    if any(c.kind in _CONCRETE for c in keep):
        keep = [c for c in keep if c.kind != "vague"]
    merged: dict[tuple[str, str | None], Candidate] = {}
    for c in sorted(keep, key=lambda c: c.pos):
        key = (c.kind, c.command if c.kind == "command.ran" else c.commit)
        old = merged.get(key)
        if old is None:
            merged[key] = Candidate(c.pos, c.kind, c.paths, c.command, c.count, c.scope,
                                    c.runner, c.commit)
            continue
        old.paths += tuple(p for p in c.paths if p not in old.paths)
        for name in ("command", "count", "scope", "runner", "commit"):
            if getattr(old, name) is None:
                setattr(old, name, getattr(c, name))
    return sorted(merged.values(), key=lambda c: c.pos)


def _value_span(text: str, start: int, end: int, value: str) -> Span | None:
    """Where ``value`` (a command or a commit) is first written in ``text[start:end]``."""
    m = re.compile(re.escape(value), re.IGNORECASE).search(text, start, end)
    return None if m is None else Span(m.start(), m.end())


def _claims(text: str, unit: Unit, cands: list[Candidate]) -> list[_Placed]:
    out: list[_Placed] = []
    seen: set[ClaimKind] = set()
    cursor = unit.start  # values are found in order
    for c in cands:
        span: Span | None = Span(unit.start, unit.end)
        if c.kind in seen:  # a second command or commit of the unit: its own text is the span
            span = _value_span(text, cursor, unit.end, c.command or c.commit or "")
            if span is not None:
                cursor = span.end
        seen.add(c.kind)
        if span is None or span.start == span.end:
            continue
        claim = Claim(kind=c.kind, text=text[span.start:span.end], span=span, paths=c.paths,
                      command=c.command, count=c.count, scope=c.scope, runner=c.runner,
                      commit=c.commit)
        anchor = span.start if span.start > unit.start else unit.start + c.pos
        out.append(((span.start, anchor, _ORDER[c.kind]), claim))
    return out


def _unit(text: str, unit: Unit, t: Sentence) -> list[_Placed]:
    found = candidates(t, unit)
    if not found:
        return []
    cands = _finish(t, found)
    if unit.checkbox == "open" or (unit.section == "future" and unit.checkbox != "done"):
        cands = [c for c in cands if c.kind not in _POSITIVE]
    return _claims(text, unit, cands)


def _fence(text: str, unit: Unit, prev: Unit | None) -> list[_Placed]:
    """``command.ran`` for each command of a block introduced by "I ran:" (or in a commands
    section, when the block is shell or uses ``$`` prompts); nothing for program output."""
    body = text[unit.start:unit.end]
    lines = body.splitlines(keepends=True)
    prompts = any(line.lstrip().startswith("$ ") for line in lines)
    intro = False
    if prev is not None and prev.kind != "code" and not text[prev.end:unit.opener].strip():
        norm = normalise(text[max(prev.start, prev.end - 300):prev.end])
        t = Sentence(norm, lower(norm))
        m = _INTRO.search(t.live)
        intro = m is not None and not t.negated(m.start(), m.end())
    if not ((intro and unit.info in _SHELL) or (unit.section == "commands" and (
            prompts or (unit.info in _SHELL and unit.info)))):
        return []
    out: list[_Placed] = []
    offset, pending, first = unit.start, "", -1
    for line in lines:
        start, offset = offset, offset + len(line)
        content = line.rstrip("\r\n")
        stripped = content.strip()
        if not pending:
            if prompts and not stripped.startswith("$ "):
                continue
            cmd = stripped[2:].lstrip() if prompts else stripped
            if not cmd or cmd.startswith("#"):
                continue
            first = start + content.index(cmd)
        else:
            cmd = stripped
        if cmd.endswith("\\"):
            pending += cmd[:-1].strip() + " "
            continue
        command = (pending + cmd).strip()
        end = start + len(content.rstrip())
        pending = ""
        if command and end > first:
            span = Span(first, end)
            out.append(((first, first, _ORDER["command.ran"]), Claim(
                kind="command.ran", text=text[first:end], span=span, command=command)))
        if len(out) >= 50:
            break
    return out


def extract(text: str) -> list[Claim]:
    """The claims of a report written in (Markdown) prose, in order of appearance; at most
    one claim per span and kind."""
    if not isinstance(text, str):
        raise TypeError("a report must be a str")
    found: list[_Placed] = []
    prev: Unit | None = None
    context: tuple[str, str] | None = None   # the test command of a block just before
    units = segment(text)
    norms: dict[int, str] = {}
    for i, unit in enumerate(units):
        raw = text[unit.start:unit.end]
        if unit.kind != "code" and not _QUESTION.search(raw):
            norms[i] = normalise(raw)
    lows = {i: lower(norm) for i, norm in norms.items()}
    present = dict(zip(lows, presence(list(lows.values())), strict=True))
    for i, unit in enumerate(units):
        if unit.kind == "code":
            ran = _fence(text, unit, prev)
            found.extend(ran)
            context = None
            for _, claim in ran:
                label = classify(claim.command or "")
                if label is not None and label[0] == "test" and claim.command:
                    context = (label[1], claim.command)
        else:
            if i in norms:
                found.extend(_unit(text, unit, Sentence(norms[i], lows[i], present[i], context)))
            context = None
        prev = unit
    found.sort(key=lambda item: item[0])
    seen: set[tuple[int, int, str]] = set()
    out: list[Claim] = []
    for _, claim in found:
        assert claim.span is not None
        key = (claim.span.start, claim.span.end, claim.kind)
        if key not in seen:
            seen.add(key)
            out.append(claim)
    return out
