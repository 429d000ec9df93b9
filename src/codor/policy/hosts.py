"""Host and URL normalisation, IP range classification and compiled host-pattern tables.

Everything here is pure: no DNS, no I/O. The egress guard (and the sandbox proxy) judge a
network target only through these functions, so that every spelling of one host is judged as
that host:

* :func:`normalize_host` folds case, drops one trailing dot, maps IDNs to punycode (UTS 46,
  non-transitional), turns every IPv4 spelling the WHATWG URL standard accepts (``2130706433``,
  ``0x7f.1``, ``0177.0.0.1``, ``127.1``) into the dotted quad, turns IPv4-mapped IPv6 into IPv4,
  and rejects anything odd (NUL, controls, whitespace, ``%``, ``\\``, ``@``, empty or long labels,
  IPv6 zone ids) with ``ValueError``.
* :func:`parse_target` reads a URL (or a host, port and scheme) into a :class:`Target`. Userinfo
  is stripped; an authority that parsers disagree on (a backslash, two ``@``) is rejected; a
  ``host``/``port``/``scheme`` field that contradicts the URL is rejected.
* :func:`classify_ip` names the special ranges an address is in (``loopback``, ``private``,
  ``metadata``...); an empty set means a public address. :func:`implied_ip` gives the address a
  few special names always mean (``localhost`` is 127.0.0.1, ``metadata.google.internal`` is
  169.254.169.254).
* :class:`HostTable` compiles host patterns into lookup tables.

Host pattern language (used by ``guards.egress`` lists)::

    example.com         exactly that host (IDN patterns are normalised like hosts)
    *.example.com       any subdomain at any depth, NOT example.com itself
    *                   every host and every IP address
    example.com:8443    any of the above with ``:port``: only that port
    10.1.2.3  [::1]:80  an IP address (any spelling), optionally with a port
    10.0.0.0/8 fd00::/8 a CIDR block: IP-literal targets inside it
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

import idna

from codor.errors import PolicyPatternError

__all__ = [
    "DEFAULT_PORTS",
    "HostRule",
    "HostTable",
    "IPAddress",
    "IPNetwork",
    "Target",
    "classify_ip",
    "format_host",
    "implied_ip",
    "normalize_host",
    "parse_ip",
    "parse_target",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

DEFAULT_PORTS: Final[dict[str, int]] = {
    "http": 80, "https": 443, "ws": 80, "wss": 443, "ftp": 21, "ssh": 22,
}
MAX_HOST: Final = 253
MAX_LABEL: Final = 63
_MAX_INPUT: Final = 1024  # longer raw host text is rejected before any work
_MAX_CACHED_URL: Final = 2048

_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")
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


@dataclass(frozen=True, slots=True)
class Target:
    """Where a network request goes, normalised. ``ip`` is set for IP-literal hosts;
    ``scheme`` and ``port`` are ``None`` when the request does not say (and no default applies)."""

    scheme: str | None
    host: str
    port: int | None
    ip: IPAddress | None

    @property
    def display(self) -> str:
        """``host:port`` (IPv6 in brackets), for messages."""
        host = format_host(self.host, self.ip)
        return host if self.port is None else f"{host}:{self.port}"


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


# -- targets --------------------------------------------------------------------------------
def parse_target(
    url: str | None, host: str | None = None, port: int | None = None, scheme: str | None = None
) -> Target:
    """Normalise a request target from a URL and/or host, port and scheme fields.

    When both a URL and a field are given, they must agree (else ``ValueError``): a request
    whose pieces name different places is not judged by either piece.
    """
    if url is not None and len(url) > _MAX_CACHED_URL:
        result = _parse_target(url, host, port, scheme)
    else:
        result = _cached_target(url, host, port, scheme)
    if isinstance(result, str):
        raise ValueError(result)
    return result


@lru_cache(maxsize=4096)
def _cached_target(
    url: str | None, host: str | None, port: int | None, scheme: str | None
) -> Target | str:
    return _parse_target(url, host, port, scheme)


def _parse_target(
    url: str | None, host: str | None, port: int | None, scheme: str | None
) -> Target | str:
    try:
        return _build_target(url, host, port, scheme)
    except ValueError as exc:
        return str(exc) or "invalid target"


def _build_target(
    url: str | None, host: str | None, port: int | None, scheme: str | None
) -> Target:
    if port is not None and (isinstance(port, bool) or not 0 <= port <= 65535):
        raise ValueError("port out of range")
    field_scheme = _norm_scheme(scheme) if scheme is not None else None
    if url is not None:
        u_scheme, u_host, u_port = _split_url(url)
        if field_scheme is not None and field_scheme != u_scheme:
            raise ValueError(f"scheme field {field_scheme!r} disagrees with the URL ({u_scheme!r})")
        if host is not None:
            f_host, f_port = _split_host_port(host)
            if f_host != u_host:
                raise ValueError(f"host field {f_host!r} disagrees with the URL host {u_host!r}")
            if f_port is not None:
                port = _agree(port, f_port)
        the_scheme: str | None = u_scheme
        the_host = u_host
        effective = u_port if u_port is not None else DEFAULT_PORTS.get(u_scheme)
        the_port = effective if port is None else port
        if port is not None and effective is not None and port != effective:
            raise ValueError(f"port field {port} disagrees with the URL (port {effective})")
    elif host is not None:
        the_host, f_port = _split_host_port(host)
        the_port = port if f_port is None else _agree(port, f_port)
        the_scheme = field_scheme
        if the_port is None and the_scheme is not None:
            the_port = DEFAULT_PORTS.get(the_scheme)
    else:
        raise ValueError("request has neither url nor host")
    return Target(the_scheme, the_host, the_port, _parse_ip(the_host))


def _agree(port: int | None, other: int) -> int:
    if port is not None and port != other:
        raise ValueError(f"port field {port} disagrees with the host field (port {other})")
    return other


def _norm_scheme(scheme: str) -> str:
    if re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*", scheme) is None:
        raise ValueError(f"invalid scheme {scheme!r}")
    return scheme.lower()


def _split_url(url: str) -> tuple[str, str, int | None]:
    for ch in url:
        if ch.isspace() or not ch.isprintable():
            raise ValueError(f"URL contains the character {ch!r}")
    m = _SCHEME.match(url)
    if m is None:
        raise ValueError("URL must be absolute (scheme://host...)")
    scheme = m.group(1).lower()
    rest = url[m.end():]
    end = len(rest)
    for sep in "/?#":
        i = rest.find(sep)
        if 0 <= i < end:
            end = i
    authority = rest[:end]
    if "\\" in authority:
        # WHATWG parsers end the authority at '\', others do not: never guess.
        raise ValueError("backslash in the URL authority")
    if authority.count("@") > 1:
        raise ValueError("more than one '@' in the URL authority")
    hostport = authority.rpartition("@")[2]
    if not hostport.startswith("[") and hostport.count(":") > 1:
        raise ValueError("an IPv6 address in a URL must be in brackets")
    host, port = _split_host_port(hostport)
    return scheme, host, port


def _split_host_port(text: str) -> tuple[str, int | None]:
    """``host``, ``host:port``, ``[v6]``, ``[v6]:port`` or a bare IPv6 address."""
    if not text:
        raise ValueError("empty host")
    port_text: str | None = None
    if text.startswith("["):
        close = text.find("]")
        if close < 0:
            raise ValueError("unbalanced '[' in host")
        host_text, tail = text[: close + 1], text[close + 1 :]
        if tail:
            if not tail.startswith(":"):
                raise ValueError("junk after ']' in host")
            port_text = tail[1:]
    elif text.count(":") == 1:
        host_text, _, port_text = text.partition(":")
    else:
        host_text = text  # a name, or a bare IPv6 address (normalize_host decides)
    host = normalize_host(host_text)
    if port_text is None or port_text == "":
        return host, None
    if not port_text.isascii() or not port_text.isdigit() or len(port_text) > 5:
        raise ValueError(f"invalid port {port_text!r}")
    port = int(port_text)
    if port > 65535:
        raise ValueError(f"port {port} out of range")
    return host, port


# -- IP ranges ------------------------------------------------------------------------------
def _nets(*items: tuple[str, str]) -> tuple[tuple[IPNetwork, str], ...]:
    return tuple((ipaddress.ip_network(net), name) for net, name in items)


_V4_RANGES: Final = _nets(
    ("0.0.0.0/8", "this_network"),
    ("10.0.0.0/8", "private"),
    ("100.64.0.0/10", "cgnat"),
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link_local"),
    ("172.16.0.0/12", "private"),
    ("192.0.0.0/24", "ietf_protocol"),
    ("192.0.2.0/24", "documentation"),
    ("192.88.99.0/24", "relay_anycast"),
    ("192.168.0.0/16", "private"),
    ("198.18.0.0/15", "benchmarking"),
    ("198.51.100.0/24", "documentation"),
    ("203.0.113.0/24", "documentation"),
    ("224.0.0.0/4", "multicast"),
    ("240.0.0.0/4", "reserved"),
)
_V6_RANGES: Final = _nets(
    ("::/128", "unspecified"),
    ("::1/128", "loopback"),
    ("::/96", "ipv4_compatible"),
    ("::ffff:0:0:0/96", "ipv4_translated"),
    ("64:ff9b::/96", "nat64"),
    ("64:ff9b:1::/48", "nat64"),
    ("100::/64", "discard"),
    ("2001::/32", "teredo"),
    ("2001:db8::/32", "documentation"),
    ("2002::/16", "6to4"),
    ("fc00::/7", "unique_local"),
    ("fe80::/10", "link_local"),
    ("fec0::/10", "site_local"),
    ("ff00::/8", "multicast"),
)
#: Cloud instance-metadata endpoints (AWS, GCP, Azure, OCI; AWS ECS; Azure wire server;
#: Alibaba Cloud; AWS over IPv6).
METADATA_IPS: Final[frozenset[IPAddress]] = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "169.254.170.2", "168.63.129.16", "100.100.100.200",
              "fd00:ec2::254")
)
_IMPLIED: Final[dict[str, IPAddress]] = {
    "localhost": ipaddress.IPv4Address("127.0.0.1"),
    "metadata": ipaddress.IPv4Address("169.254.169.254"),
    "metadata.google.internal": ipaddress.IPv4Address("169.254.169.254"),
    "metadata.goog": ipaddress.IPv4Address("169.254.169.254"),
    "instance-data": ipaddress.IPv4Address("169.254.169.254"),
    "instance-data.ec2.internal": ipaddress.IPv4Address("169.254.169.254"),
}


@lru_cache(maxsize=4096)
def classify_ip(ip: IPAddress) -> frozenset[str]:
    """Names of the special ranges ``ip`` is in; the empty set for a public address.

    IPv6 forms that embed an IPv4 address (IPv4-mapped, NAT64, 6to4, IPv4-compatible) also
    carry the classes of the embedded address.
    """
    names: set[str] = set()
    if ip in METADATA_IPS:
        names.add("metadata")
    if ip.version == 4:
        if ip == ipaddress.IPv4Address(0):
            names.add("unspecified")
        if ip == ipaddress.IPv4Address("255.255.255.255"):
            names.add("broadcast")
        names.update(name for net, name in _V4_RANGES if ip in net)
        return frozenset(names)
    assert isinstance(ip, ipaddress.IPv6Address)
    names.update(name for net, name in _V6_RANGES if ip in net)
    if names & {"loopback", "unspecified"}:
        names.discard("ipv4_compatible")
    if ip.ipv4_mapped is not None:
        names.add("ipv4_mapped")
    embedded = _embedded_ipv4(ip, names)
    if embedded is not None:
        names |= classify_ip(embedded)
    if not names and (ip.is_reserved or not ip.is_global):
        names.add("reserved")
    return frozenset(names)


def _embedded_ipv4(ip: ipaddress.IPv6Address, names: set[str]) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if names & {"nat64", "ipv4_compatible"} and int(ip) & 0xFFFFFFFF:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def implied_ip(host: str) -> IPAddress | None:
    """The address a special name always denotes (``localhost``, ``*.localhost`` and the cloud
    metadata names), or ``None``."""
    ip = _IMPLIED.get(host)
    if ip is None and host.endswith(".localhost"):
        ip = _IMPLIED["localhost"]
    return ip


# -- host patterns --------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class HostRule:
    """One compiled host pattern: ``port`` is ``None`` when the pattern allows any port."""

    pattern: str
    port: int | None


_Entries = tuple[HostRule, ...]


class HostTable:
    """Host patterns compiled into lookup tables: an exact-name map, a suffix map for
    ``*.domain`` (looked up once per label of the host), an exact-IP map, CIDR blocks grouped
    by prefix length, and the ``*`` entries. Bad patterns raise :class:`PolicyPatternError`."""

    __slots__ = ("_any", "_exact", "_ips", "_nets", "_suffix", "patterns")

    def __init__(
        self, patterns: Sequence[str], *, locations: Sequence[str | None] = ()
    ) -> None:
        self.patterns = tuple(patterns)
        exact: dict[str, list[HostRule]] = {}
        suffix: dict[str, list[HostRule]] = {}
        ips: dict[IPAddress, list[HostRule]] = {}
        nets: dict[tuple[int, int], dict[int, list[HostRule]]] = {}
        anyhost: list[HostRule] = []
        for i, pattern in enumerate(patterns):
            try:
                kind, key, port = _parse_pattern(pattern)
            except ValueError as exc:
                loc = locations[i] if i < len(locations) else None
                raise PolicyPatternError(f"bad host pattern {pattern!r}: {exc}",
                                         location=loc) from None
            rule = HostRule(pattern, port)
            if kind == "any":
                anyhost.append(rule)
            elif kind == "suffix":
                assert isinstance(key, str)
                suffix.setdefault(key, []).append(rule)
            elif kind == "name":
                assert isinstance(key, str)
                exact.setdefault(key, []).append(rule)
            elif kind == "ip":
                assert isinstance(key, ipaddress.IPv4Address | ipaddress.IPv6Address)
                ips.setdefault(key, []).append(rule)
            else:
                assert isinstance(key, ipaddress.IPv4Network | ipaddress.IPv6Network)
                slot = nets.setdefault((key.version, key.prefixlen), {})
                slot.setdefault(int(key.network_address), []).append(rule)
        self._exact: dict[str, _Entries] = {k: tuple(v) for k, v in exact.items()}
        self._suffix: dict[str, _Entries] = {k: tuple(v) for k, v in suffix.items()}
        self._ips: dict[IPAddress, _Entries] = {k: tuple(v) for k, v in ips.items()}
        self._nets: tuple[tuple[int, int, dict[int, _Entries]], ...] = tuple(
            (version, prefix, {k: tuple(v) for k, v in slot.items()})
            for (version, prefix), slot in sorted(nets.items(), key=lambda kv: -kv[0][1])
        )
        self._any: _Entries = tuple(anyhost)

    def __bool__(self) -> bool:
        return bool(self.patterns)

    def __len__(self) -> int:
        return len(self.patterns)

    def match(self, host: str, port: int | None, ip: IPAddress | None = None) -> str | None:
        """The pattern that matches the *normalised* ``host`` (and ``port``), or ``None``."""
        rule = self.lookup(host, port, ip)
        return None if rule is None else rule.pattern

    def lookup(self, host: str, port: int | None, ip: IPAddress | None = None) -> HostRule | None:
        """Like :meth:`match`, returning the rule. Among the matching rules, one that names
        the request's port is preferred; otherwise the most specific one."""
        best: HostRule | None = None
        for entries in self._candidates(host, ip):
            for rule in entries:
                if rule.port is None:
                    if best is None:
                        best = rule
                elif rule.port == port:
                    return rule
        return best

    def _candidates(self, host: str, ip: IPAddress | None) -> list[_Entries]:
        out: list[_Entries] = []
        if ip is not None:
            got = self._ips.get(ip)
            if got:
                out.append(got)
            if self._nets:
                value = int(ip)
                bits = 32 if ip.version == 4 else 128
                for version, prefix, slot in self._nets:
                    if version == ip.version:
                        key = (value >> (bits - prefix)) << (bits - prefix) if prefix else 0
                        hit = slot.get(key)
                        if hit:
                            out.append(hit)
        else:
            got = self._exact.get(host)
            if got:
                out.append(got)
            if self._suffix:
                dot = host.find(".")
                while dot >= 0:
                    hit = self._suffix.get(host[dot + 1 :])
                    if hit:
                        out.append(hit)
                    dot = host.find(".", dot + 1)
        if self._any:
            out.append(self._any)
        return out


