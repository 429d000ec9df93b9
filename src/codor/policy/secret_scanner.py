"""The secret scanner: finds credentials in a text with the detector catalogue and redacts them."""

from __future__ import annotations

import codecs
import math
import re
from bisect import bisect_left
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache

from codor.model import Severity
from codor.policy.patterns import compile_regex
from codor.policy.secret_detectors import (
    _ASSIGN,
    _ASSIGN_SPAN,
    _CONTEXT,
    _CONTEXT_NAMES,
    _CRED,
    _DB_SCHEMES,
    _DIGITS,
    _DISCORD_HOOK,
    _DOTTED_NAME,
    _GENERIC_KIND,
    _GENERIC_VALUE,
    _KEYWORDS,
    _LOWER,
    _NAME_CHARS,
    _NARROW_CHARS,
    _PEM_BODY,
    _PEM_HEAD,
    _PEM_MAX,
    _PK_BODY,
    _RUN,
    _SCHEME_BACK,
    _SLACK_HOOK,
    _SNAKE,
    _TOKENS,
    _UPPER,
    _URL_KINDS,
    DEFAULT_ALLOW,
    KINDS,
    _Token,
)

__all__ = [
    "SecretMatch",
    "SecretScanner",
    "default_scanner",
    "redacted_form",
    "shannon_entropy",
]

_BROAD_CHARS = _NARROW_CHARS | frozenset("+/=.~!@#$%^&*?|:\\")
_NARROW = bytes(97 if chr(i) in _NARROW_CHARS else 32 for i in range(256))
_BROAD = bytes(97 if chr(i) in _BROAD_CHARS else 32 for i in range(256))
_NEEDLE = b"a" * _RUN


# Masks are built from an ASCII encoding in which every non-ASCII character becomes one NUL
# byte, so byte offsets in a mask are string offsets in the text.
def _mask_error(exc: UnicodeError) -> tuple[str, int]:
    if not isinstance(exc, UnicodeEncodeError):
        raise exc
    return "\x00" * (exc.end - exc.start), exc.end


codecs.register_error("codor-secrets-mask", _mask_error)


def _ascii(text: str) -> bytes:
    if text.isascii():
        return text.encode("ascii")
    return text.encode("ascii", "codor-secrets-mask")


@dataclass(frozen=True, slots=True)
class SecretMatch:
    """One credential found in a text: ``text[start:end]`` is the secret itself."""

    kind: str
    start: int
    end: int
    severity: Severity


def shannon_entropy(value: str) -> float:
    """Shannon entropy of ``value`` in bits per character (0 for an empty string)."""
    n = len(value)
    if not n:
        return 0.0
    return -sum(c / n * math.log2(c / n) for c in Counter(value).values())


_PRIORITY_GENERIC = 0
_PRIORITY_SPECIFIC = 1


@dataclass(frozen=True, slots=True)
class _Custom:
    kind: str
    regex: re.Pattern[str]
    severity: Severity


def _placeholder(value: str) -> bool:
    v = value.strip()
    if not v or v[0] in "$%{<*" or v.startswith("[REDACTED"):
        return True
    return set(v) <= {"x", "X", "*", "."}


