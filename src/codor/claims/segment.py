"""Markdown segmentation for :mod:`codor.claims.extract`: a report becomes :class:`Unit` s —
sentences of paragraphs and list items, headings, table rows and fenced code blocks — each
with its offsets into the original text and the section it sits in.

Segmentation is line-based and forgiving (agents' Markdown is rarely strict CommonMark): a
paragraph line continues the previous one only when that one does not end a sentence and the
new one starts in lower case; ``I ran: ```bash`` opens a fence after the text on its line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import pairwise
from typing import Final, Literal

__all__ = ["Section", "Unit", "UnitKind", "segment"]

UnitKind = Literal["text", "heading", "row", "code"]
#: ``files:<kind>`` (a "Files changed" list), ``commands`` (a "Testing" / "Commands run" list),
#: ``future`` (next steps, to-dos: nothing there is done), or None.
Section = Literal["files:created", "files:modified", "files:deleted", "commands", "future"]


@dataclass(frozen=True, slots=True)
class Unit:
    """One piece of the report. For ``code``, ``start``/``end`` delimit the block's content and
    ``opener`` is the offset of its opening fence."""

    start: int
    end: int
    kind: UnitKind
    section: Section | None = None
    item: bool = False          # inside a list item
    first: bool = False         # the first sentence of a list item, a heading or a row
    checkbox: Literal["", "done", "open"] = ""
    file_table: bool = False    # a row of a table whose header names files
    info: str = ""              # a fence's info string, lower-cased
    opener: int = 0


_FENCE = re.compile(r"^[ \t]*(?P<f>`{3,}|~{3,})[ \t]*(?P<info>[\w+.#-]*)[^`\n]*$")
_INLINE_FENCE = re.compile(r"^(?P<pre>[^`\n]*\S:)[ \t]*(?P<f>`{3,}|~{3,})[ \t]*(?P<info>[\w+-]*)"
                           r"[ \t]*$")
_HEADING = re.compile(r"^[ \t]{0,3}#{1,6}[ \t]+")
_ITEM = re.compile(r"^(?P<ind>[ \t]*)(?:[-*+•]|\d{1,3}[.)])[ \t]+(?:\[(?P<box>[ xX])\][ \t]+)?")
_RULE = re.compile(r"^[ \t]*(?:(?:-[ \t]*){3,}|(?:\*[ \t]*){3,}|(?:_[ \t]*){3,}|={3,})$")
_TABLE_SEP = re.compile(r"^[ \t]*\|?[ \t]*:?-{2,}:?[ \t]*(?:\|[ \t]*:?-{2,}:?[ \t]*)*\|?[ \t]*$")
_QUOTE = re.compile(r"^[ \t]*(?:>[ \t]?)+")
_CODE_SPAN = re.compile(r"``[^\n]+?``|`[^`\n]+`")
_SENT_END = re.compile(r"[.!?]+[\"')\]*_’”]*(?=\s+\S)")
_ABBREV: Final = frozenset({"e.g.", "i.e.", "etc.", "vs.", "approx.", "incl.", "cf.", "mr.",
                            "dr.", "no.", "fig.", "e.g", "i.e", "(e.g.", "(i.e."})
_BOLD_LINE = re.compile(r"(\*\*|__)[^*_\n]+\1:?")
_LABEL_TEXT = re.compile(r"[*_`#\s]+")
_SECTIONS: Final[tuple[tuple[Section, re.Pattern[str]], ...]] = (
    ("future", re.compile(
        r"\b(?:next\s+steps?|todos?|to-do|to\s+do|follow[- ]?ups?|remaining(?:\s+work)?|"
        r"recommendations?|suggest(?:ed|ions)?|future(?:\s+work)?|open\s+(?:questions|items)|"
        r"out\s+of\s+scope|what's\s+left|left\s+to\s+do|pending|not\s+(?:yet\s+)?done)\b")),
    ("files:created", re.compile(r"\b(?:new|created|added)\s+files?\b|\bfiles?\s+(?:created|"
                                 r"added)\b")),
    ("files:deleted", re.compile(r"\b(?:deleted|removed)\s+files?\b|\bfiles?\s+(?:deleted|"
                                 r"removed)\b")),
    ("files:modified", re.compile(
        r"\b(?:files?(?:\s+(?:changed|modified|touched|updated|edited))?|(?:changed|modified|"
        r"touched|updated|edited)\s+files?|changes(?:\s+made)?|what\s+changed|changeset|"
        r"diff(?:\s+summary)?)\b")),
    ("commands", re.compile(
        r"\b(?:commands?(?:\s+(?:run|executed|used))?|verification|validation|testing|"
        r"test\s+results|tests?\s+run|checks?(?:\s+run)?|how\s+(?:i|this\s+was)\s+(?:tested|"
        r"verified)|ran)\b")),
)


def classify_section(label: str) -> Section | None:
    """The section a heading or a label line ("**Files changed:**") opens, if any."""
    text = _LABEL_TEXT.sub(" ", label).strip().lower()
    for section, pattern in _SECTIONS:
        if pattern.search(text):
            return section
    return None


def _sentences(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Sentence spans of ``text[start:end]``, whitespace stripped, never inside code spans."""
    chunk = text[start:end]
    if "." not in chunk and "!" not in chunk and "?" not in chunk:
        stripped = chunk.strip()
        lead = len(chunk) - len(chunk.lstrip())
        return [(start + lead, start + lead + len(stripped))] if stripped else []
    code = [m.span() for m in _CODE_SPAN.finditer(chunk)] if "`" in chunk else []
    cuts: list[int] = [0]
    ci = 0
    for m in _SENT_END.finditer(chunk):
        pos = m.end()
        while ci < len(code) and code[ci][1] <= m.start():
            ci += 1
        if ci < len(code) and code[ci][0] <= m.start():
            continue
        rest = chunk[pos:].lstrip()
        nxt = rest[:1]
        if not (nxt.isupper() or nxt.isdigit() or nxt in "`*\"'([#✓✗✅❌" or nxt > "\u2000"):
            continue
        word_start = chunk.rfind(" ", 0, m.start()) + 1
        if chunk[word_start:m.start() + 1].lower() in _ABBREV:
            continue
        cuts.append(pos)
    cuts.append(len(chunk))
    out: list[tuple[int, int]] = []
    for a, b in pairwise(cuts):
        piece = chunk[a:b]
        stripped = piece.strip()
        if stripped:
            lead = len(piece) - len(piece.lstrip())
            out.append((start + a + lead, start + a + lead + len(stripped)))
    return out


