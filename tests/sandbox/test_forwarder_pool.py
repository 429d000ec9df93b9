"""The forwarder's spare process, with real processes and real network namespaces: a spare is
handed one namespace at most, a dead spare is replaced by a fresh process, closing the pool
leaves no process behind, a descriptor that is not a network namespace is refused, and a
spare handed a bubblewrap sandbox's namespace at once does not race bubblewrap's own setup."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

from codor.errors import SandboxNetworkError
from codor.sandbox import SandboxSettings, build_spec
from codor.sandbox.bwrap import BubblewrapBackend
from codor.sandbox.forwarder import (
    ForwarderHandle,
    ForwarderPool,
    start_forwarder,
)
from tests.sandbox.netns import bare_netns, need_namespaces
from tests.sandbox.origins import running_proxy


@pytest.fixture(autouse=True)
def _namespaces() -> None:
    need_namespaces()


def gone(pid: int) -> bool:
    """The process no longer exists (exited *and* reaped)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def wait_warm(handle: ForwarderHandle, timeout: float = 5.0) -> None:
    """Until the spare blocks on its socket, waiting for a namespace (its imports done).
    Best effort: where the kernel hides ``wchan`` this only waits ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if Path(f"/proc/{handle.pid}/wchan").read_text().startswith("unix_stream"):
            return
        time.sleep(0.005)


@contextmanager
def namespaces(count: int) -> Iterator[list[int]]:
    with ExitStack() as stack:
        yield [stack.enter_context(bare_netns()) for _ in range(count)]


def test_the_spare_serves_one_sandbox_only(tmp_path: Path) -> None:
    with running_proxy(tmp_path) as (proxy, _), namespaces(2) as (first, second), \
            ForwarderPool(proxy.socket_path, dns_port=None, loopback="up") as pool:
        pool.refill()
        spare = pool.spare
        assert spare is not None and spare.poll() is None
        pool.refill()
        assert pool.spare is spare  # one spare, not one per call
        used = pool.start(first)
        assert used is spare and pool.spare is None
        assert used.ready().proxy_port == 3128
        with pytest.raises(SandboxNetworkError, match="already has a network namespace"):
            used.attach(second)
        # nor does the process take a second one sent behind the handle's back
        fd = os.open(f"/proc/{second}/ns/net", os.O_RDONLY)
        try:
            socket.send_fds(used.control, [b"N"], [fd])
        finally:
            os.close(fd)
        time.sleep(0.1)
        other = pool.start(second)  # no spare: a fresh process, and 3128 is free there
        assert other.pid != used.pid and other.ready().proxy_port == 3128
        assert used.poll() is None  # still serving the first namespace
        used.close()
        other.close()
        assert gone(used.pid) and gone(other.pid)


def test_a_dead_spare_is_replaced_by_a_fresh_forwarder(tmp_path: Path) -> None:
    with running_proxy(tmp_path) as (proxy, _), namespaces(2) as (first, second), \
            ForwarderPool(proxy.socket_path, dns_port=None, loopback="up") as pool:
        pool.refill()
        spare = pool.spare
        assert spare is not None
        wait_warm(spare)
        os.kill(spare.pid, signal.SIGKILL)
        spare.proc.wait()  # dead and reaped: the pool sees it exited
        handle = pool.start(first)
        assert handle.pid != spare.pid and handle.ready().proxy_port == 3128
        handle.close()

        pool.refill()
        spare = pool.spare
        assert spare is not None
        wait_warm(spare)
        os.kill(spare.pid, signal.SIGSTOP)  # alive when handed the namespace, killed after
        killer = threading.Timer(0.3, os.kill, (spare.pid, signal.SIGKILL))
        killer.start()
        t0 = time.monotonic()
        handle = pool.start(second)
        killer.join()
        assert time.monotonic() - t0 >= 0.3  # it waited for the spare, then started another
        assert handle.pid != spare.pid and handle.ready().proxy_port == 3128
        handle.close()
        assert gone(spare.pid) and gone(handle.pid)


def test_refill_replaces_a_dead_spare(tmp_path: Path) -> None:
    with ForwarderPool(tmp_path / "none.sock") as pool:
        pool.refill()
        spare = pool.spare
        assert spare is not None
        os.kill(spare.pid, signal.SIGKILL)
        spare.proc.wait()
        pool.refill()
        assert pool.spare is not None and pool.spare.pid != spare.pid
        assert gone(spare.pid)


def test_close_leaves_no_process_behind(tmp_path: Path) -> None:
    pool = ForwarderPool(tmp_path / "none.sock")
    pool.refill()
    cold = pool.spare  # most likely still starting
    assert cold is not None
    pool.close()
    assert gone(cold.pid)
    pool.refill()  # closed: no new spare
    assert pool.spare is None
    pool.close()  # idempotent

    with bare_netns() as pid:
        pool = ForwarderPool(tmp_path / "none.sock", dns_port=None, loopback="up")
        pool.refill()
        warm = pool.spare
        assert warm is not None
        wait_warm(warm)
        used = pool.start(pid)
        pool.refill()
        spare = pool.spare
        assert spare is not None and spare.pid != used.pid
        pool.retire(used)  # told to end, not waited for
        pool.close()
    assert gone(used.pid) and gone(spare.pid)


def test_a_descriptor_that_is_not_a_network_namespace_is_refused(tmp_path: Path) -> None:
    with bare_netns() as pid:
        with pytest.raises(SandboxNetworkError, match="the forwarder failed"):
            start_forwarder(None, tmp_path / "none.sock", netns=f"/proc/{pid}/ns/user",
                            dns_port=None).ready()
        with pytest.raises(SandboxNetworkError, match="the forwarder failed"):
            start_forwarder(None, tmp_path / "none.sock", netns=tmp_path.parent,
                            dns_port=None).ready()


def test_a_warm_spare_does_not_race_bubblewrap_for_lo(tmp_path: Path) -> None:
    """bubblewrap brings ``lo`` up just after it reports its child, and fails if the address
    is there already. A warm spare is handed the namespace within a millisecond, so it waits
    for bubblewrap (``loopback="wait"``); when it brought ``lo`` up itself, about one run in
    six failed here with ``bwrap: loopback: Failed RTM_NEWADDR``."""
    ws = tmp_path / "ws"
    ws.mkdir()
    sock_dir = tmp_path / "proxy"
    sock_dir.mkdir()
    backend = BubblewrapBackend()
    handles: list[ForwarderHandle] = []
    with running_proxy(sock_dir) as (proxy, _), ForwarderPool(proxy.socket_path) as pool:
        spec = build_spec(SandboxSettings(network="proxy"), ["true"], workspace=ws,
                          proxy_socket=proxy.socket_path)
        for _ in range(20):
            pool.refill()
            assert pool.spare is not None
            wait_warm(pool.spare)
            try:
                result = backend.run(spec, on_started=lambda pid: handles.append(pool.start(pid)))
            finally:
                for handle in handles:
                    handle.close()
            assert result.exit_status == 0 and len(handles) == 1
            handles.clear()
