"""Sandbox backends, their guarantees, and choosing one without ever degrading silently.

Each backend names the guarantees it gives (:data:`GUARANTEES`). A policy requires all of
them; :func:`choose_backend` returns the backend the policy asks for (``auto``: the first
available of bubblewrap, Landlock, container) only if it gives every guarantee, unless the
policy sets ``sandbox.allow_weaker_isolation: true`` — then the first available backend with
the fewest missing guarantees, and every run reports what is missing. Otherwise it raises
:class:`~codor.errors.SandboxUnavailableError` naming what is missing and how to fix it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from codor.errors import SandboxUnavailableError
from codor.policy.sandbox_section import SandboxSettings
from codor.sandbox.result import RunResult
from codor.sandbox.spec import SandboxSpec
from codor.sandbox.supervisor import OnStarted

__all__ = [
    "ALL_GUARANTEES",
    "GUARANTEES",
    "Backend",
    "BackendReport",
    "Choice",
    "all_backends",
    "choose_backend",
    "report",
]

#: Every guarantee a sandbox can give, with what it means.
GUARANTEES: dict[str, str] = {
    "readonly_root": "the host filesystem is read-only; only the workspace, sandbox.writable "
                     "and a private /tmp are writable",
    "protected_paths": "git hooks/config, agent and editor settings, shell start-up files and "
                       "CODOR's state stay read-only inside the workspace, even ones that do "
                       "not exist yet",
    "hidden_paths": "credential stores (~/.ssh, ~/.aws, CODOR's keys...) cannot be read",
    "pid_isolation": "host processes cannot be seen, signalled or traced",
    "network_isolation": "no network except through CODOR's egress proxy",
    "host_sockets": "no host unix socket (docker, ssh-agent, D-Bus), named or abstract, "
                    "is reachable",
    "syscall_filter": "io_uring, ptrace, bpf, keyctl, namespaces, mounts and TIOCSTI are "
                      "refused (seccomp)",
    "no_privileges": "no capabilities, no new privileges (setuid binaries do not elevate)",
    "resource_limits": "wall time, CPU, memory, processes, file size and output are bounded",
}
ALL_GUARANTEES = frozenset(GUARANTEES)


class Backend(Protocol):
    """What every backend provides. ``run`` raises SandboxSetupError when the sandbox cannot
    be built; the command's own failure is a RunResult."""

    name: str

    def available(self) -> tuple[bool, str]: ...

    def guarantees(self, network: str = "proxy") -> frozenset[str]: ...

    def explain(self, spec: SandboxSpec) -> str: ...

    def run(self, spec: SandboxSpec, *, stdin: bytes | None = None,
            inherit_stdio: bool = False, on_started: OnStarted | None = None,
            missing: tuple[str, ...] = ()) -> RunResult: ...


def all_backends(settings: SandboxSettings | None = None) -> tuple[Backend, ...]:
    """Every backend, strongest first."""
    from codor.sandbox.bwrap import BubblewrapBackend
    from codor.sandbox.container import ContainerBackend
    from codor.sandbox.landlock import LandlockBackend

    container = ContainerBackend(settings.container if settings else None)
    return (BubblewrapBackend(), LandlockBackend(), container)


@dataclass(frozen=True, slots=True)
class Choice:
    """The chosen backend and what it lacks (empty unless weaker isolation was allowed)."""

    backend: Backend
    missing: tuple[str, ...]

    @property
    def weaker(self) -> bool:
        return bool(self.missing)

    def run(self, spec: SandboxSpec, *, stdin: bytes | None = None,
            inherit_stdio: bool = False, on_started: OnStarted | None = None) -> RunResult:
        return self.backend.run(spec, stdin=stdin, inherit_stdio=inherit_stdio,
                                on_started=on_started, missing=self.missing)

    def explain(self, spec: SandboxSpec) -> str:
        text = self.backend.explain(spec)
        if self.missing:
            text += ("\nWEAKER ISOLATION (sandbox.allow_weaker_isolation: true) — missing: "
                     + ", ".join(self.missing))
        return text


@dataclass(frozen=True, slots=True)
class BackendReport:
    """One line of ``codor doctor``."""

    name: str
    available: bool
    reason: str
    guarantees: tuple[str, ...]
    missing: tuple[str, ...]

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, "available": self.available, "reason": self.reason,
                "guarantees": list(self.guarantees), "missing": list(self.missing)}


def report(settings: SandboxSettings | None = None,
           backends: Sequence[Backend] | None = None) -> list[BackendReport]:
    """Each backend: available or not (and why), the guarantees it gives and lacks."""
    settings = settings or SandboxSettings()
    out = []
    for backend in backends or all_backends(settings):
        ok, why = backend.available()
        have = backend.guarantees(settings.network)
        out.append(BackendReport(backend.name, ok, why, tuple(sorted(have)),
                                 tuple(sorted(ALL_GUARANTEES - have))))
    return out


def choose_backend(settings: SandboxSettings,
                   backends: Sequence[Backend] | None = None) -> Choice:
    """The backend to run under ``settings``; never silently weaker (see the module doc)."""
    candidates = list(backends or all_backends(settings))
    if settings.backend != "auto":
        candidates = [b for b in candidates if b.name == settings.backend]
        if not candidates:
            raise SandboxUnavailableError(f"unknown sandbox backend {settings.backend!r}")
    notes: list[str] = []
    usable: list[tuple[Backend, tuple[str, ...]]] = []
    for backend in candidates:
        ok, why = backend.available()
        if not ok:
            notes.append(f"{backend.name}: unavailable ({why})")
            continue
        missing = tuple(sorted(ALL_GUARANTEES - backend.guarantees(settings.network)))
        if not missing:
            return Choice(backend, ())
        usable.append((backend, missing))
        notes.append(f"{backend.name}: available but lacks {', '.join(missing)}")
    if settings.allow_weaker_isolation and usable:
        backend, missing = min(usable, key=lambda u: len(u[1]))
        return Choice(backend, missing)
    wanted = "any backend" if settings.backend == "auto" else f"backend {settings.backend}"
    fix = ["install bubblewrap and enable unprivileged user namespaces "
           "(the bubblewrap backend gives every guarantee)"]
    if usable and not settings.allow_weaker_isolation:
        best, missing = min(usable, key=lambda u: len(u[1]))
        fix.append(f"or set `sandbox: {{allow_weaker_isolation: true}}` in the policy to "
                   f"accept {best.name} without {', '.join(missing)}")
    raise SandboxUnavailableError(
        f"no sandbox: {wanted} cannot give the guarantees this policy requires — "
        + "; ".join(notes) + ". To fix: " + " ".join(fix))
