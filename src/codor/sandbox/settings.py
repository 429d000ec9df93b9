"""The policy's ``sandbox:`` settings, re-exported (they are parsed by :mod:`codor.policy`,
which must not import this package)."""

from __future__ import annotations

from codor.policy.sandbox_section import (
    BACKEND_NAMES,
    NETWORK_MODES,
    ContainerSettings,
    Limits,
    SandboxSettings,
    parse_sandbox_section,
)

__all__ = [
    "BACKEND_NAMES",
    "NETWORK_MODES",
    "ContainerSettings",
    "Limits",
    "SandboxSettings",
    "parse_sandbox_section",
]
