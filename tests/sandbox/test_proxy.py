"""The egress proxy, through its real unix socket, against real origins on loopback."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import ssl
import threading
import time
from pathlib import Path

import pytest

from codor.errors import SandboxNetworkError
from codor.kernel import Kernel
from codor.model import Action, Decision
from codor.sandbox.proxy import EgressProxy, ProxyLimits
from codor.workspace import Workspace
from tests.sandbox.origins import (
    POLICY,
    POLICY_NO_CIDRS,
    ask,
    compile_engine,
    connect,
    get,
    make_cert,
    origin,
    read_reply,
    running_proxy,
)


def blocked_headers_are_machine_readable(reply_headers: dict[str, str], body: bytes,
                                         decision: str, rule: str) -> None:
    assert reply_headers["x-codor-decision"] == decision
    assert reply_headers["x-codor-rule"] == rule
    assert reply_headers["content-type"] == "application/json"
    data = json.loads(body)
    assert data["decision"] == decision and data["rule"] == rule and data["message"]
    assert b"Traceback" not in body


# -- plain HTTP ----------------------------------------------------------------------------
def test_allowed_host_is_proxied_and_the_decision_names_the_url(tmp_path: Path) -> None:
    with origin() as web, running_proxy(tmp_path) as (proxy, w):
        reply = ask(proxy.socket_path, get("allowed.test", web.port, "/a?b=1"))
    assert reply.status == 200
    seen = reply.json()
    assert seen["path"] == "/a?b=1" and seen["host"] == f"allowed.test:{web.port}"
    assert seen["headers"]["Connection"] == "close"  # the proxy's own upstream framing
    [(action, decision)] = w.decisions
    assert action.kind == "network.request" and action.method == "GET"
    assert action.url == f"http://allowed.test:{web.port}/a?b=1"
    assert decision.decision == "allow"
    assert w.lookups == ["allowed.test"]
    [closed] = [e for e in w.events if e["event"] == "egress.closed"]
    assert closed["status"] == 200 and closed["bytes_down"] == len(reply.body)


def test_denied_host_gets_403_before_any_dns_lookup(tmp_path: Path) -> None:
    with origin() as web, running_proxy(tmp_path) as (proxy, w):
        reply = ask(proxy.socket_path, get("evil.test", web.port))
    assert reply.status == 403
    blocked_headers_are_machine_readable(reply.headers, reply.body, "deny", "egress.default")
    assert w.lookups == []  # decided by name: the resolver was never asked
    assert web.seen == []
    assert w.rules() == ["egress.default"]
    assert [d.decision for _, d in w.decisions] == ["deny"]


def test_ask_is_not_allow(tmp_path: Path) -> None:
    with running_proxy(tmp_path) as (proxy, w):
        reply = ask(proxy.socket_path, get("ask.test", 80))
    assert reply.status == 403
    blocked_headers_are_machine_readable(reply.headers, reply.body, "ask", "egress.ask")
    assert w.lookups == []


def test_keep_alive_and_pipelined_requests_are_each_decided(tmp_path: Path) -> None:
    """Two requests in one write: the second (to a denied host) is parsed and judged on its
    own, never smuggled to the first one's upstream."""
    with origin() as web, running_proxy(tmp_path) as (proxy, w):
        first = (f"GET http://allowed.test:{web.port}/1 HTTP/1.1\r\n"
                 f"Host: allowed.test:{web.port}\r\n\r\n")
        with connect(proxy.socket_path) as sock:
            sock.sendall((first + get("evil.test", web.port, "/2")).encode())
            one = read_reply(sock)
            two = read_reply(sock)
    assert one.status == 200 and one.json()["path"] == "/1"
    assert two.status == 403 and two.headers["x-codor-rule"] == "egress.default"
    assert web.seen == [f"GET /1 allowed.test:{web.port}"]
    assert [a.url for a, _ in w.decisions] == [f"http://allowed.test:{web.port}/1",
                                              f"http://evil.test:{web.port}/2"]


