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

Host names and IP literals are normalised in :mod:`codor.policy.hostnames`, host
patterns compiled in :mod:`codor.policy.hosttable`; both are re-exported here.

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
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

from codor.policy.hostnames import (
    IPAddress,
    IPNetwork,
    _parse_ip,
    format_host,
    normalize_host,
    parse_ip,
)
from codor.policy.hosttable import HostRule, HostTable

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

DEFAULT_PORTS: Final[dict[str, int]] = {
    "http": 80, "https": 443, "ws": 80, "wss": 443, "ftp": 21, "ssh": 22,
}
_MAX_CACHED_URL: Final = 2048

_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")


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
