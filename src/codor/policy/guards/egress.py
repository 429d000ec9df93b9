"""The ``egress`` guard: which hosts, ports and schemes a ``network.request`` may reach.

Configuration::

    egress:
      allow: [host patterns]   # "api.github.com", "*.pypi.org", "example.com:8443", "10.1.0.0/16"
      ask:   [host patterns]
      deny:  [host patterns]
      ports: [80, 443]         # allowed ports; others denied (empty or absent: any port)
      schemes: [http, https]   # allowed schemes (absent: http, https)
      default: deny            # deny | ask | pass, for hosts in no list
      private_ranges: deny     # deny | ask | allow, for loopback/private/link-local/... targets
      metadata: deny           # deny | ask | allow, for cloud metadata endpoints
      allow_cidrs: [CIDRs]     # exceptions to private_ranges and metadata; also allowed
      inherit: true            # false: replace, not merge with, an extended policy's config

Host patterns are described in :mod:`codor.policy.hosts`. The request target (``url``, or
``host`` with optional ``port`` and ``scheme``) is normalised first; a target that cannot be
normalised, or whose fields contradict each other, is denied (``egress.invalid_host``).

The verdict does not depend on the order of anything; every applicable finding is returned
and the engine combines them (any deny wins, then any ask, then any allow):

* a ``deny`` match denies (``egress.deny``); an ``ask`` match asks (``egress.ask``);
* an IP target in a special range (:func:`~codor.policy.hosts.classify_ip`), and the names
  ``localhost``/``*.localhost`` (127.0.0.1) and the cloud metadata names (169.254.169.254),
  get the ``private_ranges`` effect, or the ``metadata`` effect for metadata endpoints
  (``egress.private_range``; ``allow`` allows them even when no list names them), unless the
  address is in ``allow_cidrs`` (then it is allowed, ``egress.allow``);
* a port not in ``ports`` is denied (``egress.port``), unless the matching allow/ask pattern
  names that port (``example.com:8443``); a scheme not in ``schemes`` is denied
  (``egress.scheme``). A host-only request that gives no scheme and no port skips those checks;
* an ``allow`` match allows (``egress.allow``); a host in no list and in no special range
  gets ``default`` (``egress.default``; ``pass`` says nothing).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from functools import lru_cache

from codor.errors import PolicyPatternError
from codor.model import Action, Effect, Severity
from codor.policy.guards.base import CompileContext, EvalContext, Finding
from codor.policy.hosts import (
    HostRule,
    HostTable,
    IPAddress,
    IPNetwork,
    Target,
    classify_ip,
    implied_ip,
    parse_target,
)
from codor.policy.schema import Section

__all__ = ["EgressGuard", "compile_guard"]

_SCHEME = re.compile(r"[a-z][a-z0-9+.-]*")
_VERB = {"deny": "denied", "ask": "needs approval", "allow": "allowed"}


class EgressGuard:
    name = "egress"
    kinds = frozenset({"network.request"})

    def __init__(
        self,
        *,
        allow: HostTable,
        ask: HostTable,
        deny: HostTable,
        ports: frozenset[int],
        schemes: frozenset[str],
        default: str,
        private_ranges: str,
        metadata: str,
        allow_cidrs: Sequence[IPNetwork],
    ) -> None:
        self._allow, self._ask, self._deny = allow, ask, deny
        self._ports = ports
        self._schemes = schemes
        self._default = default
        self._private = private_ranges
        self._metadata = metadata
        self._cidrs = tuple(allow_cidrs)
        self._judge = lru_cache(maxsize=4096)(self._judge_target)

    # -- read-only settings: the sandbox's egress proxy re-checks resolved addresses ----------
    @property
    def allow_cidrs(self) -> tuple[IPNetwork, ...]:
        return self._cidrs

    @property
    def range_modes(self) -> tuple[str, str]:
        """``(private_ranges, metadata)``: each ``deny``, ``ask`` or ``allow``."""
        return self._private, self._metadata

    @property
    def ports(self) -> frozenset[int]:
        """The allowed ports (empty: any port)."""
        return self._ports

    def check(self, action: Action, ctx: EvalContext) -> Sequence[Finding]:
        try:
            target = parse_target(action.url, action.host, action.port, action.scheme)
        except ValueError as exc:
            shown = action.url if action.url is not None else action.host
            return (Finding("deny", "egress.invalid_host", self.name, "high",
                            f"network request to {_clip(shown)!r} denied: invalid target ({exc})"),)
        return self._judge(target)

    # -- the verdict for one normalised target (pure, cached) ----------------------------
    def _judge_target(self, t: Target) -> tuple[Finding, ...]:
        out: list[Finding] = []
        where = t.display
        deny = self._deny.lookup(t.host, t.port, t.ip)
        if deny is not None:
            out.append(self._finding("deny", "high", where, deny))
        ask = self._ask.lookup(t.host, t.port, t.ip)
        if ask is not None:
            out.append(self._finding("ask", "medium", where, ask))

        ranged = False  # the range rule had an opinion: the default does not apply
        address = t.ip if t.ip is not None else implied_ip(t.host)
        exempt = self._exempt(address) if address is not None else None
        if address is not None and exempt is None:
            classes = classify_ip(address)
            if classes:
                is_meta = "metadata" in classes
                mode = self._metadata if is_meta else self._private
                what = ("a cloud metadata endpoint" if is_meta
                        else f"in a special range ({', '.join(sorted(classes))})")
                if address != t.ip:
                    what = f"{what}, as {address}"
                severity: Severity = "critical" if is_meta else "high"
                ranged = True
                if mode == "allow":
                    out.append(Finding("allow", "egress.private_range", self.name, "info",
                                       f"network request to {where} allowed: {what}"))
                else:
                    eff: Effect = "deny" if mode == "deny" else "ask"
                    out.append(Finding(eff, "egress.private_range", self.name,
                                       severity if eff == "deny" else "medium",
                                       f"network request to {where} {_VERB[eff]}: {what}"))

        allow = self._allow.lookup(t.host, t.port, t.ip)
        pinned = any(r is not None and r.port is not None for r in (allow, ask))
        if self._ports and t.port is not None and t.port not in self._ports and not pinned:
            out.append(Finding("deny", "egress.port", self.name, "medium",
                               f"network request to {where} denied: port {t.port} is not "
                               f"in the allowed ports"))
        if t.scheme is not None and t.scheme not in self._schemes:
            out.append(Finding("deny", "egress.scheme", self.name, "medium",
                               f"network request to {where} denied: scheme {t.scheme!r} is "
                               f"not allowed"))
        if allow is not None:
            out.append(self._finding("allow", "info", where, allow))
        elif exempt is not None:
            out.append(Finding("allow", "egress.allow", self.name, "info",
                               f"network request to {where} allowed: {address} is in "
                               f"allow_cidrs {exempt}"))
        listed = not (deny is None and ask is None and allow is None and exempt is None)
        if not listed and not ranged and self._default in ("deny", "ask"):
            eff2: Effect = "deny" if self._default == "deny" else "ask"
            out.append(Finding(eff2, "egress.default", self.name, "medium",
                               f"network request to {where} {_VERB[eff2]}: host is in no "
                               f"egress list (default {self._default})"))
        return tuple(out)

    def _exempt(self, address: IPAddress) -> str | None:
        for net in self._cidrs:
            if address.version == net.version and address in net:
                return str(net)
        return None

    def _finding(self, effect: Effect, severity: Severity, where: str, hit: HostRule) -> Finding:
        return Finding(effect, f"egress.{effect}", self.name, severity,
                       f"network request to {where} {_VERB[effect]}: matches {effect} pattern "
                       f"{hit.pattern!r}")


def _clip(text: str | None, limit: int = 200) -> str:
    text = text or ""
    return text if len(text) <= limit else text[:limit] + "..."


def compile_guard(section: Section, cc: CompileContext) -> EgressGuard:
    section.only("allow", "ask", "deny", "ports", "schemes", "default", "private_ranges",
                 "metadata", "allow_cidrs", "inherit")
    section.boolean("inherit", True)  # consumed by the loader (extends); only type-checked

    def table(key: str) -> HostTable:
        # an empty list is a normal way to say "none" (e.g. with inherit: false): no warning
        patterns = section.strings(key)
        return HostTable(patterns, locations=[section.item_loc(key, i)
                                              for i in range(len(patterns))])

    ports = section.integers("ports")
    for i, port in enumerate(ports):
        if not 1 <= port <= 65535:
            raise PolicyPatternError(f"{section.path('ports')}[{i}]: port {port} out of range "
                                     f"1-65535", location=section.item_loc("ports", i))
    if "schemes" in section:
        schemes = [s.lower() for s in section.strings("schemes", warn_empty=True)]
        for i, scheme in enumerate(schemes):
            if _SCHEME.fullmatch(scheme) is None:
                raise PolicyPatternError(f"{section.path('schemes')}[{i}]: invalid scheme "
                                         f"{scheme!r}", location=section.item_loc("schemes", i))
    else:
        schemes = ["http", "https"]
    cidrs: list[IPNetwork] = []
    for i, text in enumerate(section.strings("allow_cidrs")):
        try:
            cidrs.append(ipaddress.ip_network(text, strict=True))
        except ValueError as exc:
            raise PolicyPatternError(f"{section.path('allow_cidrs')}[{i}]: bad CIDR {text!r}: "
                                     f"{exc}", location=section.item_loc("allow_cidrs", i)
                                     ) from None
    allow = table("allow")
    from codor.policy.openhosts import broad_allow_warnings

    section.warnings.extend(broad_allow_warnings(
        section.path("allow"), allow.patterns,
        [section.item_loc("allow", i) for i in range(len(allow.patterns))]))
    return EgressGuard(
        allow=allow,
        ask=table("ask"),
        deny=table("deny"),
        ports=frozenset(ports),
        schemes=frozenset(schemes),
        default=section.choice("default", ("deny", "ask", "pass"), "deny"),
        private_ranges=section.choice("private_ranges", ("deny", "ask", "allow"), "deny"),
        metadata=section.choice("metadata", ("deny", "ask", "allow"), "deny"),
        allow_cidrs=cidrs,
    )
