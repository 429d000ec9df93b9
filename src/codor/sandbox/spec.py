"""What one sandboxed command gets: :class:`SandboxSpec`, built from the policy's settings.

:func:`build_spec` is the only place that decides the sandbox's contents; backends only
translate a spec into their mechanism. Paths in a spec are absolute and normalised; a path
ending in ``/`` is a directory (that matters for protected paths that do not exist yet: a
directory is masked by an empty read-only directory, a file by ``/dev/null``).
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase, translate

from codor.errors import SandboxSetupError
from codor.policy.sandbox_section import Limits, SandboxSettings

__all__ = [
    "HIDDEN_HOME",
    "HIDDEN_SYSTEM",
    "PROTECTED_HOME",
    "PROTECTED_WORKSPACE",
    "PROXY_HOST",
    "PROXY_PORT",
    "SECRET_NAME_PATTERNS",
    "SandboxSpec",
    "build_spec",
    "is_secret_name",
]

#: Where a sandboxed command reaches CODOR's egress proxy. Under bubblewrap the network
#: forwarder (:mod:`codor.sandbox.forwarder`, same port) listens here inside the sandbox's own
#: network namespace and answers DNS on ``PROXY_HOST:53``; under Landlock alone it is the
#: host loopback port the proxy listens on.
PROXY_HOST = "127.0.0.1"
PROXY_PORT = 3128

#: Variables whose *name* matches one of these (case-insensitive) are removed unless the
#: policy passes them (``sandbox.env.pass``). Values that look like credentials are removed too.
SECRET_NAME_PATTERNS = ("*KEY*", "*SECRET*", "*TOKEN*", "*PASSWORD*", "*PASSWD*",
                        "*PASSPHRASE*", "*CREDENTIAL*", "*COOKIE*", "*PRIVATE*", "*AUTH_*",
                        "*_AUTH", "*_PAT")
_SECRET_NAME = re.compile("|".join(map(translate, SECRET_NAME_PATTERNS)), re.IGNORECASE)

#: Workspace-relative paths that run code later on the host (git hooks and config, editor and
#: agent settings, direnv). Re-bound read-only, and masked read-only when they do not exist.
PROTECTED_WORKSPACE = (
    ".git/hooks/", ".git/config", ".git/modules/", ".claude/", ".codex/", ".gemini/",
    ".cursor/", ".vscode/", ".idea/", ".devcontainer/", ".mcp.json", ".envrc",
)
#: Home-relative start-up files; they matter when the home directory is writable inside
#: (the workspace is ``~``, or ``sandbox.writable`` includes it).
PROTECTED_HOME = (
    ".bashrc", ".bash_profile", ".bash_login", ".bash_logout", ".profile", ".zshrc",
    ".zshenv", ".zprofile", ".zlogin", ".zlogout", ".config/fish/", ".inputrc", ".gitconfig",
    ".config/git/", ".config/autostart/", ".config/systemd/", ".local/bin/", "bin/",
    ".claude/settings.json", ".claude/settings.local.json", ".codex/config.toml",
    ".gemini/settings.json", ".config/Code/User/",
)
#: Home-relative credential stores, masked (an empty directory, or ``/dev/null``).
HIDDEN_HOME = (
    ".ssh/", ".aws/", ".gnupg/", ".config/gcloud/", ".azure/", ".kube/", ".docker/",
    ".netrc", ".npmrc", ".pypirc", ".pgpass", ".git-credentials", ".config/gh/",
    ".terraform.d/", ".vault-token", ".password-store/", ".local/share/keyrings/",
    ".cargo/credentials", ".cargo/credentials.toml", ".gem/credentials", ".config/hub",
    ".config/op/", ".config/rclone/", ".s3cfg", ".boto", ".oci/", ".config/doctl/",
    ".mozilla/", ".config/google-chrome/", ".config/chromium/",
)
#: System secrets a process that is root inside could otherwise read (globs allowed).
HIDDEN_SYSTEM = ("/etc/shadow", "/etc/shadow-", "/etc/gshadow", "/etc/gshadow-",
                 "/etc/ssh/ssh_host_*_key", "/etc/ssl/private/")


@dataclass(frozen=True, slots=True)
class SandboxSpec:
    """Everything a backend needs to run one command. Frozen: build it once, run it often."""

    argv: tuple[str, ...]
    cwd: str
    workspace: str                       # real path; bound read-write
    env: tuple[tuple[str, str], ...]     # final environment (scrubbed, policy's ``set`` applied)
    protected: tuple[str, ...]           # read-only, even when missing (``/`` suffix: directory)
    hidden: tuple[str, ...]              # masked when present
    writable: tuple[str, ...] = ()       # extra read-write directories (real paths)
    network: str = "proxy"               # "proxy" | "none"
    proxy_socket: str | None = None      # the egress proxy's unix socket on the host
    proxy_port: int = PROXY_PORT
    limits: Limits = field(default_factory=Limits)
    home: str = "/"
    codor_home: str = ""
    scrubbed: tuple[str, ...] = ()       # names of the variables removed (never their values)

    def env_dict(self) -> dict[str, str]:
        return dict(self.env)

    def to_json(self) -> dict[str, object]:
        """The spec as plain JSON, for ``codor run --explain`` and evidence (no env values)."""
        return {
            "argv": list(self.argv), "cwd": self.cwd, "workspace": self.workspace,
            "env": sorted(k for k, _ in self.env), "scrubbed": list(self.scrubbed),
            "protected": list(self.protected), "hidden": list(self.hidden),
            "writable": list(self.writable), "network": self.network,
            "proxy_socket": self.proxy_socket, "proxy_port": self.proxy_port,
            "limits": {k: getattr(self.limits, k) for k in Limits.__slots__},
        }


def is_secret_name(name: str) -> bool:
    """Whether an environment variable's name marks it as a credential."""
    return _SECRET_NAME.match(name) is not None


