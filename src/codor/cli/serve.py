"""``codor serve``: the daemon (API, approvals, dashboard) on the workspace's ledger, or on a
shared PostgreSQL log with ``--ledger postgresql://...``."""

from __future__ import annotations

import argparse
import socket
import sys
from pathlib import Path

__all__ = ["run_serve"]


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
    try:
        token = daemon.first_admin_token()
        app = create_app(settings, daemon=daemon)
        config = uvicorn.Config(app, host=settings.host, port=settings.port,
                                log_level=settings.log_level, access_log=False,
                                server_header=False, date_header=False)
        server = uvicorn.Server(config)
        sock = _listen(settings.host, settings.port)  # bound first: port 0 names a real port
        url = f"http://{settings.host if ':' not in settings.host else f'[{settings.host}]'}" \
              f":{sock.getsockname()[1]}"
        _announce(url, token, daemon.policy_ref, daemon.settings.state_target)
        server.run(sockets=[sock])
    finally:
        daemon.close()
    return EXIT_OK


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


def _announce(url: str, token: str | None, policy: str, state: str) -> None:
    out = sys.stdout
    out.write(f"CODOR daemon: {url}  (dashboard {url}/ , API {url}/v1/docs)\n"
              f"  policy {policy}; state {state}\n")
    if token is not None:
        out.write("  first start: an admin API key was created. It is shown this once —\n"
                  f"  keep it: {token}\n")
    out.flush()
