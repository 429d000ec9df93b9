"""Files: which files a part reads, writes or deletes (:func:`file_ops`) and the paths a command
would write (:func:`write_targets`)."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from codor.policy.shell.model import Part
from codor.policy.shell.parser import _results

__all__ = [
    "FileOp",
    "download_ops",
    "file_ops",
    "is_recursive",
    "looks_like_path",
    "perm_targets",
    "write_targets",
]

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_SCP_REMOTE = re.compile(r"^[^/]*:")
# program -> short options that take a value; every operand is read
_READ_ALL: dict[str, str] = {
    "cat": "", "tac": "", "head": "nc", "tail": "ncs", "less": "", "more": "", "nl": "bdfhilnsvw",
    "wc": "", "diff": "UCDFILSx", "cmp": "in", "sort": "kotST", "uniq": "fsw", "cut": "bcdf",
    "od": "AjNtw", "xxd": "clsgo", "hexdump": "enfs", "strings": "nt", "md5sum": "",
    "sha1sum": "", "sha224sum": "", "sha256sum": "", "sha384sum": "", "sha512sum": "",
    "b2sum": "", "cksum": "", "base64": "w", "base32": "w", "bat": "lHr", "view": "",
    "source": "", ".": "", "paste": "d", "join": "12jteo", "column": "stc", "fold": "w",
    "fmt": "w", "expand": "t", "zcat": "", "bzcat": "", "xzcat": "", "zless": "",
    "iconv": "ft", "split": "abCdln", "vim": "", "vi": "", "nano": "", "emacs": "",
}
# listing and metadata only: reads for the paths guard, but not of a file's content
_LIST_ONLY: dict[str, str] = {
    "ls": "IwT", "stat": "c", "file": "fmM", "du": "dBtX", "tree": "LPIo", "realpath": "",
    "readlink": "", "dirname": "", "basename": "",
}
# program -> short options taking a value; first operand is a pattern unless one is given
_PATTERN_FIRST: dict[str, tuple[str, str]] = {
    "grep": ("efmABCDd", "ef"), "egrep": ("efmABCDd", "ef"), "fgrep": ("efmABCDd", "ef"),
    "zgrep": ("efmABCDd", "ef"), "rg": ("efgmABCtTjrEM", "ef"), "ag": ("ABCGgm", ""),
    "ack": ("ABCm", ""), "awk": ("fFv", "f"), "gawk": ("fFv", "f"), "mawk": ("fFv", "f"),
    "sed": ("efl", "ef"),
}
_WRITE_ALL: dict[str, str] = {"tee": "", "touch": "dtr", "mkdir": "m", "truncate": "sr"}
_DELETE_ALL: dict[str, str] = {"rm": "", "rmdir": "", "unlink": "", "shred": "ns", "srm": ""}
_COPIES = frozenset({"cp", "mv", "install", "ln", "rsync", "scp"})
_PERMS = frozenset({"chmod", "chown", "chgrp"})
#: sqlite3 options that take a value (the database is the first operand after the options)
_SQLITE_VALUE_OPTS = frozenset({"-cmd", "-init", "-separator", "-newline", "-nullvalue",
                                "-vfs", "-lookaside", "-pagecache", "-heap", "-maxsize",
                                "-mmap", "-escape"})
_NO_PATHS = frozenset({"echo", "printf", "test", "[", "true", "false", ":", "export", "alias",
                       "which", "type", "cd", "pushd", "popd", "declare", "local", "set",
                       "unset", "readonly", "typeset", "read", "exit", "return", "ssh",
                       "kill", "sleep", "date", "whoami", "pwd", "env", "printenv"})


#: Programs for which :func:`file_ops` may report a write or a delete (other than by a
#: redirection): for any other program it reports reads only.
_MAY_WRITE = (frozenset(_PATTERN_FIRST) | frozenset(_WRITE_ALL) | frozenset(_DELETE_ALL)
              | _COPIES | _PERMS | frozenset({"dd", "curl", "wget", "find", "sqlite3"}))
_EMAIL_LIKE = re.compile(r"^[\w.-]+@[\w.-]+:")
_KEY_VALUE = re.compile(r"^\w+=")


@dataclass(frozen=True, slots=True)
class FileOp:
    """One file a part touches: ``read``, ``write`` or ``delete``, the path as written, and
    whether the file's content is read (listing a directory or a link target is not)."""

    op: str
    path: str
    content: bool = False