class SecretScanner:
    """Compiled detectors. ``scan`` finds credentials; ``redact`` hides them.

    ``disabled`` turns kinds off; ``extra`` adds ``(name, regex, severity)`` detectors;
    ``allow`` holds literal values and ``re:`` regexes never reported (added to
    :data:`DEFAULT_ALLOW`); the entropy settings drive ``generic_high_entropy_assignment``.
    """

    __slots__ = (
        "_allow_literals",
        "_allow_res",
        "_before",
        "_context",
        "_custom",
        "_gate",
        "_generic",
        "_kinds",
        "_min_length",
        "_needle",
        "_prefix",
        "_private_key",
        "_severity",
        "_threshold",
        "_url_kinds",
    )

    def __init__(
        self,
        *,
        disabled: Iterable[str] = (),
        extra: Sequence[tuple[str, re.Pattern[str], Severity]] = (),
        allow: Iterable[str] = (),
        entropy: bool = True,
        min_length: int = 20,
        threshold: float = 4.0,
    ) -> None:
        off = set(disabled)
        prefix: dict[str, list[_Token]] = {}
        before: dict[str, list[_Token]] = {}
        for tok in _TOKENS:
            if tok.kind in off:
                continue
            for start in tok.starts:
                prefix.setdefault(start, []).append(tok)
            for end in tok.ends:
                before.setdefault(end, []).append(tok)
        self._prefix = {k: tuple(v) for k, v in prefix.items()}
        self._before = {k: tuple(v) for k, v in before.items()}
        self._context = tuple(c for c in _CONTEXT if c.kind not in off)
        self._generic = entropy and _GENERIC_KIND not in off
        self._private_key = "private_key" not in off
        self._url_kinds = frozenset(k for k in _URL_KINDS if k not in off)
        self._custom = tuple(_Custom(n, r, s) for n, r, s in extra if n not in off)
        self._min_length = max(1, min_length)
        self._threshold = threshold
        self._gate = min(_RUN, self._min_length) if self._generic else _RUN
        self._needle = b"a" * self._gate
        literals: set[str] = set(DEFAULT_ALLOW)
        regexes: list[re.Pattern[str]] = []
        for entry in allow:
            if entry.startswith("re:"):
                regexes.append(compile_regex(entry[3:]))
            else:
                literals.add(entry)
        self._allow_literals = frozenset(literals)
        self._allow_res = tuple(regexes)
        severity: dict[str, Severity] = {t.kind: t.severity for t in _TOKENS}
        severity.update({c.kind: c.severity for c in _CONTEXT})
        severity.update({"private_key": "critical", "db_url_password": "high",
                         "basic_auth_url": "high", "slack_webhook": "high",
                         "discord_webhook": "high", _GENERIC_KIND: "medium"})
        severity.update({c.kind: c.severity for c in self._custom})
        self._severity = severity
        self._kinds = frozenset(
            [k for k in KINDS if k not in off and (k != _GENERIC_KIND or self._generic)]
            + [c.kind for c in self._custom])

    @property
    def kinds(self) -> frozenset[str]:
        """The kinds this scanner reports."""
        return self._kinds

    # -- scanning --------------------------------------------------------------------------
    def scan(self, text: str) -> list[SecretMatch]:
        """Every credential in ``text``, ordered by position. Never raises on any ``str``."""
        if not text:
            return []
        hits: dict[tuple[int, int], tuple[str, int]] = {}
        raw = _ascii(text) if len(text) >= self._gate else b""
        broad = raw.translate(_BROAD)
        needle = self._needle
        first = broad.find(needle) if raw else -1
        gated = first >= 0
        if gated:
            self._scan_tokens(text, raw, hits)
            # a NAME = value assignment starts at most _ASSIGN_SPAN before its value, and the
            # value lies inside a run of token characters at least as long as the gate
            last = broad.rfind(needle) + self._gate
            self._scan_keywords(text, raw, broad, max(0, first - _ASSIGN_SPAN),
                                broad.find(b" ", last), hits)
            if self._private_key and "-----BEGIN" in text:
                self._scan_private_keys(text, hits)
        # URL findings need a password (an "@" after it) or a webhook address
        if self._url_kinds and "://" in text and ("@" in text or (gated and (
                "hooks.slack.com/services/" in text or "discord" in text))):
            self._scan_urls(text, hits)
        for det in self._custom:
            group = 1 if det.regex.groups else 0
            for m in det.regex.finditer(text):
                start, end = m.span(group)
                if end > start:
                    self._add(hits, text, det.kind, start, end, _PRIORITY_SPECIFIC)
        return self._resolve(hits)

    def _add(self, hits: dict[tuple[int, int], tuple[str, int]], text: str, kind: str,
             start: int, end: int, priority: int) -> None:
        value = text[start:end]
        if value in self._allow_literals:
            return
        if self._allow_res and any(r.search(value) for r in self._allow_res):
            return
        old = hits.get((start, end))
        if old is None or old[1] < priority:
            hits[(start, end)] = (kind, priority)

    def _resolve(self, hits: dict[tuple[int, int], tuple[str, int]]) -> list[SecretMatch]:
        if not hits:
            return []
        if len(hits) == 1:  # nothing to overlap it
            ((start, end), (kind, _priority)), = hits.items()
            return [SecretMatch(kind, start, end, self._severity.get(kind, "high"))]
        spans = sorted(hits.items())
        starts: list[int] = []
        reach: list[int] = []  # reach[i]: the furthest end of specific spans 0..i
        for (start, end), (_kind, priority) in spans:
            if priority > _PRIORITY_GENERIC:
                starts.append(start)
                reach.append(max(end, reach[-1]) if reach else end)
        out: list[SecretMatch] = []
        for (start, end), (kind, priority) in spans:
            if priority == _PRIORITY_GENERIC:
                k = bisect_left(starts, end)  # specific spans starting before this one ends
                if k and reach[k - 1] > start:
                    continue
            out.append(SecretMatch(kind, start, end, self._severity.get(kind, "high")))
        return out

    def _scan_tokens(self, text: str, raw: bytes,
                     hits: dict[tuple[int, int], tuple[str, int]]) -> None:
        mask = raw.translate(_NARROW)
        prefix, before = self._prefix, self._before
        n = len(mask)
        i = mask.find(_NEEDLE)  # the leftmost run of >= _RUN token characters starts here
        while i >= 0:
            for tok in prefix.get(text[i:i + 2], ()):
                self._try_token(tok, text, i, hits)
            if i > 2 and text[i - 1] == ".":  # SG.<run>, dp.pt.<run>
                for tok in before.get(text[i - 3:i], ()):
                    k = text.rfind(tok.anchor, max(0, i - tok.back), i)
                    if k >= 0:
                        self._try_token(tok, text, k, hits)
            end = mask.find(b" ", i + _RUN)
            if end < 0 or end + _RUN > n:
                break
            i = mask.find(_NEEDLE, end)

    def _try_token(self, tok: _Token, text: str, pos: int,
                   hits: dict[tuple[int, int], tuple[str, int]]) -> None:
        m = tok.regex.match(text, pos)
        if m is not None and (tok.check is None or tok.check(text, m)):
            self._add(hits, text, tok.kind, m.start(), m.end(), _PRIORITY_SPECIFIC)

    def _scan_keywords(self, text: str, raw: bytes, broad: bytes, start: int, end: int,
                       hits: dict[tuple[int, int], tuple[str, int]]) -> None:
        if not self._context and not self._generic:
            return
        low = raw[start:end].lower() if end >= 0 else raw[start:].lower()
        value_run = self._needle
        for kw in _KEYWORDS:
            value_end = -1  # a keyword inside the last value is part of it, not a new NAME
            p = low.find(kw)
            while p >= 0:
                at = start + p
                p = low.find(kw, p + len(kw))
                before = _name_before(text, at)
                name_start = at - len(before)
                if name_start < value_end and not (name_start and text[name_start - 1] in "&?"):
                    continue
                m = _ASSIGN.match(text, at)
                # the value must be a long run of token characters (or a PEM block)
                if m is not None and (broad.startswith(value_run, m.end())
                                      or text.startswith("-----BEGIN", m.end())):
                    value_end = self._assignment(text, before, at, m, hits, p >= 0)

    def _assignment(self, text: str, before: str, p: int, m: re.Match[str],
                    hits: dict[tuple[int, int], tuple[str, int]], need_end: bool = True) -> int:
        """Judge one NAME = value; returns where the value ends (when ``need_end``: the
        caller may not need it)."""
        v = m.end()
        name = (before + text[p:m.end("tail")]).lower()
        if _CONTEXT_NAMES.search(name):
            for det in self._context:
                if not any(word in name for word in det.names):
                    continue
                vm = det.value.match(text, v)
                if vm is None or (det.check is not None
                                  and not det.check(text, name, vm.group(0))):
                    continue
                self._add(hits, text, det.kind, v, vm.end(), _PRIORITY_SPECIFIC)
                return vm.end()
        if not need_end and (not self._generic or _overlapped(hits, v, v + 1)):
            return v  # no generic finding here (see below), and no one needs the end
        gm = _GENERIC_VALUE.match(text, v)
        if gm is None:
            return v
        end = gm.end()
        # a generic finding that overlaps a specific one is never reported (see _resolve):
        # the entropy test is skipped when a token already found covers part of the value
        if self._generic and not _overlapped(hits, v, end) and \
                self._random_looking(gm.group(0)):
            self._add(hits, text, _GENERIC_KIND, v, end, _PRIORITY_GENERIC)
        return end

    def _random_looking(self, value: str) -> bool:
        if len(value) < self._min_length:
            return False
        chars = set(value)
        if not (chars & _DIGITS or (chars & _LOWER and chars & _UPPER)):
            return False
        if _placeholder(value) or "://" in value:
            return False
        if _DOTTED_NAME.fullmatch(value) or _SNAKE.fullmatch(value):
            return False
        return shannon_entropy(value) >= self._threshold

    def _scan_private_keys(self, text: str,
                           hits: dict[tuple[int, int], tuple[str, int]]) -> None:
        end_at = -2  # where the next "-----END " is (-1: nowhere), found once and reused
        p = text.find("-----BEGIN")
        while p >= 0:
            nxt = p + 10
            m = _PEM_HEAD.match(text, p)
            if m is not None:
                body = m.end()
                if end_at != -1 and end_at < body:
                    end_at = text.find("-----END ", body)
                stop = -1
                closing = f"-----END {m.group(1)}-----"
                if 0 <= end_at - body <= _PEM_MAX and text.startswith(closing, end_at):
                    stop = end_at + len(closing)
                else:
                    fallback = _PEM_BODY.match(text, body)
                    stop = fallback.end() if fallback else body
                if _PK_BODY.search(text, body, stop) is not None:
                    self._add(hits, text, "private_key", p, stop, _PRIORITY_SPECIFIC)
                    nxt = max(nxt, stop)
            p = text.find("-----BEGIN", nxt)

    def _scan_urls(self, text: str, hits: dict[tuple[int, int], tuple[str, int]]) -> None:
        kinds = self._url_kinds
        p = text.find("://")
        while p >= 0:
            sm = _SCHEME_BACK.search(text, max(0, p - 31), p)
            scheme = sm.group(0).lower() if sm else ""
            after = p + 3
            if scheme in ("http", "https"):
                for kind, regex in (("slack_webhook", _SLACK_HOOK),
                                    ("discord_webhook", _DISCORD_HOOK)):
                    hm = regex.match(text, after) if kind in kinds else None
                    if hm is not None:
                        self._add(hits, text, kind, hm.start(1), hm.end(1), _PRIORITY_SPECIFIC)
            cm = _CRED.match(text, after) if scheme else None
            if cm is not None:
                kind = "db_url_password" if scheme.split("+")[0] in _DB_SCHEMES or \
                    scheme in _DB_SCHEMES else "basic_auth_url"
                password = cm.group(1)
                if kind in kinds and not _placeholder(password) and not password.isdigit():
                    self._add(hits, text, kind, cm.start(1), cm.end(1), _PRIORITY_SPECIFIC)
            p = text.find("://", after)

    # -- redaction -------------------------------------------------------------------------
    def redact(self, text: str) -> str:
        """``text`` with every credential replaced by ``[REDACTED:<kind>]``. Never raises."""
        try:
            for _ in range(8):
                matches = self.scan(text)
                if not matches:
                    return text
                text = _replace(text, matches)
        except Exception:  # redaction must never break a caller
            return "[REDACTED]"
        return text if not self.scan(text) else "[REDACTED]"


