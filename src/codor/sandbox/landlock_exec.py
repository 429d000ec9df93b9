"""The Landlock-only backend's exec helper: confine this process, then become the command.

    python -I -S landlock_exec.py '<config-json>' -- CMD ARGS...

Standard library only (it runs with ``-I -S``, before anything else, so it starts fast and
imports nothing from CODOR). In order: wait for the release byte on ``release_fd`` (the
supervisor applies cgroups and calls ``on_started`` meanwhile), set rlimits, close every
descriptor beyond 0-2, drop all capabilities (bounding, ambient, effective, permitted) so
even root runs unprivileged, set no_new_privs, restrict itself with Landlock (read-only
everywhere it may read, read-write only in the writable roots, TCP connect only to the
proxy's port, abstract unix sockets and signals scoped to the sandbox), load the seccomp
filter, and ``execvp`` the command. Any failure exits 126 with a ``codor-landlock:`` line on
stderr: the command never runs unconfined.
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import sys
from typing import Any

SYS_CREATE_RULESET, SYS_ADD_RULE, SYS_RESTRICT_SELF = 444, 445, 446
PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, PR_CAPBSET_DROP, PR_CAP_AMBIENT = 38, 22, 24, 47
PR_CAP_AMBIENT_CLEAR_ALL, SECCOMP_MODE_FILTER = 4, 2
SYS_CAPSET = {"x86_64": 126, "aarch64": 91}
RULE_PATH_BENEATH, RULE_NET_PORT = 1, 2
# Landlock filesystem rights by ABI.
EXECUTE, WRITE_FILE, READ_FILE, READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
REMOVE_DIR, REMOVE_FILE, MAKE_CHAR, MAKE_DIR, MAKE_REG = 1 << 4, 1 << 5, 1 << 6, 1 << 7, 1 << 8
MAKE_SOCK, MAKE_FIFO, MAKE_BLOCK, MAKE_SYM = 1 << 9, 1 << 10, 1 << 11, 1 << 12
REFER, TRUNCATE, IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15
FS_BY_ABI = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1, 4: (1 << 15) - 1,
             5: (1 << 16) - 1}
FILE_RIGHTS = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV
READ = EXECUTE | READ_FILE | READ_DIR
WRITE = (READ | WRITE_FILE | REMOVE_DIR | REMOVE_FILE | MAKE_DIR | MAKE_REG | MAKE_FIFO
         | MAKE_SYM | REFER | TRUNCATE)
DEVICE = READ_FILE | WRITE_FILE | TRUNCATE | IOCTL_DEV
NET_BIND_TCP, NET_CONNECT_TCP = 1 << 0, 1 << 1
SCOPE_ABSTRACT_UNIX, SCOPE_SIGNAL = 1 << 0, 1 << 1

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long
_libc.prctl.restype = ctypes.c_int


class Failure(Exception):
    pass


def _check(result: int, what: str) -> int:
    if result < 0:
        err = ctypes.get_errno()
        raise Failure(f"{what}: {os.strerror(err)} (errno {err})")
    return result


def abi_version() -> int:
    """The kernel's Landlock ABI version; 0 when Landlock is unavailable."""
    result = _libc.syscall(SYS_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(1))
    return int(result) if result > 0 else 0


def _add_path(ruleset: int, path: str, rights: int, handled: int) -> None:
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return  # gone: nothing to grant
    try:
        if not os.path.isdir(path):
            rights &= FILE_RIGHTS
        rights &= handled
        if not rights:
            return
        attr = ctypes.create_string_buffer(12)  # packed {u64 allowed_access; s32 parent_fd}
        ctypes.memmove(attr, rights.to_bytes(8, sys.byteorder), 8)
        ctypes.memmove(ctypes.byref(attr, 8), fd.to_bytes(4, sys.byteorder, signed=True), 4)
        _check(_libc.syscall(SYS_ADD_RULE, ruleset, RULE_PATH_BENEATH, attr, 0),
               f"landlock_add_rule({path})")
    finally:
        os.close(fd)


