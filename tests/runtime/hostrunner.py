"""UNSAFE test runners: they run commands and requests directly on the host, with no sandbox
and no egress proxy. They exist only so the router's recording logic can be tested with real
processes and real HTTP; the real sandbox backend and proxy are wired in by ``codor run``."""

from __future__ import annotations

import hashlib
import http.client
import os
import signal
import subprocess
import urllib.parse

from codor.evidence.records import now_us
from codor.runtime import FetchReport, FetchRequest, RunReport, RunRequest


class UnsafeHostRunner:
    """Runs the command as a plain subprocess of the test (NOT confined). Counts its calls so
    tests can prove a denied command never reached it."""

    backend = "unsafe-host"

    def __init__(self) -> None:
        self.calls: list[RunRequest] = []

    def __call__(self, request: RunRequest) -> RunReport:
        self.calls.append(request)
        argv = list(request.argv) if request.argv is not None else \
            ["/bin/sh", "-c", request.command or ""]
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **request.env}
        started = now_us()
        proc = subprocess.Popen(argv, cwd=request.cwd, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, start_new_session=True)
        timed_out = False
        try:
            out, err = proc.communicate(timeout=request.timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
        return RunReport(proc.returncode, out, err, started, now_us(), self.backend, timed_out)


class DirectHttpClient:
    """Performs the request straight from the test process (NOT through the egress proxy),
    without following redirects."""

    via = "direct-unsafe"

    def __call__(self, request: FetchRequest) -> FetchReport:
        url = urllib.parse.urlsplit(request.url)
        started = now_us()
        conn = http.client.HTTPConnection(url.hostname or "", url.port or 80,
                                          timeout=request.timeout)
        try:
            conn.request(request.method, url.path or "/", body=request.body,
                         headers=dict(request.headers))
            response = conn.getresponse()
            body = response.read()
            headers = tuple(response.getheaders())
            status = response.status
        finally:
            conn.close()
        return FetchReport(status, headers, body[:request.max_bytes], started, now_us(),
                           self.via, len(body), hashlib.sha256(body).hexdigest())
