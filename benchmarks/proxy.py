#!/usr/bin/env python3
"""Latency the egress proxy adds per HTTP request on loopback (goal: median ≤ 2 ms).

A minimal origin (threads, fixed 2 KiB answer, keep-alive) listens on 127.0.0.1. A raw-socket
client sends ``GET`` requests and reads whole responses, each timed with ``perf_counter_ns``:

* ``direct``: straight to the origin (TCP);
* ``proxy``: through :class:`~codor.sandbox.proxy.EgressProxy` on its unix socket (policy
  decision by a real compiled policy, resolved-address check, upstream connect, relay);
* ``connect``: a ``CONNECT`` tunnel, then one request inside it;
* ``kernel``: ``proxy`` with the kernel's ``decide`` recording every decision durably in a
  SQLite ledger (what ``codor run`` does; the ledger's cost, not the proxy's);
* ``forwarder``: from inside a bubblewrap sandbox (own network namespace) through the
  forwarder (127.0.0.1:3128 → unix socket → proxy), and to a fake DNS address.

Each is measured with a new connection per request (``Connection: close``) and, where it
applies, on one keep-alive connection. Modes run in interleaved blocks so that load from other
processes hits them alike. Name resolution is a fixed map (a real lookup adds the system
resolver's time; ``getaddrinfo("localhost")`` is reported for scale). Results go to
``benchmarks/results/proxy.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results" / "proxy.json"
GOAL_MS = 2.0
BODY = b"x" * 2048
RESPONSE = (b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nContent-Type: text/plain\r\n\r\n"
            % len(BODY)) + BODY
POLICY = """version: 1
name: bench
guards:
  egress:
    allow: [bench.test]
    allow_cidrs: [127.0.0.1/32]
