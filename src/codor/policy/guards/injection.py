"""The ``injection`` guard: scores inbound text (``content.inbound``) for prompt injection.

Configuration::

    injection:
      ask_threshold: 0.4      # score >= this: ask (injection.ask)
      deny_threshold: 0.7     # score >= this: deny (injection.deny)
      sources: [user, tool, web]   # which sources are scanned; text from others passes
      allow_clean: true       # scanned text below ask_threshold: allow (injection.clean)
      max_scan_bytes: 1048576 # text beyond this is not scanned; the result is at least ask
      phrases:                # extra signals: a regex (case-insensitive, over the normalised
        - {regex: "...", weight: 0.5, name: my_signal}   # text) and its weight in [0, 1]

The score is the sum of the weights of the distinct signals found, capped at 1. Signals:

* ``override.*`` instruction overrides ("ignore all previous instructions", "ignore the
  policy", "forget your rules", "new instructions:", "you must now", fake ``[system]`` or
  ``<|im_start|>`` role markers, a bare "disregard");
* ``roleplay.*`` jailbreaks ("DAN", "you are now", "developer mode", "no restrictions",
  "bypass all guardrails", "act as an unfiltered AI", "jailbreak");
* ``exfil.*`` secret or system-prompt exfiltration ("reveal your system prompt",
  "exfiltrate", "send ... to http...", sending secrets or credentials out, markdown or HTML
  images whose URL carries data in a query parameter);
* ``hidden.*`` invisible characters: Unicode tag characters (outside emoji flag sequences;
  their hidden ASCII is decoded and scanned too), zero-width characters, bidi overrides;
* ``encoded.*`` base64 / hex blobs whose decoded text carries any of the phrases above (the
  decoded signals count as well).

Before matching, text is NFKC-normalised (full-width letters become ASCII), lowercased, common
Cyrillic/Greek look-alike letters are mapped to Latin, invisible characters are removed and
whitespace is collapsed, so ``ig<ZWSP>nore`` and ``ｉｇｎｏｒｅ`` read as ``ignore``. The
message lists the signals and the score, never the text.
"""

from __future__ import annotations

import base64
import binascii
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from functools import cache
from typing import Final, cast

from codor.errors import PolicySchemaError
from codor.model import INBOUND_SOURCES, Action
from codor.policy.guards.base import CompileContext, EvalContext, Finding
from codor.policy.patterns import compile_regex
from codor.policy.schema import Section

__all__ = ["InjectionGuard", "Score", "Signal", "compile_guard", "normalise", "score_text"]


@dataclass(frozen=True, slots=True)
class Signal:
    """One heuristic: a regex over the normalised (lowercase) text, tried only when one of its
    trigger words occurs in the text (no triggers: always tried)."""

    name: str
    regex: re.Pattern[str] | str  # a str is compiled on first use (see _ready)
    weight: float
    triggers: frozenset[bytes] = frozenset()
    cased: bool = False  # match the normalised text before lowercasing
    word_start: bool = True  # a match must start at a word boundary


@dataclass(frozen=True, slots=True)
class Score:
    """The result of scoring one text: the capped sum and the signals that fired."""

    score: float
    signals: tuple[str, ...]


_OBJ = (r"(?:instructions?|prompts?|directions?|directives?|rules|guidelines|context|commands"
        r"|guidance)")
_POLICY = (r"(?:polic(?:y|ies)|guardrails?|safeguards?|safety\s+(?:rules|measures|checks|filters?"
           r"|guidelines)|content\s+filters?|restrictions|moderation|censorship)(?!\.\w|[\w/-])")


def _sig(name: str, regex: str, weight: float, triggers: str, *, cased: bool = False) -> Signal:
    # Patterns start with literal words (no leading \b: sre then skips ahead quickly); the
    # word boundary before a match is checked by _search.
    return Signal(name, regex, weight,
                  frozenset(w.encode() for w in triggers.split()), cased)


