"""Address checks and name resolution for the egress proxy (host side).

The policy decides a request by *name* before any DNS lookup; what the name then resolves to
is checked here, so that an allowed name cannot be pointed (DNS rebinding, a poisoned
``/etc/hosts``) at loopback, a private network or a cloud metadata endpoint. The proxy
connects only to an address that passed this check; it never resolves twice.

:class:`AddressCheck` is the default check. :meth:`AddressCheck.from_policy` builds it from
the policy's ``egress`` guard: ``allow_cidrs`` are exempt, and ``private_ranges: allow`` /
``metadata: allow`` let those ranges through (``ask`` counts as ``deny``: nobody can be
asked about an address in the middle of a connection).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from codor.policy.hostnames import IPAddress, IPNetwork
from codor.policy.hosts import classify_ip

if TYPE_CHECKING:
    from codor.policy.compiler import CompiledPolicy

__all__ = [
    "AddressCheck",
    "CheckResolved",
    "Resolver",
    "forwarded_ports",
    "system_resolver",
]

#: ``check_resolved(host, ip)``: a reason to refuse ``ip`` for ``host``, or ``None``.
CheckResolved = Callable[[str, IPAddress], str | None]
#: ``resolve(host, port)``: the addresses of ``host`` (may raise ``OSError``).
Resolver = Callable[[str, int], Sequence[IPAddress]]

_MODES = ("deny", "ask", "allow")


@dataclass(frozen=True, slots=True)
class AddressCheck:
    """Refuses every address in a special range (loopback, private, link-local, metadata,
    unspecified, multicast, reserved... see :func:`codor.policy.hosts.classify_ip`) unless it
    is in ``allow_cidrs`` or its range's mode is ``allow``."""

    allow_cidrs: tuple[IPNetwork, ...] = ()
    private_ranges: str = "deny"
    metadata: str = "deny"

    def __post_init__(self) -> None:
        if self.private_ranges not in _MODES or self.metadata not in _MODES:
            raise ValueError("private_ranges and metadata must be deny, ask or allow")

    def __call__(self, host: str, ip: IPAddress) -> str | None:
        plain = _plain(ip)
        for net in self.allow_cidrs:
            if plain.version == net.version and plain in net:
                return None
        classes = classify_ip(plain)
        if not classes:
            return None
        is_meta = "metadata" in classes
        if (self.metadata if is_meta else self.private_ranges) == "allow":
            return None
        what = "a cloud metadata endpoint" if is_meta else ", ".join(sorted(classes))
        return (f"{host} resolved to {plain} ({what}); refused: not in the egress "
                f"allow_cidrs")

    @classmethod
    def from_policy(cls, policy: CompiledPolicy) -> AddressCheck:
        """The check the policy's ``egress`` guard implies (strict when it has none)."""
        guard = policy.guards.get("egress")
        if guard is None:
            return cls()
        from codor.policy.guards.egress import EgressGuard

        assert isinstance(guard, EgressGuard)
        private, metadata = guard.range_modes
        return cls(guard.allow_cidrs, private, metadata)


def _plain(ip: IPAddress) -> IPAddress:
    """IPv4-mapped IPv6 as IPv4; an IPv6 scope id dropped (the range is what matters)."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        if ip.scope_id is not None:
            return ipaddress.IPv6Address(ip.packed)
    return ip


def forwarded_ports(policy: CompiledPolicy, extra: Sequence[int] = ()) -> tuple[int, ...]:
    """The ports the in-sandbox forwarder should accept on fake addresses: the policy's
    ``egress.ports`` when it lists some, else 80 and 443; plus ``extra``."""
    from codor.policy.guards.egress import EgressGuard

    guard = policy.guards.get("egress")
    ports: set[int] = {80, 443}
    if isinstance(guard, EgressGuard) and guard.ports:
        ports = set(guard.ports)
    ports.update(extra)
    return tuple(sorted(ports))


def system_resolver(host: str, port: int) -> list[IPAddress]:
    """``getaddrinfo`` (blocking: the proxy calls it in a worker thread), each address once,
    in the order the system gives them."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    out: list[IPAddress] = []
    for _, _, _, _, sockaddr in infos:  # TCP: IPv4 and IPv6 addresses only
        text = str(sockaddr[0])
        ip = ipaddress.ip_address(text)
        if isinstance(ip, ipaddress.IPv6Address) and len(sockaddr) >= 4 and sockaddr[3]:
            ip = ipaddress.IPv6Address(f"{text.partition('%')[0]}%{sockaddr[3]}")
        if ip not in out:
            out.append(ip)
    return out