"""


# -- origin ----------------------------------------------------------------------------------------
def _serve(conn: socket.socket) -> None:
    with conn:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buf = b""
        while True:
            while b"\r\n\r\n" not in buf:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                buf += chunk
            head, _, buf = buf.partition(b"\r\n\r\n")
            conn.sendall(RESPONSE)
            if b"connection: close" in head.lower():
                return


@contextlib.contextmanager
def origin() -> Iterator[int]:
    listener = socket.create_server(("127.0.0.1", 0), backlog=512)

    def accept() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=_serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield listener.getsockname()[1]
    finally:
        with contextlib.suppress(OSError):
            listener.shutdown(socket.SHUT_RDWR)
        listener.close()


# -- client ----------------------------------------------------------------------------------------
def read_response(sock: socket.socket) -> None:
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(buf[:200])
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        raise AssertionError(head[:300])
    length = len(BODY)
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("short body")
        rest += chunk


def new_conn(connect: Callable[[], socket.socket], request: bytes) -> Callable[[], None]:
    def once() -> None:
        with connect() as sock:
            sock.sendall(request)
            read_response(sock)

    return once


def tunnel(connect: Callable[[], socket.socket], port: int) -> Callable[[], None]:
    opening = f"CONNECT bench.test:{port} HTTP/1.1\r\nHost: bench.test:{port}\r\n\r\n".encode()
    inner = b"GET /t HTTP/1.1\r\nHost: bench.test\r\nConnection: close\r\n\r\n"

    def once() -> None:
        with connect() as sock:
            sock.sendall(opening)
            buf = b""
            while b"\r\n\r\n" not in buf:
                buf += sock.recv(4096)
            assert buf.startswith(b"HTTP/1.1 200"), buf
            sock.sendall(inner)
            read_response(sock)

    return once


class KeepAlive:
    def __init__(self, connect: Callable[[], socket.socket], request: bytes) -> None:
        self.sock = connect()
        self.request = request

    def __call__(self) -> None:
        self.sock.sendall(self.request)
        read_response(self.sock)

    def close(self) -> None:
        self.sock.close()


def tcp(port: int) -> Callable[[], socket.socket]:
    def connect() -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    return connect


def unix(path: str) -> Callable[[], socket.socket]:
    def connect() -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(path)
        return sock

    return connect


def timed(fn: Callable[[], None], n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter_ns()
        fn()
        out.append((time.perf_counter_ns() - t0) / 1e6)
    return out


def summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {"n": len(samples), "median_ms": round(statistics.median(samples), 3),
            "p90_ms": round(ordered[int(len(ordered) * 0.9)], 3),
            "mean_ms": round(statistics.fmean(samples), 3)}


# -- the forwarder path (inside a sandbox) ---------------------------------------------------------
INSIDE = """
import json, socket, time
BODY = {body}
def read(sock):
    buf = b""
    while b"\\r\\n\\r\\n" not in buf:
        buf += sock.recv(65536)
    head, _, rest = buf.partition(b"\\r\\n\\r\\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    while len(rest) < BODY:
        rest += sock.recv(65536)
def run(addr, request, n, keep):
    out = []
    sock = socket.create_connection(addr) if keep else None
    for _ in range(n):
        t0 = time.perf_counter_ns()
        s = sock or socket.create_connection(addr)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.sendall(request)
        read(s)
        if not keep:
            s.close()
        out.append((time.perf_counter_ns() - t0) / 1e6)
    return out
port = {port}
absolute = f"GET http://bench.test:{{port}}/f HTTP/1.1\\r\\nHost: bench.test:{{port}}\\r\\n"
origin = "GET /f HTTP/1.1\\r\\nHost: bench.test:%d\\r\\n" % port
fake = socket.gethostbyname("bench.test")
close = "Connection: close\\r\\n\\r\\n"
proxy = ("127.0.0.1", 3128)
modes = {{
    "forwarder_new_conn": (proxy, (absolute + close).encode(), False),
    "forwarder_keepalive": (proxy, (absolute + "\\r\\n").encode(), True),
    "fake_address_new_conn": ((fake, port), (origin + close).encode(), False),
}}
results = {{name: [] for name in modes}}
for name, (addr, req, keep) in modes.items():
    run(addr, req, {warmup}, keep)
for _ in range({rounds}):
    for name, (addr, req, keep) in modes.items():
        results[name] += run(addr, req, {block}, keep)
print(json.dumps(results))
"""


def forwarder_path(sock_path: str, port: int, rounds: int, block: int,
                   warmup: int) -> dict[str, list[float]] | str:
    if shutil.which("bwrap") is None:
        return "bubblewrap not installed"
    from codor.sandbox.forwarder import proxy_env, resolv_conf, start_forwarder

    home = Path(tempfile.mkdtemp(prefix="codor-bench-"))
    resolv = home / "resolv.conf"
    resolv.write_text(resolv_conf())
    code = INSIDE.format(body=len(BODY), port=port, rounds=rounds, block=block, warmup=warmup)
    info_r, info_w = os.pipe()
    block_r, block_w = os.pipe()
    env = []
    for k, v in {"PATH": "/usr/bin:/bin", **proxy_env()}.items():
        env += ["--setenv", k, v]
    cmd = ["bwrap", "--unshare-user", "--unshare-net", "--unshare-pid", "--die-with-parent",
           "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
           "--tmpfs", str(Path(sock_path).parent), "--ro-bind", str(resolv), "/etc/resolv.conf",
           "--clearenv", *env, "--info-fd", str(info_w), "--block-fd", str(block_r), "--",
           sys.executable, "-I", "-c", code]
    jail = subprocess.Popen(cmd, pass_fds=(info_w, block_r), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    os.close(info_w)
    os.close(block_r)
    try:
        with os.fdopen(info_r, "rb") as info:
            child = json.loads(info.read())["child-pid"]
        t0 = time.perf_counter()
        fwd = start_forwarder(child, sock_path, ports=(port,), http_ports=(port,))
        fwd.ready()
        ready_ms = (time.perf_counter() - t0) * 1000
        os.write(block_w, b"1")
        out, err = jail.communicate(timeout=600)
        fwd.close()
    finally:
        os.close(block_w)
        if jail.poll() is None:
            jail.kill()
        shutil.rmtree(home)
    if jail.returncode != 0:
        return f"the sandboxed client failed: {err.strip()[-300:]}"
    result: dict[str, list[float]] = json.loads(out)
    result["forwarder_ready_ms"] = [round(ready_ms, 1)]
    return result


# -- main ------------------------------------------------------------------------------------------
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1000, help="per mode (≥ 500)")
    parser.add_argument("--block", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--no-save", action="store_true")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from codor.kernel import Kernel
    from codor.policy import compile_ref
    from codor.policy.engine import Engine
    from codor.sandbox.netutil import AddressCheck
    from codor.sandbox.proxy import EgressProxy
    from codor.workspace import Workspace

    work = Path(tempfile.mkdtemp(prefix="codor-bench-proxy-"))
    (work / "policy.yaml").write_text(POLICY)
    compiled = compile_ref(work / "policy.yaml", workspace=str(work), home=str(work), env={})
    engine = Engine(compiled)
    ws = Workspace(work / "ws", work / "ws" / ".codor")
    (work / "ws").mkdir()
    ws.init(key_name="bench")
    kernel = Kernel(engine, ws.open_ledger())
    loopback = [ipaddress.ip_address("127.0.0.1")]

    def resolve(host: str, port: int) -> list[Any]:
        return loopback

    check = AddressCheck.from_policy(compiled)
    rounds = max(1, args.requests // args.block)
    results: dict[str, Any] = {}
    with origin() as port, \
            EgressProxy(work / "sock" / "p.sock", engine.decide, check,
                        resolver=resolve) as proxy, \
            EgressProxy(work / "sock" / "k.sock", kernel.decide, check,
                        resolver=resolve) as kproxy:
        absolute = f"GET http://bench.test:{port}/b HTTP/1.1\r\nHost: bench.test:{port}\r\n"
        direct = f"GET /b HTTP/1.1\r\nHost: bench.test:{port}\r\n"
        close = "Connection: close\r\n\r\n"
        keep_direct = KeepAlive(tcp(port), (direct + "\r\n").encode())
        keep_proxy = KeepAlive(unix(proxy.socket_path), (absolute + "\r\n").encode())
        modes: dict[str, Callable[[], None]] = {
            "direct_new_conn": new_conn(tcp(port), (direct + close).encode()),
            "proxy_new_conn": new_conn(unix(proxy.socket_path), (absolute + close).encode()),
            "connect_new_conn": tunnel(unix(proxy.socket_path), port),
            "kernel_new_conn": new_conn(unix(kproxy.socket_path), (absolute + close).encode()),
            "direct_keepalive": keep_direct,
            "proxy_keepalive": keep_proxy,
        }
        samples: dict[str, list[float]] = {name: [] for name in modes}
        for fn in modes.values():
            timed(fn, args.warmup)
        for _ in range(rounds):
            for name, fn in modes.items():
                samples[name] += timed(fn, args.block)
        keep_direct.close()
        keep_proxy.close()
        inside = forwarder_path(proxy.socket_path, port, rounds, args.block, args.warmup)
    kernel.close()
    shutil.rmtree(work)

    for name, values in samples.items():
        results[name] = summary(values)
    if isinstance(inside, str):
        results["forwarder"] = {"skipped": inside}
    else:
        for name, values in inside.items():
            results[name] = summary(values) if len(values) > 1 else {"ms": values[0]}
    lookup = timed(lambda: socket.getaddrinfo("localhost", 80, type=socket.SOCK_STREAM), 200)
    results["getaddrinfo_localhost"] = summary(lookup)

    def added(mode: str, base: str) -> float:
        return round(results[mode]["median_ms"] - results[base]["median_ms"], 3)

    added_ms = {
        "proxy_new_conn": added("proxy_new_conn", "direct_new_conn"),
        "proxy_keepalive": added("proxy_keepalive", "direct_keepalive"),
        "connect_new_conn": added("connect_new_conn", "direct_new_conn"),
        "kernel_new_conn": added("kernel_new_conn", "direct_new_conn"),
    }
    if "forwarder_new_conn" in results:
        added_ms["forwarder_new_conn"] = added("forwarder_new_conn", "direct_new_conn")
        added_ms["forwarder_keepalive"] = added("forwarder_keepalive", "direct_keepalive")
        added_ms["fake_address_new_conn"] = added("fake_address_new_conn", "direct_new_conn")
    report = {
        "benchmark": "proxy",
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                    "python": platform.python_version(),
                    "load_average_after": list(os.getloadavg())},
        "requests_per_mode": rounds * args.block,
        "response_bytes": len(RESPONSE),
        "modes": results,
        "added_median_ms": added_ms,
        "goal_ms": GOAL_MS,
        "goal_counts": "proxy_new_conn and proxy_keepalive",
        "pass": added_ms["proxy_new_conn"] <= GOAL_MS and added_ms["proxy_keepalive"] <= GOAL_MS,
    }
    text = json.dumps(report, indent=2)
    print(text)
    if not args.no_save:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
