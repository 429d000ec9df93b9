"""The policy's ``sandbox:`` section: defaults, validation with file:line, extends, the hash."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from codor.errors import PolicySchemaError
from codor.policy import compile_ref
from codor.policy.compiler import CompiledPolicy
from codor.policy.sandbox_section import ContainerSettings, Limits, SandboxSettings

WritePolicy = Callable[..., Path]


def compiled(path: Path | str) -> CompiledPolicy:
    return compile_ref(path, workspace="/workspace", home="/home/user", env={})


def test_a_policy_without_the_section_gets_the_defaults() -> None:
    settings = compiled("codor:coding-assistant").sandbox
    assert settings == SandboxSettings()
    assert settings.backend == "auto" and settings.network == "proxy"
    assert not settings.allow_weaker_isolation
    assert settings.limits == Limits(wall_seconds=600.0, cpu_seconds=0, memory_mb=4096,
                                     processes=4096, file_size_mb=4096, output_kb=8192,
                                     open_files=4096)


def test_every_key_is_read(write_policy: WritePolicy) -> None:
    path = write_policy("""
        version: 1
        sandbox:
          backend: landlock
          allow_weaker_isolation: true
          network: none
          protected: [deploy/, "${HOME}/.config/tool/"]
          hidden: "~/.vault/"
          writable: ["/var/cache/build"]
          env:
            pass: [GITHUB_TOKEN, "AWS_*"]
            set: {CI: 1, MODE: sandbox}
          limits: {wall_seconds: 30.5, cpu_seconds: 10, memory_mb: 512, processes: 64,
                   file_size_mb: 16, output_kb: 64, open_files: 256}
          container: {engine: podman, image: "docker.io/library/python:3.11-slim"}
    """)
    assert compiled(path).sandbox == SandboxSettings(
        backend="landlock", allow_weaker_isolation=True, network="none",
        protected=("deploy/", "/home/user/.config/tool/"), hidden=("~/.vault/",),
        writable=("/var/cache/build",), env_pass=("GITHUB_TOKEN", "AWS_*"),
        env_set=(("CI", "1"), ("MODE", "sandbox")),
        limits=Limits(wall_seconds=30.5, cpu_seconds=10, memory_mb=512, processes=64,
                      file_size_mb=16, output_kb=64, open_files=256),
        container=ContainerSettings(engine="podman",
                                    image="docker.io/library/python:3.11-slim"))


@pytest.mark.parametrize(("body", "message", "line"), [
    ("sandbox:\n  backnd: auto\n", "sandbox.backnd: unknown key (did you mean 'backend'?)", 3),
    ("sandbox:\n  backend: docker\n", "sandbox.backend: must be one of auto, bubblewrap", 3),
    ("sandbox:\n  network: open\n", "sandbox.network: must be one of proxy, none", 3),
    ("sandbox:\n  allow_weaker_isolation: yes please\n", "expected true or false", 3),
    ("sandbox:\n  protected: {a: 1}\n", "sandbox.protected: expected a list of strings", 3),
    ("sandbox:\n  limits:\n    memory_mb: 0\n", "sandbox.limits.memory_mb: must be >= 1", 4),
    ("sandbox:\n  limits:\n    wall_seconds: -1\n", "must be >= 0 (0 = no limit)", 4),
    ("sandbox:\n  limits:\n    walltime: 3\n", "sandbox.limits.walltime: unknown key", 4),
    ("sandbox:\n  env:\n    set: {1BAD: x}\n", "variable names are letters", 4),
    ("sandbox:\n  env:\n    pass: ['A B']\n", "is not a variable name or glob", 4),
    ("sandbox:\n  container: {engine: lxc}\n", "sandbox.container.engine: must be one of", 3),
    ("sandbox: [1]\n", "sandbox: expected a mapping", None),
])
def test_bad_sections_fail_with_their_location(write_policy: WritePolicy, body: str,
                                               message: str, line: int | None) -> None:
    path = write_policy("version: 1\n" + body)
    with pytest.raises(PolicySchemaError) as caught:
        compiled(path)
    assert message in caught.value.message
    if line is not None:
        assert caught.value.location == f"{path}:{line}"


def test_extends_merges_lists_and_replaces_scalars(write_policy: WritePolicy) -> None:
    write_policy("""
        version: 1
        sandbox:
          network: none
          protected: [a/]
          limits: {memory_mb: 256, processes: 32}
    """, "base.yaml")
    child = write_policy("""
        version: 1
        extends: ["./base.yaml"]
        sandbox:
          protected: [b/]
          limits: {memory_mb: 1024}
    """)
    settings = compiled(child).sandbox
    assert settings.network == "none" and settings.protected == ("a/", "b/")
    assert settings.limits.memory_mb == 1024 and settings.limits.processes == 32


def test_the_section_is_part_of_the_policy_hash(write_policy: WritePolicy) -> None:
    plain = write_policy("version: 1\n", "plain.yaml")
    tight = write_policy("version: 1\nsandbox: {network: none}\n", "tight.yaml")
    empty = write_policy("version: 1\nsandbox: {}\n", "empty.yaml")
    assert compiled(plain).sha256 != compiled(tight).sha256
    assert compiled(plain).sha256 == compiled(empty).sha256  # no section: hash unchanged
    assert compiled(tight).document.to_json()["sandbox"] == {"network": "none"}