def _add_port(ruleset: int, port: int) -> None:
    attr = ctypes.create_string_buffer(16)  # {u64 allowed_access; u64 port}
    ctypes.memmove(attr, NET_CONNECT_TCP.to_bytes(8, sys.byteorder), 8)
    ctypes.memmove(ctypes.byref(attr, 8), port.to_bytes(8, sys.byteorder), 8)
    _check(_libc.syscall(SYS_ADD_RULE, ruleset, RULE_NET_PORT, attr, 0),
           f"landlock_add_rule(tcp port {port})")


def landlock(cfg: dict[str, Any]) -> None:
    abi = abi_version()
    if abi < 1:
        raise Failure("Landlock is not available in this kernel")
    handled_fs = FS_BY_ABI.get(abi, FS_BY_ABI[5])
    handled_net = NET_BIND_TCP | NET_CONNECT_TCP if abi >= 4 and cfg.get("network") else 0
    scoped = SCOPE_ABSTRACT_UNIX | SCOPE_SIGNAL if abi >= 6 else 0
    size = 24 if abi >= 6 else 16 if abi >= 4 else 8
    attr = (handled_fs.to_bytes(8, sys.byteorder) + handled_net.to_bytes(8, sys.byteorder)
            + scoped.to_bytes(8, sys.byteorder))[:size]
    buf = ctypes.create_string_buffer(attr, size)
    ruleset = _check(_libc.syscall(SYS_CREATE_RULESET, buf, ctypes.c_size_t(size), 0),
                     "landlock_create_ruleset")
    try:
        for path in cfg.get("read", []):
            _add_path(ruleset, path, READ, handled_fs)
        for path in cfg.get("write", []):
            _add_path(ruleset, path, WRITE, handled_fs)
        for path in cfg.get("devices", []):
            _add_path(ruleset, path, DEVICE | READ, handled_fs)
        if handled_net:
            for port in cfg.get("connect_tcp", []):
                _add_port(ruleset, int(port))
        _check(_libc.syscall(SYS_RESTRICT_SELF, ruleset, 0), "landlock_restrict_self")
    finally:
        os.close(ruleset)


def drop_capabilities(arch: str) -> None:
    for cap in range(64):
        if _libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 and ctypes.get_errno() == 22:
            break  # EINVAL: past the last capability this kernel knows
    _libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this thread
    data = (ctypes.c_uint32 * 6)()                  # effective, permitted, inheritable x 2
    _check(_libc.syscall(SYS_CAPSET[arch], header, data), "capset")


def seccomp(program: bytes) -> None:
    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    buf = ctypes.create_string_buffer(program, len(program))
    prog = SockFprog(len(program) // 8, ctypes.cast(buf, ctypes.c_void_p))
    _check(_libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0),
           "seccomp")


def main(argv: list[str]) -> int:
    if len(argv) < 4 or argv[2] != "--":
        print("usage: landlock_exec.py CONFIG_JSON -- CMD...", file=sys.stderr)
        return 126
    try:
        cfg = json.loads(argv[1])
        release = cfg.get("release_fd")
        if release is not None:
            os.read(int(release), 1)  # the supervisor applies limits meanwhile
        for res, soft, hard in cfg.get("rlimits", []):
            resource.setrlimit(res, (soft, hard))
        os.closerange(3, 1 << 20)
        drop_capabilities(cfg["arch"])
        _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
        landlock(cfg)
        seccomp(bytes.fromhex(cfg["seccomp"]))
    except (Failure, OSError, ValueError, KeyError) as exc:
        print(f"codor-landlock: cannot confine the command: {exc}", file=sys.stderr)
        return 126
    try:
        os.execvp(argv[3], argv[3:])  # noqa: S606 - the whole point: become the command
    except OSError as exc:
        print(f"codor-landlock: {argv[3]}: {exc.strerror}", file=sys.stderr)
        return 127 if isinstance(exc, FileNotFoundError) else 126


if __name__ == "__main__":
    sys.exit(main(sys.argv))
