"""Host-pattern tables: :class:`HostTable` compiles host patterns (the language is described in
:mod:`codor.policy.hosts`) into lookup tables keyed by name, domain suffix, IP and CIDR block."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from codor.errors import PolicyPatternError
from codor.policy.hostnames import IPAddress, IPNetwork, _parse_ip, normalize_host

__all__ = ["HostRule", "HostTable"]


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
