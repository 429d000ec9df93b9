"""The Landlock-only backend, for real (Landlock and seccomp work on this kernel)."""

from __future__ import annotations

import os
import socket
import uuid
from pathlib import Path

import pytest

from codor.policy.sandbox_section import SandboxSettings
from codor.sandbox.backends import ALL_GUARANTEES
from codor.sandbox.landlock import LandlockBackend, abi_version, readable_roots
from codor.sandbox.spec import build_spec
from tests.sandbox.harness import BASE_ENV, probe, sandboxed, sh

LANDLOCK = LandlockBackend()


@pytest.fixture(autouse=True)
def _landlock_works() -> None:
    ok, why = LANDLOCK.available()
    assert ok, f"Landlock must work on this machine: {why}"


def test_writes_are_confined_to_the_workspace_and_a_private_tmpdir(workspace: Path) -> None:
    marker = f"/etc/codor-escape-{uuid.uuid4().hex}"
    out = probe(workspace, f"""
        open("in-workspace.txt", "w").write("ok")
        out["etc"] = attempt(lambda: open("{marker}", "w"))
        out["host_tmp"] = attempt(lambda: open("/tmp/codor-landlock-{uuid.uuid4().hex}", "w"))
        tmpdir = os.environ["TMPDIR"]
        open(os.path.join(tmpdir, "scratch"), "w").write("ok")
        out["tmpdir"] = tmpdir
        out["devnull"] = attempt(lambda: open("/dev/null", "w").write("x"))
    """, backend=LANDLOCK)
    assert (workspace / "in-workspace.txt").read_text() == "ok"
    assert out["etc"] == "EACCES" and out["host_tmp"] == "EACCES" and out["devnull"] == "OK"
    assert out["tmpdir"].startswith("/tmp/codor-sandbox-")
    assert not os.path.exists(out["tmpdir"])  # removed after the run
    assert not os.path.exists(marker)


def test_hidden_paths_are_unreadable(workspace: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"  # outside the workspace; the host's /tmp stays visible here
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_rsa").write_text("KEY")
    (home / "notes.txt").write_text("fine")
    out = probe(workspace, f"""
        out["key"] = attempt(lambda: open("{home}/.ssh/id_rsa").read())
        out["list"] = attempt(lambda: os.listdir("{home}/.ssh"))
        out["notes"] = open("{home}/notes.txt").read()
        out["write_notes"] = attempt(lambda: open("{home}/notes.txt", "a"))
    """, backend=LANDLOCK, home=str(home))
    assert out == {"key": "EACCES", "list": "EACCES", "notes": "fine", "write_notes": "EACCES"}
    roots = readable_roots([str(home / ".ssh")], [])
    assert str(home / ".ssh") not in roots and str(home / "notes.txt") in roots
    assert "/" not in roots and "/usr" in roots


def test_syscalls_sockets_and_capabilities_are_refused(workspace: Path) -> None:
    out = probe(workspace, """
        params = ctypes.create_string_buffer(120)
        r, e = sys_call(425, 4, params)
        out["io_uring"] = "OK" if r >= 0 else errname(e)
        out["unix"] = attempt(lambda: socket.socket(socket.AF_UNIX))
        out["udp"] = attempt(lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
        out["tcp"] = attempt(lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM).close())
        with open("/proc/self/status") as fh:
            caps = {l.split(":")[0]: l.split()[1] for l in fh if l.startswith("Cap")}
        out["caps"] = sorted(set(caps.values()))
        out["fds"] = sorted(int(f) for f in os.listdir("/proc/self/fd"))
    """, backend=LANDLOCK)
    assert out == {"io_uring": "EPERM", "unix": "EPERM", "udp": "EPERM", "tcp": "OK",
                   "caps": ["0000000000000000"], "fds": [0, 1, 2, 3]}


def test_tcp_goes_only_to_the_proxy_port(workspace: Path) -> None:
    proxy, other = socket.socket(), socket.socket()
    for s in (proxy, other):
        s.bind(("127.0.0.1", 0))
        s.listen(4)
    proxy_port, other_port = proxy.getsockname()[1], other.getsockname()[1]
    code = f"""
        def to(port):
            socket.create_connection(("127.0.0.1", port), timeout=3).close()
        out["proxy"] = attempt(lambda: to({proxy_port}))
        out["other"] = attempt(lambda: to({other_port}))
        out["env"] = os.environ.get("HTTPS_PROXY")
    """
    try:
        with_proxy = probe(workspace, code, backend=LANDLOCK, proxy_port=proxy_port,
                           settings=SandboxSettings(network="proxy"))
        without = probe(workspace, code, backend=LANDLOCK, proxy_port=proxy_port,
                        settings=SandboxSettings(network="none"))
    finally:
        proxy.close()
        other.close()
    assert abi_version() >= 4
    assert with_proxy == {"proxy": "OK", "other": "EACCES",
                          "env": f"http://127.0.0.1:{proxy_port}"}
    assert without == {"proxy": "EACCES", "other": "EACCES", "env": None}


def test_the_environment_is_scrubbed(workspace: Path) -> None:
    env = {**BASE_ENV, "OPENAI_API_KEY": "sk-x", "EDITOR": "vi"}
    out = probe(workspace, "out['env'] = dict(os.environ)", backend=LANDLOCK, env=env)
    assert "OPENAI_API_KEY" not in out["env"] and out["env"]["EDITOR"] == "vi"


def test_a_failure_to_confine_never_runs_the_command(workspace: Path) -> None:
    """A command that does not exist: the helper reports it; nothing runs unconfined."""
    result = sandboxed(workspace, ["/nonexistent/codor-cmd"], backend=LANDLOCK)
    assert result.exit_status == 127
    assert result.stderr is not None and "codor-landlock" in result.stderr.text()


def test_it_is_labelled_weaker(workspace: Path) -> None:
    have = LANDLOCK.guarantees("proxy")
    assert {"protected_paths", "pid_isolation", "network_isolation"} <= ALL_GUARANTEES - have
    assert "network_isolation" in LANDLOCK.guarantees("none")
    spec = build_spec(SandboxSettings(network="none"), ["true"], workspace=workspace,
                      env=BASE_ENV, home="/root")
    assert "weaker" in LANDLOCK.explain(spec)


def test_protected_paths_inside_the_workspace_are_not_protected(workspace: Path) -> None:
    """What the label means: Landlock cannot take a right back beneath the workspace."""
    result = sh(workspace, "mkdir -p .git/hooks && echo x > .git/hooks/pre-commit",
                backend=LANDLOCK)
    assert result.exit_status == 0
    assert (workspace / ".git" / "hooks" / "pre-commit").exists()
