"""The ``secrets`` guard: credentials in what an agent writes, runs, sends or passes to a tool.

Configuration::

    secrets:
      effect: deny              # deny | ask: the effect of a finding
      disable: [kind, ...]      # detectors to turn off (unknown names are a schema error)
      patterns:                 # extra detectors; the rule id is secrets.<name>
        - {name: acme_token, regex: "acme_[0-9a-f]{32}", severity: high}
      allow:                    # never reported: literal secret values, or "re:<regex>"
        - AKIAFIXTURE000000000
        - "re:^ghp_0{36}$"
      skip_paths: [globs]       # file.write / patch.apply targets that are not scanned
      entropy: {enabled: true, min_length: 20, threshold: 4.0}
      max_scan_bytes: 4194304   # text beyond this is not scanned; the guard asks instead

What is scanned: ``file.write`` content, the *added* lines of a ``patch.apply`` (per file of
the diff), ``command.exec`` command and argv, ``content.outbound`` text, ``network.request``
url and ``tool.call`` arguments (as compact JSON). A finding has rule ``secrets.<kind>`` and
the configured effect; text over ``max_scan_bytes`` adds ``secrets.unscanned`` (ask).
Messages name the kind and where it was found, never the secret: at most its first four
characters and its length (``AKIA…(20 chars)``).

Detectors (kinds): see :data:`KINDS`. Token formats with a recognisable prefix are matched
where a word of ``[A-Za-z0-9_-]`` starts; credentials that only look like one in context
(``aws_secret_key``, ``azure_client_secret``, ``heroku_api_key``, ``datadog_api_key``...) need
an assignment ``NAME = value`` / ``NAME: value`` whose NAME says so;
``generic_high_entropy_assignment`` is any assignment whose NAME contains key, secret, token,
password, passwd or pwd and whose value is long, random-looking (Shannon entropy per character
at least ``entropy.threshold``) and not an identifier or a placeholder. ``private_key`` needs a
key body after the ``-----BEGIN ... PRIVATE KEY-----`` line. ``allow`` literals suppress a
finding whose secret value equals them; ``re:`` entries are searched in the value. The
built-in allow list holds documented example keys (AWS's ``AKIAIOSFODNN7EXAMPLE``...); the
configured list is added to it.

Speed: a scan first maps the text to a mask of token characters with ``bytes.translate``; text
without a run of 16 token characters (prose, short strings) is done after one substring
search. Otherwise detectors are dispatched from where token-like words start (a dictionary
lookup on their first two characters), from keyword positions (``key``, ``secret``...) and
from ``://`` and ``-----BEGIN``; every detector regex is anchored there (``match``), so nothing
scans the whole text once per detector.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import json
import math
import re
from bisect import bisect_left
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any, Final, cast

from codor.errors import PolicySchemaError
from codor.model import Action, FrozenMap, Severity, thaw
from codor.policy.diff import parse_patch
from codor.policy.guards.base import CompileContext, EvalContext, Finding
from codor.policy.memo import Memo
from codor.policy.patterns import GlobSet, compile_regex
from codor.policy.schema import Section

__all__ = [
    "DEFAULT_ALLOW",
    "KINDS",
    "SecretMatch",
    "SecretScanner",
    "SecretsGuard",
    "compile_guard",
    "default_scanner",
    "redacted_form",
    "shannon_entropy",
]

_A = re.ASCII
_MEMO_MAX_CHARS = 4096  # texts up to this size have their findings memoised
_RUN: Final = 16  # token-like words shorter than this are never secrets of a prefixed kind
_WORD = "A-Za-z0-9_\\-"
_B = f"(?<![{_WORD}])"  # a token starts here
_E = f"(?![{_WORD}])"  # ... and ends here
_NARROW_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
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


#: Documented example credentials (AWS docs, jwt.io) that are never reported.
DEFAULT_ALLOW: Final[tuple[str, ...]] = (
    "AKIAIOSFODNN7EXAMPLE",
    "AKIAI44QH8DHBEXAMPLE",
    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY",
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwi"
    "aWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
)


@dataclass(frozen=True, slots=True)
class SecretMatch:
    """One credential found in a text: ``text[start:end]`` is the secret itself."""

    kind: str
    start: int
    end: int
    severity: Severity


Validator = Callable[[str, "re.Match[str]"], bool]


@dataclass(frozen=True, slots=True)
class _Token:
    """A detector anchored where its token starts (``match`` at that position)."""

    kind: str
    regex: re.Pattern[str]
    severity: Severity
    starts: tuple[str, ...] = ()  # first two characters of the token
    anchor: str = ""  # or: the token starts with this literal (``SG.``) ...
    back: int = 0  # ... at most this far before a run of token characters
    ends: tuple[str, ...] = ()  # ... that follows one of these (``SG.``, ``pt.``)
    check: Validator | None = None


@dataclass(frozen=True, slots=True)
class _Context:
    """A detector for ``NAME = value``: the value's shape and what NAME must say."""

    kind: str
    value: re.Pattern[str]
    severity: Severity
    names: tuple[str, ...]  # NAME (lowercased) must contain one of these
    check: Callable[[str, str, str], bool] | None = None  # (text, name, value)


