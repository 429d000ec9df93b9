"""The text every view of a claims report shares: hygiene, clipping, symbols and severity order.
Everything the agent wrote (report text, claim text, paths) is attacker-controlled, so each view
passes it through :func:`_clean`, which neutralises control, surrogate and bidi-override
characters, and shortens it with :func:`_clip`; the other helpers spell ledger references
(``#3 #7``), a finding's location, plurals, the verdict symbols and their order, and rank
findings from the most severe, the same way in the terminal table, the HTML page, the summary
line and the answer to the agent (:mod:`codor.claims.render`, :mod:`codor.claims.htmlpage`).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

from codor.claims.finding import Finding
from codor.model import SEVERITIES

_SYMBOLS = {"verified": "✔", "contradicted": "✘", "unsupported": "?", "unverifiable": "–"}
_VERDICT_ORDER = ("contradicted", "unsupported", "unverifiable", "verified")
_SEV_RANK = {name: rank for rank, name in enumerate(SEVERITIES)}
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


# -- text hygiene --------------------------------------------------------------------------------

def _clean(text: str, *, one_line: bool = True) -> str:
    """``text`` with control, surrogate and bidi-override characters made harmless; with
    ``one_line`` every whitespace run (newlines included) becomes one space, otherwise tabs,
    newlines and printable spaces are kept and carriage returns dropped."""
    out: list[str] = []
    for ch in text:
        if not one_line and (ch in "\n\t" or unicodedata.category(ch) in ("Zs", "Zl", "Zp")):
            out.append(ch)
        elif not one_line and ch == "\r":
            continue
        elif ch.isspace():
            out.append(" ")
        elif ch in _BIDI or unicodedata.category(ch) in ("Cc", "Cs"):
            out.append("\ufffd")
        else:
            out.append(ch)
    joined = "".join(out)
    return " ".join(joined.split()) if one_line else joined


def _clip(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, at a word boundary when one is near,
    ending with ``…`` when anything was cut."""
    if len(text) <= limit:
        return text
    if limit <= 0:
        return ""
    cut = text[:limit - 1]
    space = cut.rfind(" ")
    if space >= max(1, len(cut) - 20):
        cut = cut[:space]
    return cut.rstrip(" ,;:.-—") + "…"


def _indexes(evidence: Iterable[int]) -> str:
    return " ".join(f"#{i}" for i in evidence)


def _location(finding: Finding) -> str:
    if finding.path is None:
        return ""
    return finding.path if finding.line is None else f"{finding.path}:{finding.line}"


def _by_severity(findings: Iterable[Finding]) -> list[Finding]:
    return sorted(findings, key=lambda f: -_SEV_RANK.get(f.severity, 0))


def _worst(findings: Iterable[Finding]) -> str | None:
    ranked = _by_severity(findings)
    return ranked[0].severity if ranked else None


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")
