"""The generated seccomp filter, loaded by a real process that keeps all its capabilities
(so every refusal below is the filter's doing, not a missing privilege)."""

from __future__ import annotations

import json
import signal
import struct
import subprocess
import sys
import textwrap
from typing import Any

import pytest

from codor.sandbox.seccomp import ARCHES, DENIED_SYSCALLS, build_filter, host_arch
from tests.sandbox.harness import PRELUDE


def _filtered(code: str, *, arch: str | None = None, inet_stream_only: bool = False,
              expect_death: bool = False) -> dict[str, Any] | int:
    setup = textwrap.dedent(f"""
        from codor.sandbox.landlock_exec import seccomp, _libc
        from codor.sandbox.seccomp import build_filter
        program = build_filter({arch!r}, inet_stream_only={inet_stream_only!r})
        assert _libc.prctl(38, 1, 0, 0, 0) == 0   # no_new_privs
        seccomp(program)
    """)
    body = setup + PRELUDE + textwrap.dedent(code) + "\nprint(json.dumps(out))\n"
    proc = subprocess.run([sys.executable, "-c", body], capture_output=True, timeout=60,
                          check=False)
    if expect_death:
        return proc.returncode
    assert proc.returncode == 0, proc.stderr.decode()
    data: dict[str, Any] = json.loads(proc.stdout.decode().splitlines()[-1])
    return data


def test_the_program_is_whole_sock_filter_instructions() -> None:
    program = build_filter()
    assert len(program) % 8 == 0 and 0 < len(program) // 8 < 256
    code, _jt, _jf, k = struct.unpack_from("=HBBI", program, 0)
    assert (code, k) == (0x20, 4)  # the first instruction loads seccomp_data.arch
    assert build_filter("aarch64") != build_filter("x86_64")
    assert host_arch() in ARCHES
    with pytest.raises(ValueError, match="no seccomp filter"):
        build_filter("mips")


def test_denied_calls_fail_with_eperm_even_with_every_capability() -> None:
    out = _filtered("""
        with open("/proc/self/status") as fh:
            out["capeff"] = [l.split()[1] for l in fh if l.startswith("CapEff")][0]
        for name, nr, args in (("io_uring_setup", 425, (4, ctypes.create_string_buffer(120))),
                               ("ptrace", 101, (16, 1, 0, 0)), ("bpf", 321, (0, 0, 0)),
                               ("unshare", 272, (0x10000000,)), ("keyctl", 250, (0, 0)),
                               ("mount", 165, (b"none", b"/mnt", b"tmpfs", 0, None)),
                               ("perf_event_open", 298, (0, 0, -1, -1, 0)),
                               ("userfaultfd", 323, (0,)), ("setns", 308, (0, 0))):
            r, e = sys_call(nr, *args)
            out[name] = errname(e) if r < 0 else "OK"
        r, e = sys_call(435, 0, 0)
        out["clone3"] = errname(e)
        r, e = sys_call(56, 0x10000000 | 17, 0, 0, 0, 0)   # clone(CLONE_NEWUSER|SIGCHLD)
        out["clone_newuser"] = errname(e) if r < 0 else "OK"
        out["unix"] = attempt(lambda: socket.socket(socket.AF_UNIX))
        out["socketpair"] = attempt(lambda: socket.socketpair())
        import fcntl, pty, termios
        m, s = pty.openpty()
        out["tiocsti"] = attempt(lambda: fcntl.ioctl(s, termios.TIOCSTI, b"x"))
        out["winsize"] = attempt(lambda: fcntl.ioctl(s, termios.TIOCGWINSZ, b"\\0" * 8))
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        out["fork"] = os.waitpid(pid, 0)[1]
        r, e = sys_call(0x40000000 + 39)  # getpid through the x32 ABI
        out["x32"] = errname(e) if r < 0 else "OK"
    """)
    assert isinstance(out, dict)
    assert out.pop("capeff") != "0000000000000000"  # root with capabilities
    assert {k: out[k] for k in ("clone3", "fork", "socketpair", "winsize")} == {
        "clone3": "ENOSYS", "fork": 0, "socketpair": "OK", "winsize": "OK"}
    refused = {k for k, v in out.items() if v == "EPERM"}
    assert refused == {"io_uring_setup", "ptrace", "bpf", "unshare", "keyctl", "mount",
                       "perf_event_open", "userfaultfd", "setns", "clone_newuser", "unix",
                       "tiocsti", "x32"}


def test_inet_stream_only_refuses_every_socket_but_tcp() -> None:
    out = _filtered("""
        out["tcp"] = attempt(lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM))
        out["tcp6"] = attempt(lambda: socket.socket(socket.AF_INET6, socket.SOCK_STREAM))
        out["udp"] = attempt(lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
        out["raw"] = attempt(lambda: socket.socket(socket.AF_INET, socket.SOCK_RAW, 1))
        out["sctp"] = attempt(lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM, 132))
        out["netlink"] = attempt(lambda: socket.socket(socket.AF_NETLINK, socket.SOCK_RAW))
        out["packet"] = attempt(lambda: socket.socket(socket.AF_PACKET, socket.SOCK_RAW))
    """, inet_stream_only=True)
    assert out == {"tcp": "OK", "tcp6": "OK", "udp": "EPERM", "raw": "EPERM",
                   "sctp": "EPERM", "netlink": "EPERM", "packet": "EPERM"}


def test_a_call_from_another_architecture_kills_the_process() -> None:
    """A filter for the other architecture sees every call as foreign: the first one dies."""
    other = next(name for name in ARCHES if name != host_arch())
    status = _filtered("out['alive'] = True", arch=other, expect_death=True)
    assert status == -signal.SIGSYS


def test_every_denied_name_has_a_number_on_every_architecture() -> None:
    for arch in ARCHES.values():
        missing = [n for n in DENIED_SYSCALLS if n not in arch.syscalls]
        assert missing == [], (arch.name, missing)
