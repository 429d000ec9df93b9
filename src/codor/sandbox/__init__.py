"""Confined execution: bubblewrap, Landlock or container backends, seccomp and limits.

See README.md in this directory for the architecture and the contracts.

Typical use::

    from codor.sandbox import build_spec, choose_backend
    choice = choose_backend(policy.sandbox)            # raises if the guarantees are not met
    spec = build_spec(policy.sandbox, ["pytest", "-q"], workspace="/repo")
    result = choice.run(spec)                          # RunResult: status, bounded output
"""

from __future__ import annotations

from codor.sandbox.backends import (
    ALL_GUARANTEES,
    GUARANTEES,
    Backend,
    BackendReport,
    Choice,
    all_backends,
    choose_backend,
    report,
)
from codor.sandbox.result import RunResult, StreamCapture
from codor.sandbox.settings import ContainerSettings, Limits, SandboxSettings
from codor.sandbox.spec import PROXY_HOST, PROXY_PORT, SandboxSpec, build_spec
from codor.sandbox.supervisor import OnStarted

__all__ = [
    "ALL_GUARANTEES",
    "GUARANTEES",
    "PROXY_HOST",
    "PROXY_PORT",
    "Backend",
    "BackendReport",
    "Choice",
    "ContainerSettings",
    "Limits",
    "OnStarted",
    "RunResult",
    "SandboxSettings",
    "SandboxSpec",
    "StreamCapture",
    "all_backends",
    "build_spec",
    "choose_backend",
    "report",
]