# -- validators ----------------------------------------------------------------------------
def shannon_entropy(value: str) -> float:
    """Shannon entropy of ``value`` in bits per character (0 for an empty string)."""
    n = len(value)
    if not n:
        return 0.0
    return -sum(c / n * math.log2(c / n) for c in Counter(value).values())


def _jwt_header_ok(_text: str, m: re.Match[str]) -> bool:
    header = m.group(0).split(".", 1)[0]
    try:
        raw = base64.urlsafe_b64decode(header + "=" * (-len(header) % 4))
        data = json.loads(raw)
    except (ValueError, binascii.Error, UnicodeDecodeError, RecursionError):
        return False
    return isinstance(data, dict) and "alg" in data


_PK_BODY = re.compile(r"[A-Za-z0-9+/=]{16}", _A)


def _t(kind: str, regex: str, severity: Severity, starts: Iterable[str] = (), *,
       anchor: str = "", back: int = 0, ends: Iterable[str] = (),
       check: Validator | None = None) -> _Token:
    return _Token(kind, re.compile(_B + regex + _E, _A), severity, tuple(starts), anchor, back,
                  tuple(ends), check)


_DISCORD_STARTS = tuple(c + d for c in "MNO" for d in sorted(_NARROW_CHARS))

_TOKENS: Final[tuple[_Token, ...]] = (
    _t("aws_access_key", r"(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}", "critical",
       ("AK", "AS", "AB", "AC")),
    _t("gcp_api_key", r"AIza[A-Za-z0-9_\-]{35}", "high", ("AI",)),
    _t("github_token", r"gh[pousr]_[A-Za-z0-9]{36,251}", "critical", ("gh",)),
    _t("github_fine_grained", r"github_pat_[A-Za-z0-9_]{22,247}", "critical", ("gi",)),
    _t("gitlab_token", r"glpat-[A-Za-z0-9_\-]{20,}", "critical", ("gl",)),
    _t("slack_token", r"xox[abprs]-[A-Za-z0-9\-]{20,}", "high", ("xo",)),
    _t("stripe_key", r"[rs]k_live_[A-Za-z0-9]{20,}", "critical", ("sk", "rk")),
    _t("openai_key", r"sk-(?!ant-)(?:(?:proj|svcacct|admin|None)-[A-Za-z0-9_\-]{20,}"
       r"|[A-Za-z0-9]{32,})", "critical", ("sk",)),
    _t("anthropic_key", r"sk-ant-[A-Za-z0-9_\-]{20,}", "critical", ("sk",)),
    _t("huggingface_token", r"hf_[A-Za-z0-9]{30,}", "high", ("hf",)),
    _t("npm_token", r"npm_[A-Za-z0-9]{36}", "critical", ("np",)),
    _t("pypi_token", r"pypi-AgE[A-Za-z0-9_\-]{50,}", "critical", ("py",)),
    _t("twilio_api_key", r"SK[0-9a-fA-F]{32}", "high", ("SK",)),
    _t("mailgun_api_key", r"key-[0-9a-f]{32}", "high", ("ke",)),
    _t("jwt", r"eyJ[A-Za-z0-9_\-]{13,}\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]*", "high", ("ey",),
       check=_jwt_header_ok),
    _t("digitalocean_token", r"do[opr]_v1_[a-f0-9]{64}", "critical", ("do",)),
    _t("shopify_token", r"shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}", "high", ("sh",)),
    _t("square_token", r"(?:sq0atp-[A-Za-z0-9_\-]{22}|sq0csp-[A-Za-z0-9_\-]{43}"
       r"|EAAA[A-Za-z0-9_\-]{60})", "high", ("sq", "EA")),
    _t("heroku_api_key", r"HRKU-[A-Za-z0-9_\-]{20,}", "high", ("HR",)),
    _t("age_secret_key", r"AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}", "critical",
       ("AG",)),
    _t("linear_api_key", r"lin_api_[A-Za-z0-9]{40}", "high", ("li",)),
    _t("telegram_bot_token", r"(?<=[0-9]{8}:)AA[A-Za-z0-9_\-]{33}", "high", ("AA",)),
    _t("discord_bot_token", r"[MNO][A-Za-z0-9_\-]{23,25}\.[A-Za-z0-9_\-]{6}\.[A-Za-z0-9_\-]{27,38}",
       "high", _DISCORD_STARTS),
    _t("sendgrid_api_key", r"SG\.[A-Za-z0-9_\-]{22}\.[A-Za-z0-9_\-]{43}", "high",
       anchor="SG.", back=3, ends=("SG.",)),
    _t("doppler_token", r"dp\.(?:pt|st|sa|ct|scim|audit)\.[A-Za-z0-9]{40,44}", "high",
       anchor="dp.", back=9, ends=("pt.", "st.", "sa.", "ct.", "im.", "it.")),
)

