"""The policy's ``sandbox:`` section: which backend confines commands, and how tightly.

Parsed and validated at load like every other section (unknown keys and wrong types fail
with ``file:line``). It lives in :mod:`codor.policy` so the policy never imports
:mod:`codor.sandbox`; :mod:`codor.sandbox` re-exports :class:`SandboxSettings`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from codor.policy.schema import Section

__all__ = [
    "BACKEND_NAMES",
    "NETWORK_MODES",
    "ContainerSettings",
    "Limits",
    "SandboxSettings",
    "parse_sandbox_section",
]

#: ``sandbox.backend`` values; ``auto`` picks the strongest available one.
BACKEND_NAMES = ("auto", "bubblewrap", "landlock", "container")
#: ``sandbox.network``: ``proxy`` = only through CODOR's egress proxy; ``none`` = no network.
NETWORK_MODES = ("proxy", "none")
SECTION_KEYS = ("backend", "allow_weaker_isolation", "network", "protected", "hidden",
                "writable", "env", "limits", "container")
LIMIT_KEYS = ("wall_seconds", "cpu_seconds", "memory_mb", "processes", "file_size_mb",
              "output_kb", "open_files")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ENV_GLOB = re.compile(r"[A-Za-z0-9_*?\[\]!]+")


@dataclass(frozen=True, slots=True)
class Limits:
    """Resource limits for one sandboxed command. ``0`` for wall or CPU time means none."""

    wall_seconds: float = 600.0     # the whole sandbox is killed after this
    cpu_seconds: int = 0            # per process (RLIMIT_CPU); 0 = no limit
    memory_mb: int = 4096           # cgroup memory.max, else RLIMIT_DATA per process
    processes: int = 4096           # cgroup pids.max, else RLIMIT_NPROC (per user)
    file_size_mb: int = 4096        # largest file a process may write (RLIMIT_FSIZE)
    output_kb: int = 8192           # bytes kept of each of stdout and stderr
    open_files: int = 4096          # RLIMIT_NOFILE


@dataclass(frozen=True, slots=True)
class ContainerSettings:
    engine: str = "auto"            # auto | docker | podman
    image: str = "docker.io/library/debian:stable-slim"


@dataclass(frozen=True, slots=True)
class SandboxSettings:
    """The ``sandbox:`` section with defaults applied (frozen; hashable)."""

    backend: str = "auto"
    allow_weaker_isolation: bool = False   # accept a backend missing some guarantees
    network: str = "proxy"
    protected: tuple[str, ...] = ()        # extra read-only paths (relative = workspace)
    hidden: tuple[str, ...] = ()           # extra masked paths
    writable: tuple[str, ...] = ()         # extra read-write paths outside the workspace
    env_pass: tuple[str, ...] = ()         # names/globs that survive the secret scrub
    env_set: tuple[tuple[str, str], ...] = ()
    limits: Limits = field(default_factory=Limits)
    container: ContainerSettings = field(default_factory=ContainerSettings)


def parse_sandbox_section(sec: Section) -> SandboxSettings:
    """Validate a merged ``sandbox:`` mapping; raises a located PolicySchemaError."""
    sec.only(*SECTION_KEYS)
    env = sec.section("env").only("pass", "set")
    passed = env.strings("pass")
    for i, pattern in enumerate(passed):
        if not _ENV_GLOB.fullmatch(pattern):
            raise env.fail("pass", f"entry {i} ({pattern!r}) is not a variable name or glob")
    setters = env.section("set")
    env_set: list[tuple[str, str]] = []
    for name in setters:
        if not _ENV_NAME.fullmatch(name):
            raise setters.fail(name, "variable names are letters, digits and _")
        value = setters.raw(name)
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise setters.fail(name, "expected a string or a number")
        env_set.append((name, str(value)))
    return SandboxSettings(
        backend=sec.choice("backend", BACKEND_NAMES, "auto"),
        allow_weaker_isolation=sec.boolean("allow_weaker_isolation", False),
        network=sec.choice("network", NETWORK_MODES, "proxy"),
        protected=_paths(sec, "protected"),
        hidden=_paths(sec, "hidden"),
        writable=_paths(sec, "writable"),
        env_pass=tuple(passed),
        env_set=tuple(env_set),
        limits=_limits(sec.section("limits")),
        container=_container(sec.section("container")),
    )


def _paths(sec: Section, key: str) -> tuple[str, ...]:
    out = sec.strings(key)
    for i, value in enumerate(out):
        if not value.strip() or "\0" in value:
            raise sec.fail(key, f"entry {i} is not a usable path")
    return tuple(out)


def _limits(sec: Section) -> Limits:
    sec.only(*LIMIT_KEYS)
    d = Limits()
    wall = sec.number("wall_seconds", d.wall_seconds)
    assert wall is not None
    if wall < 0:
        raise sec.fail("wall_seconds", "must be >= 0 (0 = no limit)")

    def positive(key: str, default: int) -> int:
        value = sec.integer(key, default, minimum=1)
        assert value is not None
        return value

    cpu = sec.integer("cpu_seconds", d.cpu_seconds, minimum=0)
    assert cpu is not None
    return Limits(
        wall_seconds=wall,
        cpu_seconds=cpu,
        memory_mb=positive("memory_mb", d.memory_mb),
        processes=positive("processes", d.processes),
        file_size_mb=positive("file_size_mb", d.file_size_mb),
        output_kb=positive("output_kb", d.output_kb),
        open_files=positive("open_files", d.open_files),
    )


def _container(sec: Section) -> ContainerSettings:
    sec.only("engine", "image")
    d = ContainerSettings()
    image = sec.string("image", d.image)
    assert image is not None
    if not image.strip():
        raise sec.fail("image", "must not be empty")
    return ContainerSettings(engine=sec.choice("engine", ("auto", "docker", "podman"), d.engine),
                             image=image)