class _Segmenter:
    def __init__(self, text: str) -> None:
        self.text = text
        self.units: list[Unit] = []
        self.heading: Section | None = None    # the section of the last heading
        self.label: Section | None = None      # the section of the last label line
        self.listed = False             # a list has been seen since the heading or label
        self.file_table = False
        self.block: list[int] = []      # [start, end] of the open text block
        self.block_item = False
        self.block_first = False
        self.block_box: Literal["", "done", "open"] = ""
        self.prev_line = ""

    @property
    def section(self) -> Section | None:
        return self.label or self.heading

    def flush(self) -> None:
        if not self.block:
            return
        start, end = self.block
        for i, (a, b) in enumerate(_sentences(self.text, start, end)):
            self.units.append(Unit(a, b, "text", self.section, self.block_item,
                                   self.block_first and i == 0, self.block_box))
        self.block = []

    def open_block(self, start: int, end: int, *, item: bool, first: bool,
                   box: Literal["", "done", "open"]) -> None:
        self.flush()
        self.block = [start, end]
        self.block_item, self.block_first, self.block_box = item, first, box

    def text_line(self, start: int, end: int, indent: int) -> None:
        line = self.text[start:end]
        prev = self.prev_line.rstrip(" *_")
        if (self.block and prev and prev[-1] not in ".!?:" and
                (line[:1].islower() or line[:1] in "(&,")):
            self.block[1] = end
            return
        label = len(line) <= 80 and (line.rstrip(" *_").endswith(":") or
                                     _BOLD_LINE.fullmatch(line) is not None)
        section = classify_section(line) if label else None
        if section is not None:
            self.label, self.listed = section, False
        elif indent == 0:   # a paragraph ends a label's list, and a heading's once it had one
            self.label = None
            if self.listed:
                self.heading, self.listed = None, False
        in_item = self.block_item and indent > 0
        self.open_block(start, end, item=in_item, first=False,
                        box=self.block_box if in_item else "")

    def run(self) -> list[Unit]:
        text = self.text
        pos = 0
        fence: tuple[str, int, int, str] | None = None   # marker, opener, content start, info
        for raw in text.splitlines(keepends=True):
            start, pos = pos, pos + len(raw)
            line = raw.rstrip("\r\n")
            end = start + len(line)
            if fence is not None:
                stripped = line.strip()
                if stripped.startswith(fence[0]) and stripped.strip(fence[0][0]) == "":
                    self.units.append(Unit(fence[2], max(fence[2], start - 1), "code",
                                           self.section, info=fence[3], opener=fence[1]))
                    fence = None
                continue
            m = (_FENCE.match(line) or _INLINE_FENCE.match(line)
                 if "```" in line or "~~~" in line else None)
            if m is not None:
                pre = m.groupdict().get("pre")
                if pre:
                    lead = len(line) - len(line.lstrip())
                    self.text_line(start + lead, start + len(pre), 0)
                self.flush()
                fence = (m.group("f"), start + m.start("f"), pos, m.group("info").lower())
                self.prev_line = ""
                continue
            if not line.strip():
                self.flush()
                self.prev_line = ""
                self.file_table = False
                continue
            lead = len(line) - len(line.lstrip())
            if line[lead] == ">":
                q = _QUOTE.match(line)
                assert q is not None
                lead = q.end() + len(line[q.end():]) - len(line[q.end():].lstrip())
            body = line[lead:]
            first = body[:1]
            h = _HEADING.match(line) if first == "#" else None
            if h is not None:
                self.flush()
                content = line[h.end():].rstrip().rstrip("#").rstrip()
                self.heading, self.label, self.listed = classify_section(content), None, False
                if content:
                    self.units.append(Unit(start + h.end(), start + h.end() + len(content),
                                           "heading", self.section, first=True))
            elif first in "-*_=" and _RULE.match(line):
                self.flush()
            elif first == "|":
                self.flush()
                if _TABLE_SEP.match(body):
                    self.file_table = bool(re.search(r"\b(?:files?|paths?)\b",
                                                     self.prev_line.lower()))
                else:
                    self.units.append(Unit(start + lead, start + len(line.rstrip()), "row",
                                           self.section, first=True,
                                           file_table=self.file_table))
            elif (first in "-*+•" or first.isdigit()) and (item := _ITEM.match(body)) is not None:
                self.listed = True
                box = item.group("box")
                state: Literal["", "done", "open"] = (
                    "" if box is None else "open" if box == " " else "done")
                cstart = start + lead + item.end()
                if cstart < end:
                    self.open_block(cstart, end, item=True, first=True, box=state)
            else:
                self.text_line(start + lead, end, lead)
            self.prev_line = line
        self.flush()
        if fence is not None:
            self.units.append(Unit(fence[2], max(fence[2], len(text)), "code", self.section,
                                   info=fence[3], opener=fence[1]))
        return self.units


def segment(text: str) -> list[Unit]:
    """The units of ``text`` in order of appearance."""
    return _Segmenter(text).run()