_PHRASES: Final[tuple[Signal, ...]] = (
    _sig("override.ignore_previous",
         r"(?:ignore|disregard|forget|skip|override|bypass|neglect)\s+"
         r"(?:(?:all|any|the|your|of|these|those|every)\s+){0,6}"
         r"(?:previous|prior|above|earlier|preceding|former|foregoing|original|initial|system)"
         r"\s+" + _OBJ + r"\b",
         0.7, "ignore disregard forget skip override bypass neglect"),
    _sig("override.ignore_policy",
         r"(?:ignore|disregard|bypass|override|circumvent|disable|turn\s+off|violate)\s+"
         r"(?:(?:all|any|the|your|its|every|of|these|those)\s+){0,6}"
         r"(?:(?:safety|security|content|usage|system)\s+)?" + _POLICY,
         0.5, "policy policies guardrail guardrails safeguard safeguards safety filter filters "
              "restrictions moderation censorship"),
    _sig("override.forget_rules",
         r"(?:forget|disregard|ignore|abandon|drop|discard|override)\s+(?:all\s+|about\s+){0,6}"
         r"(?:your|its|the\s+system'?s?)\s+(?:(?:previous|prior|original|current)\s+)?"
         r"(?:rules|instructions|guidelines|programming|training|constraints|principles"
         r"|directives|restrictions)\b",
         0.6, "forget disregard ignore abandon drop discard override"),
    _sig("override.disregard", r"disregard\b", 0.15, "disregard"),
    _sig("override.new_instructions",
         r"(?:new|updated|revised|real|actual|true|override|secret)\s+(?:system\s+)?"
         r"(?:instructions?|directives?|orders|task)\s*:",
         0.5, "instruction instructions directive directives orders task"),
    _sig("override.you_must_now",
         r"(?:you\s+(?:must|will|shall|should|have\s+to)\s+now|from\s+now\s+on\s*,?\s+you)\b",
         0.3, "now"),
    _sig("override.role_marker",
         r"<\|?\s*im_start\s*\|?>|<\|\s*(?:system|assistant)\s*\|>|\[/?(?:system|inst)\]"
         r"|<</?sys>>|#{2,}\s*(?:system|instructions?)\s*:|system\s+override\b",
         0.4, "im_start system assistant inst sys instruction instructions"),
    _sig("roleplay.dan", r"DAN\b|(?i:do\s+anything\s+now)\b", 0.4, "dan anything", cased=True),
    _sig("roleplay.you_are_now", r"you\s+are\s+now\b", 0.25, "now"),
    _sig("roleplay.developer_mode", r"developer\s+mode\b", 0.3, "developer"),
    _sig("roleplay.unrestricted_mode",
         r"(?:god|jailbreak|jailbroken|dan|unrestricted|unfiltered|uncensored|evil|chaos)"
         r"\s+mode\b", 0.5, "mode"),
    _sig("roleplay.no_restrictions",
         r"(?:no|without\s+(?:any\s+)?)\s*(?:restrictions|limitations|filters|censorship"
         r"|guidelines|boundaries|ethical\s+constraints|moral\s+constraints)\b",
         0.3, "restrictions limitations filters censorship guidelines boundaries constraints"),
    _sig("roleplay.bypass_guardrails",
         r"(?:bypass|circumvent|evade|get\s+around|disable|override|ignore|remove)\s+"
         r"(?:(?:all|any|the|your|its|of|every)\s+){0,6}"
         r"(?:guardrails?|safeguards?|safety(?:\s+(?:filters?|checks?|measures?|guidelines"
         r"|features?|mechanisms?|rules|protocols|training))?|content\s+filters?|censorship"
         r"|moderation|ethical\s+(?:guidelines|constraints))\b",
         0.5, "guardrail guardrails safeguard safeguards safety content censorship moderation "
              "ethical"),
    _sig("roleplay.jailbreak", r"jailbr(?:eak|oken|eaking)\b", 0.3,
         "jailbreak jailbreaks jailbroken jailbreaking"),
    _sig("roleplay.pretend", r"(?:pretend|imagine)\s+(?:that\s+)?you\s+(?:are|were|have|can)\b",
         0.2, "pretend imagine"),
    _sig("roleplay.unfiltered_ai",
         r"(?:act|behave|respond|answer)\s+as\s+(?:if\s+you\s+(?:are|were)\s+)?(?:an?\s+)?"
         r"(?:unrestricted|unfiltered|uncensored|evil|rogue|malicious|jailbroken|amoral)\b"
         r"|(?:unrestricted|unfiltered|uncensored|jailbroken|amoral)\s+"
         r"(?:ai|assistant|model|chatbot|llm|version)\b",
         0.5, "unrestricted unfiltered uncensored evil rogue malicious jailbroken amoral"),
    _sig("exfil.system_prompt",
         r"(?:reveal|show|print|output|display|repeat|leak|dump|tell\s+me|give\s+me|share"
         r"|disclose|expose|write\s+out|return|recite)\s+(?:me\s+)?(?:(?:your|the|its|all)\s+)?"
         r"(?:(?:full|entire|complete|original|initial|hidden|secret|internal|exact|verbatim)\s+){0,6}"
         r"(?:system\s+(?:prompt|message|instructions)|hidden\s+instructions"
         r"|initial\s+instructions|developer\s+(?:message|prompt|instructions)|pre-?prompt)\b"
         r"|(?:reveal|repeat|leak|dump|recite|disclose)\s+your\s+(?:instructions|prompt|rules)\b",
         0.6, "system hidden initial developer prompt preprompt pre instructions"),
    _sig("exfil.exfiltrate", r"exfiltrat\w*", 0.5,
         "exfiltrate exfiltrated exfiltrates exfiltrating exfiltration"),
    _sig("exfil.send_to_url",
         r"(?:send|post|upload|transmit|forward|leak|submit|beacon|exfiltrate|copy|pipe|curl"
         r"|wget)\b[^\n]{0,120}?\bto\s+(?:https?|ftp)://",
         0.3, "http https ftp"),
    _sig("exfil.secrets_out",
         r"(?<!not )(?<!never )(?<!n't )(?:send|post|upload|transmit|forward|leak|exfiltrate"
         r"|email|reveal|dump|share|give\s+me|tell\s+me|disclose|expose)\s+(?:me\s+)?"
         r"(?:(?:all|any|the|your|my|our|its|every|of|these|those|stored)\s+){0,6}"
         r"(?:secrets?|credentials?|api[\s_-]?keys?|passwords?|private[\s_-]?keys?"
         r"|ssh[\s_-]?keys?|\.env\b|env(?:ironment)?\s+variables|(?:access|auth|bearer|session)"
         r"[\s_-]?tokens?|aws[\s_-]?(?:keys?|credentials)|id_rsa|\.ssh\b|~/\.ssh)",
         0.4, "send post upload transmit forward leak exfiltrate email reveal dump share give "
              "tell disclose expose"),
)

_DATA_PARAM = re.compile(
    r"[?&](?:data|d|q|s|c|p|x|v|secret|secrets|token|key|content|payload|info|exfil|msg"
    r"|message|text|prompt|conversation|chat|history|env|creds?|password|pwd|leak)=",
    re.IGNORECASE)
_IMAGE_URLS = (
    re.compile(r"!\[[^\]\n]{0,200}\]\(\s*<?(https?://[^)\s]{1,2048}+)", re.IGNORECASE),
    re.compile(r"<img\b[^>]{0,200}?\bsrc\s*=\s*[\"']?(https?://[^\"'\s>]{1,2048}+)",
               re.IGNORECASE),
)
_MAX_IMAGES = 256

_TAGS = re.compile("[\U000e0000-\U000e007f]")
_FLAG_SEQUENCE = re.compile("\U0001f3f4[\U000e0061-\U000e007a\U000e0030-\U000e0039]{1,8}"
                            "\U000e007f")
_ZERO_WIDTH = re.compile("[\u200b\u2060\u180e\u2061-\u2064\ufeff\u200c\u200d]")
_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069]")
_INVISIBLE = re.compile("[\u200b-\u200f\u2060-\u2064\u180e\ufeff\u00ad\u202a-\u202e"
                        "\u2066-\u2069\ufe00-\ufe0f\U000e0000-\U000e007f]")
