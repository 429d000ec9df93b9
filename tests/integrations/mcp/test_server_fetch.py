"""``http.fetch`` of ``codor mcp serve``: requests really go through CODOR's egress proxy to
local origins (plain HTTP as proxy requests, HTTPS through a ``CONNECT`` tunnel with the
certificate verified by the server), and the proxy's events land in the ledger."""

from __future__ import annotations

import http.server
import os
import threading
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from tests.integrations.mcp.server_support import (
    Workspace,
    call_ok,
    meta_of,
    run_stdio,
    text_of,
)


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace.create(tmp_path)


def test_http_fetch_goes_through_the_egress_proxy(ws: Workspace) -> None:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = f"hello from {self.path}".encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    origin = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=origin.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{origin.server_address[1]}/x?y=1"

    async def body(client: Client) -> None:
        got = await call_ok(client, "http.fetch", {"url": url})
        assert got["status"] == 200 and got["body"] == "hello from /x?y=1"
        refused = await client.call_tool("http.fetch", {"url": "http://example.com/"})
        assert refused.is_error and meta_of(refused)["status"] == "denied"
        assert "[egress.default]" in text_of(refused)

    try:
        run_stdio(ws, "legacy", body, name="fetcher", extra=("--session", "s-fetch"))
    finally:
        origin.shutdown()
        origin.server_close()
    records = ws.session("s-fetch")
    kinds = [(r["action"]["url"], r["decision"]["decision"]) for r in records
             if r["type"] == "decision"]
    assert kinds == [(url, "allow"), ("http://example.com/", "deny")]
    # the proxy saw the request (and the policy decided it before anything was sent)
    [closed] = [r for r in records if r["type"] == "event" and r["event"] == "egress.closed"]
    assert closed["data"]["target"] == url and closed["data"]["status"] == 200


def _self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 (its own CA) and its key, as PEM files."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "codor test origin")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = directory / "origin.pem", directory / "origin.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


def test_https_fetch_tunnels_through_the_proxy_and_verifies_tls(ws: Workspace) -> None:
    import ssl

    cert_file, key_file = _self_signed(ws.outside)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"secure hello"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    origin = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    origin.socket = context.wrap_socket(origin.socket, server_side=True)
    threading.Thread(target=origin.serve_forever, daemon=True).start()
    url = f"https://127.0.0.1:{origin.server_address[1]}/s"

    async def trusted(client: Client) -> None:
        got = await call_ok(client, "http.fetch", {"url": url})
        assert (got["status"], got["body"]) == (200, "secure hello")

    async def untrusted(client: Client) -> None:
        result = await client.call_tool("http.fetch", {"url": url})
        assert result.is_error and meta_of(result)["status"] == "error"
        assert "CERTIFICATE_VERIFY_FAILED" in text_of(result)
        assert text_of(result).endswith("[E_TOOL]")

    try:
        # the server's own trust store: the test CA via SSL_CERT_FILE, then the system's
        run_stdio(ws, "legacy", trusted, name="tls", extra=("--session", "s-tls"),
                  env={**os.environ, "SSL_CERT_FILE": str(cert_file)})
        run_stdio(ws, "legacy", untrusted, name="tls-untrusted",
                  extra=("--session", "s-tls-bad"))
    finally:
        origin.shutdown()
        origin.server_close()
    [tunnel] = [r for r in ws.session("s-tls")
                if r["type"] == "event" and r["event"] == "egress.closed"]
    assert (tunnel["data"]["kind"], tunnel["data"]["method"]) == ("connect", "CONNECT")
