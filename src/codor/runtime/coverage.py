"""Coverage reports the test runner produced, read for the workflow's tech-debt budget.

Four formats, recognised by name and content:

- coverage.py JSON (``coverage json``: ``coverage.json``): ``totals.percent_covered``;
- Cobertura XML (``coverage xml``, ``pytest --cov-report=xml``, jest's ``cobertura``
  reporter: ``coverage.xml``, ``coverage/cobertura-coverage.xml``): the root's ``line-rate``;
- lcov (``lcov.info``, ``coverage/lcov.info``): the sum of the records' ``LH`` over the sum
  of their ``LF``;
- istanbul / jest ``coverage-summary.json`` (``json-summary`` reporter): ``total.lines.pct``.

Reports are untrusted input: a report larger than the size cap (64 MiB by default) is refused
before it is read; XML with a document type declaration or an entity declaration is refused
(no external entities, no entity expansion — ``defusedxml`` is not a dependency, so the
declarations are refused outright, as is XML in any encoding but UTF-8 or ASCII, where they
could hide; the rest is read with :mod:`xml.etree`'s pull parser, which stops at the root
element); JSON is read with ``orjson``. Every problem is a
:class:`CoverageError` (``E_COVERAGE``) with the file as its location.

**Produced by a recorded run.** A report counts only if a test run recorded in the session's
ledger evidence produced it (:func:`produced_by`): its modification time lies within a run's
window — from the run's decision to its outcome's end, give or take ``slack`` (a quarter of a
second by default) for coarse file system timestamps — or its sha256 is one of the products
the run's outcome reported. A report left over from before the session does not count, nor
(:meth:`codor.runtime.workflowstore.WorkflowStore.coverage`) one the agent wrote itself after
the run.

**The budget** (:class:`Budget`): ``delta`` is the current coverage minus the baseline, in
percentage points; at or below ``warn_at`` (−2) allowed writes and commits carry a warning, at
or below ``lock_at`` (−5) explore mode is locked (see :mod:`codor.runtime.workflow`).
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from codor.errors import CodorError

__all__ = [
    "DEFAULT_REPORTS",
    "MAX_REPORT_BYTES",
    "Budget",
    "CoverageError",
    "CoverageReport",
    "RunWindow",
    "budget",
    "find_reports",
    "parse_cobertura",
    "parse_coverage_py",
    "parse_istanbul",
    "parse_lcov",
    "parse_report",
    "produced_by",
    "read_report",
    "report_signature",
]

#: where test runners write their reports, relative to the workspace
DEFAULT_REPORTS: Final[tuple[str, ...]] = (
    "coverage.json", "coverage.xml", "lcov.info", "coverage/lcov.info",
    "coverage/coverage-summary.json", "coverage/cobertura-coverage.xml", "coverage/coverage.xml",
)
MAX_REPORT_BYTES: Final = 64 * 1024 * 1024
_XML_HEAD: Final = 1 << 20   # the pull parser is fed this much at a time
_UTF8_BOM: Final = b"\xef\xbb\xbf"
_XML_ENCODING: Final = re.compile(rb"\s*<\?xml[^>]*?encoding\s*=\s*[\"']([^\"']*)[\"']")
_ENCODINGS: Final = frozenset({b"utf-8", b"utf8", b"us-ascii", b"ascii"})


class CoverageError(CodorError):
    """A coverage report that cannot be read: too large, not the format it claims, an XML
    document type or entity declaration, a percentage out of range."""

    code = "E_COVERAGE"


@dataclass(frozen=True, slots=True)
class CoverageReport:
    """One report read: ``path`` as found (workspace-relative when found by
    :func:`find_reports`), its format, line coverage in percent, and the file's identity."""

    path: str
    format: str          # coverage.py | cobertura | lcov | istanbul
    percent: float
    mtime_ns: int
    size: int
    sha256: str

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "format": self.format, "percent": round(self.percent, 4),
                "mtime_ns": self.mtime_ns, "size": self.size, "sha256": self.sha256}


def _percent(value: object, what: str, location: str | None, scale: float = 1.0) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise CoverageError(f"{what} is not a number", location=location)
    pct = float(value) * scale
    if not math.isfinite(pct) or not 0.0 <= pct <= 100.0:
        raise CoverageError(f"{what} is out of range ({value!r})", location=location)
    return pct


def _json(data: bytes, location: str | None) -> Any:
    import orjson

    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise CoverageError(f"not valid JSON: {exc}", location=location) from None


def parse_coverage_py(data: bytes, location: str | None = None) -> float:
    """``totals.percent_covered`` of a coverage.py JSON report."""
    doc = _json(data, location)
    totals = doc.get("totals") if isinstance(doc, dict) else None
    if not isinstance(totals, dict) or "percent_covered" not in totals:
        raise CoverageError("not a coverage.py JSON report (no totals.percent_covered)",
                            location=location)
    return _percent(totals["percent_covered"], "totals.percent_covered", location)