# NAME = value: the keyword that anchors the scan, the rest of NAME, and the separator.
_ASSIGN = re.compile(
    r"(?i:key|secret|token|passw|pwd)(?P<tail>[A-Za-z0-9_.\-]{0,40}?)"
    r"""["']?\]?[ \t]{0,4}(?:=>|:=|==?|:)[ \t]{0,4}["'`]?""", _A)
_KEYWORDS: Final = (b"key", b"secret", b"token", b"passw", b"pwd")
_ASSIGN_SPAN: Final = 64  # longest _ASSIGN match before the value (6 + 40 + 14, rounded up)
_NAME_CHARS = frozenset(_NARROW_CHARS | {"."})


_SERVICE_ACCOUNT = re.compile(r'"type"\s*:\s*"service_account"')


def _gcp_sa(text: str, _name: str, _value: str) -> bool:
    return _SERVICE_ACCOUNT.search(text) is not None


def _azure_client(_text: str, name: str, value: str) -> bool:
    return "azure" in name or "~" in value


_CONTEXT: Final[tuple[_Context, ...]] = (
    _Context("gcp_service_account", re.compile(r'-----BEGIN[^"]{40,16384}(?=")', _A), "critical",
             ("private_key",), _gcp_sa),
    _Context("aws_secret_key", re.compile(r"[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])", _A),
             "critical", ("aws", "secret_access_key", "secretaccesskey")),
    _Context("azure_storage_key", re.compile(r"[A-Za-z0-9+/]{86}==", _A), "critical",
             ("accountkey", "azure", "storage")),
    _Context("azure_client_secret", re.compile(r"[A-Za-z0-9_~.\-]{34,44}(?![A-Za-z0-9_~.\-])",
                                               _A),
             "critical", ("azure", "client_secret", "clientsecret"), _azure_client),
    _Context("heroku_api_key", re.compile(
        r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
        r"(?![A-Za-z0-9_\-])", _A), "high", ("heroku",)),
    _Context("datadog_api_key", re.compile(r"(?:[a-f0-9]{40}|[a-f0-9]{32})(?![A-Za-z0-9])", _A),
             "high", ("datadog", "dd_api", "dd_app", "ddapi", "ddapp", "dd-api", "dd-app")),
)
_CONTEXT_NAMES = re.compile("|".join(re.escape(w) for c in _CONTEXT for w in c.names))
_GENERIC_KIND: Final = "generic_high_entropy_assignment"
_DIGITS: Final = frozenset("0123456789")
_LOWER: Final = frozenset("abcdefghijklmnopqrstuvwxyz")
_UPPER: Final = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
# '&' and '?' belong to a value unless a query parameter (&name=) starts there
_GENERIC_VALUE = re.compile(r"(?:[A-Za-z0-9_\-+/=.~!@#$%^*|]|[&?](?![A-Za-z0-9_.\-]+=)){1,256}",
                            _A)
_DOTTED_NAME = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*(?:\.[A-Za-z_$][A-Za-z0-9_$]*)+", _A)
_SNAKE = re.compile(r"[a-z][a-z0-9]*(?:[_\-][a-z0-9]+)+|[A-Z][A-Z0-9]*(?:[_\-][A-Z0-9]+)+", _A)

