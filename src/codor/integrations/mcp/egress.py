"""``http.fetch`` for the MCP server: an :class:`~codor.runtime.fetch.HttpClient` that sends every
request through CODOR's egress proxy, never straight to the network.

The router has already decided (and recorded) the ``network.request``; the proxy — its own
:class:`~codor.sandbox.proxy.EgressProxy` on a private unix socket, started on first use —
decides the target again (unrecorded: the same policy, the recorded decision is the router's),
then resolves it and refuses loopback, private and metadata addresses unless the policy's
``egress`` guard allows them, so a public name cannot be rebound to an internal service. Its
events (a refusal after the allow, an upstream error, a closed connection with byte counts)
are recorded in the server's session. ``http://`` goes as a proxy request (absolute form);
``https://`` through a ``CONNECT`` tunnel, with TLS verified here against the system's CAs.
Redirects are never followed. A refusal by the proxy, a failed connection or a TLS error
raise :class:`~codor.errors.ToolError` (no response was received).
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import os
import shutil
import socket
import ssl
import tempfile
import threading
import urllib.parse
from typing import TYPE_CHECKING, Any, Final

from codor.errors import ToolError

if TYPE_CHECKING:
    from codor.kernel import Kernel
    from codor.runtime.fetch import FetchReport, FetchRequest
    from codor.sandbox.proxy import EgressProxy

__all__ = ["EgressHttpClient"]

#: Past ``max_bytes`` the rest of a body is still read (to hash and size it) up to this.
_HASH_LIMIT: Final = 64 << 20
_CHUNK: Final = 64 << 10


class _Connected(http.client.HTTPConnection):
    """An HTTP connection over a socket already open (to the proxy, or a TLS tunnel)."""

    def __init__(self, host: str, port: int, sock: socket.socket, timeout: float,
                 default_port: int) -> None:
        super().__init__(host, port, timeout=timeout)
        self.default_port = default_port
        self._ready: socket.socket | None = sock

    def connect(self) -> None:
        if self._ready is None:
            raise ToolError("the egress connection was already used")
        self.sock, self._ready = self._ready, None


class EgressHttpClient:
    """Fetches through a private egress proxy (see the module doc). Thread-safe; call
    :meth:`close` to stop the proxy."""

    via: Final = "codor-egress-proxy"

    def __init__(self, kernel: Kernel, *, session: str | None = None) -> None:
        self.kernel = kernel
        self.session = session
        self._lock = threading.Lock()
        self._proxy: EgressProxy | None = None
        self._dir: str | None = None
        self._tls = ssl.create_default_context()

    # -- the proxy ------------------------------------------------------------------------------
    def _socket(self) -> str:
        with self._lock:
            if self._proxy is None:
                from codor.sandbox.netutil import AddressCheck
                from codor.sandbox.proxy import EgressProxy

                self._dir = tempfile.mkdtemp(prefix="codor-mcp-egress-")
                fields: dict[str, Any] = {"origin": "codor-runtime"}
                if self.session is not None:
                    fields["session"] = self.session
                self._proxy = EgressProxy(
                    os.path.join(self._dir, "proxy.sock"), self.kernel.engine.decide,
                    AddressCheck.from_policy(self.kernel.engine.policy), self._record,
                    action_fields=fields).start()
            return self._proxy.socket_path

    def _record(self, event: dict[str, Any]) -> None:
        if self.kernel.ledger is None:
            return
        data = {k: v for k, v in event.items() if k not in ("event", "time")}
        with contextlib.suppress(Exception):  # the connection is over; see executor._record_event
            self.kernel.record_event(self.session, str(event["event"]), data,
                                     observer="codor-runtime")

    def close(self) -> None:
        with self._lock:
            if self._proxy is not None:
                with contextlib.suppress(Exception):
                    self._proxy.close()
                self._proxy = None
            if self._dir is not None:
                shutil.rmtree(self._dir, ignore_errors=True)
                self._dir = None

    # -- one request ----------------------------------------------------------------------------
    def __call__(self, request: FetchRequest) -> FetchReport:
        from codor.evidence.records import now_us
        from codor.runtime.fetch import FetchReport

        url = urllib.parse.urlsplit(request.url)
        host = url.hostname or ""
        tls = url.scheme.lower() == "https"
        try:
            port = url.port or (443 if tls else 80)
        except ValueError:
            raise ToolError(f"http.fetch: bad port in {request.url!r}") from None
        if not host:
            raise ToolError(f"http.fetch: no host in {request.url!r}")
        started = now_us()
        sock = self._open(request.timeout)
        try:
            if tls:
                sock = self._tunnel(sock, host, port)
                target = urllib.parse.urlunsplit(("", "", url.path or "/", url.query, ""))
            else:
                target = request.url
            conn = _Connected(host, port, sock, request.timeout, 443 if tls else 80)
            try:
                conn.request(request.method, target, body=request.body,
                             headers=dict(request.headers))
                response = conn.getresponse()
                if not tls and response.status >= 400 and \
                        response.getheader("X-Codor-Decision") is not None:
                    raise ToolError(f"the egress proxy refused {request.url}: "
                                    f"{_why(response.read(8192))}")
                body, size, digest = _read_body(response, request.max_bytes)
                headers = tuple((k, v) for k, v in response.getheaders()
                                if not k.lower().startswith("x-codor-"))
                status = response.status
            finally:
                conn.close()
        except ToolError:
            raise
        except (OSError, http.client.HTTPException) as exc:
            raise ToolError(f"http.fetch {request.url}: {type(exc).__name__}: {exc}") from None
        finally:
            sock.close()
        return FetchReport(status, headers, body, started, now_us(), self.via, size, digest)

    def _open(self, timeout: float) -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(timeout)
            sock.connect(self._socket())
        except OSError as exc:
            sock.close()
            raise ToolError(f"http.fetch: the egress proxy is unreachable: {exc}") from None
        return sock

    def _tunnel(self, sock: socket.socket, host: str, port: int) -> socket.socket:
        """``CONNECT`` through the proxy, then TLS to ``host`` inside the tunnel."""
        authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        sock.sendall(f"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\n".encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = sock.recv(4096)
            if not chunk or len(head) > 65536:
                raise ToolError(f"http.fetch: the egress proxy closed the tunnel to {authority}")
            head += chunk
        raw, _, rest = head.partition(b"\r\n\r\n")
        status_line = raw.split(b"\r\n", 1)[0].decode("latin-1")
        parts = status_line.split(" ", 2)
        if len(parts) < 2 or parts[1] != "200":
            raise ToolError(f"the egress proxy refused the tunnel to {authority}: "
                            f"{status_line.strip()}" + (f": {_why(rest)}" if rest else ""))
        if rest:
            raise ToolError("http.fetch: unexpected bytes after the proxy's CONNECT answer")
        return self._tls.wrap_socket(sock, server_hostname=host)


def _read_body(response: http.client.HTTPResponse,
               max_bytes: int) -> tuple[bytes, int | None, str | None]:
    """The first ``max_bytes`` of the body, and the whole body's size and sha256 (``None``
    when it is longer than the hashing limit)."""
    kept = bytearray()
    digest = hashlib.sha256()
    size = 0
    while True:
        chunk = response.read(_CHUNK)
        if not chunk:
            return bytes(kept), size, digest.hexdigest()
        size += len(chunk)
        digest.update(chunk)
        if len(kept) < max_bytes:
            kept += chunk[:max_bytes - len(kept)]
        if size > max(_HASH_LIMIT, max_bytes):
            return bytes(kept), None, None


def _why(body: bytes) -> str:
    """The proxy's refusal reason from its JSON body."""
    try:
        data = json.loads(body)
    except ValueError:
        return body[:300].decode("utf-8", "replace").strip() or "refused"
    if isinstance(data, dict):
        return str(data.get("message") or data.get("reason") or data)[:300]
    return str(data)[:300]