_ASCII_LETTER = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_B64 = re.compile(r"[A-Za-z0-9+/]{16,}={0,2}|[A-Za-z0-9_-]{16,}={0,2}")
_HEX = re.compile(r"(?:[0-9a-fA-F]{2}){12,}|(?:\\x[0-9a-fA-F]{2}){8,}")
_B64_MASK = bytes(97 if chr(i).isascii() and (chr(i).isalnum() or chr(i) in "+/_-") else 32
                  for i in range(256))
_MAX_BLOBS = 32
_MAX_BLOB = 65536
_PUNCT = bytes(32 if chr(i) in "!\"#$%&'()*+,-./:;<=>?@[\\]^`{|}~" else i for i in range(256))
_CONFUSABLES = str.maketrans({
    "а": "a", "е": "e", "о": "o", "р": "p", "с": "c", "у": "y", "х": "x", "і": "i", "ј": "j",
    "ѕ": "s", "ԁ": "d", "һ": "h", "ӏ": "l", "ԛ": "q", "ԝ": "w", "ɡ": "g", "α": "a", "ο": "o",
    "ρ": "p", "ν": "v", "τ": "t", "ι": "i", "κ": "k", "υ": "u", "ε": "e", "ѵ": "v", "ɩ": "i",
})


def normalise(text: str, *, lower: bool = True) -> str:
    """The form phrases are matched against: NFKC, look-alikes mapped to Latin, invisible
    characters removed, whitespace collapsed, and (unless ``lower`` is false) lowercase."""
    if not text.isascii():
        text = _INVISIBLE.sub("", unicodedata.normalize("NFKC", text))
        text = text.translate(_CONFUSABLES)
    if lower:
        text = text.lower()
        if not text.isascii():
            text = text.translate(_CONFUSABLES)
    return " ".join(text.split())


def _search(regex: re.Pattern[str], text: str) -> bool:
    """``regex.search`` with a word boundary before the match."""
    pos = 0
    while True:
        m = regex.search(text, pos)
        if m is None:
            return False
        start = m.start()
        if start == 0 or not text[start - 1].isalnum():
            return True
        pos = start + 1


def _ready(phrases: Sequence[Signal]) -> tuple[Signal, ...]:
    """``phrases`` with every regex compiled (the built-in ones are kept as text until the
    first scan: compiling them costs ~6 ms that a policy load should not pay)."""
    return tuple(s if not isinstance(s.regex, str) else replace(s, regex=re.compile(s.regex))
                 for s in phrases)


@cache
def _default_phrases() -> tuple[Signal, ...]:
    return _ready(_PHRASES)


def _phrase_signals(cased: str, phrases: Sequence[Signal], found: dict[str, float]) -> None:
    norm = cased.lower()
    if not norm.isascii():
        norm = norm.translate(_CONFUSABLES)
    words = frozenset(norm.encode("utf-8", "surrogatepass").translate(_PUNCT).split())
    for sig in phrases:
        if sig.name in found or (sig.triggers and sig.triggers.isdisjoint(words)):
            continue
        subject = cased if sig.cased else norm
        regex = cast("re.Pattern[str]", sig.regex)  # _ready compiled it
        if _search(regex, subject) if sig.word_start else regex.search(subject):
            found[sig.name] = sig.weight


