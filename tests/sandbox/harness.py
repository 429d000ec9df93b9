"""Test helper: run real commands and Python probes in real sandboxes.

:func:`sandboxed` builds a spec for a throwaway workspace and runs it with a real backend;
:func:`probe` runs a Python snippet inside (the venv's interpreter, readable through the
read-only host) that prints one JSON object, and returns it. No backend is faked.
"""

from __future__ import annotations

import json
import os
import sys
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from codor.policy.sandbox_section import Limits, SandboxSettings
from codor.sandbox.backends import Backend
from codor.sandbox.bwrap import BubblewrapBackend
from codor.sandbox.result import RunResult
from codor.sandbox.spec import SandboxSpec, build_spec

PYTHON = sys.executable
#: A small environment for probes (the test runner's own may hold anything).
BASE_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/root", "LANG": "C.UTF-8",
            "PYTHONDONTWRITEBYTECODE": "1"}

# Shared by probes: raw syscalls through ctypes, reporting errno.
PRELUDE = """
import ctypes, errno, json, os, socket, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
def sys_call(nr, *args):
    ctypes.set_errno(0)
    r = libc.syscall(nr, *args)
    return r, ctypes.get_errno()
def errname(e):
    return errno.errorcode.get(e, str(e)) if e else "OK"
def attempt(fn):
    try:
        fn()
        return "OK"
    except OSError as exc:
        return errno.errorcode.get(exc.errno, str(exc.errno))
out = {}
"""


def spec_for(workspace: Path, argv: Sequence[str], *, settings: SandboxSettings | None = None,
             env: Mapping[str, str] | None = None, home: str | None = None,
             limits: Limits | None = None, **kwargs: Any) -> SandboxSpec:
    settings = settings or SandboxSettings(network="none")
    if limits is not None:
        settings = replace(settings, limits=limits)
    return build_spec(settings, list(argv), workspace=workspace,
                      env=dict(env if env is not None else BASE_ENV),
                      home=home or "/root", **kwargs)


def sandboxed(workspace: Path, argv: Sequence[str], *, backend: Backend | None = None,
              stdin: bytes | None = None, **kwargs: Any) -> RunResult:
    spec = spec_for(workspace, argv, **kwargs)
    return (backend or BubblewrapBackend()).run(spec, stdin=stdin)


def sh(workspace: Path, script: str, **kwargs: Any) -> RunResult:
    return sandboxed(workspace, ["/bin/sh", "-c", script], **kwargs)


def probe(workspace: Path, code: str, **kwargs: Any) -> dict[str, Any]:
    """Run ``code`` (after :data:`PRELUDE`; it fills ``out``) inside; return ``out``."""
    body = PRELUDE + textwrap.dedent(code) + "\nprint(json.dumps(out))\n"
    result = sandboxed(workspace, [PYTHON, "-I", "-c", body], **kwargs)
    assert result.stdout is not None and result.stderr is not None
    assert result.exit_status == 0, (result.exit_status, result.stderr.text())
    last = result.stdout.text().strip().splitlines()[-1]
    data: dict[str, Any] = json.loads(last)
    return data


def host_probe(code: str) -> dict[str, Any]:
    """The same probe on the host, unconfined (the control experiment), in a new session."""
    import subprocess

    body = PRELUDE + textwrap.dedent(code) + "\nprint(json.dumps(out))\n"
    proc = subprocess.run([PYTHON, "-I", "-c", body], capture_output=True, check=True,
                          env=BASE_ENV, start_new_session=True, timeout=60)
    data: dict[str, Any] = json.loads(proc.stdout.decode().strip().splitlines()[-1])
    return data


def processes_with(marker: str) -> list[int]:
    """Host processes whose command line contains ``marker``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                if marker.encode() in fh.read():
                    found.append(int(entry))
        except OSError:
            continue
    return found