def build_spec(
    settings: SandboxSettings,
    argv: Sequence[str],
    *,
    workspace: str | os.PathLike[str],
    cwd: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    home: str | None = None,
    codor_home: str | os.PathLike[str] | None = None,
    proxy_socket: str | None = None,
    proxy_port: int = PROXY_PORT,
    scan_values: bool = True,
) -> SandboxSpec:
    """The spec for running ``argv`` under ``settings`` in ``workspace``.

    ``env`` defaults to this process's environment; ``home`` to its ``HOME``; ``codor_home``
    to ``<workspace>/.codor``. ``scan_values`` also drops variables whose value the secret
    scanner recognises as a credential (a token in an innocently named variable).
    """
    if not argv:
        raise SandboxSetupError("nothing to run: the command is empty")
    ws = os.path.realpath(os.fspath(workspace))
    if not os.path.isdir(ws):
        raise SandboxSetupError(f"workspace {ws} is not a directory")
    if ws == "/":
        raise SandboxSetupError("the workspace cannot be / (the whole host would be writable)")
    source = os.environ if env is None else env
    home_dir = os.path.normpath(home or source.get("HOME") or os.path.expanduser("~"))
    state = os.path.normpath(os.path.join(ws, os.fspath(codor_home) if codor_home else ".codor"))
    work_dir = os.path.realpath(os.path.join(ws, os.fspath(cwd))) if cwd is not None else ws
    if not os.path.isdir(work_dir):
        raise SandboxSetupError(f"working directory {work_dir} is not a directory")

    final_env, scrubbed = _scrub(source, settings, scan_values)
    if "PWD" in final_env:
        final_env["PWD"] = work_dir
    if settings.network == "proxy":
        from codor.sandbox.forwarder import proxy_env

        final_env.update(proxy_env(proxy_port))
    final_env.update(settings.env_set)

    writable = tuple(dict.fromkeys(
        os.path.realpath(_absolute(p, ws, home_dir)) for p in settings.writable))
    for path in writable:
        if not os.path.isdir(path):
            raise SandboxSetupError(f"sandbox.writable: {path} is not a directory")
    protected = [os.path.join(ws, p) for p in (*PROTECTED_WORKSPACE, *_git_extras(ws))]
    protected += [_join_dir(home_dir, p) for p in PROTECTED_HOME]
    protected.append(state + "/")
    protected += [_absolute(p, ws, home_dir) for p in settings.protected]
    hidden = [_join_dir(home_dir, p) for p in HIDDEN_HOME]
    hidden += _globbed(HIDDEN_SYSTEM)
    hidden.append(os.path.join(state, "keys") + "/")
    hidden += _globbed(_absolute(p, ws, home_dir) for p in settings.hidden)
    return SandboxSpec(
        argv=tuple(argv), cwd=work_dir, workspace=ws,
        env=tuple(sorted(final_env.items())),
        protected=tuple(dict.fromkeys(protected)), hidden=tuple(dict.fromkeys(hidden)),
        writable=writable, network=settings.network, proxy_socket=proxy_socket,
        proxy_port=proxy_port, limits=settings.limits, home=home_dir, codor_home=state,
        scrubbed=tuple(scrubbed),
    )