def _image_exfil(text: str) -> bool:
    """A markdown or HTML image whose URL carries data in a query parameter."""
    for regex in _IMAGE_URLS:
        for n, m in enumerate(regex.finditer(text)):
            if n >= _MAX_IMAGES:
                break
            if _DATA_PARAM.search(m.group(1)):
                return True
    return False


def _printable(raw: bytes) -> str | None:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if not text:
        return None
    good = sum(1 for c in text if c.isprintable() or c in "\n\r\t")
    return text if good / len(text) >= 0.9 else None


def _decoded_blobs(text: str) -> Iterable[tuple[str, str]]:
    raw = text.encode("utf-8", "surrogatepass")
    if b"a" * 16 in raw.translate(_B64_MASK):
        for n, m in enumerate(_B64.finditer(text)):
            if n >= _MAX_BLOBS:
                break
            blob = m.group(0)[:_MAX_BLOB]
            padded = blob.rstrip("=")
            padded += "=" * (-len(padded) % 4)
            try:
                decoded_raw = base64.b64decode(padded.replace("-", "+").replace("_", "/"))
            except (binascii.Error, ValueError):
                continue
            decoded = _printable(decoded_raw)
            if decoded is not None:
                yield "encoded.base64", decoded
    if b"a" * 16 in raw.translate(_B64_MASK) or b"\\x" in raw:
        for n, m in enumerate(_HEX.finditer(text)):
            if n >= _MAX_BLOBS:
                break
            try:
                decoded_raw = bytes.fromhex(m.group(0)[:_MAX_BLOB].replace("\\x", ""))
            except ValueError:
                continue
            decoded = _printable(decoded_raw)
            if decoded is not None:
                yield "encoded.hex", decoded


def _hidden_signals(text: str, found: dict[str, float]) -> str:
    """Invisible-character signals; returns the ASCII text hidden in tag characters."""
    if text.isascii():
        return ""
    hidden = ""
    tags = _TAGS.findall(_FLAG_SEQUENCE.sub("", text))
    if tags:
        found["hidden.unicode_tags"] = 0.5
        hidden = "".join(chr(ord(c) - 0xE0000) for c in tags if 0xE0020 <= ord(c) < 0xE007F)
    for m in _ZERO_WIDTH.finditer(text):
        c, i = m.group(0), m.start()
        if c in "\u200c\u200d":  # joiners are legitimate in emoji and many scripts
            if not (0 < i < len(text) - 1 and text[i - 1] in _ASCII_LETTER
                    and text[i + 1] in _ASCII_LETTER):
                continue
        elif c == "\ufeff" and i == 0:  # a byte order mark
            continue
        found["hidden.zero_width"] = 0.25
        break
    if _BIDI.search(text):
        found["hidden.bidi_override"] = 0.4
    return hidden


def score_text(text: str, phrases: Sequence[Signal] | None = None) -> Score:
    """Score ``text`` with ``phrases`` (default: the built-in ones) plus the hidden-character,
    encoding and markdown checks."""
    phrases = _default_phrases() if phrases is None else _ready(phrases)
    return _score(text, phrases)


def _score(text: str, phrases: Sequence[Signal]) -> Score:
    found: dict[str, float] = {}
    hidden = _hidden_signals(text, found)
    cased = normalise(text, lower=False)
    if hidden:
        cased = cased + " " + normalise(hidden, lower=False)
    _phrase_signals(cased, phrases, found)
    if ("![" in text or "<img" in cased.lower()) and _image_exfil(text):
        found["exfil.markdown_image"] = 0.6
    for name, decoded in _decoded_blobs(text):
        inner: dict[str, float] = {}
        _phrase_signals(normalise(decoded, lower=False), phrases, inner)
        if inner:
            found.setdefault(name, 0.3)
            for key, weight in inner.items():
                found.setdefault(key, weight)
    total = min(1.0, sum(found.values()))
    return Score(round(total, 2), tuple(sorted(found)))


