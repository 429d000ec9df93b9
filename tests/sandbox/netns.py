"""Test helper: real network namespaces the tests create themselves.

:func:`jail` starts a program in a bubblewrap sandbox with its own user, PID and network
namespaces (nothing but ``lo`` inside), held before ``exec`` with ``--block-fd`` until the
test has put a forwarder in its network namespace — exactly the way the bwrap backend does.
:func:`bare_netns` makes an empty network namespace with ``unshare`` (held by a sleeping
process) for tests that only need a place to listen.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

PYTHON = sys.executable
SRC = str(Path(__file__).resolve().parents[2] / "src")


def need_namespaces() -> None:
    """Fail loudly (not skip) when the machine cannot make namespaces: these tests are the
    proof that the forwarder works."""
    if shutil.which("bwrap") is None:
        pytest.fail("bubblewrap is not installed (make test installs it)")
    probe = subprocess.run(["bwrap", "--unshare-user", "--unshare-net", "--ro-bind", "/", "/",
                            "true"], capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        pytest.fail(f"bubblewrap cannot create namespaces here: {probe.stderr.strip()}")


@dataclass
class Jail:
    """A sandboxed program waiting to be released."""

    proc: subprocess.Popen[str]
    child_pid: int
    _block_w: int | None

    def release(self) -> None:
        if self._block_w is not None:
            os.write(self._block_w, b"1")
            os.close(self._block_w)
            self._block_w = None

    def finish(self, timeout: float = 60.0) -> tuple[int, str, str]:
        self.release()
        out, err = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, out, err

    def kill(self) -> None:
        if self._block_w is not None:
            os.close(self._block_w)
            self._block_w = None
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.communicate()


@contextmanager
def jail(argv: Sequence[str], *, hide: Sequence[str | Path] = (), resolv: Path | None = None,
         env: dict[str, str] | None = None) -> Iterator[Jail]:
    """Run ``argv`` in a fresh bubblewrap sandbox (read-only view of ``/``, ``hide`` masked by
    empty tmpfs, ``resolv`` as ``/etc/resolv.conf``), blocked until :meth:`Jail.release`."""
    info_r, info_w = os.pipe()
    block_r, block_w = os.pipe()
    cmd = ["bwrap", "--unshare-user", "--unshare-net", "--unshare-pid", "--die-with-parent",
           "--new-session", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
    for path in hide:
        cmd += ["--tmpfs", str(path)]
    if resolv is not None:
        cmd += ["--ro-bind", str(resolv), "/etc/resolv.conf"]
    cmd += ["--clearenv"]
    for key, value in (env or {}).items():
        cmd += ["--setenv", key, value]
    cmd += ["--info-fd", str(info_w), "--block-fd", str(block_r), "--", *argv]
    proc = subprocess.Popen(cmd, pass_fds=(info_w, block_r), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    os.close(info_w)
    os.close(block_r)
    try:
        with os.fdopen(info_r, "rb") as info:
            raw = info.read()
        child = json.loads(raw)["child-pid"]
    except (ValueError, KeyError):
        os.close(block_w)
        proc.kill()
        _, err = proc.communicate()
        pytest.fail(f"bubblewrap did not report its child: {err}")
    held = Jail(proc, int(child), block_w)
    try:
        yield held
    finally:
        held.kill()


@contextmanager
def bare_netns() -> Iterator[int]:
    """An empty network namespace (with its own user namespace); yields the pid holding it."""
    proc = subprocess.Popen(["unshare", "--user", "--map-root-user", "--net", "--",
                             "sleep", "600"])
    try:
        for _ in range(200):  # until unshare has switched namespaces and exec'd sleep
            if os.readlink(f"/proc/{proc.pid}/ns/net") != os.readlink("/proc/self/ns/net"):
                break
            time.sleep(0.01)
        yield proc.pid
    finally:
        proc.kill()
        proc.wait()


def in_python(code: str) -> list[str]:
    """argv that runs ``code`` with this interpreter and CODOR's sources importable."""
    return [PYTHON, "-I", "-c", f"import sys; sys.path.insert(0, {SRC!r})\n{code}"]