def _getopt(args: Sequence[str], value_letters: str) -> tuple[list[int], set[str], dict[str, str]]:
    """Operand indices, option letters / long names seen, and option values."""
    operands: list[int] = []
    seen: set[str] = set()
    values: dict[str, str] = {}
    i, n = 0, len(args)
    while i < n:
        a = args[i]
        if a == "--":
            operands.extend(range(i + 1, n))
            break
        if a.startswith("--") and len(a) > 2:
            name, _eq, value = a.partition("=")
            seen.add(name)
            values[name] = value
        elif len(a) > 1 and a[0] == "-":
            for j in range(1, len(a)):
                ch = a[j]
                seen.add(ch)
                if ch in value_letters:
                    if j + 1 < len(a):
                        values[ch] = a[j + 1 :]
                    elif i + 1 < n:
                        i += 1
                        values[ch] = args[i]
                    break
        else:
            operands.append(i)
        i += 1
    return operands, seen, values


def looks_like_path(arg: str, cred_name: Callable[[str], bool] | None = None) -> bool:
    """A word that names a file: contains ``/``, starts with ``~`` or ``.``, or is a
    credential file name (``cred_name``); URLs, ``user@host:`` and ``KEY=value`` are not."""
    if not arg or " " in arg or "\t" in arg or "\n" in arg or _URL.match(arg):
        return False
    if _EMAIL_LIKE.match(arg) or _KEY_VALUE.match(arg):
        return False
    return "/" in arg or arg.startswith(("~", ".", "$HOME", "${HOME}")) or (
        cred_name is not None and cred_name(arg))


def file_ops(p: Part, cred_name: Callable[[str], bool] | None = None) -> list[FileOp]:
    """The files a part reads, writes or deletes, by what its program is known to do (and
    its redirections); for other programs, path-looking arguments are reads."""
    if not p.redirects and len(p.argv) < 2:
        return []  # no redirection and no argument: no file
    ops: list[FileOp] = []
    for r in p.redirects:
        if r.op in ("<<", "<<-", "<<<"):
            continue
        t = r.target
        if r.op in (">&", "<&") and (t.isdigit() or t in ("-", "")):
            continue
        if r.op in ("<", "<&"):
            ops.append(FileOp("read", t, True))
        elif r.op == "<>":
            ops += [FileOp("read", t, True), FileOp("write", t)]
        else:
            ops.append(FileOp("write", t))
    if not p.argv or p.expanded[:1] == (True,):
        return ops
    prog = p.program
    args = p.argv[1:]
    if prog in _READ_ALL or prog in _LIST_ONLY:
        content = prog in _READ_ALL
        letters = _READ_ALL.get(prog, _LIST_ONLY.get(prog, ""))
        operands, _seen, _values = _getopt(args, letters)
        ops += [FileOp("read", args[k], content) for k in operands]
    elif prog in _PATTERN_FIRST:
        letters, given = _PATTERN_FIRST[prog]
        operands, seen, values = _getopt(args, letters)
        if "f" in given and "f" in values:
            ops.append(FileOp("read", values["f"], True))
        explicit = bool(seen & set(given)) or bool(seen & {"--regexp", "--file", "--expression"})
        files = operands if explicit else operands[1:]
        in_place = prog == "sed" and ("i" in seen or "--in-place" in seen)
        ops += [FileOp("write", args[k]) if in_place else FileOp("read", args[k], True)
                for k in files]
    elif prog in _WRITE_ALL:
        operands, _seen, values = _getopt(args, _WRITE_ALL[prog])
        ops += [FileOp("write", args[k]) for k in operands]
        if "r" in values:
            ops.append(FileOp("read", values["r"]))
    elif prog in _DELETE_ALL:
        operands, _seen, _values = _getopt(args, _DELETE_ALL[prog])
        ops += [FileOp("delete", args[k]) for k in operands]
    elif prog in _COPIES:
        ops += _copy_ops(prog, args)
    elif prog in _PERMS:
        ops += [FileOp("write", a) for a in perm_targets(prog, args)]
    elif prog == "dd":
        for a in args:
            if a.startswith("if="):
                ops.append(FileOp("read", a[3:], True))
            elif a.startswith("of="):
                ops.append(FileOp("write", a[3:]))
    elif prog in ("curl", "wget"):
        ops += download_ops(prog, args)
    elif prog == "sqlite3":  # its database: changed by any statement given (unless -readonly)
        k = 0
        while k < len(args):
            a = args[k]
            if "-" + a.lstrip("-") in _SQLITE_VALUE_OPTS:  # -opt or --opt
                k += 2
            elif a.startswith("-"):
                k += 1
            else:
                ops.append(FileOp("read", a, True) if "-readonly" in args or "--readonly"
                           in args else FileOp("write", a))
                break
    elif prog == "find":
        k = 0
        while k < len(args) and not args[k].startswith(("-", "(", "!")):
            ops.append(FileOp("read", args[k]))
            k += 1
        if "-delete" in args:
            root = (args[0] if k else ".").rstrip("/")
            ops.append(FileOp("delete", f"{root}/{{}}"))
    elif prog not in _NO_PATHS:
        for a in args:
            value = a.partition("=")[2] if a.startswith("--") else a
            if not value.startswith("-") and looks_like_path(value, cred_name):
                ops.append(FileOp("read", value, True))
    return ops


