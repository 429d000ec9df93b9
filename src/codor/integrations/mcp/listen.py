"""``--listen`` of ``codor mcp gateway`` and ``codor mcp serve``: the address, the socket, the
Host and Origin headers accepted.

:func:`parse_listen` takes ``PORT``, ``:PORT``, ``HOST:PORT`` or ``[IPv6]:PORT`` and accepts
only loopback hosts (an IP address, or ``localhost``): neither server has authentication of its
own, so neither listens where other machines could reach it; a name other than ``localhost``
is refused, since it may resolve anywhere. :func:`bind` opens the listening socket;
:func:`transport_security` is the SDK's DNS-rebinding protection for it: the ``Host`` and
``Origin`` headers must name ``127.0.0.1``, ``localhost``, ``[::1]`` or the listening host
itself (whichever loopback address that is). Each caller passes its own error class, so each
command keeps its error code. Only :func:`transport_security` imports the MCP SDK.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from typing import TYPE_CHECKING, Final

from codor.errors import CodorError

if TYPE_CHECKING:
    from mcp.server.transport_security import TransportSecuritySettings

__all__ = ["MCP_PATH", "bind", "parse_listen", "transport_security", "url"]

#: Where the streamable HTTP transport answers.
MCP_PATH: Final = "/mcp"
_LOOPBACK_NAMES: Final = ("127.0.0.1", "localhost", "[::1]")
_PORT: Final = re.compile(r"[0-9]{1,5}")


def parse_listen(text: str, error: type[CodorError], why: str) -> tuple[str, int]:
    """``(host, port)`` from a ``--listen`` value (see the module doc): no host means
    ``127.0.0.1``, ``localhost`` stays as given, an IP address comes back in its normal form.
    Raises ``error`` naming the problem (``why``: what makes only loopback safe)."""
    raw = text.strip()
    if raw.startswith("["):
        host, sep, rest = raw[1:].partition("]")
        if not sep or not rest.startswith(":"):
            raise error("--listen: expected [IPv6]:PORT", location=text)
        port_text = rest[1:]
    elif ":" in raw:
        host, _, port_text = raw.rpartition(":")
    else:
        host, port_text = "", raw
    if not _PORT.fullmatch(port_text) or int(port_text) > 65535:
        raise error("--listen: the port must be a number from 0 to 65535", location=text)
    port = int(port_text)
    if host in ("", "localhost"):
        return host or "127.0.0.1", port
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        raise error(f"--listen: give an IP address (127.0.0.1, ::1) or localhost, not the name "
                    f"{host!r}: a name may resolve anywhere", location=text) from None
    if not ip.is_loopback:
        raise error(f"--listen: only loopback addresses (127.0.0.1, ::1, localhost) are "
                    f"allowed: {why}", location=text)
    return str(ip), port


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def url(host: str, port: int) -> str:
    """``http://HOST:PORT/mcp`` (an IPv6 host in brackets)."""
    return f"http://{_bracketed(host)}:{port}{MCP_PATH}"


def transport_security(host: str) -> TransportSecuritySettings:
    """DNS-rebinding protection for a server listening on ``host`` (see the module doc)."""
    from mcp.server.transport_security import TransportSecuritySettings

    own = _bracketed(host)
    hosts = [*_LOOPBACK_NAMES, *(() if own in _LOOPBACK_NAMES else (own,))]
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True, allowed_hosts=[f"{h}:*" for h in hosts],
        allowed_origins=[f"http://{h}:*" for h in hosts])


def bind(host: str, port: int, error: type[CodorError]) -> socket.socket:
    """A listening TCP socket on ``host``:``port``; ``error`` when it cannot be had."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise error(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock
