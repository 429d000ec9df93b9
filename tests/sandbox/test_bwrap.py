"""The bubblewrap backend against real escape attempts (sandbox-threats.md classes 1-7, 13-18).

Every test runs real ``bwrap`` with CODOR's seccomp filter; where a refusal could also come
from something other than the sandbox, a control run on the host shows the same attempt
succeeds there.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest

from codor.errors import SandboxSetupError
from codor.policy.sandbox_section import SandboxSettings
from codor.sandbox.bwrap import BubblewrapBackend, plan_mounts
from codor.sandbox.mountpoints import release_mount_points
from codor.sandbox.spec import build_spec
from tests.sandbox.harness import BASE_ENV, PYTHON, host_probe, probe, sandboxed, sh, spec_for


@pytest.fixture(autouse=True)
def _bwrap_works() -> None:
    ok, why = BubblewrapBackend().available()
    assert ok, f"bubblewrap must work on this machine: {why}"


# -- filesystem ----------------------------------------------------------------------------
def test_workspace_is_writable_and_the_host_root_is_read_only(workspace: Path) -> None:
    marker = f"/etc/codor-escape-{uuid.uuid4().hex}"
    result = sh(workspace, f"echo made > made.txt && echo x > {marker}; echo status=$?")
    assert (workspace / "made.txt").read_text() == "made\n"
    assert result.stdout is not None and "status=2" in result.stdout.text()
    assert "Read-only file system" in (result.stderr.text() if result.stderr else "")
    assert not os.path.exists(marker)


def test_remounting_the_root_read_write_fails_without_capabilities(workspace: Path) -> None:
    """Class 1: root outside, yet inside no capability and no mount call works."""
    out = probe(workspace, """
        with open("/proc/self/status") as fh:
            out["capeff"] = [l.split()[1] for l in fh if l.startswith("CapEff")][0]
        out["uid"] = os.getuid()
        remount = 32 | 1  # MS_REMOUNT | MS_RDONLY
        out["mount"] = errname(sys_call(165, b"none", b"/", None, remount, None)[1])
        import subprocess
        p = subprocess.run(["mount", "-o", "remount,rw", "/"], capture_output=True)
        out["mount_cmd"] = p.returncode
        out["write_usr"] = attempt(lambda: open("/usr/codor-probe", "w"))
    """)
    assert out["capeff"] == "0000000000000000"
    assert out["mount"] == "EPERM" and out["mount_cmd"] != 0
    assert out["write_usr"] == "EROFS"


def test_symlink_planted_in_the_workspace_does_not_write_outside(workspace: Path,
                                                                   tmp_path: Path) -> None:
    """Class 2: a link to a host file, written through."""
    target = tmp_path / "outside.txt"
    target.write_text("original\n")
    result = sh(workspace, f"ln -s {target} link && echo evil > link; "
                           f"ln -s /etc/hostname h2 && echo evil >> h2; echo done")
    assert result.stdout is not None and "done" in result.stdout.text()
    assert target.read_text() == "original\n"
    assert "evil" not in Path("/etc/hostname").read_text()


def test_protected_paths_that_exist_stay_read_only(repo: Path) -> None:
    (repo / ".vscode").mkdir()
    (repo / ".vscode" / "settings.json").write_text("{}\n")
    before = (repo / ".git" / "config").read_text()
    out = probe(repo, """
        out["hook"] = attempt(lambda: open(".git/hooks/pre-commit", "w"))
        out["config"] = attempt(lambda: open(".git/config", "a"))
        out["vscode"] = attempt(lambda: open(".vscode/tasks.json", "w"))
        out["vscode_edit"] = attempt(lambda: open(".vscode/settings.json", "w"))
        out["unlink_config"] = attempt(lambda: os.unlink(".git/config"))
    """)
    assert out == {"hook": "EROFS", "config": "EROFS", "vscode": "EROFS",
                   "vscode_edit": "EROFS", "unlink_config": "EBUSY"}
    assert (repo / ".git" / "config").read_text() == before
    assert not (repo / ".git" / "hooks" / "pre-commit").exists()


def test_protected_paths_that_do_not_exist_cannot_be_created(workspace: Path) -> None:
    """Classes 3 and 17: config that would run later on the host, in a fresh workspace."""
    script = """
        mkdir -p .git/hooks && echo '#!/bin/sh' > .git/hooks/pre-commit
        mkdir -p .claude && echo '{"hooks":{}}' > .claude/settings.json
        echo '{}' > .mcp.json; echo 'eval evil' > .envrc
        mkdir -p .vscode && echo '{}' > .vscode/tasks.json
        mkdir -p .codex && echo 'notify = ["sh"]' > .codex/config.toml
        mkdir -p .gemini && echo '{}' > .gemini/settings.json
        mkdir -p .codor && echo 'version: 1' > .codor/policy.yaml
        git init -q . ; echo git=$?
        echo finished
    """
    result = sh(workspace, script)
    assert result.stdout is not None and "finished" in result.stdout.text()
    assert "git=0" not in result.stdout.text()  # git init of the workspace root is refused
    for rel in (".git/hooks/pre-commit", ".claude/settings.json", ".vscode/tasks.json",
                ".codex/config.toml", ".gemini/settings.json", ".codor/policy.yaml"):
        assert not (workspace / rel).exists(), rel
    for rel in (".mcp.json", ".envrc"):
        assert not (workspace / rel).is_file(), rel
    # The empty mount points go away once no CODOR sandbox needs them.
    removed = release_mount_points(str(workspace))
    assert {os.path.basename(p) for p in removed} >= {".git", ".claude", ".mcp.json", ".envrc"}
    assert sorted(os.listdir(workspace)) == []


def test_protected_directories_cannot_be_renamed_away(repo: Path) -> None:
    """``mv .git .g && mkdir -p .git/hooks`` would otherwise unprotect the hooks."""
    out = probe(repo, """
        out["mv_git"] = attempt(lambda: os.rename(".git", ".g"))
        out["mv_hooks"] = attempt(lambda: os.rename(".git/hooks", ".git/h"))
        out["rmdir_claude"] = attempt(lambda: os.rmdir(".claude"))
    """)
    assert out == {"mv_git": "EBUSY", "mv_hooks": "EBUSY", "rmdir_claude": "EBUSY"}


def test_path_aliases_do_not_reach_protected_paths(repo: Path) -> None:
    """Class 4: /proc/self/root, .., doubled slashes."""
    ws = str(repo)
    out = probe(repo, f"""
        out["proc_root"] = attempt(lambda: open("/proc/self/root{ws}/.git/config", "a"))
        out["dotdot"] = attempt(lambda: open(".git/../.git/hooks/post-merge", "w"))
        out["slashes"] = attempt(lambda: open(".//.git//hooks//pre-push", "w"))
        out["proc_etc"] = attempt(lambda: open("/proc/self/root/etc/codor-x", "w"))
    """)
    assert set(out.values()) == {"EROFS"}


def test_hard_links_and_renames_across_the_boundary_fail(repo: Path) -> None:
    """Class 5: linking a protected or host file into the writable tree, or moving it."""
    out = probe(repo, """
        out["link_config"] = attempt(lambda: os.link(".git/config", "cfg"))
        out["link_host"] = attempt(lambda: os.link("/etc/hostname", "hn"))
        out["rename_out"] = attempt(lambda: os.rename(".git/config", "cfg2"))
        out["rename_in"] = attempt(lambda: os.rename("README.md", ".git/hooks/pre-commit"))
    """)
    assert out["link_config"] == "EXDEV" and out["link_host"] == "EXDEV"
    assert out["rename_out"] in ("EXDEV", "EBUSY", "EROFS")
    assert out["rename_in"] in ("EXDEV", "EROFS")
    assert (repo / "README.md").exists()


def test_git_commit_works_in_a_repository(repo: Path) -> None:
    script = """
        export GIT_AUTHOR_NAME=a GIT_AUTHOR_EMAIL=a@example.invalid
        export GIT_COMMITTER_NAME=a GIT_COMMITTER_EMAIL=a@example.invalid
        echo change >> README.md && echo new > new.txt
        git add -A && git commit -qm 'from the sandbox' && git log --format=%s -n1
        git checkout -qb feature && git gc -q --prune=now && git status --short | wc -l
    """
    result = sh(repo, script)
    assert result.exit_status == 0, result.stderr
    assert result.stdout is not None
    assert result.stdout.text().split() == ["from", "the", "sandbox", "0"]
    log = subprocess.run(["git", "log", "--format=%s"], cwd=repo, capture_output=True,
                         text=True, check=True).stdout
    assert log.splitlines()[0] == "from the sandbox"
    assert sorted(p.name for p in (repo / ".git" / "hooks").iterdir()) == sorted(
        p.name for p in (repo / ".git" / "hooks").iterdir() if p.name.endswith(".sample"))


def test_git_config_cannot_gain_a_command_that_runs_on_the_host(repo: Path) -> None:
    """Class 17: core.fsmonitor, core.pager, aliases... in .git/config would run the next time
    a person uses git in the repository."""
    before = (repo / ".git" / "config").read_bytes()
    result = sh(repo, """
        git config core.fsmonitor 'touch /tmp/pwned'; echo fsmonitor=$?
        git config alias.st '!touch /tmp/pwned'; echo alias=$?
        git config --file .git/config core.pager 'sh -c evil'; echo pager=$?
    """)
    assert result.stdout is not None
    statuses = dict(line.split("=") for line in result.stdout.text().splitlines())
    assert statuses == {"fsmonitor": "4", "alias": "4", "pager": "4"}  # 4: cannot write
    assert (repo / ".git" / "config").read_bytes() == before


def test_hooks_path_from_the_repository_config_is_protected(repo: Path) -> None:
    subprocess.run(["git", "config", "core.hooksPath", ".husky/_"], cwd=repo, check=True)
    (repo / ".husky").mkdir()
    out = probe(repo, """
        out["husky"] = attempt(lambda: open(".husky/pre-commit", "w"))
        out["inner"] = attempt(lambda: os.makedirs(".husky/_/x"))
    """)
    assert out == {"husky": "EROFS", "inner": "EROFS"}


def test_credential_stores_are_hidden_even_when_home_is_the_workspace(workspace: Path) -> None:
    home = workspace  # an agent started in ~: the credential stores are inside the writable tree
    (home / ".ssh").mkdir()
    (home / ".ssh" / "id_ed25519").write_text("PRIVATE KEY")
    (home / ".aws").mkdir()
    (home / ".aws" / "credentials").write_text("[default]\nsecret")
    (home / ".netrc").write_text("machine x password y")
    (home / ".bashrc").write_text("# rc\n")
    keys = workspace / ".codor" / "keys"
    keys.mkdir(parents=True)
    (keys / "signing.key").write_text("CODOR KEY")
    out = probe(workspace, f"""
        out["ssh"] = os.listdir("{home}/.ssh")
        out["aws"] = os.listdir("{home}/.aws")
        out["netrc"] = attempt(lambda: open("{home}/.netrc").read())
        out["keys"] = os.listdir("{keys}")
        out["shadow"] = attempt(lambda: open("/etc/shadow").read())
        out["bashrc"] = attempt(lambda: open("{home}/.bashrc", "a"))
        out["profile"] = attempt(lambda: open("{home}/.profile", "w"))
    """, home=str(home))
    # A masked file is /dev/null on a nodev mount: opening it is refused.
    assert out == {"ssh": [], "aws": [], "netrc": "EACCES", "keys": [], "shadow": "EACCES",
                   "bashrc": "EROFS", "profile": "EISDIR"}  # missing: an empty directory
    assert (home / ".ssh" / "id_ed25519").read_text() == "PRIVATE KEY"


def test_a_protected_symlink_is_refused_rather_than_left_unpinned(workspace: Path) -> None:
    (workspace / "real-claude").mkdir()
    (workspace / ".claude").symlink_to("real-claude")
    with pytest.raises(SandboxSetupError, match=r"\.claude.*symbolic link"):
        sandboxed(workspace, ["true"])


# -- sockets, syscalls, terminals ------------------------------------------------------------
def _listen_unix(path: str) -> socket.socket:
    server = socket.socket(socket.AF_UNIX)
    server.bind(path)
    server.listen(1)
    return server


def test_host_unix_sockets_in_tmp_and_run_are_unreachable(workspace: Path) -> None:
    """Class 6: /tmp and /run are fresh inside, and socket(AF_UNIX) is refused anyway."""
    run_dir = tempfile.mkdtemp(dir="/run")
    tmp_dir = tempfile.mkdtemp(dir="/tmp")  # on purpose: the host's own /tmp
    in_ws = workspace / "s.sock"
    servers = [_listen_unix(os.path.join(run_dir, "agent.sock")),
               _listen_unix(os.path.join(tmp_dir, "docker.sock")), _listen_unix(str(in_ws))]
    try:
        control = socket.socket(socket.AF_UNIX)
        control.connect(os.path.join(run_dir, "agent.sock"))  # reachable on the host
        control.close()
        out = probe(workspace, f"""
            out["run_visible"] = os.path.exists("{run_dir}/agent.sock")
            out["tmp_visible"] = os.path.exists("{tmp_dir}/docker.sock")
            out["ws_visible"] = os.path.exists("{in_ws}")
            out["socket"] = attempt(lambda: socket.socket(socket.AF_UNIX))
            a, b = socket.socketpair()
            out["socketpair"] = "OK"
        """)
    finally:
        for server in servers:
            server.close()
        for d in (run_dir, tmp_dir):
            for name in os.listdir(d):
                os.unlink(os.path.join(d, name))
            os.rmdir(d)
    assert out == {"run_visible": False, "tmp_visible": False, "ws_visible": True,
                   "socket": "EPERM", "socketpair": "OK"}


def test_abstract_unix_sockets_of_the_host_are_unreachable(workspace: Path) -> None:
    """Class 7: abstract sockets live per network namespace; the filter refuses AF_UNIX too."""
    name = f"\0codor-test-{uuid.uuid4().hex}"
    server = socket.socket(socket.AF_UNIX)
    server.bind(name)
    server.listen(1)
    try:
        out = probe(workspace, f"""
            def connect():
                s = socket.socket(socket.AF_UNIX)
                s.connect({name!r})
            out["connect"] = attempt(connect)
        """)
    finally:
        server.close()
    assert out == {"connect": "EPERM"}


IO_URING_PTRACE = """
    params = ctypes.create_string_buffer(120)
    r, e = sys_call(425, 4, params)
    out["io_uring"] = "OK" if r >= 0 else errname(e)
    pid = os.fork()
    if pid == 0:
        import time; time.sleep(5); os._exit(0)
    r, e = sys_call(101, 16, pid, 0, 0)           # PTRACE_ATTACH
    out["ptrace"] = "OK" if r == 0 else errname(e)
    local = (ctypes.c_char * 8)(); remote = (ctypes.c_char * 8)()
    iov_l = (ctypes.c_void_p * 2)(ctypes.addressof(local), 8)
    iov_r = (ctypes.c_void_p * 2)(ctypes.addressof(remote), 8)
    r, e = sys_call(310, pid, iov_l, 1, iov_r, 1, 0)  # process_vm_readv
    out["vm_readv"] = "OK" if r >= 0 else errname(e)
    os.kill(pid, 9); os.waitpid(pid, 0)
