"""Host names and IP literals: :func:`normalize_host` gives the one canonical form of every
spelling of a host (case, trailing dot, IDN, the WHATWG IPv4 forms, IPv4-mapped IPv6) and
:func:`parse_ip` the address a normalised host denotes. Pure: no DNS, no I/O."""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from functools import lru_cache
from typing import Final

__all__ = [
    "MAX_HOST",
    "MAX_LABEL",
    "IPAddress",
    "IPNetwork",
    "format_host",
    "normalize_host",
    "parse_ip",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

MAX_HOST: Final = 253
MAX_LABEL: Final = 63
_MAX_INPUT: Final = 1024  # longer raw host text is rejected before any work

_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")
_ASCII_NAME = re.compile(
    r"(?:[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?\.)*[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
)
_DIGITS = re.compile(r"[0-9]+")
_HEX = re.compile(r"0[xX][0-9a-fA-F]*")
# Unicode categories never accepted in a host: controls, format characters (soft hyphen,
# zero-width and bidi controls), separators, surrogates, private use, unassigned.
_BAD_CATEGORIES: Final = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zs", "Zl", "Zp"})
_ASCII_BAD: Final = frozenset(" %\\@/?#[]:<>\"'`{}|^~!$&()*+,;=")


def format_host(host: str, ip: IPAddress | None = None) -> str:
    """A normalised host as it is written in a URL (IPv6 in brackets)."""
    if (ip is not None and ip.version == 6) or ":" in host:
        return f"[{host}]"
    return host


# -- hosts ----------------------------------------------------------------------------------
def normalize_host(raw: str) -> str:
    """The canonical form of one host (no port): lower-case ASCII, punycode for IDNs, no
    trailing dot; IP addresses in their canonical text (IPv6 without brackets).

    Raises ``ValueError`` with a short reason for anything that is not a valid host.
    """
    if not isinstance(raw, str):
        raise ValueError("host is not a string")
    return _normalize_host(raw)


@lru_cache(maxsize=8192)
def _normalize_host(raw: str) -> str:
    if not raw:
        raise ValueError("empty host")
    if len(raw) > _MAX_INPUT:
        raise ValueError("host is too long")
    if raw.startswith("[") or ":" in raw:
        return str(_parse_ipv6(raw))
    if raw.isascii():
        name = raw.lower()
        for ch in name:
            if ch in _ASCII_BAD or not ch.isprintable():
                raise ValueError(f"host contains the character {ch!r}")
    else:
        name = _map_unicode(raw)
    if name.endswith("."):
        name = name[:-1]
    if not name:
        raise ValueError("empty host")
    labels = name.split(".")
    if _ends_in_number(labels[-1]):
        try:
            return str(_parse_ipv4_labels(labels))
        except ValueError as exc:
            raise ValueError(f"host ends in a number but is not an IPv4 address: {exc}") from None
    if len(name) > MAX_HOST:
        raise ValueError(f"host name longer than {MAX_HOST} characters")
    if _ASCII_NAME.fullmatch(name) is None:
        raise ValueError(_label_problem(labels))
    return name


def _map_unicode(raw: str) -> str:
    """UTS 46 mapping, then punycode for every non-ASCII label (IDNA 2008 rules)."""
    for ch in raw:
        if ch in _ASCII_BAD or unicodedata.category(ch) in _BAD_CATEGORIES:
            raise ValueError(f"host contains the character {ch!r}")
    import idna  # ~3 ms to import; only international names need it

    try:
        mapped = idna.uts46_remap(raw, std3_rules=False, transitional=False)
    except Exception as exc:  # idna raises IDNAError, sometimes IndexError on odd input
        raise ValueError(f"invalid international host name: {exc}") from None
    out: list[str] = []
    for label in mapped.split("."):
        if label.isascii():
            for ch in label:
                if ch in _ASCII_BAD or not ch.isprintable():
                    raise ValueError(f"host contains the character {ch!r} after IDN mapping")
            out.append(label)
            continue
        try:
            out.append(idna.alabel(label).decode("ascii"))
        except Exception as exc:
            raise ValueError(f"invalid international host name: {exc}") from None
    return ".".join(out)


def _label_problem(labels: list[str]) -> str:
    for label in labels:
        if not label:
            return "host has an empty label"
        if len(label) > MAX_LABEL:
            return f"host label longer than {MAX_LABEL} characters"
        if _LABEL.fullmatch(label) is None:
            return f"invalid host label {label!r}"
    return "invalid host name"  # pragma: no cover - the regex and the loop agree


def _ends_in_number(label: str) -> bool:
    """WHATWG "ends in a number": all digits, or a hexadecimal ``0x`` number."""
    return _DIGITS.fullmatch(label) is not None or _HEX.fullmatch(label) is not None


def _ipv4_number(part: str) -> int:
    if not part:
        raise ValueError("empty IPv4 part")
    if part[:2] in ("0x", "0X"):
        digits, base = part[2:], 16
    elif len(part) > 1 and part[0] == "0":
        digits, base = part[1:], 8
    else:
        digits, base = part, 10
    if not digits:
        return 0
    try:
        return int(digits, base)
    except ValueError:
        raise ValueError(f"invalid IPv4 number {part!r}") from None


def _parse_ipv4_labels(labels: list[str]) -> ipaddress.IPv4Address:
    """The WHATWG IPv4 parser: 1-4 parts, decimal, octal (leading 0) or hex (0x)."""
    if len(labels) > 4:
        raise ValueError("more than 4 parts")
    if any(len(p) > 40 for p in labels):
        raise ValueError("IPv4 address out of range")
    numbers = [_ipv4_number(p) for p in labels]
    if any(n > 255 for n in numbers[:-1]):
        raise ValueError("IPv4 address part out of range")
    last_limit = 256 ** (5 - len(numbers))
    if numbers[-1] >= last_limit:
        raise ValueError("IPv4 address out of range")
    value = numbers[-1]
    for i, n in enumerate(numbers[:-1]):
        value += n << (8 * (3 - i))
    return ipaddress.IPv4Address(value)


def _parse_ipv6(raw: str) -> IPAddress:
    text = raw
    if text.startswith("["):
        if not text.endswith("]"):
            raise ValueError("unbalanced '[' in host")
        text = text[1:-1]
    elif text.endswith("]"):
        raise ValueError("unbalanced ']' in host")
    if "%" in text:
        raise ValueError("IPv6 zone ids are not allowed")
    if not text.isascii() or not text:
        raise ValueError("invalid IPv6 address")
    try:
        ip = ipaddress.IPv6Address(text)
    except ValueError:
        raise ValueError(f"invalid IPv6 address {text!r}") from None
    mapped = ip.ipv4_mapped
    return mapped if mapped is not None else ip


def parse_ip(host: str) -> IPAddress | None:
    """The address a *normalised* host denotes, or ``None`` for a name."""
    return _parse_ip(host)


@lru_cache(maxsize=8192)
def _parse_ip(host: str) -> IPAddress | None:
    if not host or (":" not in host and not host[-1].isdigit()):
        return None
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None
