"""Building a SandboxSpec: environment scrubbing, protected and hidden paths, validation."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from codor.errors import SandboxSetupError
from codor.policy.sandbox_section import SandboxSettings
from codor.sandbox import forwarder
from codor.sandbox.spec import PROXY_PORT, SandboxSpec, build_spec, is_secret_name


def _spec(ws: Path, settings: SandboxSettings | None = None, *,
          env: dict[str, str] | None = None, **kwargs: Any) -> SandboxSpec:
    return build_spec(settings or SandboxSettings(), ["true"], workspace=ws,
                      env=env if env is not None else {"PATH": "/usr/bin", "HOME": "/home/u"},
                      **kwargs)


@pytest.mark.parametrize("name", ["GITHUB_TOKEN", "api_key", "AWS_SECRET_ACCESS_KEY",
                                  "DB_PASSWORD", "GPG_PASSPHRASE", "GOOGLE_CREDENTIALS",
                                  "SSH_AUTH_SOCK", "NPM_CONFIG__AUTH", "GH_PAT", "SESSION_COOKIE",
                                  "PRIVATE_KEY_PATH"])
def test_credential_names_are_secret(name: str) -> None:
    assert is_secret_name(name)


@pytest.mark.parametrize("name", ["PATH", "HOME", "GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL",
                                  "EDITOR", "LANG", "PYTHONPATH", "TERM"])
def test_ordinary_names_are_not(name: str) -> None:
    assert not is_secret_name(name)


def test_the_environment_is_scrubbed_passed_and_set(workspace: Path) -> None:
    env = {"PATH": "/usr/bin", "GITHUB_TOKEN": "x", "CI_TOKEN": "y", "EDITOR": "vi",
           "LOOKS_FINE": "ghp_" + "aB1" * 12, "SHORT": "ghp_x"}
    settings = SandboxSettings(env_pass=("CI_*",), env_set=(("GITHUB_TOKEN", "set-by-policy"),
                                                           ("MODE", "sandbox")),
                               network="none")
    spec = _spec(workspace, settings, env=env)
    got = spec.env_dict()
    assert got["CI_TOKEN"] == "y" and got["EDITOR"] == "vi" and got["SHORT"] == "ghp_x"
    assert got["GITHUB_TOKEN"] == "set-by-policy" and got["MODE"] == "sandbox"
    assert "LOOKS_FINE" not in got
    assert spec.scrubbed == ("GITHUB_TOKEN", "LOOKS_FINE")
    assert "x" not in str(spec.to_json()["env"])  # names only, never values


def test_value_scanning_can_be_turned_off(workspace: Path) -> None:
    env = {"LOOKS_FINE": "ghp_" + "aB1" * 12}
    spec = _spec(workspace, SandboxSettings(network="none"), env=env, scan_values=False)
    assert "LOOKS_FINE" in spec.env_dict()


def test_proxy_variables_follow_the_network_mode(workspace: Path) -> None:
    proxied = _spec(workspace, SandboxSettings(network="proxy")).env_dict()
    assert proxied["HTTPS_PROXY"] == f"http://127.0.0.1:{PROXY_PORT}"
    assert proxied["NO_PROXY"].startswith("localhost")
    offline = _spec(workspace, SandboxSettings(network="none")).env_dict()
    assert not any("proxy" in k.lower() for k in offline)
    assert forwarder.PROXY_PORT == PROXY_PORT


def test_protected_paths_cover_git_agents_shell_files_and_codor_state(repo: Path) -> None:
    subprocess.run(["git", "config", "core.hooksPath", "tools/hooks"], cwd=repo, check=True)
    settings = SandboxSettings(protected=("deploy/keys/", "~/.ssh/config", "/opt/x"))
    spec = _spec(repo, settings, home="/home/u")
    ws = str(repo)
    for rel in (".git/hooks/", ".git/config", ".git/modules/", ".claude/", ".codex/",
                ".gemini/", ".vscode/", ".idea/", ".cursor/", ".mcp.json", ".envrc",
                ".codor/", "tools/hooks/", "deploy/keys/"):
        assert f"{ws}/{rel}" in spec.protected, rel
    for path in ("/home/u/.bashrc", "/home/u/.zshrc", "/home/u/.config/git/",
                 "/home/u/.ssh/config", "/opt/x"):
        assert path in spec.protected, path
    assert f"{ws}/.git/config.worktree" not in spec.protected  # only with worktreeConfig


def test_hidden_paths_cover_credentials_codor_keys_and_globs(workspace: Path,
                                                             tmp_path: Path) -> None:
    (tmp_path / "a.pem").write_text("x")
    (tmp_path / "b.pem").write_text("x")
    settings = SandboxSettings(hidden=(f"{tmp_path}/*.pem", "secrets/"))
    spec = _spec(workspace, settings, home="/home/u", codor_home="/var/lib/codor")
    for path in ("/home/u/.ssh/", "/home/u/.aws/", "/home/u/.netrc", "/home/u/.kube/",
                 "/etc/shadow", "/var/lib/codor/keys/", f"{tmp_path}/a.pem",
                 f"{tmp_path}/b.pem", f"{workspace}/secrets/"):
        assert path in spec.hidden, path
    assert "/var/lib/codor/" in spec.protected


def test_relative_paths_resolve_against_the_workspace(workspace: Path) -> None:
    (workspace / "sub").mkdir()
    spec = _spec(workspace, cwd="sub", env={"PWD": "/somewhere/else"})
    assert spec.cwd == str(workspace / "sub") and spec.workspace == str(workspace)
    assert spec.env_dict()["PWD"] == spec.cwd
    assert spec.codor_home == f"{workspace}/.codor"


def test_impossible_specs_are_refused(workspace: Path) -> None:
    with pytest.raises(SandboxSetupError, match="cannot be /"):
        _spec(Path("/"))
    with pytest.raises(SandboxSetupError, match="empty"):
        build_spec(SandboxSettings(), [], workspace=workspace)
    with pytest.raises(SandboxSetupError, match="not a directory"):
        _spec(workspace / "missing")
    with pytest.raises(SandboxSetupError, match="working directory"):
        _spec(workspace, cwd="nope")
    with pytest.raises(SandboxSetupError, match=r"sandbox\.writable"):
        _spec(workspace, SandboxSettings(writable=("/nonexistent-codor",)))


def test_a_spec_is_frozen_and_describes_itself(workspace: Path) -> None:
    spec = _spec(workspace)
    with pytest.raises(AttributeError):
        spec.argv = ("rm",)  # type: ignore[misc]
    body = spec.to_json()
    assert body["argv"] == ["true"] and body["network"] == "proxy"
    assert body["limits"] == {"wall_seconds": 600.0, "cpu_seconds": 0, "memory_mb": 4096,
                              "processes": 4096, "file_size_mb": 4096, "output_kb": 8192,
                              "open_files": 4096}
