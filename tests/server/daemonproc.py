"""A real ``codor serve`` process for tests: started on a free loopback port (``--port 0``),
its URL and first admin token read from its stdout, stopped with SIGINT (then killed; the
CLI's exit status after an interrupt is 130)."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CODOR = str(Path(sys.executable).with_name("codor"))


@dataclass
class DaemonProc:
    proc: subprocess.Popen[str]
    host: str
    port: int
    admin: str | None
    output: list[str] = field(default_factory=list)
    drainer: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def api(self, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
        """A JSON request with ``token`` (default: the first admin key); its JSON answer
        (an :class:`AssertionError` for an error status)."""
        status, data = self.call(method, path, token or self.admin, body)
        assert status < 400, f"{method} {path}: {status} {data!r}"
        return json.loads(data)

    def connection(self, timeout: float = 30.0) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def call(self, method: str, path: str, token: str | None, body: Any = None, *,
             ctype: str = "application/json",
             conn: http.client.HTTPConnection | None = None) -> tuple[int, bytes]:
        """One request (on ``conn`` when given, kept alive); returns status and body."""
        own = conn is None
        c = conn or self.connection()
        headers = {"Content-Type": ctype}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
        try:
            c.request(method, path, body=data, headers=headers)
            r = c.getresponse()
            return r.status, r.read()
        finally:
            if own:
                c.close()

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.drainer is not None:
            self.drainer.join(timeout=10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        return self.proc.returncode


def _clean_environ() -> dict[str, str]:
    """This process's environment without what would point the daemon elsewhere."""
    return {k: v for k, v in os.environ.items()
            if not k.startswith(("CODOR_URL", "CODOR_TOKEN", "CODOR_HOME", "CODOR_SERVE_"))}


def start(workspace: Path, *args: str, env: dict[str, str] | None = None,
          timeout: float = 60.0) -> DaemonProc:
    proc = subprocess.Popen([CODOR, "serve", "-w", str(workspace), "--port", "0", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**_clean_environ(), **(env or {})})
    assert proc.stdout is not None
    output: list[str] = []
    first = proc.stdout.readline()
    output.append(first)
    match = re.match(r"CODOR daemon: http://([\d.]+):(\d+)", first)
    if match is None:
        rest = proc.stdout.read() if proc.poll() is not None else ""
        proc.kill()
        raise AssertionError(f"codor serve did not start: {first!r}{rest}")
    # the announcement ends with its "  policy ..." line (the admin key, on a first start,
    # comes before it): read up to there, then a thread keeps the pipe drained
    for rest in proc.stdout:
        output.append(rest)
        if rest.startswith("  policy "):
            break
    tokens = [ln.split("keep it:")[1].strip() for ln in output if "keep it:" in ln]

    def drain() -> None:
        for rest in proc.stdout or ():
            output.append(rest)

    drainer = threading.Thread(target=drain, daemon=True)
    drainer.start()
    daemon = DaemonProc(proc, match.group(1), int(match.group(2)),
                        tokens[0] if tokens else None, output, drainer)
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(OSError):
            if daemon.call("GET", "/ready", None)[0] == 200:
                return daemon
        if proc.poll() is not None or time.monotonic() > deadline:
            daemon.stop()
            raise AssertionError("the daemon never became ready:\n" + "".join(output))
        time.sleep(0.05)


@contextlib.contextmanager
def running(workspace: Path, *args: str, env: dict[str, str] | None = None
            ) -> Iterator[DaemonProc]:
    daemon = start(workspace, *args, env=env)
    try:
        yield daemon
    finally:
        daemon.stop()


def paced(daemon: DaemonProc, token: str, bodies: Sequence[Any], *, rate: float,
          threads: int = 4) -> list[tuple[int, bytes]]:
    """``bodies`` posted to /v1/check at about ``rate`` requests/s in total, from ``threads``
    keep-alive connections (``rate=0``: as fast as they go)."""
    results: list[tuple[int, bytes]] = [(0, b"")] * len(bodies)

    def worker(k: int) -> None:
        conn = daemon.connection()
        t0 = time.monotonic()
        try:
            for n, i in enumerate(range(k, len(bodies), threads)):
                if rate > 0:
                    wait = t0 + n * threads / rate - time.monotonic()
                    if wait > 0:
                        time.sleep(wait)
                try:
                    results[i] = daemon.call("POST", "/v1/check", token, bodies[i], conn=conn)
                except (OSError, http.client.HTTPException) as exc:
                    results[i] = (-1, repr(exc).encode())
                    conn.close()
                    conn = daemon.connection()
        finally:
            conn.close()

    pool = [threading.Thread(target=worker, args=(k,)) for k in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return results
