"""The container backend. It runs only where an engine answers; elsewhere the test asserts
that the reason is reported (here docker's CLI may exist without a daemon) — both branches
assert something real, neither is skipped."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from codor.errors import SandboxUnavailableError
from codor.policy.sandbox_section import SandboxSettings
from codor.sandbox.container import ContainerBackend, engine_status, seccomp_profile
from codor.sandbox.seccomp import DENIED_SYSCALLS
from codor.sandbox.spec import build_spec


def test_available_or_the_reason_names_every_engine_tried(workspace: Path) -> None:
    backend = ContainerBackend()
    ok, why = backend.available()
    spec = build_spec(SandboxSettings(network="none"), ["true"], workspace=workspace,
                      env={"PATH": "/usr/bin:/bin"}, home="/root")
    if ok:
        result = backend.run(spec)
        assert result.exit_status == 0 and result.backend == "container"
        return
    assert "podman:" in why and "docker:" in why
    assert engine_status("auto") == (None, why)
    with pytest.raises(SandboxUnavailableError, match="container backend"):
        backend.argv(spec)
    assert "unavailable" in backend.explain(spec)


def test_the_engine_profile_denies_what_the_bpf_filter_denies() -> None:
    with open(seccomp_profile(), encoding="utf-8") as fh:
        profile = json.load(fh)
    assert profile["defaultAction"] == "SCMP_ACT_ALLOW"
    denied = profile["syscalls"][0]
    assert denied["action"] == "SCMP_ACT_ERRNO" and set(denied["names"]) == set(DENIED_SYSCALLS)
    by_name = {tuple(rule["names"]): rule for rule in profile["syscalls"][1:3]}
    assert by_name[("clone3",)]["errnoRet"] == 38
    assert by_name[("socket",)]["args"] == [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}]
