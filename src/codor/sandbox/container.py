"""The container backend: podman or docker, when an engine answers (``<engine> info``).

``<engine> run --rm`` with the configured image (``sandbox.container.image``), a read-only
root filesystem, no network (``--network none``: the egress proxy is not plumbed into
containers, so ``network: proxy`` gets no network at all), every capability dropped,
``no-new-privileges``, CODOR's seccomp deny list as an engine profile, pids/memory/file-size
limits, a tmpfs ``/tmp`` and the workspace bound read-write at the same path. Existing
protected paths in the workspace are bound read-only; paths that do not exist yet are not
(so this backend lacks the ``protected_paths`` guarantee). The host's home directory is not
mounted at all.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import uuid
from functools import cache

from codor.errors import SandboxUnavailableError
from codor.policy.sandbox_section import ContainerSettings
from codor.sandbox.result import RunResult
from codor.sandbox.seccomp import ARCHES, DENIED_SYSCALLS
from codor.sandbox.spec import SandboxSpec
from codor.sandbox.supervisor import Launch, OnStarted, supervise

__all__ = ["ContainerBackend", "engine_status", "seccomp_profile"]


@cache
def engine_status(preference: str = "auto") -> tuple[str | None, str]:
    """``(engine path, reason)``: the first of podman/docker whose ``info`` succeeds."""
    names = ("podman", "docker") if preference == "auto" else (preference,)
    reasons = []
    for name in names:
        path = shutil.which(name)
        if path is None:
            reasons.append(f"{name}: not installed")
            continue
        try:
            proc = subprocess.run([path, "info", "--format", "{{json .}}"],
                                  capture_output=True, timeout=15, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            reasons.append(f"{name}: {exc}")
            continue
        if proc.returncode == 0:
            return path, f"{name} engine answers ({path})"
        error = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        reasons.append(f"{name}: `{name} info` failed: {error[-1] if error else proc.returncode}")
    return None, "; ".join(reasons)


@cache
def seccomp_profile() -> str:
    """An engine seccomp profile (JSON file) with the same denials as the BPF filter."""
    rule = {"action": "SCMP_ACT_ERRNO", "errnoRet": 1}
    known = {n for arch in ARCHES.values() for n in arch.syscalls}
    profile = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_AARCH64"],
        "syscalls": [
            {"names": sorted(n for n in DENIED_SYSCALLS if n in known), **rule},
            {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
            {"names": ["socket"], **rule,
             "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}]},
            {"names": ["ioctl"], **rule,
             "args": [{"index": 1, "value": 0x5412, "op": "SCMP_CMP_EQ"}]},
            {"names": ["ioctl"], **rule,
             "args": [{"index": 1, "value": 0x541C, "op": "SCMP_CMP_EQ"}]},
        ],
    }
    fd, path = tempfile.mkstemp(prefix="codor-seccomp-", suffix=".json")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(profile, fh)
    return path


class ContainerBackend:
    """A throwaway container per command (podman preferred, then docker)."""

    name = "container"

    def __init__(self, settings: ContainerSettings | None = None) -> None:
        self.settings = settings or ContainerSettings()

    def available(self) -> tuple[bool, str]:
        engine, why = engine_status(self.settings.engine)
        return engine is not None, why

    def guarantees(self, network: str = "proxy") -> frozenset[str]:
        return frozenset({"readonly_root", "hidden_paths", "pid_isolation", "network_isolation",
                          "host_sockets", "syscall_filter", "no_privileges", "resource_limits"})

    def argv(self, spec: SandboxSpec, name: str = "codor-sandbox") -> list[str]:
        engine, why = engine_status(self.settings.engine)
        if engine is None:
            raise SandboxUnavailableError(f"container backend: {why}")
        lim = spec.limits
        fsize = lim.file_size_mb << 20
        args = [engine, "run", "--rm", "-i", "--name", name, "--network", "none", "--read-only",
                "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
                "--security-opt", f"seccomp={seccomp_profile()}",
                "--pids-limit", str(lim.processes), "--memory", f"{lim.memory_mb}m",
                "--ulimit", f"fsize={fsize}:{fsize}",
                "--ulimit", f"nofile={lim.open_files}:{lim.open_files}",
                "--tmpfs", "/tmp:rw,exec",  # noqa: S108 - the container's own
                "--user", f"{os.getuid()}:{os.getgid()}",
                "-v", f"{spec.workspace}:{spec.workspace}:rw", "-w", spec.cwd]
        for entry in spec.protected:
            path = entry.rstrip("/")
            if path.startswith(spec.workspace + "/") and os.path.lexists(path) \
                    and not os.path.islink(path):
                args += ["-v", f"{path}:{path}:ro"]
        for key, _value in spec.env:
            args += ["-e", key]  # the value comes from the engine client's environment
        return [*args, self.settings.image, *spec.argv]

    def explain(self, spec: SandboxSpec) -> str:
        try:
            line = " ".join(self.argv(spec))
        except SandboxUnavailableError as exc:
            line = f"(unavailable: {exc.message})"
        return f"backend: {self.name}\ncommand line:\n  {line}"

    def run(self, spec: SandboxSpec, *, stdin: bytes | None = None,
            inherit_stdio: bool = False, on_started: OnStarted | None = None,
            missing: tuple[str, ...] = ()) -> RunResult:
        name = f"codor-{uuid.uuid4().hex[:12]}"
        argv = self.argv(spec, name)
        engine = argv[0]

        def remove() -> None:
            subprocess.run([engine, "rm", "-f", name], capture_output=True, timeout=30,
                           check=False)

        launch = Launch(argv=argv, env=spec.env_dict(), cwd=None, limits=False,
                        enforced_by=f"container engine ({os.path.basename(engine)})",
                        cleanup=[remove])
        return supervise(launch, backend=self.name, argv=spec.argv, limits=spec.limits,
                         stdin=stdin, inherit_stdio=inherit_stdio, on_started=on_started,
                         missing=missing)