def _scrub(source: Mapping[str, str], settings: SandboxSettings,
           scan_values: bool) -> tuple[dict[str, str], list[str]]:
    def passed(name: str) -> bool:
        return any(fnmatchcase(name, pattern) for pattern in settings.env_pass)

    kept: dict[str, str] = {}
    scrubbed: list[str] = []
    for name, value in source.items():
        if is_secret_name(name) and not passed(name):
            scrubbed.append(name)
        else:
            kept[name] = value
    if scan_values:
        suspects = [n for n, v in kept.items() if len(v) >= 8 and not passed(n)]
        if suspects:
            from codor.policy.secret_scanner import default_scanner

            scanner = default_scanner()
            for name in suspects:
                if scanner.scan(kept[name]):
                    del kept[name]
                    scrubbed.append(name)
    return kept, sorted(scrubbed)


def _absolute(path: str, ws: str, home: str) -> str:
    """A policy path: ``~/x`` is home-relative, a relative path workspace-relative."""
    if path == "~" or path.startswith("~/"):
        path = home + path[1:]
    elif not os.path.isabs(path):
        path = os.path.join(ws, path)
    return _normal(path)


def _join_dir(base: str, rel: str) -> str:
    return _normal(os.path.join(base, rel))


def _normal(path: str) -> str:
    """Normalised, keeping a trailing ``/`` (the directory marker)."""
    out = os.path.normpath(path)
    return out + "/" if path.endswith("/") and out != "/" else out


def _globbed(paths: Iterable[str]) -> list[str]:
    out: list[str] = []
    for path in paths:
        if glob.has_magic(path):
            out += sorted(glob.glob(path))
        else:
            out.append(path)
    return out


def _git_extras(ws: str) -> list[str]:
    """More protected paths from the repository's own (read-only) config: ``core.hooksPath``
    when it points into the workspace (husky & co. — those hooks run on the host at the next
    commit), and ``.git/config.worktree`` when ``extensions.worktreeConfig`` makes git read
    it (it can set ``core.fsmonitor`` too)."""
    try:
        with open(os.path.join(ws, ".git", "config"), encoding="utf-8", errors="replace") as fh:
            text = fh.read(1 << 20)
    except OSError:
        return []
    out: list[str] = []
    section = ""
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("["):
            section = line.strip("[]").strip().lower()
            continue
        key, sep, value = (part.strip() for part in line.partition("="))
        if not sep:
            continue
        key, value = key.lower(), value.strip('"')
        if section == "extensions" and key == "worktreeconfig" and value.lower() in (
                "true", "yes", "on", "1"):
            out.append(".git/config.worktree")
        if section == "core" and key == "hookspath":
            full = os.path.normpath(os.path.join(ws, value))
            if full.startswith(ws + os.sep):
                out.append(os.path.relpath(full, ws) + "/")
                if os.path.basename(full) == "_":  # husky: .husky/_ runs .husky/<hook>
                    out.append(os.path.relpath(os.path.dirname(full), ws) + "/")
    if os.path.lexists(os.path.join(ws, ".git", "config.worktree")):
        out.append(".git/config.worktree")
    return list(dict.fromkeys(out))