def _parse_pattern(pattern: str) -> tuple[str, str | IPAddress | IPNetwork | None, int | None]:
    """``(kind, key, port)`` with kind one of any, suffix, name, ip, net."""
    if not pattern:
        raise ValueError("empty pattern")
    if "/" in pattern:
        try:
            net = ipaddress.ip_network(pattern, strict=True)
        except ValueError as exc:
            raise ValueError(f"not a CIDR block ({exc})") from None
        if isinstance(net, ipaddress.IPv6Network) and net.subnet_of(
            ipaddress.IPv6Network("::ffff:0:0/96")
        ):
            raise ValueError("write IPv4-mapped blocks as IPv4 CIDRs")
        return "net", net, None
    body, port = _pattern_port(pattern)
    if body == "*":
        return "any", None, port
    if body.startswith("*."):
        rest = body[2:]
        if "*" in rest:
            raise ValueError("only a leading '*.' wildcard is supported")
        name = normalize_host(rest)
        if _parse_ip(name) is not None:
            raise ValueError("a '*.' wildcard needs a domain name, not an IP address")
        return "suffix", name, port
    if "*" in body:
        raise ValueError("only a leading '*.' wildcard or '*' alone is supported")
    name = normalize_host(body)
    ip = _parse_ip(name)
    if ip is not None:
        return "ip", ip, port
    return "name", name, port


def _pattern_port(pattern: str) -> tuple[str, int | None]:
    if pattern.startswith("["):
        close = pattern.find("]")
        if close < 0:
            raise ValueError("unbalanced '['")
        body, tail = pattern[: close + 1], pattern[close + 1 :]
    elif pattern.count(":") == 1:
        body, sep, tail = pattern.partition(":")
        tail = sep + tail
    else:
        return pattern, None
    if not tail:
        return body, None
    digits = tail[1:]
    if not tail.startswith(":") or not digits.isascii() or not digits.isdigit():
        raise ValueError("bad ':port' suffix")
    port = int(digits)
    if not 1 <= port <= 65535:
        raise ValueError("port out of range 1-65535")
    return body, port