def test_request_bodies_are_relayed_by_length_and_chunked(tmp_path: Path) -> None:
    data = os.urandom(300_000)
    digest = hashlib.sha256(data).hexdigest()
    with origin() as web, running_proxy(tmp_path) as (proxy, _):
        url = f"http://allowed.test:{web.port}/up"
        host = f"Host: allowed.test:{web.port}\r\n"
        by_length = ask(proxy.socket_path, f"POST {url} HTTP/1.1\r\n{host}Content-Length: "
                        f"{len(data)}\r\nConnection: close\r\n\r\n".encode() + data)
        chunks = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in (data[:1000], data[1000:]))
        chunked = ask(proxy.socket_path, f"POST {url} HTTP/1.1\r\n{host}Transfer-Encoding: "
                      f"chunked\r\nConnection: close\r\n\r\n".encode() + chunks + b"0\r\n\r\n")
        expect = ask(proxy.socket_path, f"POST {url} HTTP/1.1\r\n{host}Expect: 100-continue"
                     f"\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc")
    assert by_length.json() == {"received": len(data), "sha256": digest}
    assert chunked.json() == {"received": len(data), "sha256": digest}
    assert expect.status == 100  # the proxy answers 100-continue itself


def test_response_framings_are_relayed(tmp_path: Path) -> None:
    with origin() as web, running_proxy(tmp_path) as (proxy, _):
        chunked = ask(proxy.socket_path, get("allowed.test", web.port, "/chunked"))
        until_close = ask(proxy.socket_path, get("allowed.test", web.port, "/until-close"))
        big = ask(proxy.socket_path, get("allowed.test", web.port, "/big/2000000"))
        with connect(proxy.socket_path) as sock:
            sock.sendall(f"HEAD http://allowed.test:{web.port}/ HTTP/1.1\r\nHost: "
                         f"allowed.test:{web.port}\r\n\r\n".encode())
            head = read_reply(sock, method="HEAD")
    assert chunked.body == b"hello chunked world"
    assert until_close.body == b"no length, ends at close"
    assert until_close.headers["connection"] == "close"
    assert big.body == b"x" * 2_000_000
    assert head.status == 200 and head.body == b""


# -- target validation (escape class 10) -------------------------------------------------------
@pytest.mark.parametrize(("target", "status", "rule"), [
    ("http://allowed.test.evil.test/", 403, "egress.default"),
    ("http://allowed.test@evil.test/", 400, "proxy.invalid_target"),
    ("http://evil.test\\@allowed.test/", 400, "proxy.invalid_target"),
    ("http://allowed%2etest/", 400, "proxy.invalid_target"),
    ("http://xn--llowed-3ve.test/", 403, "egress.default"),  # Cyrillic 'а' + "llowed"
    ("http://allowed.test:99999/", 400, "proxy.invalid_target"),
    ("http://169.254.169.254/latest/meta-data/", 403, "egress.private_range"),
    ("https://allowed.test/", 400, "proxy.bad_request"),
    ("/relative", 400, "proxy.bad_request"),
])
def test_odd_targets_are_refused_before_dns(tmp_path: Path, target: str, status: int,
                                            rule: str) -> None:
    with running_proxy(tmp_path) as (proxy, w):
        reply = ask(proxy.socket_path, f"GET {target} HTTP/1.1\r\nConnection: close\r\n\r\n")
    assert reply.status == status, reply.body
    assert reply.headers["x-codor-rule"] == rule
    assert w.lookups == []


def test_ip_spellings_are_judged_as_the_address_they_denote(tmp_path: Path) -> None:
    with origin() as web, running_proxy(tmp_path) as (proxy, w):
        hex_ip = ask(proxy.socket_path, f"GET http://0x7f.1:{web.port}/ HTTP/1.1\r\nHost: "
                                        f"127.0.0.1:{web.port}\r\nConnection: close\r\n\r\n")
        meta = ask(proxy.socket_path, "GET http://2852039166/ HTTP/1.1\r\nHost: 169.254.169.254"
                                      "\r\n\r\n")
    assert hex_ip.status == 200  # 127.0.0.1 is in allow_cidrs
    assert meta.status == 403 and meta.headers["x-codor-rule"] == "egress.private_range"
    assert w.lookups == []  # addresses are never looked up


def test_nul_and_control_characters_are_refused(tmp_path: Path) -> None:
    with running_proxy(tmp_path) as (proxy, w):
        nul = ask(proxy.socket_path, b"GET http://allowed.test\x00.evil.test/ HTTP/1.1\r\n\r\n")
        ctl = ask(proxy.socket_path, b"CONNECT allowed.test\x01:443 HTTP/1.1\r\n\r\n")
        folded = ask(proxy.socket_path, b"GET http://allowed.test/ HTTP/1.1\r\nHost: a\r\n"
                                        b" folded\r\n\r\n")
    for reply in (nul, ctl, folded):
        assert reply.status == 400 and reply.headers["x-codor-decision"] == "deny"
    assert w.lookups == [] and w.decisions == []


