"""A real CODOR daemon for tests: ``codor serve --port 0`` as a child process on a workspace
(after ``codor init``), with the URL and admin token it prints on start."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

from tests.cli.test_cli import CODOR


class DaemonProcess:
    """``codor serve`` on ``workspace`` (``env``: extra environment, e.g. short approval
    timeouts). ``url`` and ``token`` once started; :meth:`stop` ends it."""

    def __init__(self, workspace: Path, env: dict[str, str] | None = None) -> None:
        full = {k: v for k, v in os.environ.items()
                if not k.startswith(("CODOR_URL", "CODOR_TOKEN", "CODOR_HOME"))}
        full.update(env or {})
        self.workspace = workspace
        self.proc = subprocess.Popen([CODOR, "serve", "--port", "0"], cwd=workspace, env=full,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        first = self.proc.stdout.readline()
        if not first.startswith("CODOR daemon: "):
            self.proc.kill()
            raise RuntimeError(f"the daemon did not start: {first!r} "
                               f"{self.proc.stderr.read() if self.proc.stderr else ''}")
        self.url = first.split()[2]
        self.token = ""
        for _ in range(4):
            line = self.proc.stdout.readline()
            if "keep it: " in line:
                self.token = line.split("keep it: ", 1)[1].strip()
                break
        assert self.token.startswith("codor_"), "no admin token announced"
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("the daemon did not answer /health")

    def api(self, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.url + path, data=data, method=method,
            headers={"Authorization": f"Bearer {token or self.token}",
                     "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as r:
            return json.loads(r.read())

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()