# scheme://user:password@host, webhooks
_SCHEME_BACK = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]{0,30}\Z", _A)
_CRED = re.compile(r"""[^\s:/?#@"'<>\[\]]{0,128}:([^\s/?#@"'<>\[\]]{1,256})@[A-Za-z0-9\[]""", _A)
_DB_SCHEMES: Final = frozenset({"postgres", "postgresql", "mysql", "mariadb", "mongodb",
                                "mongodb+srv", "redis", "rediss", "amqp", "amqps"})
_SLACK_HOOK = re.compile(r"hooks\.slack\.com/services/(T[A-Z0-9]+/B[A-Z0-9]+/[A-Za-z0-9]{16,})", _A)
_DISCORD_HOOK = re.compile(
    r"(?:ptb\.|canary\.)?discord(?:app)?\.com/api/webhooks/([0-9]{5,30}/[A-Za-z0-9_\-]{40,})",
    _A)
_PEM_HEAD = re.compile(r"-----BEGIN ((?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?)-----", _A)
# a PEM body without its END line: base64, header lines, escaped newlines; stops at "-----"
_PEM_BODY = re.compile(r"(?:[A-Za-z0-9+/=\s:,.\\]|-(?!----)){0,16384}", _A)
_PEM_MAX = 65536

_URL_KINDS: Final = ("db_url_password", "basic_auth_url", "slack_webhook", "discord_webhook")

#: Every built-in detector kind, in a stable order.
KINDS: Final[tuple[str, ...]] = tuple(dict.fromkeys(
    [t.kind for t in _TOKENS] + [c.kind for c in _CONTEXT] + ["private_key", *_URL_KINDS,
                                                               _GENERIC_KIND]))

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


_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str)
_SCALARS: Final = frozenset({str, int, float, bool, type(None)})


def _plain(value: Any) -> Any:
    """:func:`~codor.model.thaw`, faster for the usual JSON values (same result)."""
    t = type(value)
    if t in _SCALARS:
        return value
    if t is FrozenMap:
        return {k: _plain(v) for k, v in value.items()}
    if t is tuple or t is list:
        return [_plain(v) for v in value]
    return thaw(value)


@lru_cache(maxsize=1024)
def _arguments_json(arguments: Any) -> str:
    """Tool arguments as compact JSON (memoised: frozen arguments are hashable); the same
    text as ``json.dumps(thaw(arguments), ensure_ascii=False, separators=(",", ":"),
    default=str)``."""
    try:
        return _JSON.encode(_plain(arguments))
    except (TypeError, ValueError, RecursionError):
        return str(arguments)


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


# -- the guard ---------------------------------------------------------------------------------
_KIND_NAME = re.compile(r"[a-z][a-z0-9_]*")
_SCANNED: Final = frozenset({"file.write", "patch.apply", "command.exec", "content.outbound",
                             "network.request", "tool.call"})