def parse_istanbul(data: bytes, location: str | None = None) -> float:
    """``total.lines.pct`` of an istanbul/jest ``coverage-summary.json``."""
    doc = _json(data, location)
    total = doc.get("total") if isinstance(doc, dict) else None
    lines = total.get("lines") if isinstance(total, dict) else None
    if not isinstance(lines, dict) or "pct" not in lines:
        raise CoverageError("not an istanbul coverage summary (no total.lines.pct)",
                            location=location)
    return _percent(lines["pct"], "total.lines.pct", location)


def parse_cobertura(data: bytes, location: str | None = None) -> float:
    """The root ``line-rate`` of a Cobertura XML report (as a percentage). Document type and
    entity declarations are refused; only the root element is read."""
    import xml.etree.ElementTree as ET

    if data.startswith(_UTF8_BOM):
        data = data[len(_UTF8_BOM):]
    declared = _XML_ENCODING.match(data)
    if b"\x00" in data[:4096] or data.startswith((b"\xff\xfe", b"\xfe\xff")) or (
            declared is not None and declared.group(1).lower() not in _ENCODINGS):
        raise CoverageError("only UTF-8 XML reports are read", location=location)
    lowered = data.lower()
    if b"<!doctype" in lowered or b"<!entity" in lowered:
        raise CoverageError("XML with a document type or entity declaration is refused",
                            location=location)
    parser: ET.XMLPullParser[ET.Element] = ET.XMLPullParser(events=("start",))
    root: ET.Element | None = None
    try:
        for start in range(0, max(len(data), 1), _XML_HEAD):
            parser.feed(data[start:start + _XML_HEAD])
            for item in parser.read_events():
                element: object = item[-1] if isinstance(item, tuple) else None
                if isinstance(element, ET.Element):
                    root = element
                    break
            if root is not None:
                break
    except (ET.ParseError, LookupError, ValueError) as exc:
        raise CoverageError(f"not valid XML: {exc}", location=location) from None
    if root is None:
        raise CoverageError("not valid XML: no root element", location=location)
    if root.tag != "coverage" or "line-rate" not in root.attrib:
        raise CoverageError("not a Cobertura report (no <coverage line-rate=...> root)",
                            location=location)
    raw = root.attrib["line-rate"].strip()
    try:
        rate = float(raw)
    except ValueError:
        raise CoverageError(f"line-rate {raw[:40]!r} is not a number",
                            location=location) from None
    return _percent(rate, "line-rate", location, 100.0)


def parse_lcov(data: bytes, location: str | None = None) -> float:
    """Lines hit over lines found, summed over an lcov tracefile's records."""
    hit = found = 0
    records = 0
    for number, raw in enumerate(data.split(b"\n"), 1):
        line = raw.strip()
        if line.startswith((b"LH:", b"LF:")):
            try:
                value = int(line[3:].decode("ascii"))
            except (ValueError, UnicodeDecodeError):
                raise CoverageError(f"line {number}: {line[:40]!r} is not a count",
                                    location=location) from None
            if value < 0:
                raise CoverageError(f"line {number}: negative count", location=location)
            if line.startswith(b"LH:"):
                hit += value
            else:
                found += value
                records += 1
    if records == 0:
        raise CoverageError("not an lcov tracefile (no LF: lines)", location=location)
    if found == 0:
        raise CoverageError("the lcov tracefile reports no lines", location=location)
    if hit > found:
        raise CoverageError(f"the lcov tracefile reports more lines hit ({hit}) than found "
                            f"({found})", location=location)
    return hit * 100.0 / found