"""


def test_io_uring_ptrace_and_process_memory_are_refused(workspace: Path) -> None:
    """Classes 13 and 14, against a control run on the host where all three work."""
    assert host_probe(IO_URING_PTRACE) == {"io_uring": "OK", "ptrace": "OK", "vm_readv": "OK"}
    assert probe(workspace, IO_URING_PTRACE) == {"io_uring": "EPERM", "ptrace": "EPERM",
                                                 "vm_readv": "EPERM"}


def test_host_processes_are_invisible(workspace: Path) -> None:
    out = probe(workspace, f"""
        out["me_visible"] = os.path.exists("/proc/{os.getpid()}")
        out["pids"] = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
    """)
    assert out["me_visible"] is False
    assert max(out["pids"]) < 10  # only the sandbox's own few processes


TIOCSTI = """
    import fcntl, pty, termios
    master, slave = pty.openpty()
    os.setsid() if os.getsid(0) != os.getpid() else None
    try:
        fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
        out["ctty"] = "OK"
    except OSError as exc:
        out["ctty"] = errname(exc.errno)
    out["tiocsti"] = attempt(lambda: fcntl.ioctl(slave, termios.TIOCSTI, b"x"))
"""


def test_tiocsti_keystroke_injection_is_refused(workspace: Path) -> None:
    """Class 18: on a terminal the process controls (where the host allows it)."""
    host = host_probe(TIOCSTI)
    inside = probe(workspace, TIOCSTI)
    assert inside["ctty"] == "OK" and inside["tiocsti"] == "EPERM"
    legacy = Path("/proc/sys/dev/tty/legacy_tiocsti")
    if not legacy.exists() or legacy.read_text().strip() == "1":
        assert host["tiocsti"] == "OK"  # the control: only the sandbox refuses it


def test_file_descriptors_beyond_stdio_are_not_inherited(workspace: Path) -> None:
    """Class 15: descriptors the caller left inheritable never reach the command."""
    leaked = os.open("/etc/hostname", os.O_RDONLY)
    r, w = os.pipe()
    os.set_inheritable(leaked, True)
    os.set_inheritable(w, True)
    try:
        out = probe(workspace, """
            out["fds"] = sorted(int(f) for f in os.listdir("/proc/self/fd"))
        """)
    finally:
        for fd in (leaked, r, w):
            os.close(fd)
    assert out["fds"] == [0, 1, 2, 3]  # 3: the directory listing itself


def test_secrets_are_scrubbed_and_the_rest_of_the_environment_passes(workspace: Path) -> None:
    """Class 16."""
    token = "ghp_" + "Zq3" * 12
    env = {**BASE_ENV, "GITHUB_TOKEN": "t1", "AWS_SECRET_ACCESS_KEY": "t2",
           "db_password": "t3", "INNOCENT": token, "EDITOR": "vi", "PASSED_TOKEN": "keep"}
    settings = SandboxSettings(network="none", env_pass=("PASSED_*",),
                               env_set=(("CI", "1"),))
    out = probe(workspace, """
        out["env"] = dict(os.environ)
    """, env=env, settings=settings)
    seen = out["env"]
    for name in ("GITHUB_TOKEN", "AWS_SECRET_ACCESS_KEY", "db_password", "INNOCENT"):
        assert name not in seen
    assert seen["EDITOR"] == "vi" and seen["PASSED_TOKEN"] == "keep" and seen["CI"] == "1"
    assert seen["PATH"] == BASE_ENV["PATH"]
    assert token not in repr(seen)


def test_network_is_a_private_namespace(workspace: Path) -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    try:
        out = probe(workspace, f"""
            def connect():
                socket.create_connection(("127.0.0.1", {port}), timeout=2).close()
            out["connect"] = attempt(connect)
            out["ifaces"] = sorted(n for _, n in socket.if_nameindex())
            def direct():  # class 8: no route past the proxy (TEST-NET-1, never routed)
                socket.create_connection(("192.0.2.1", 80), timeout=2).close()
            out["direct"] = attempt(direct)
        """)
    finally:
        server.close()
    assert out == {"connect": "ECONNREFUSED", "ifaces": ["lo"], "direct": "ENETUNREACH"}


def test_resolv_conf_points_at_the_forwarder_when_the_network_goes_through_the_proxy(
        workspace: Path) -> None:
    result = sandboxed(workspace, ["cat", "/etc/resolv.conf"],
                       settings=SandboxSettings(network="proxy"))
    assert result.stdout is not None
    assert result.stdout.text().startswith("nameserver 127.0.0.1")


# -- running ---------------------------------------------------------------------------------
def test_on_started_runs_while_the_sandbox_is_held(workspace: Path) -> None:
    seen: list[tuple[int, bool, str]] = []

    def on_started(pid: int) -> None:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            program = fh.read().split(b"\0")[0].decode()
        seen.append((pid, (workspace / "ran").exists(), os.path.basename(program)))

    spec = spec_for(workspace, ["/bin/sh", "-c", "touch ran"])
    result = BubblewrapBackend().run(spec, on_started=on_started)
    assert result.exit_status == 0
    assert seen == [(result.child_pid, False, "bwrap")]
    assert (workspace / "ran").exists()


def test_stdin_and_large_outputs_do_not_deadlock(workspace: Path) -> None:
    script = ("import sys; data = sys.stdin.buffer.read(); "
              "sys.stdout.buffer.write(data * 40); sys.stderr.buffer.write(data * 40)")
    payload = os.urandom(1 << 17)
    result = sandboxed(workspace, [PYTHON, "-I", "-c", script], stdin=payload)
    assert result.exit_status == 0
    assert result.stdout is not None and result.stderr is not None
    assert result.stdout.total == result.stderr.total == 40 << 17


def test_explain_shows_the_command_line_and_the_mounts(repo: Path) -> None:
    spec = build_spec(SandboxSettings(), ["pytest", "-q"], workspace=repo, env=BASE_ENV,
                      home="/root")
    text = BubblewrapBackend().explain(spec)
    assert "--unshare-net" in text and "--seccomp" in text
    assert f"--ro-bind {repo}/.git/hooks {repo}/.git/hooks" in text
    plan = plan_mounts(spec)
    assert f"{repo}/.git" in plan.pinned
    assert f"{repo}/.claude" in plan.created


def test_on_started_brings_up_the_egress_forwarder_before_the_command_runs(
        workspace: Path, tmp_path: Path) -> None:
    """The contract with the egress side: the forwarder joins the held sandbox's network from
    on_started; allowed hosts answer through the proxy, others get its 403."""
    from codor.sandbox.forwarder import ForwarderHandle, start_forwarder
    from tests.sandbox.origins import origin, running_proxy

    handles: list[ForwarderHandle] = []
    with origin() as server, running_proxy(tmp_path) as (_proxy, witness):
        def on_started(pid: int) -> None:
            handle = start_forwarder(pid, tmp_path / "egress.sock", dns_port=None)
            handles.append(handle)
            handle.ready(timeout=10)

        code = f"""
import json, urllib.request, urllib.error
out = {{}}
for host in ("allowed.test", "evil.test"):
    try:
        with urllib.request.urlopen(f"http://{{host}}:{server.port}/hello", timeout=10) as r:
            out[host] = r.status
    except urllib.error.HTTPError as exc:
        out[host] = exc.code
print(json.dumps(out))
"""
        spec = spec_for(workspace, [PYTHON, "-I", "-c", code],
                        settings=SandboxSettings(network="proxy"))
        try:
            result = BubblewrapBackend().run(spec, on_started=on_started)
        finally:
            for handle in handles:
                handle.close()
    assert result.exit_status == 0, result.stderr
    assert result.stdout is not None
    assert json.loads(result.stdout.text()) == {"allowed.test": 200, "evil.test": 403}
    assert witness.rules()  # the block was recorded by the proxy
