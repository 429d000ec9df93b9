"""Test helpers for the egress proxy: real origin servers on loopback (plain and TLS, with a
self-signed certificate made here), a recording ``decide``, a recording resolver, and a raw
HTTP client for the proxy's unix socket. Nothing is simulated: every byte crosses a socket."""

from __future__ import annotations

import datetime
import hashlib
import http.server
import ipaddress
import json
import socket
import ssl
import textwrap
import threading
import weakref
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from codor.model import Action, Decision
from codor.policy import compile_ref
from codor.policy.engine import Engine
from codor.policy.hostnames import IPAddress
from codor.sandbox.netutil import AddressCheck
from codor.sandbox.proxy import EgressProxy, ProxyLimits

LOOPBACK = ipaddress.ip_address("127.0.0.1")

POLICY = """
version: 1
name: proxy-tests
guards:
  egress:
    allow: [allowed.test, other.test, meta.test, mixed.test, "*.wild.test", bücher.test]
    ask: [ask.test]
    allow_cidrs: [127.0.0.1/32]
"""
#: The same lists without allow_cidrs: an allowed name resolving to loopback is refused.
POLICY_NO_CIDRS = POLICY.replace("    allow_cidrs: [127.0.0.1/32]\n", "")

#: What the test resolver answers (everything else: "no such host").
NAMES: dict[str, list[IPAddress]] = {
    "allowed.test": [LOOPBACK],
    "other.test": [LOOPBACK],
    "xn--bcher-kva.test": [LOOPBACK],
    "meta.test": [ipaddress.ip_address("169.254.169.254")],
    "mixed.test": [LOOPBACK, ipaddress.ip_address("10.0.0.7")],
    "evil.test": [LOOPBACK],
}


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Origin

    def log_message(self, *args: Any) -> None:
        pass

    def _answer(self, status: int = 200, extra: Mapping[str, str] | None = None,
                body: bytes | None = None) -> None:
        self.server.seen.append(f"{self.command} {self.path} {self.headers.get('Host')}")
        if body is None:
            body = json.dumps({"method": self.command, "path": self.path,
                               "host": self.headers.get("Host"),
                               "headers": dict(self.headers.items())}).encode()
        self.send_response(status)
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_HEAD(self) -> None:
        self._answer()

    def do_GET(self) -> None:
        if self.path == "/chunked":
            self.server.seen.append(f"GET {self.path}")
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for part in (b"hello ", b"chunked ", b"world"):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")
            return
        if self.path == "/until-close":
            self.server.seen.append(f"GET {self.path}")
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(b"no length, ends at close")
            self.close_connection = True
            return
        if self.path.startswith("/big/"):
            self._answer(body=b"x" * int(self.path[5:]))
            return
        self._answer()

    def do_POST(self) -> None:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    break
                data += self.rfile.read(size)
                self.rfile.readline()
        else:
            data = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self._answer(body=json.dumps({"received": len(data),
                                      "sha256": hashlib.sha256(data).hexdigest()}).encode())


class _Origin(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, context: ssl.SSLContext | None = None) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.seen: list[str] = []
        self.context = context

    def get_request(self) -> tuple[socket.socket, Any]:
        conn, addr = super().get_request()
        if self.context is not None:
            conn = self.context.wrap_socket(conn, server_side=True, do_handshake_on_connect=False)
        return conn, addr

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a refused TLS handshake is an expected outcome in these tests

    @property
    def port(self) -> int:
        return int(self.server_address[1])


@contextmanager
def origin(context: ssl.SSLContext | None = None) -> Iterator[_Origin]:
    """An HTTP origin on 127.0.0.1 (HTTPS when ``context`` is given)."""
    server = _Origin(context)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@dataclass(frozen=True)
class Cert:
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cert, self.key)
        return ctx

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.cert))


