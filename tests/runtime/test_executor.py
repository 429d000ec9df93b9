"""The sandbox executor as the tool router's runner: shell.exec really runs in bubblewrap, and
what it wrote is recorded as its products."""

from __future__ import annotations

import hashlib
import os
import signal
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

import pytest

from codor.runtime import ToolRouter
from codor.runtime.executor import SandboxExecutor
from codor.sandbox.forwarder import ForwarderPool
from tests.runtime.conftest import SetupFactory


def test_shell_exec_runs_confined_and_records_its_products(make_setup: SetupFactory) -> None:
    setup = make_setup()
    with SandboxExecutor(setup.kernel, setup.root, session="s-exec") as executor:
        router = ToolRouter(setup.kernel, setup.root, sandbox_runner=executor)
        result = router.call(
            "shell.exec", {"command": "echo made > made.txt; touch /etc/codor-escape; "
                                      "echo status=$?"}, session="s-exec")
    assert result.ok, result.to_json()
    assert result.output["exit_status"] == 0
    assert "status=1" in result.output["stdout"]  # the host's /etc is read-only inside
    assert (setup.root / "made.txt").read_text() == "made\n"
    [outcome] = setup.outcomes()
    assert outcome.sandbox == "bubblewrap"
    assert dict(outcome.products) == {
        str(setup.root / "made.txt"): hashlib.sha256(b"made\n").hexdigest()}


def test_explain_names_the_backend_and_the_namespaces(make_setup: SetupFactory) -> None:
    setup = make_setup()
    with SandboxExecutor(setup.kernel, setup.root) as executor:
        text = executor.explain(["true"])
    assert text.startswith("backend: bubblewrap")
    assert "--unshare-user" in text and "--unshare-net" in text


PROBE = [sys.executable, "-I", "-c",
         "import socket; socket.create_connection(('127.0.0.1', 3128), 5).close(); print('up')"]


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_each_command_gets_its_own_forwarder_from_a_spare(make_setup: SetupFactory) -> None:
    """The forwarder is listening before the command runs; the spare started for the next
    command is used once, a killed spare is replaced, and close() leaves no process."""
    setup = make_setup()
    with SandboxExecutor(setup.kernel, setup.root) as executor:
        first = executor.run(PROBE)
        pool = executor._forwarders
        assert pool is not None and pool.spare is not None
        spare = pool.spare
        second = executor.run(PROBE)
        assert pool.spare is not None and pool.spare.pid != spare.pid
        assert spare.proc.wait(timeout=5) == 0  # it served the second command, then ended
        os.kill(pool.spare.pid, signal.SIGKILL)
        third = executor.run(PROBE)  # a fresh forwarder instead
        last = pool.spare
        assert last is not None and last.poll() is None
        pids = [h.pid for h in pool._ending]  # retired, maybe not reaped yet
    assert [r.stdout.data if r.stdout else b"" for r in (first, second, third)] == [b"up\n"] * 3
    assert executor._forwarders is None
    assert all(gone(pid) for pid in [last.pid, *pids])


def test_first_commands_from_several_threads_share_one_setup(
        make_setup: SetupFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The MCP server runs tool calls on threads: the first commands, arriving together, make
    one backend choice, one egress proxy and one forwarder pool between them (each used to
    make its own, and all but the last were left running), and all of them run."""
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private_tmp))  # where proxies' dirs go
    pools: list[ForwarderPool] = []

    class CountedPool(ForwarderPool):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            pools.append(self)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr("codor.sandbox.forwarder.ForwarderPool", CountedPool)
    setup = make_setup()
    threads = 6
    barrier = threading.Barrier(threads)
    seen: list[tuple[int, bytes]] = []

    def first_command() -> None:
        barrier.wait()
        choice = executor.choice
        result = executor.run(PROBE)
        seen.append((id(choice), result.stdout.data if result.stdout else b""))

    with SandboxExecutor(setup.kernel, setup.root) as executor:
        workers = [threading.Thread(target=first_command) for _ in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=60)
        proxy_dirs = [p.name for p in private_tmp.iterdir() if p.name.startswith("codor-egress-")]
    assert len(seen) == threads and {out for _, out in seen} == {b"up\n"}
    assert len({choice for choice, _ in seen}) == 1
    assert len(proxy_dirs) == 1 and len(pools) == 1
    assert not any(private_tmp.iterdir())  # close() removed the proxy's directory


def test_without_a_spare_no_forwarder_outlives_the_command(make_setup: SetupFactory) -> None:
    """``spare=False`` (``codor run``: one command) starts no forwarder for a next command."""
    setup = make_setup()
    with SandboxExecutor(setup.kernel, setup.root, spare=False) as executor:
        result = executor.run(PROBE)
        pool = executor._forwarders
        assert pool is not None and pool.spare is None
    assert result.stdout is not None and result.stdout.data == b"up\n"