def _replace(text: str, matches: Sequence[SecretMatch]) -> str:
    parts: list[str] = []
    pos = 0
    cur_start, cur_end, cur_kind = -1, -1, ""
    for m in matches:  # ordered by start; overlapping spans merge into one
        if m.start < cur_end:
            cur_end = max(cur_end, m.end)
            continue
        if cur_start >= 0:
            parts.append(text[pos:cur_start])
            parts.append(f"[REDACTED:{cur_kind}]")
            pos = cur_end
        cur_start, cur_end, cur_kind = m.start, m.end, m.kind
    if cur_start >= 0:
        parts.append(text[pos:cur_start])
        parts.append(f"[REDACTED:{cur_kind}]")
        pos = cur_end
    parts.append(text[pos:])
    return "".join(parts)


def _overlapped(hits: dict[tuple[int, int], tuple[str, int]], start: int, end: int) -> bool:
    """Does a specific finding overlap ``[start, end)``?"""
    for (s, e), (_kind, priority) in hits.items():
        if priority > _PRIORITY_GENERIC and s < end and e > start:
            return True
    return False


def _name_before(text: str, p: int) -> str:
    i = p
    stop = max(0, p - 40)
    while i > stop and text[i - 1] in _NAME_CHARS:
        i -= 1
    return text[i:p]


@cache
def default_scanner() -> SecretScanner:
    """The scanner with every built-in detector and default settings (for redacting logs)."""
    return SecretScanner()


def redacted_form(value: str) -> str:
    """What a message may show of a secret: its first four characters (when it is long
    enough for that to reveal little) and its length."""
    if len(value) >= 16:
        return f"{value[:4]}…({len(value)} chars)"
    return f"…({len(value)} chars)"