def make_cert(directory: Path, names: Sequence[str] = ("allowed.test",)) -> Cert:
    """A self-signed certificate (and key) for ``names``."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return Cert(cert_path, key_path)


@dataclass
class Witness:
    """Everything the proxy did: decisions (as the kernel would record them), events, and
    every name it asked the resolver for."""

    engine: Engine
    decisions: list[tuple[Action, Decision]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    lookups: list[str] = field(default_factory=list)
    names: dict[str, list[IPAddress]] = field(default_factory=lambda: dict(NAMES))

    def decide(self, action: Action) -> Decision:
        decision = self.engine.decide(action)
        self.decisions.append((action, decision))
        return decision

    def resolve(self, host: str, port: int) -> list[IPAddress]:
        self.lookups.append(host)
        if host not in self.names:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return self.names[host]

    def record(self, event: dict[str, Any]) -> None:
        self.events.append(event)

    def rules(self, event: str = "egress.blocked") -> list[str]:
        return [e["rule"] for e in self.events if e["event"] == event]


def compile_engine(directory: Path, text: str = POLICY) -> Engine:
    path = directory / "policy.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return Engine(compile_ref(path, workspace=str(directory), home=str(directory), env={}))


@contextmanager
def running_proxy(directory: Path, text: str = POLICY, *, limits: ProxyLimits | None = None,
                  **kwargs: Any) -> Iterator[tuple[EgressProxy, Witness]]:
    engine = compile_engine(directory, text)
    witness = Witness(engine)
    proxy = EgressProxy(directory / "egress.sock", witness.decide,
                        AddressCheck.from_policy(engine.policy), witness.record,
                        resolver=witness.resolve, limits=limits, **kwargs)
    with proxy:
        yield proxy, witness
    engine.close()


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def connect(path: str | Path, timeout: float = 10.0) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    sock.connect(str(path))
    return sock


#: Bytes read past the end of a response, per socket: the start of the next response (a
#: pipelined reply, or what follows a CONNECT's 200 in the same segment).
_PENDING: weakref.WeakKeyDictionary[socket.socket, bytes] = weakref.WeakKeyDictionary()


def read_reply(sock: socket.socket, *, head_only: bool = False, method: str = "GET") -> Reply:
    """Read one HTTP response (Content-Length, chunked, or until close); bytes beyond it are
    kept for the next call on the same socket."""
    buf = _PENDING.pop(sock, b"")
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed before a full head: {buf!r}")
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in
               (line.partition(":") for line in lines[1:])}
    if head_only or method == "HEAD" or status in (100, 204, 304):
        if rest:
            _PENDING[sock] = rest
        return Reply(status, headers, b"" if head_only else rest)
    if "content-length" in headers:
        size = int(headers["content-length"])
        while len(rest) < size:
            chunk = sock.recv(65536)
            if not chunk:
                break
            rest += chunk
        if len(rest) > size:
            _PENDING[sock] = rest[size:]
        return Reply(status, headers, rest[:size])
    if headers.get("transfer-encoding", "").lower() == "chunked":
        while b"0\r\n\r\n" not in rest:
            chunk = sock.recv(65536)
            if not chunk:
                break
            rest += chunk
        body, data = b"", rest
        while True:
            line, _, data = data.partition(b"\r\n")
            size = int(line, 16)
            if size == 0:
                data = data[2:] if data.startswith(b"\r\n") else data
                break
            body, data = body + data[:size], data[size + 2:]
        if data:
            _PENDING[sock] = data
        return Reply(status, headers, body)
    while chunk := sock.recv(65536):
        rest += chunk
    return Reply(status, headers, rest)


def ask(path: str | Path, raw: bytes | str, timeout: float = 10.0) -> Reply:
    """Send raw bytes on a new connection to the proxy; read one response."""
    data = raw.encode("utf-8") if isinstance(raw, str) else raw
    with connect(path, timeout) as sock:
        sock.sendall(data)
        return read_reply(sock)


def get(host: str, port: int, path: str = "/", *, extra: str = "") -> str:
    """An absolute-URI proxy GET (Connection: close)."""
    return (f"GET http://{host}:{port}{path} HTTP/1.1\r\nHost: {host}:{port}\r\n{extra}"
            f"Connection: close\r\n\r\n")
