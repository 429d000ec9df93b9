"""The sandbox's seccomp filter: a classic-BPF program generated in pure Python.

Default allow, with a short deny list aimed at kernel attack surface and sandbox escapes:
io_uring, ptrace and cross-process memory access, kexec, bpf, perf events, userfaultfd, the
kernel keyring, namespace and mount system calls, module loading, ``open_by_handle_at``,
``socket(AF_UNIX, ...)`` (no host unix socket is reachable, named or abstract; ``socketpair``
stays allowed) and the ``TIOCSTI``/``TIOCLINUX`` terminal ioctls. ``clone`` with a namespace
flag is refused and ``clone3`` answers ``ENOSYS`` (its flags live in memory a filter cannot
read), so libc falls back to ``clone``. A call from another architecture (i386 ``int 0x80``,
x32) is killed or refused: the filter checks ``seccomp_data.arch`` first.

``inet_stream_only`` (the Landlock-only backend, which has no network namespace) also refuses
every socket that is not TCP over IPv4/IPv6, so Landlock's TCP port rules cover all traffic.

The program is what ``bwrap --seccomp FD`` and ``prctl(PR_SET_SECCOMP)`` load: an array of
``struct sock_filter`` (u16 code, u8 jt, u8 jf, u32 k), native byte order.
"""

from __future__ import annotations

import platform
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache

__all__ = [
    "ARCHES",
    "DENIED_SYSCALLS",
    "build_filter",
    "host_arch",
]

# seccomp_data layout: int nr; u32 arch; u64 instruction_pointer; u64 args[6]
_NR, _ARCH, _ARG0 = 0, 4, 16
_RET_KILL_PROCESS = 0x80000000
_RET_ERRNO = 0x00050000
_RET_ALLOW = 0x7FFF0000
_EPERM, _ENOSYS = 1, 38
# classic BPF opcodes
_LD_W_ABS = 0x20
_JEQ_K = 0x15
_JGE_K = 0x35
_JSET_K = 0x45
_AND_K = 0x54
_RET_K = 0x06

_AF_UNIX, _AF_INET, _AF_INET6 = 1, 2, 10
_SOCK_STREAM, _SOCK_TYPE_MASK = 1, 0xF
_IPPROTO_TCP = 6
_TIOCSTI, _TIOCLINUX = 0x5412, 0x541C
_X32_BIT = 0x40000000
#: CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET
_CLONE_NS_FLAGS = 0x7E020000

#: Refused with EPERM on every architecture (names missing from an arch's table are skipped).
DENIED_SYSCALLS = (
    "io_uring_setup", "io_uring_enter", "io_uring_register",
    "ptrace", "process_vm_readv", "process_vm_writev",
    "kexec_load", "kexec_file_load", "bpf", "perf_event_open", "userfaultfd",
    "keyctl", "add_key", "request_key",
    "unshare", "setns", "mount", "umount2", "pivot_root", "chroot",
    "open_tree", "move_mount", "fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr",
    "open_tree_attr", "init_module", "finit_module", "delete_module", "open_by_handle_at",
)

# Numbers from the kernel's uapi headers (asm/unistd_64.h; asm-generic/unistd.h for aarch64).
_COMMON = {"io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427,
           "open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432,
           "fspick": 433, "clone3": 435, "mount_setattr": 442, "open_tree_attr": 467}
_X86_64 = {**_COMMON, "ioctl": 16, "socket": 41, "clone": 56, "ptrace": 101, "pivot_root": 155,
           "chroot": 161, "mount": 165, "umount2": 166, "init_module": 175,
           "delete_module": 176, "kexec_load": 246, "add_key": 248, "request_key": 249,
           "keyctl": 250, "unshare": 272, "perf_event_open": 298, "open_by_handle_at": 304,
           "setns": 308, "process_vm_readv": 310, "process_vm_writev": 311,
           "finit_module": 313, "kexec_file_load": 320, "bpf": 321, "userfaultfd": 323}
_AARCH64 = {**_COMMON, "ioctl": 29, "umount2": 39, "mount": 40, "pivot_root": 41, "chroot": 51,
            "unshare": 97, "kexec_load": 104, "init_module": 105, "delete_module": 106,
            "ptrace": 117, "socket": 198, "add_key": 217, "request_key": 218, "keyctl": 219,
            "clone": 220, "perf_event_open": 241, "open_by_handle_at": 265, "setns": 268,
            "process_vm_readv": 270, "process_vm_writev": 271, "finit_module": 273,
            "bpf": 280, "userfaultfd": 282, "kexec_file_load": 294}


@dataclass(frozen=True, slots=True)
class Arch:
    name: str
    audit: int                  # AUDIT_ARCH_* value seccomp_data.arch carries
    syscalls: Mapping[str, int]
    x32: bool                   # x86_64: refuse the x32 ABI (nr | 0x40000000)


