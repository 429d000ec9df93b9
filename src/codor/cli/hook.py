"""``codor hook claude-code|codex|gemini``: read one hook event on stdin, answer on stdout.

Runs on every tool call, so it imports only ``os`` and ``sys`` at module level and parses its
few options by hand (``--workspace/-w W``, ``--policy/-p P``). The event is decided in this
process by :func:`codor.integrations.hooks.handler.handle` with a kernel for the workspace
(``--workspace``, else the nearest ``.codor/`` above the event's ``cwd``, else above this
process's cwd; ``CODOR_HOME`` honoured) — or, when the workspace has a running hook server,
by that server with the same handler and kernel, already loaded (the warm path:
:mod:`codor.integrations.hookclient`; ``CODOR_HOOK_SERVER=0`` turns it off) — or, with
``CODOR_URL`` set, by that CODOR daemon (:mod:`codor.integrations.remote`). Fails closed:
bad options, bad input, an unusable policy or ledger — exit 2 with one line on stderr, never
a traceback, never an allow.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (mypy knows the name)
if TYPE_CHECKING:
    from codor.kernel import Kernel

__all__ = ["main_hook"]

_FAIL = 2
_USAGE = "usage: codor hook {claude-code,codex,gemini} [--workspace W] [--policy P]"


def _options(argv: list[str]) -> tuple[str, str | None, str | None]:
    """``(agent, workspace, policy)``; raises ValueError with a one-line reason."""
    if not argv or argv[0].startswith("-"):
        raise ValueError("missing the agent")
    agent, rest = argv[0], argv[1:]
    found: dict[str, str] = {}
    i = 0
    while i < len(rest):
        arg = rest[i]
        name, eq, value = arg.partition("=")
        key = {"--workspace": "workspace", "-w": "workspace", "--policy": "policy",
               "-p": "policy"}.get(name)
        if key is None:
            raise ValueError(f"unknown option {arg!r}")
        if not eq:
            if i + 1 >= len(rest):
                raise ValueError(f"{name} needs a value")
            value = rest[i + 1]
            i += 1
        found[key] = value
        i += 1
    return agent, found.get("workspace"), found.get("policy")


def _event_cwd(stdin: bytes) -> str | None:
    """The event's ``cwd`` when it names a directory (where to look for ``.codor/``)."""
    import json

    try:
        value = json.loads(stdin).get("cwd")
    except (ValueError, AttributeError, RecursionError):
        return None
    return value if isinstance(value, str) and value.startswith("/") and \
        os.path.isdir(value) else None


def main_hook(argv: list[str]) -> int:
    """Answer one hook event; returns the exit code (0, or 2 when refused)."""
    try:
        agent, workspace, policy = _options(argv)
    except ValueError as exc:
        sys.stderr.write(f"{_USAGE}\ncodor: hook: {exc} [E_USAGE]\n")
        return _FAIL
    try:
        try:
            stdin = sys.stdin.buffer.read()
        except (OSError, ValueError) as exc:
            sys.stderr.write(f"codor: cannot read the hook event: {type(exc).__name__} "
                             "[E_HOOK_INPUT] (refused)\n")
            return _FAIL
        return _answer(agent, workspace, policy, stdin)
    except BaseException as exc:  # an import or I/O failure, ^C: refuse, never a traceback
        import contextlib

        with contextlib.suppress(Exception):  # nothing left to report to
            sys.stderr.write(f"codor: hook failed: {type(exc).__name__} [E_INTERNAL] "
                             "(refused)\n")
        return _FAIL


def _locate(workspace: str | None, start: str | None) -> tuple[str, str]:
    """``(workspace, state directory)`` as :func:`codor.integrations.context.find_workspace`
    and :func:`~codor.integrations.context.codor_home` find them from the same ``start`` (the
    event's ``cwd``), with ``os.path`` only: the warm path must not pay for more imports."""
    if workspace:
        root = os.path.abspath(workspace)
    else:
        here = os.path.abspath(start or os.getcwd())
        root = here
        probe = here
        while True:
            if os.path.isdir(os.path.join(probe, ".codor")):
                root = probe
                break
            parent = os.path.dirname(probe)
            if parent == probe:
                break
            probe = parent
    home = os.environ.get("CODOR_HOME")
    return root, os.path.abspath(home) if home else os.path.join(root, ".codor")


def _warm(agent: str, workspace: str | None, policy: str | None, start: str | None,
          stdin: bytes) -> int | None:
    """The hook server's answer (see :mod:`codor.integrations.hookclient`), or ``None`` to
    decide in this process (no server yet, the warm path off, or no ``.codor/``)."""
    root, home = _locate(workspace, start)
    if not os.path.isdir(home):
        return None
    from codor.integrations.hookclient import ask_server

    if policy and not policy.startswith("codor:"):
        # a policy file is read relative to this process's directory, not the server's
        policy = os.path.join(os.getcwd(), os.path.expanduser(policy))
    answer = ask_server(agent, stdin, home, root, policy)
    if answer is None:
        return None
    out, err, code = answer
    return code if _emit(out, err) else _FAIL


def _emit(out: bytes, err: str) -> bool:
    """Write the answer; ``False`` when it cannot be written (the agent is gone)."""
    try:
        if out:
            sys.stdout.buffer.write(out)
            sys.stdout.flush()
        if err:
            sys.stderr.write(err)
    except (BrokenPipeError, OSError):
        return False
    return True


def _answer(agent: str, workspace: str | None, policy: str | None, stdin: bytes) -> int:
    start = None if workspace else _event_cwd(stdin)  # where to look for .codor/
    if agent in ("claude-code", "codex", "gemini") and not os.environ.get("CODOR_URL"):
        warm = _warm(agent, workspace, policy, start, stdin)
        if warm is not None:
            return warm
    from codor.integrations.hooks.handler import handle

    kernels: list[Kernel] = []

    def open_kernel() -> Kernel:
        from codor.integrations.context import open_kernel as open_workspace_kernel

        kernel = open_workspace_kernel(workspace, policy=policy, start=start)
        kernels.append(kernel)
        return kernel

    result = handle(agent, stdin, open_kernel)
    code = result.exit_code
    for kernel in kernels:
        try:
            kernel.close()
        except Exception as exc:  # the records are committed; a failing close still refuses
            result = result._replace(stdout=b"", stderr=f"codor: closing the ledger failed: "
                                                        f"{type(exc).__name__} [E_INTERNAL] "
                                                        "(refused)\n")
            code = _FAIL
    return code if _emit(result.stdout, result.stderr) else _FAIL