def parse_report(data: bytes, name: str, location: str | None = None) -> tuple[str, float]:
    """(format, percent) of a report, its format told by ``name`` and, for JSON, content."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1].lower()
    location = location or name
    if base.endswith(".xml"):
        return "cobertura", parse_cobertura(data, location)
    if base.endswith(".info") or base == "lcov":
        return "lcov", parse_lcov(data, location)
    if base.endswith(".json"):
        doc = _json(data, location)
        if isinstance(doc, dict) and "totals" in doc:
            return "coverage.py", parse_coverage_py(data, location)
        if isinstance(doc, dict) and "total" in doc:
            return "istanbul", parse_istanbul(data, location)
        raise CoverageError("a JSON file that is neither a coverage.py report nor an "
                            "istanbul summary", location=location)
    raise CoverageError("not a known coverage report name (.json, .xml, .info)",
                        location=location)


def read_report(path: str | os.PathLike[str], *, max_bytes: int = MAX_REPORT_BYTES,
                shown: str | None = None) -> CoverageReport:
    """Read and parse one report file (a regular file, not a symlink, at most ``max_bytes``).
    ``shown`` is the path reported (default: ``path``)."""
    where = shown or os.fspath(path)
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise CoverageError(f"cannot open: {exc.strerror}", location=where) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise CoverageError("not a regular file", location=where)
        if info.st_size > max_bytes:
            raise CoverageError(f"the report is {info.st_size} bytes; at most {max_bytes} are "
                                "read", location=where)
        chunks: list[bytes] = []
        left = max_bytes + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        data = b"".join(chunks)
        if len(data) > max_bytes:
            raise CoverageError(f"the report grew past {max_bytes} bytes while read",
                                location=where)
    except OSError as exc:
        raise CoverageError(f"cannot read: {exc.strerror}", location=where) from None
    finally:
        os.close(fd)
    fmt, pct = parse_report(data, os.fspath(path), where)
    return CoverageReport(where, fmt, pct, info.st_mtime_ns, len(data),
                          hashlib.sha256(data).hexdigest())


def find_reports(workspace: str | os.PathLike[str],
                 candidates: Sequence[str] = DEFAULT_REPORTS) -> list[tuple[str, Path]]:
    """The candidate report files that exist in ``workspace`` as regular files (symlinks are
    not followed): ``(relative path, absolute path)``, newest first."""
    root = Path(workspace)
    found: list[tuple[int, str, Path]] = []
    for rel in candidates:
        full = root / rel
        try:
            info = os.lstat(full)
        except OSError:
            continue
        if stat.S_ISREG(info.st_mode):
            found.append((info.st_mtime_ns, rel, full))
    found.sort(key=lambda item: (-item[0], item[1]))
    return [(rel, full) for _m, rel, full in found]


def report_signature(workspace: str | os.PathLike[str],
                     candidates: Sequence[str] = DEFAULT_REPORTS
                     ) -> tuple[tuple[str, int, int], ...]:
    """``(path, mtime_ns, size)`` of each candidate report present: a cheap test of whether
    the reports changed (one ``lstat`` per candidate)."""
    root = os.fspath(workspace)
    out: list[tuple[str, int, int]] = []
    for rel in candidates:
        try:
            info = os.lstat(os.path.join(root, rel))
        except OSError:
            continue
        if stat.S_ISREG(info.st_mode):
            out.append((rel, info.st_mtime_ns, info.st_size))
    return tuple(out)


@dataclass(frozen=True, slots=True)
class RunWindow:
    """When a recorded test run ran (wall microseconds) and the digests its outcome reported;
    ``index`` is its decision's ledger index."""

    index: int
    start_us: int
    end_us: int
    products: frozenset[str] = frozenset()


def produced_by(report: CoverageReport, windows: Iterable[RunWindow], *,
                slack_us: int = 250_000) -> RunWindow | None:
    """The recorded run that produced ``report`` (see the module doc), or ``None``."""
    mtime_us = report.mtime_ns // 1000
    for window in windows:
        if report.sha256 in window.products:
            return window
        if window.start_us - slack_us <= mtime_us <= window.end_us + slack_us:
            return window
    return None


@dataclass(frozen=True, slots=True)
class Budget:
    """The tech-debt budget: current coverage against the baseline (percentage points)."""

    current: float | None
    baseline: float | None
    warn_at: float = -2.0
    lock_at: float = -5.0
    report: CoverageReport | None = None
    source: str = "none"           # where the baseline comes from: workspace | session | none
    problems: tuple[str, ...] = ()  # reports that could not be read or were not produced

    @property
    def delta(self) -> float | None:
        if self.current is None or self.baseline is None:
            return None
        return round(self.current - self.baseline, 6)

    @property
    def warn(self) -> bool:
        return self.delta is not None and self.delta <= self.warn_at

    @property
    def locked(self) -> bool:
        return self.delta is not None and self.delta <= self.lock_at

    def note(self) -> str:
        """One line for the agent: where coverage stands against the baseline."""
        if self.delta is None or self.current is None or self.baseline is None:
            return "no coverage delta (no counted report or no baseline)"
        where = f" ({self.report.path})" if self.report is not None else ""
        return (f"coverage {self.current:.1f}%{where} is {self.delta:+.1f} points against the "
                f"baseline {self.baseline:.1f}% (warn at {self.warn_at:+g}, explore locked at "
                f"{self.lock_at:+g})")

    def to_json(self) -> dict[str, Any]:
        return {"current": self.current, "baseline": self.baseline, "delta": self.delta,
                "warn_at": self.warn_at, "lock_at": self.lock_at, "warn": self.warn,
                "locked": self.locked, "source": self.source,
                "report": self.report.to_json() if self.report else None,
                "problems": list(self.problems)}


def budget(current: float | None, baseline: float | None, *, warn_at: float = -2.0,
           lock_at: float = -5.0, report: CoverageReport | None = None, source: str = "none",
           problems: Sequence[str] = ()) -> Budget:
    """A :class:`Budget` (thresholds are negative numbers of percentage points, ``lock_at`` at
    or below ``warn_at``)."""
    if not (math.isfinite(warn_at) and math.isfinite(lock_at)) or lock_at > warn_at or \
            warn_at > 0:
        raise CoverageError(f"budget thresholds must satisfy lock_at <= warn_at <= 0 (got "
                            f"warn_at={warn_at}, lock_at={lock_at})")
    return Budget(current, baseline, warn_at, lock_at, report, source, tuple(problems))