def test_trailing_dot_case_and_idn_name_the_same_host(tmp_path: Path) -> None:
    with origin() as web, running_proxy(tmp_path) as (proxy, w):
        dot = ask(proxy.socket_path, get("ALLOWED.test.", web.port))
        idn = ask(proxy.socket_path, get("BÜCHER.test", web.port))
    assert dot.status == 200 and idn.status == 200
    assert w.lookups == ["allowed.test", "xn--bcher-kva.test"]


def test_host_header_must_name_the_absolute_uri_host(tmp_path: Path) -> None:
    with origin() as web, running_proxy(tmp_path) as (proxy, w):
        other = ask(proxy.socket_path, f"GET http://allowed.test:{web.port}/ HTTP/1.1\r\n"
                                       f"Host: evil.test:{web.port}\r\n\r\n")
        port = ask(proxy.socket_path, f"GET http://allowed.test:{web.port}/ HTTP/1.1\r\n"
                                      f"Host: allowed.test\r\n\r\n")
        twice = ask(proxy.socket_path, f"GET http://allowed.test:{web.port}/ HTTP/1.1\r\n"
                                       f"Host: allowed.test:{web.port}\r\nHost: evil.test\r\n\r\n")
    assert other.status == 400 and other.headers["x-codor-rule"] == "proxy.host_mismatch"
    assert port.status == 400 and port.headers["x-codor-rule"] == "proxy.host_mismatch"
    assert twice.status == 400
    assert web.seen == [] and w.lookups == []


