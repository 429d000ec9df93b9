"""The MCP gateway's options, checked: the upstream, where to listen, what to record.

:meth:`GatewayConfig.from_args` reads ``codor mcp gateway``'s options and raises
:class:`~codor.integrations.mcp.errors.GatewayConfigError` (``E_MCP_CONFIG``) for bad ones.
The upstream's *identity* — ``stdio:`` and its command line (re-quoted), or ``http:`` and its
URL without credentials — keys its tool pins: a server is recognised by how it is started, not
by the name it reports. ``--listen`` takes ``PORT``, ``HOST:PORT`` or ``[IPv6]:PORT`` and
accepts only loopback hosts (:mod:`~codor.integrations.mcp.listen`): the gateway has no
authentication of its own yet, so it never listens where other machines could reach it.
Nothing here imports the MCP SDK.
"""

from __future__ import annotations

import argparse
import re
import shlex
from dataclasses import dataclass
from pathlib import PurePath
from urllib.parse import urlsplit, urlunsplit

from codor.integrations.mcp.errors import GatewayConfigError
from codor.integrations.mcp.listen import parse_listen as _parse_listen

__all__ = ["GatewayConfig", "parse_listen", "server_name"]

_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    """What ``codor mcp gateway`` was asked to do (see the module doc)."""

    upstream: tuple[str, ...] = ()
    upstream_url: str | None = None
    workspace: str | None = None
    policy: str | None = None
    record: bool = True
    session: str | None = None
    listen: tuple[str, int] | None = None
    name: str | None = None
    repin: bool = False

    def __post_init__(self) -> None:
        if bool(self.upstream) == (self.upstream_url is not None):
            raise GatewayConfigError("give exactly one of --upstream and --upstream-url")
        if self.upstream_url is not None:
            try:
                parts = urlsplit(self.upstream_url)
                _ = parts.port  # a port that is not a number 0-65535 raises ValueError
            except ValueError as exc:
                raise GatewayConfigError(f"--upstream-url is not a valid URL: {exc}",
                                         location=self.upstream_url) from None
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise GatewayConfigError("--upstream-url must be an http:// or https:// URL",
                                         location=self.upstream_url)
        if self.name is not None and (not self.name or _NAME_UNSAFE.search(self.name)):
            raise GatewayConfigError("a server name may hold only letters, digits, '_', '-' "
                                     "and '.'", location=self.name)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> GatewayConfig:
        """From the parsed options of ``codor mcp gateway`` (``--name`` and ``--repin`` are
        read when the parser has them)."""
        argv: tuple[str, ...] = ()
        if args.upstream is not None:
            try:
                argv = tuple(shlex.split(args.upstream))
            except ValueError as exc:
                raise GatewayConfigError(f"--upstream is not a valid command line: {exc}",
                                         location=args.upstream) from None
            if not argv:
                raise GatewayConfigError("--upstream is empty")
        return cls(upstream=argv, upstream_url=args.upstream_url, workspace=args.workspace,
                   policy=args.policy, record=not args.no_record, session=args.session,
                   listen=parse_listen(args.listen) if args.listen else None,
                   name=getattr(args, "name", None), repin=bool(getattr(args, "repin", False)))

    @property
    def identity(self) -> str:
        """How the upstream is known in the pin file (see the module doc)."""
        if self.upstream_url is None:
            return "stdio:" + shlex.join(self.upstream)
        parts = urlsplit(self.upstream_url)
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        netloc = f"{host}:{parts.port}" if parts.port else host
        return "http:" + urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))


def parse_listen(text: str) -> tuple[str, int]:
    """``PORT``, ``HOST:PORT`` or ``[IPv6]:PORT`` → ``(host, port)``; the host must be loopback
    (default ``127.0.0.1``); port 0 picks a free one."""
    return _parse_listen(text, GatewayConfigError, "the gateway has no authentication of its own")


def server_name(config: GatewayConfig, reported: str | None) -> str:
    """The ``server`` of the gateway's ``tool.call`` actions (what ``server/tool`` patterns of
    the tools guard match): ``--name``, else the last ``/``-separated part of the name the
    upstream reports with characters outside ``[A-Za-z0-9_.-]`` made ``-``, else the command's
    program name or the URL's host."""
    if config.name:
        return config.name
    candidates = [(reported or "").rsplit("/", 1)[-1]]
    if config.upstream:
        candidates.append(PurePath(config.upstream[0]).name)
    elif config.upstream_url:
        candidates.append(urlsplit(config.upstream_url).hostname or "")
    for candidate in candidates:
        name = _NAME_UNSAFE.sub("-", candidate).strip("-")
        if name:
            return name
    return "upstream"