#: Supported architectures by ``platform.machine()`` name.
ARCHES: Mapping[str, Arch] = {
    "x86_64": Arch("x86_64", 0xC000003E, _X86_64, True),
    "aarch64": Arch("aarch64", 0xC00000B7, _AARCH64, False),
}
_ALIASES = {"amd64": "x86_64", "arm64": "aarch64"}


def host_arch() -> str | None:
    """This machine's architecture if the filter supports it, else ``None``."""
    machine = platform.machine().lower()
    machine = _ALIASES.get(machine, machine)
    return machine if machine in ARCHES else None


class _Asm:
    """A tiny assembler: forward jumps to named labels, resolved at the end."""

    def __init__(self) -> None:
        self.code: list[tuple[int, str | int, str | int, int]] = []
        self.labels: dict[str, int] = {}

    def op(self, code: int, k: int, jt: str | int = 0, jf: str | int = 0) -> None:
        self.code.append((code, jt, jf, k & 0xFFFFFFFF))

    def label(self, name: str) -> None:
        self.labels[name] = len(self.code)

    def assemble(self) -> bytes:
        out = bytearray()
        for i, (code, jt, jf, k) in enumerate(self.code):
            out += struct.pack("=HBBI", code, self._rel(i, jt), self._rel(i, jf), k)
        return bytes(out)

    def _rel(self, i: int, target: str | int) -> int:
        if isinstance(target, int):
            return target
        offset = self.labels[target] - i - 1
        if not 0 <= offset <= 255:
            raise ValueError(f"seccomp jump to {target} out of range ({offset})")
        return offset


@cache
def build_filter(arch: str | None = None, *, inet_stream_only: bool = False) -> bytes:
    """The filter for ``arch`` (default: this machine). Raises ValueError when unsupported."""
    name = arch or host_arch()
    if name is None or name not in ARCHES:
        raise ValueError(f"no seccomp filter for architecture {platform.machine()!r}")
    a = ARCHES[name]
    nr = a.syscalls
    asm = _Asm()
    asm.op(_LD_W_ABS, _ARCH)
    asm.op(_JEQ_K, a.audit, 0, "kill")
    asm.op(_LD_W_ABS, _NR)
    if a.x32:
        asm.op(_JGE_K, _X32_BIT, "deny", 0)
    for call in DENIED_SYSCALLS:
        if call in nr:
            asm.op(_JEQ_K, nr[call], "deny", 0)
    asm.op(_JEQ_K, nr["clone3"], "enosys", 0)
    asm.op(_JEQ_K, nr["socket"], "socket", 0)
    asm.op(_JEQ_K, nr["ioctl"], "ioctl", 0)
    asm.op(_JEQ_K, nr["clone"], "clone", 0)
    asm.op(_RET_K, _RET_ALLOW)

    asm.label("socket")  # socket(domain, type, protocol): int arguments, low 32 bits
    asm.op(_LD_W_ABS, _ARG0)
    asm.op(_JEQ_K, _AF_UNIX, "deny", 0)
    if inet_stream_only:
        asm.op(_JEQ_K, _AF_INET, "inet", 0)
        asm.op(_JEQ_K, _AF_INET6, "inet", "deny")
        asm.label("inet")
        asm.op(_LD_W_ABS, _ARG0 + 8)
        asm.op(_AND_K, _SOCK_TYPE_MASK)
        asm.op(_JEQ_K, _SOCK_STREAM, 0, "deny")
        asm.op(_LD_W_ABS, _ARG0 + 16)
        asm.op(_JEQ_K, 0, "allow", 0)
        asm.op(_JEQ_K, _IPPROTO_TCP, "allow", "deny")
    else:
        asm.op(_RET_K, _RET_ALLOW)

    asm.label("ioctl")  # ioctl(fd, unsigned int cmd, ...): the kernel ignores cmd's high bits
    asm.op(_LD_W_ABS, _ARG0 + 8)
    asm.op(_JEQ_K, _TIOCSTI, "deny", 0)
    asm.op(_JEQ_K, _TIOCLINUX, "deny", "allow")

    asm.label("clone")  # clone(flags, ...): namespace flags sit in the low 32 bits
    asm.op(_LD_W_ABS, _ARG0)
    asm.op(_JSET_K, _CLONE_NS_FLAGS, "deny", "allow")

    asm.label("allow")
    asm.op(_RET_K, _RET_ALLOW)
    asm.label("deny")
    asm.op(_RET_K, _RET_ERRNO | _EPERM)
    asm.label("enosys")
    asm.op(_RET_K, _RET_ERRNO | _ENOSYS)
    asm.label("kill")
    asm.op(_RET_K, _RET_KILL_PROCESS)
    return asm.assemble()