def test_ambiguous_body_framing_is_refused(tmp_path: Path) -> None:
    with origin() as web, running_proxy(tmp_path) as (proxy, _):
        url, host = f"http://allowed.test:{web.port}/", f"Host: allowed.test:{web.port}\r\n"
        both = ask(proxy.socket_path, f"POST {url} HTTP/1.1\r\n{host}Content-Length: 3\r\n"
                                      f"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
        two = ask(proxy.socket_path, f"POST {url} HTTP/1.1\r\n{host}Content-Length: 3\r\n"
                                     f"Content-Length: 4\r\n\r\nabcd")
        gzip = ask(proxy.socket_path, f"POST {url} HTTP/1.1\r\n{host}Transfer-Encoding: gzip"
                                      f"\r\n\r\n")
    assert (both.status, two.status, gzip.status) == (400, 400, 501)
    assert web.seen == []


def test_oversized_heads_are_refused(tmp_path: Path) -> None:
    limits = ProxyLimits(max_head=4096, max_headers=10)
    with running_proxy(tmp_path, limits=limits) as (proxy, w):
        big = ask(proxy.socket_path, "GET http://allowed.test/ HTTP/1.1\r\nX-Pad: "
                  + "a" * 5000 + "\r\n\r\n")
        many = ask(proxy.socket_path, "GET http://allowed.test/ HTTP/1.1\r\n"
                   + "".join(f"X-{i}: 1\r\n" for i in range(20)) + "\r\n")
    assert big.status == 431 and many.status == 431
    assert w.decisions == []


# -- resolved addresses (escape class 12) ------------------------------------------------------
def test_rebinding_to_loopback_is_refused_without_allow_cidrs(tmp_path: Path) -> None:
    with origin() as web, running_proxy(tmp_path, POLICY_NO_CIDRS) as (proxy, w):
        reply = ask(proxy.socket_path, get("allowed.test", web.port))
    assert reply.status == 403
    blocked_headers_are_machine_readable(reply.headers, reply.body, "deny",
                                         "proxy.resolved_address")
    assert "127.0.0.1" in reply.json()["message"]
    assert [d.decision for _, d in w.decisions] == ["allow"]  # allowed by name...
    assert web.seen == []  # ...but never connected


def test_rebinding_to_metadata_or_a_private_address_is_refused(tmp_path: Path) -> None:
    with running_proxy(tmp_path) as (proxy, w):
        meta = ask(proxy.socket_path, get("meta.test", 80))
        mixed = ask(proxy.socket_path, get("mixed.test", 80))
        tunnel = ask(proxy.socket_path, "CONNECT meta.test:443 HTTP/1.1\r\n\r\n")
    assert meta.status == mixed.status == tunnel.status == 403
    assert "cloud metadata" in meta.json()["message"]
    assert "10.0.0.7" in mixed.json()["message"]
    assert w.rules() == ["proxy.resolved_address"] * 3


def test_upstream_failures_answer_502_with_a_reason(tmp_path: Path) -> None:
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there now
    with running_proxy(tmp_path) as (proxy, w):
        refused = ask(proxy.socket_path, get("allowed.test", port))
        unknown = ask(proxy.socket_path, get("x.wild.test", port))
    assert refused.status == 502 and refused.headers["x-codor-rule"] == "proxy.upstream_unreachable"
    assert refused.headers["x-codor-decision"] == "allow"
    assert unknown.status == 502 and unknown.headers["x-codor-rule"] == "proxy.resolve_failed"
    assert w.rules("egress.upstream_error") == ["proxy.upstream_unreachable",
                                                "proxy.resolve_failed"]


# -- CONNECT and TLS ---------------------------------------------------------------------------
def tls_get(proxy_path: str, connect_host: str, port: int, sni: str | None,
            ctx: ssl.SSLContext) -> tuple[int, bytes]:
    """CONNECT, then TLS with ``sni`` inside the tunnel; the HTTP status and body."""
    raw = connect(proxy_path)
    raw.sendall(f"CONNECT {connect_host}:{port} HTTP/1.1\r\nHost: {connect_host}:{port}\r\n"
                f"\r\n".encode())
    answer = read_reply(raw, head_only=True)
    if answer.status != 200:
        raw.close()
        return answer.status, answer.body
    if sni is None:
        ctx.check_hostname = False
    with ctx.wrap_socket(raw, server_hostname=sni) as tls:
        tls.sendall(f"GET /secure HTTP/1.1\r\nHost: {connect_host}\r\nConnection: close"
                    f"\r\n\r\n".encode())
        reply = read_reply(tls)
    return reply.status, reply.body


def test_connect_tunnel_carries_tls_to_an_allowed_host(tmp_path: Path) -> None:
    cert = make_cert(tmp_path)
    with origin(cert.server_context()) as web, running_proxy(tmp_path) as (proxy, w):
        status, body = tls_get(proxy.socket_path, "allowed.test", web.port, "allowed.test",
                               cert.client_context())
        time.sleep(0.05)
    assert status == 200 and json.loads(body)["path"] == "/secure"
    [(action, _)] = w.decisions
    assert (action.host, action.port, action.method) == ("allowed.test", web.port, "CONNECT")
    [closed] = [e for e in w.events if e["event"] == "egress.closed"]
    assert closed["kind"] == "connect" and closed["bytes_up"] > 0 and closed["bytes_down"] > 0


def test_connect_to_443_is_decided_as_https(tmp_path: Path) -> None:
    with running_proxy(tmp_path) as (proxy, w):
        reply = ask(proxy.socket_path, "CONNECT evil.test:443 HTTP/1.1\r\n\r\n")
    assert reply.status == 403 and w.lookups == []
    [(action, _)] = w.decisions
    assert (action.scheme, action.port) == ("https", 443)


def test_sni_that_differs_from_the_connect_host_closes_the_tunnel(tmp_path: Path) -> None:
    cert = make_cert(tmp_path, ["allowed.test", "other.test"])
    with origin(cert.server_context()) as web, running_proxy(tmp_path) as (proxy, w):
        with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
            tls_get(proxy.socket_path, "allowed.test", web.port, "other.test",
                    cert.client_context())
        time.sleep(0.05)
    assert web.seen == []
    assert w.rules() == ["proxy.sni_mismatch"]
    [blocked] = [e for e in w.events if e["event"] == "egress.blocked"]
    assert "other.test" in blocked["message"]


def test_tls_without_sni_and_non_tls_tunnels_pass(tmp_path: Path) -> None:
    cert = make_cert(tmp_path)
    with origin(cert.server_context()) as tls_web, origin() as web, \
            running_proxy(tmp_path) as (proxy, _):
        status, _ = tls_get(proxy.socket_path, "allowed.test", tls_web.port, None,
                            cert.client_context())
        with connect(proxy.socket_path) as sock:  # plain HTTP inside a CONNECT tunnel
            sock.sendall(f"CONNECT allowed.test:{web.port} HTTP/1.1\r\n\r\nGET /in HTTP/1.1"
                         f"\r\nHost: allowed.test\r\nConnection: close\r\n\r\n".encode())
            assert read_reply(sock, head_only=True).status == 200
            inner = read_reply(sock)
    assert status == 200
    assert inner.json()["path"] == "/in"


def test_garbage_that_starts_like_tls_is_refused(tmp_path: Path) -> None:
    with origin() as web, running_proxy(tmp_path) as (proxy, w):
        with connect(proxy.socket_path) as sock:
            sock.sendall(f"CONNECT allowed.test:{web.port} HTTP/1.1\r\n\r\n".encode())
            assert read_reply(sock, head_only=True).status == 200
            sock.sendall(b"\x16\x03\x01\x00\x05\x02\x00\x00\x01\x00")  # not a ClientHello
            assert sock.recv(100) == b""
        time.sleep(0.05)
    assert w.rules() == ["proxy.bad_client_hello"]


def test_transparent_mode_judges_each_request_and_its_host_header(tmp_path: Path) -> None:
    with origin() as web, running_proxy(tmp_path) as (proxy, w), \
            connect(proxy.socket_path) as sock:
        sock.sendall(f"CONNECT allowed.test:{web.port} HTTP/1.1\r\nX-Codor-Transparent: "
                     f"http\r\n\r\n".encode())
        assert read_reply(sock, head_only=True).status == 200
        sock.sendall(f"GET /t HTTP/1.1\r\nHost: allowed.test:{web.port}\r\n\r\n".encode())
        good = read_reply(sock)
        sock.sendall(f"GET /t HTTP/1.1\r\nHost: evil.test:{web.port}\r\n\r\n".encode())
        bad = read_reply(sock)
    assert good.status == 200 and good.json()["path"] == "/t"
    assert bad.status == 400 and bad.headers["x-codor-rule"] == "proxy.host_mismatch"
    assert [a.url for a, _ in w.decisions] == [f"http://allowed.test:{web.port}/t"]


# -- the DNS question ---------------------------------------------------------------------------
def test_dns_question_is_decided_by_name_and_never_resolved(tmp_path: Path) -> None:
    with running_proxy(tmp_path) as (proxy, w):
        yes = ask(proxy.socket_path, "CODOR-DNS allowed.test HTTP/1.1\r\n\r\n")
        no = ask(proxy.socket_path, "CODOR-DNS c2VjcmV0.evil.test HTTP/1.1\r\n\r\n")
        odd = ask(proxy.socket_path, "CODOR-DNS a\\046b.test HTTP/1.1\r\n\r\n")
        maybe = ask(proxy.socket_path, "CODOR-DNS ask.test HTTP/1.1\r\n\r\n")
    assert yes.status == 200 and yes.headers["x-codor-decision"] == "allow"
    assert no.status == 403 and no.headers["x-codor-rule"] == "egress.default"
    assert odd.status == 403 and odd.headers["x-codor-rule"] == "proxy.invalid_target"
    assert maybe.status == 200 and maybe.headers["x-codor-decision"] == "ask"  # resolvable
    assert w.lookups == []
    assert [(a.host, dict(a.meta)) for a, _ in w.decisions] == [
        ("allowed.test", {"via": "dns"}), ("c2vjcmv0.evil.test", {"via": "dns"}),
        ("ask.test", {"via": "dns"})]


# -- the kernel's decide, failures, limits, lifecycle ------------------------------------------
def test_decisions_land_in_the_ledger_through_the_kernel(tmp_path: Path) -> None:
    ws = Workspace(tmp_path, tmp_path / ".codor")
    ws.init(key_name="test")
    kernel = Kernel(compile_engine(tmp_path), ws.open_ledger())
    with EgressProxy(tmp_path / "k.sock", kernel.decide,
                     action_fields={"session": "s-proxy", "agent": "bot"}) as proxy:
        assert ask(proxy.socket_path, get("evil.test", 80)).status == 403
    kernel.close()
    ledger = ws.open_ledger(signing=False)
    size = ledger.sync()
    leaves = [e.leaf for e in ledger.store.entries(0, size) if e.leaf is not None]
    ledger.close()
    assert any(b"evil.test" in leaf and b"s-proxy" in leaf for leaf in leaves)


def test_a_failing_decide_fails_closed(tmp_path: Path) -> None:
    def broken(action: Action) -> Decision:
        raise RuntimeError("kernel is down")

    with EgressProxy(tmp_path / "b.sock", broken) as proxy:
        reply = ask(proxy.socket_path, get("allowed.test", 80))
    assert reply.status == 403 and reply.headers["x-codor-rule"] == "proxy.decide_failed"
    assert b"kernel is down" not in reply.body


def test_timeouts_close_slow_clients_and_idle_tunnels(tmp_path: Path) -> None:
    limits = ProxyLimits(head_timeout=0.3, idle_timeout=0.3)
    with origin() as web, running_proxy(tmp_path, limits=limits) as (proxy, _):
        with connect(proxy.socket_path) as slow:
            slow.sendall(b"GET http://allowed.test/ HTTP/1.1\r\n")
            start = time.monotonic()
            assert slow.recv(100) == b""
            assert time.monotonic() - start < 5
        with connect(proxy.socket_path) as idle:
            idle.sendall(f"CONNECT allowed.test:{web.port} HTTP/1.1\r\n\r\n".encode())
            assert read_reply(idle, head_only=True).status == 200
            start = time.monotonic()
            assert idle.recv(100) == b""
            assert 0.25 < time.monotonic() - start < 5


def test_connections_beyond_the_limit_get_503(tmp_path: Path) -> None:
    limits = ProxyLimits(max_connections=1)
    with origin() as web, running_proxy(tmp_path, limits=limits) as (proxy, _), \
            connect(proxy.socket_path) as held:
        held.sendall(f"CONNECT allowed.test:{web.port} HTTP/1.1\r\n\r\n".encode())
        assert read_reply(held, head_only=True).status == 200
        extra = ask(proxy.socket_path, get("allowed.test", web.port))
    assert extra.status == 503 and extra.headers["x-codor-rule"] == "proxy.too_many_connections"


def test_concurrent_requests_are_served(tmp_path: Path) -> None:
    with origin() as web, running_proxy(tmp_path) as (proxy, _):
        results: list[int] = []

        def one(i: int) -> None:
            results.append(ask(proxy.socket_path, get("allowed.test", web.port, f"/{i}")).status)

        threads = [threading.Thread(target=one, args=(i,)) for i in range(32)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert results == [200] * 32


def test_close_cuts_open_tunnels_and_removes_the_socket(tmp_path: Path) -> None:
    with origin() as web, running_proxy(tmp_path) as (proxy, _):
        sock = connect(proxy.socket_path)
        sock.sendall(f"CONNECT allowed.test:{web.port} HTTP/1.1\r\n\r\n".encode())
        assert read_reply(sock, head_only=True).status == 200
        proxy.close()
        assert sock.recv(100) == b""
        sock.close()
        assert not Path(proxy.socket_path).exists()
        proxy.close()  # idempotent


def test_socket_is_private_and_paths_are_checked(tmp_path: Path) -> None:
    engine = compile_engine(tmp_path, POLICY)
    with EgressProxy(tmp_path / "p.sock", engine.decide) as proxy:
        assert os.stat(proxy.socket_path).st_mode & 0o777 == 0o600
        with pytest.raises(SandboxNetworkError):
            proxy.start()
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(tmp_path / "stale.sock"))
    stale.close()  # a leftover socket file is replaced
    with EgressProxy(tmp_path / "stale.sock", engine.decide) as proxy:
        assert ask(proxy.socket_path, get("evil.test", 80)).status == 403
    (tmp_path / "file").write_text("not a socket")
    with pytest.raises(SandboxNetworkError, match="not a socket"):
        EgressProxy(tmp_path / "file", engine.decide).start()
    assert (tmp_path / "file").read_text() == "not a socket"
    engine.close()


def test_optional_tcp_listener_serves_the_same_proxy(tmp_path: Path) -> None:
    """For a sandbox that shares the host's network (Landlock alone)."""
    engine = compile_engine(tmp_path, POLICY)
    with origin() as web, EgressProxy(tmp_path / "t.sock", engine.decide,
                                      tcp_address=("127.0.0.1", 0)) as proxy:
        assert proxy.tcp_address is not None
        with socket.create_connection(proxy.tcp_address, timeout=10) as sock:
            sock.sendall(get("evil.test", web.port).encode())
            denied = read_reply(sock)
        taken = EgressProxy(tmp_path / "u.sock", engine.decide, tcp_address=proxy.tcp_address)
        with pytest.raises(SandboxNetworkError, match="did not start"):
            taken.start()
        assert not (tmp_path / "u.sock").exists()
    assert denied.status == 403 and denied.headers["x-codor-rule"] == "egress.default"
    engine.close()
