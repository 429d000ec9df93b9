"""``codor serve``: the daemon (API, approvals, dashboard) on the workspace's ledger, or on a
shared PostgreSQL log with ``--ledger postgresql://...``.

The app is served by uvicorn (uvloop and httptools when installed) behind
:class:`~codor.server.routes.check.FastCheck`, which answers single ``POST /v1/check``
requests without the framework's routing (same code, same answers). With the ``workers``
setting (``.codor/server.yaml`` or ``CODOR_SERVE_WORKERS``) above 1, the first admin key is
made here, then uvicorn's supervisor runs that many processes on the one listening socket,
each opening its own daemon (see :attr:`ServerSettings.workers` for the trade-offs)."""

from __future__ import annotations

import argparse
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from codor.server.settings import ServerSettings

__all__ = ["run_serve", "worker_app"]


def run_serve(args: argparse.Namespace) -> int:
    from codor.cli.main import EXIT_OK, EXIT_USAGE, find_workspace

    try:
        import fastapi  # noqa: F401
        import uvicorn
    except ImportError:
        sys.stderr.write("codor: the daemon needs its extras: pip install 'codor[server]' "
                         "[E_USAGE]\n")
        return EXIT_USAGE
    from codor.server.app import create_app
    from codor.server.daemon import Daemon
    from codor.server.routes.check import FastCheck
    from codor.server.settings import load_settings
    from codor.workspace import Workspace

    workspace = Path(find_workspace(args.workspace))
    if args.init:
        for line in Workspace.at(workspace).init():
            sys.stderr.write(f"codor: created {line}\n")
    settings = load_settings(
        workspace, config=Path(args.config) if args.config else None, host=args.host,
        port=args.port, ledger=args.ledger, state=args.state, policy=args.policy,
        log_level=args.log_level)
    daemon = Daemon.open(settings)
    if settings.workers > 1:
        try:  # the first admin key is made once, here, before any worker starts
            token, policy_ref = daemon.first_admin_token(), daemon.policy_ref
        finally:
            daemon.close()
        return _run_workers(settings, token, policy_ref)
    try:
        token = daemon.first_admin_token()
        app = FastCheck(create_app(settings, daemon=daemon))
        config = uvicorn.Config(app, host=settings.host, port=settings.port,
                                log_level=settings.log_level, access_log=False,
                                server_header=False, date_header=False)
        server = uvicorn.Server(config)
        sock = _listen(settings.host, settings.port)  # bound first: port 0 names a real port
        _announce(_url(settings.host, sock), token, daemon.policy_ref,
                  daemon.settings.state_target)
        server.run(sockets=[sock])
    finally:
        daemon.close()
    return EXIT_OK


#: how the parent hands the validated settings to its worker processes (never read by
#: :func:`~codor.server.settings.load_settings`)
_WORKER_SETTINGS: Final = "CODOR_WORKER_SETTINGS"


def _run_workers(settings: ServerSettings, token: str | None, policy_ref: str) -> int:
    """``workers`` processes on one listening socket (uvicorn's supervisor restarts a worker
    that dies). Each opens its own daemon from the same settings in its lifespan."""
    import os

    import uvicorn
    from uvicorn.supervisors import Multiprocess

    from codor.cli.main import EXIT_OK

    os.environ[_WORKER_SETTINGS] = settings.model_dump_json()  # inherited by the spawns
    config = uvicorn.Config("codor.cli.serve:worker_app", factory=True,
                            workers=settings.workers, host=settings.host, port=settings.port,
                            log_level=settings.log_level, access_log=False,
                            server_header=False, date_header=False)
    if not (settings.ledger or "").startswith(("postgresql://", "postgres://")):
        sys.stderr.write("codor: warning: several workers on a SQLite ledger take turns at its "
                         "one write lock (a worse latency tail than one process); workers are "
                         "meant for a PostgreSQL ledger\n")
    sock = _listen(settings.host, settings.port)
    _announce(_url(settings.host, sock), token, policy_ref, settings.state_target,
              workers=settings.workers)
    Multiprocess(config, sockets=[sock]).run()
    return EXIT_OK


def worker_app() -> Any:
    """The application of one worker process (uvicorn calls this in the spawned child)."""
    import os

    from codor.server.app import create_app
    from codor.server.routes.check import FastCheck
    from codor.server.settings import ServerSettings

    settings = ServerSettings.model_validate_json(os.environ[_WORKER_SETTINGS])
    return FastCheck(create_app(settings))  # opens its daemon on startup, closes on shutdown


def _url(host: str, sock: socket.socket) -> str:
    shown = host if ":" not in host else f"[{host}]"
    return f"http://{shown}:{sock.getsockname()[1]}"


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        from codor.server.daemon import DaemonError

        raise DaemonError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _announce(url: str, token: str | None, policy: str, state: str, *,
              workers: int = 1) -> None:
    out = sys.stdout
    procs = f"; {workers} worker processes" if workers > 1 else ""
    out.write(f"CODOR daemon: {url}  (dashboard {url}/ , API {url}/v1/docs)\n")
    if token is not None:
        out.write("  first start: an admin API key was created. It is shown this once —\n"
                  f"  keep it: {token}\n")
    # always the announcement's last line: a reader knows when it has all of it
    out.write(f"  policy {policy}; state {state}{procs}\n")
    out.flush()