def _copy_ops(prog: str, args: Sequence[str]) -> list[FileOp]:
    letters = {"cp": "St", "mv": "St", "install": "gmoSt", "ln": "St", "rsync": "eBfT",
               "scp": "cFiJlPoS"}[prog]
    operands, seen, values = _getopt(args, letters)
    files = [args[k] for k in operands]
    if prog in ("rsync", "scp"):
        files = [f for f in files if not _SCP_REMOTE.match(f)] if files else []
        remote_dst = bool(operands) and _SCP_REMOTE.match(args[operands[-1]]) is not None
        if remote_dst:
            return [FileOp("read", f, True) for f in files]
    target = values.get("t") or values.get("--target-directory")
    if prog == "install" and "d" in seen:
        return [FileOp("write", f) for f in files]
    if target:
        srcs, dst = files, target
    elif len(files) >= 2:
        srcs, dst = files[:-1], files[-1]
    else:
        return []
    src_op = "delete" if prog == "mv" else "read"
    out = [] if prog == "ln" else [FileOp(src_op, s, True) for s in srcs]
    out.append(FileOp("write", dst))
    return out


def perm_targets(prog: str, args: Sequence[str]) -> list[str]:
    """The files of ``chmod``/``chown``/``chgrp`` arguments (the mode or owner left out)."""
    rest = [a for a in args if not re.fullmatch(r"-[cfvRhHLP]+|--[a-z-]+(=.*)?", a)]
    if any(a.startswith("--reference") for a in args):
        return rest
    return rest[1:]


def is_recursive(args: Sequence[str]) -> bool:
    """``-r``/``-R``/``--recursive`` among the options."""
    for a in args:
        if a == "--":
            return False
        if a == "--recursive":
            return True
        if len(a) > 1 and a[0] == "-" and a[1] != "-" and ("r" in a or "R" in a):
            return True
    return False


def download_ops(prog: str, args: Sequence[str]) -> list[FileOp]:
    ops: list[FileOp] = []
    i = 0
    while i < len(args):
        a = args[i]
        name, eq, value = a.partition("=")
        if not eq and i + 1 < len(args) and (
            (prog == "curl" and a in ("-o", "--output", "-T", "--upload-file", "-K", "--config",
                                      "-d", "--data", "--data-binary", "--data-urlencode",
                                      "--data-raw", "--json", "-F", "--form", "-c",
                                      "--cookie-jar"))
            or (prog == "wget" and a in ("-O", "--output-document", "-o", "--output-file",
                                         "-i", "--input-file", "--post-file", "--body-file",
                                         "-a", "--append-output"))
        ):
            value, name = args[i + 1], a
            i += 1
        i += 1
        if prog == "curl":
            if name in ("-o", "--output", "-c", "--cookie-jar"):
                ops.append(FileOp("write", value))
            elif name in ("-T", "--upload-file", "-K", "--config"):
                ops.append(FileOp("read", value, True))
            elif name in ("-d", "--data", "--data-binary", "--data-urlencode", "--json"):
                if value.startswith("@"):
                    ops.append(FileOp("read", value[1:], True))
            elif name in ("-F", "--form"):
                m = re.search(r"=[@<]([^;]+)", value)
                if m:
                    ops.append(FileOp("read", m.group(1), True))
        elif name in ("-O", "--output-document", "-o", "--output-file", "-a",
                      "--append-output"):
            if value != "-":
                ops.append(FileOp("write", value))
        elif name in ("-i", "--input-file", "--post-file", "--body-file"):
            ops.append(FileOp("read", value, True))
    return ops


def write_targets(command: str | None, argv: Sequence[str] | None = None) -> tuple[str, ...]:
    """Paths the command or argv would write or delete (redirections, ``tee``, ``cp``/``mv``
    destinations, ``rm``, ``sed -i``...). Relative paths stay relative to the action's cwd,
    joined with any ``cd`` before them; ``$HOME/`` is written ``~/``."""
    paths: dict[str, None] = {}
    for result in _results(command, argv):
        for p in result.parts:
            if not p.redirects and p.program not in _MAY_WRITE:
                continue  # file_ops would report reads only
            for op in file_ops(p):
                if op.op in ("write", "delete") and op.path and op.path != "-":
                    paths[_joined(op.path, p.cwd)] = None
    return tuple(paths)


def _joined(path: str, cwd: str | None) -> str:
    for var in ("$HOME", "${HOME}"):
        if path == var or path.startswith(var + "/"):
            path = "~" + path[len(var) :]
    if not cwd or path.startswith(("/", "~")):
        return path
    for var in ("$HOME", "${HOME}"):
        if cwd == var or cwd.startswith(var + "/"):
            cwd = "~" + cwd[len(var) :]
    return f"{cwd.rstrip('/')}/{path}"