class InjectionGuard:
    name = "injection"
    kinds = frozenset({"content.inbound"})

    def __init__(self, *, ask: float, deny: float, sources: frozenset[str], allow_clean: bool,
                 max_scan_bytes: int, phrases: tuple[Signal, ...]) -> None:
        self._ask = ask
        self._deny = deny
        self._sources = sources
        self._allow_clean = allow_clean
        self._max = max_scan_bytes
        self._source_phrases = phrases
        self._phrases: tuple[Signal, ...] | None = None  # compiled at the first check

    def check(self, action: Action, ctx: EvalContext) -> Sequence[Finding]:
        source = action.source or "tool"
        text = action.text
        if text is None or source not in self._sources:
            return []
        unscanned = 0
        if len(text) * 4 > self._max:
            raw = text.encode("utf-8", "surrogatepass")
            if len(raw) > self._max:
                unscanned = len(raw)
                text = raw[: self._max].decode("utf-8", "ignore")
        phrases = self._phrases
        if phrases is None:
            phrases = self._phrases = _ready(self._source_phrases)
        result = _score(text, phrases)
        listed = ", ".join(result.signals) or "none"
        what = f"{source} content"
        tail = (f"; the text is {unscanned} bytes and only the first {self._max} were scanned"
                if unscanned else "")
        if result.score >= self._deny:
            return [Finding("deny", "injection.deny", self.name, "high",
                            f"prompt injection in {what}: score {result.score:.2f} >= "
                            f"{self._deny:.2f} (signals: {listed}){tail}")]
        if result.score >= self._ask or unscanned:
            return [Finding("ask", "injection.ask", self.name, "medium",
                            f"possible prompt injection in {what}: score {result.score:.2f} "
                            f"(ask at {self._ask:.2f}; signals: {listed}){tail}")]
        if self._allow_clean:
            return [Finding("allow", "injection.clean", self.name, "info",
                            f"{what} looks clean: score {result.score:.2f} < {self._ask:.2f}"
                            f" (signals: {listed})")]
        return []


def _threshold(section: Section, key: str, default: float) -> float:
    value = section.number(key, default)
    assert value is not None
    if not 0.0 <= value <= 1.0:
        raise section.fail(key, "must be between 0 and 1")
    return value


def compile_guard(section: Section, cc: CompileContext) -> InjectionGuard:
    section.only("ask_threshold", "deny_threshold", "sources", "allow_clean", "max_scan_bytes",
                 "phrases", "inherit")
    ask = _threshold(section, "ask_threshold", 0.4)
    deny = _threshold(section, "deny_threshold", 0.7)
    if ask > deny:
        raise section.fail("ask_threshold", f"ask_threshold ({ask}) is above deny_threshold "
                                            f"({deny})")
    sources = section.strings("sources") if "sources" in section else sorted(INBOUND_SOURCES)
    for i, src in enumerate(sources):
        if src not in INBOUND_SOURCES:
            raise PolicySchemaError(
                f"{section.path('sources')}[{i}]: unknown source {src!r}; known: "
                f"{', '.join(sorted(INBOUND_SOURCES))}", location=section.item_loc("sources", i))
    extra: list[Signal] = []
    for i, p in enumerate(section.sections("phrases")):
        p.only("regex", "weight", "name")
        regex = compile_regex(p.req_string("regex"), location=p.loc("regex"),
                              flags=re.IGNORECASE)
        weight = p.number("weight", 0.5)
        assert weight is not None
        if not 0.0 <= weight <= 1.0:
            raise p.fail("weight", "must be between 0 and 1")
        label = p.string("name") or str(i)
        extra.append(Signal(f"custom.{label}", regex, weight, word_start=False))
    max_scan = section.integer("max_scan_bytes", 1024 * 1024, minimum=1)
    assert max_scan is not None
    return InjectionGuard(ask=ask, deny=deny, sources=frozenset(sources),
                          allow_clean=section.boolean("allow_clean", True),
                          max_scan_bytes=max_scan, phrases=_PHRASES + tuple(extra))
