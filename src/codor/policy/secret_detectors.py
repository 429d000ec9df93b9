"""The built-in secret detector catalogue: kinds, token and assignment regexes, the allow list."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Final

from codor.model import Severity
from codor.policy.secret_kinds import DEFAULT_ALLOW, KINDS

__all__ = ["DEFAULT_ALLOW", "DERIVED_KINDS", "KINDS"]

_A = re.ASCII
_RUN: Final = 16  # token-like words shorter than this are never secrets of a prefixed kind
_WORD = "A-Za-z0-9_\\-"
_B = f"(?<![{_WORD}])"  # a token starts here
_E = f"(?![{_WORD}])"  # ... and ends here
_NARROW_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


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

#: Every built-in detector kind, derived from the tables (equal to ``secret_kinds.KINDS``).
DERIVED_KINDS: Final[tuple[str, ...]] = tuple(dict.fromkeys(
    [t.kind for t in _TOKENS] + [c.kind for c in _CONTEXT] + ["private_key", *_URL_KINDS,
                                                               _GENERIC_KIND]))
