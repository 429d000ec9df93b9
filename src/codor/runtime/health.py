"""Running one health check of the adaptive executor (:mod:`codor.runtime.supervisor`).

:func:`probe` answers ``(healthy, detail)`` for a :class:`~codor.runtime.procspec.HealthCheck`
within about its ``timeout``; it never raises for a failing check. It runs on the executor's
small worker pool, never on the monitor thread. A TCP or HTTP check connects to the loopback
address itself (``localhost`` is taken as ``127.0.0.1`` and never resolved, so a changed hosts
file cannot point a check elsewhere). A command check runs in a new session (its own process
group), with the process's working directory and environment; on timeout that group is
killed and reaped.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
from collections.abc import Mapping
from urllib.parse import urlsplit

from codor.runtime.procspec import HealthCheck

__all__ = ["probe"]


def _address(host: str) -> str:
    bare = host.strip("[]").lower()
    return "127.0.0.1" if bare == "localhost" else bare


def probe(check: HealthCheck, *, cwd: str | None = None,
          env: Mapping[str, str] | None = None) -> tuple[bool, str]:
    """Run ``check`` once: ``(True, detail)`` when healthy, else ``(False, why)``."""
    try:
        if check.kind == "tcp":
            return _tcp(check)
        if check.kind == "http":
            return _http(check)
        return _command(check, cwd, env)
    except Exception as exc:  # a probe answers; it never takes the worker down
        return False, f"{type(exc).__name__}: {exc}"


def _tcp(check: HealthCheck) -> tuple[bool, str]:
    assert check.port is not None
    address = _address(check.host)
    try:
        with socket.create_connection((address, check.port), timeout=check.timeout):
            return True, f"tcp {check.host}:{check.port} accepts connections"
    except TimeoutError:
        return False, f"tcp {check.host}:{check.port}: no answer within {check.timeout:g}s"
    except OSError as exc:
        return False, f"tcp {check.host}:{check.port}: {exc.strerror or exc}"


def _http(check: HealthCheck) -> tuple[bool, str]:
    assert check.url is not None
    parts = urlsplit(check.url)
    host = parts.hostname or "127.0.0.1"
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    conn = http.client.HTTPConnection(_address(host), parts.port or 80, timeout=check.timeout)
    try:
        conn.request("GET", target, headers={"Host": parts.netloc, "Connection": "close"})
        response = conn.getresponse()
        response.read(65536)
        status = response.status
    except TimeoutError:
        return False, f"GET {check.url}: no answer within {check.timeout:g}s"
    except (OSError, http.client.HTTPException) as exc:
        return False, f"GET {check.url}: {getattr(exc, 'strerror', None) or exc}"
    finally:
        conn.close()
    if status < 400:
        return True, f"GET {check.url}: HTTP {status}"
    return False, f"GET {check.url}: HTTP {status}"


def _command(check: HealthCheck, cwd: str | None,
             env: Mapping[str, str] | None) -> tuple[bool, str]:
    name = check.command[0]
    try:
        proc = subprocess.Popen(check.command, cwd=cwd, env=None if env is None else dict(env),
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
    except OSError as exc:
        return False, f"cannot run {name}: {exc.strerror or exc}"
    try:
        status = proc.wait(timeout=check.timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # its own group: started just above
        proc.wait()
        return False, f"{name}: no exit within {check.timeout:g}s"
    if status == 0:
        return True, f"{name} exited 0"
    if status < 0:
        return False, f"{name} killed by {signal.Signals(-status).name}"
    return False, f"{name} exited {status}"