class SecretsGuard:
    name = "secrets"
    kinds = _SCANNED

    def __init__(self, scanner: SecretScanner, effect: str, skip: GlobSet,
                 max_scan_bytes: int) -> None:
        self.scanner = scanner
        self._effect = effect
        self._skip = skip
        self._max = max_scan_bytes
        self._memo: Memo[tuple[str, str], tuple[Finding, ...]] = Memo()

    def check(self, action: Action, ctx: EvalContext) -> Sequence[Finding]:
        if action.kind == "command.exec" and action.argv is None:  # the usual command
            return list(self.scan_text(action.command, "the command")) if action.command \
                else []
        out: list[Finding] = []
        for text, where in self._texts(action, ctx):
            out.extend(self.scan_text(text, where))
        return out

    def scan_text(self, text: str, where: str) -> Sequence[Finding]:
        """Findings for one text; ``where`` completes "found in ..." (other guards may call
        this to reuse the configured scanner). Results for short texts are memoised."""
        if len(text) > _MEMO_MAX_CHARS:
            return self._scan_text(text, where)
        key = (text, where)
        got = self._memo.get(key)
        if got is None:
            got = self._memo.put(key, tuple(self._scan_text(text, where)))
        return got

    def _scan_text(self, text: str, where: str) -> list[Finding]:
        size = len(text)
        unscanned = 0
        if size * 4 > self._max:
            raw = text.encode("utf-8", "surrogatepass")
            if len(raw) > self._max:
                unscanned = len(raw)
                text = raw[: self._max].decode("utf-8", "ignore")
        matches = self.scanner.scan(text)
        if not matches and not unscanned:
            return []
        first: dict[str, SecretMatch] = {}
        count: dict[str, int] = {}
        for m in matches:
            if m.kind in first:
                count[m.kind] += 1
            else:
                first[m.kind] = m
                count[m.kind] = 1
        out: list[Finding] = []
        for kind, m in first.items():
            more = f" and {count[kind] - 1} more" if count[kind] > 1 else ""
            shown = redacted_form(text[m.start:m.end])
            verb = "denied" if self._effect == "deny" else "needs approval"
            out.append(Finding(
                "deny" if self._effect == "deny" else "ask", f"secrets.{kind}", self.name,
                m.severity, f"{kind} secret in {where} ({shown}{more}); {verb}"))
        if unscanned:
            out.append(Finding(
                "ask", "secrets.unscanned", self.name, "medium",
                f"{where} is {unscanned} bytes, over max_scan_bytes ({self._max}): only the "
                "first part was scanned for secrets, so a person must approve"))
        return out

    def _skipped(self, path: str, ctx: EvalContext, cwd: str | None) -> bool:
        if not self._skip:
            return False
        try:
            forms = ctx.forms(path, cwd)
        except ValueError:
            return False
        return all(self._skip.matches(f) for f in forms)

    def _texts(self, action: Action, ctx: EvalContext) -> Iterator[tuple[str, str]]:
        kind = action.kind
        if kind == "file.write":
            if action.content and action.path is not None and \
                    not self._skipped(action.path, ctx, action.cwd):
                yield action.content, f"the content written to {action.path}"
        elif kind == "patch.apply":
            if action.patch:
                for f in parse_patch(action.patch).files:
                    if not f.added:
                        continue
                    paths = f.paths or ((action.path,) if action.path else ())
                    if paths and self._skip and \
                            all(self._skipped(p, ctx, action.cwd) for p in paths):
                        continue
                    target = f.new_path or f.old_path or action.path or "?"
                    yield "\n".join(f.added), f"the lines the patch adds to {target}"
        elif kind == "command.exec":
            if action.command:
                yield action.command, "the command"
            if action.argv:
                yield " ".join(action.argv), "the command's arguments"
        elif kind == "content.outbound":
            if action.text:
                yield action.text, "outbound text"
        elif kind == "network.request":
            if action.url:
                yield action.url, "the request URL"
        elif kind == "tool.call" and action.arguments:
            yield _arguments_json(action.arguments), f"the arguments of tool {action.tool}"


def compile_guard(section: Section, cc: CompileContext) -> SecretsGuard:
    section.only("effect", "disable", "patterns", "allow", "skip_paths", "entropy",
                 "max_scan_bytes", "inherit")
    effect = section.choice("effect", ("deny", "ask"), "deny")
    extra: list[tuple[str, re.Pattern[str], Severity]] = []
    for p in section.sections("patterns"):
        p.only("name", "regex", "severity")
        name = p.req_string("name")
        if not _KIND_NAME.fullmatch(name):
            raise p.fail("name", f"{name!r} is not a valid detector name ([a-z][a-z0-9_]*)")
        if name in KINDS or name in {n for n, _r, _s in extra}:
            raise p.fail("name", f"detector {name!r} already exists")
        regex = compile_regex(p.req_string("regex"), location=p.loc("regex"))
        extra.append((name, regex, cast(Severity, p.severity("severity", "high"))))
    known = set(KINDS) | {n for n, _r, _s in extra}
    disabled = section.strings("disable")
    for i, kind in enumerate(disabled):
        if kind not in known:
            raise PolicySchemaError(
                f"{section.path('disable')}[{i}]: unknown secret kind {kind!r}; known: "
                f"{', '.join(sorted(known))}", location=section.item_loc("disable", i))
    allow = section.strings("allow")
    for i, entry in enumerate(allow):
        if entry.startswith("re:"):
            compile_regex(entry[3:], location=section.item_loc("allow", i))
    ent = section.section("entropy").only("enabled", "min_length", "threshold")
    threshold = ent.number("threshold", 4.0)
    assert threshold is not None
    if not 0.0 < threshold <= 8.0:
        raise ent.fail("threshold", "must be greater than 0 and at most 8 (bits per character)")
    min_length = ent.integer("min_length", 20, minimum=1)
    max_scan = section.integer("max_scan_bytes", 4 * 1024 * 1024, minimum=1)
    assert min_length is not None and max_scan is not None
    scanner = SecretScanner(disabled=disabled, extra=extra, allow=allow,
                            entropy=ent.boolean("enabled", True), min_length=min_length,
                            threshold=threshold)
    skip = cc.globs(section, "skip_paths", warn_empty=False)
    return SecretsGuard(scanner, effect, skip, max_scan)
