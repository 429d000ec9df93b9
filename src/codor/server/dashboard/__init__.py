"""The dashboard: server-rendered pages (Jinja2, no build step), a login with a session
cookie and CSRF tokens, and the live ledger stream behind ``GET /v1/stream``.

:func:`install_dashboard` wires it into an app made by :func:`codor.server.app.create_app`:
pages and static files, the cookie principal that :func:`codor.server.http.principal` asks
when a request has no bearer token, and the :class:`~codor.server.tail.LedgerTail` started and
stopped with the app.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

if TYPE_CHECKING:
    from codor.server.settings import ServerSettings

__all__ = ["install_dashboard"]

_STATIC = Path(__file__).parent / "static"


def _static_version() -> str:
    digest = hashlib.sha256()
    for path in sorted(_STATIC.iterdir()):
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()[:10]


def install_dashboard(app: FastAPI, settings: ServerSettings) -> None:
    """Mount the dashboard and the live stream on ``app`` (call once, from ``create_app``)."""
    from urllib.parse import quote

    from codor.server.dashboard.session import Sessions
    from codor.server.dashboard.views import LoginRedirect, PageError, render, router
    from codor.server.tail import LedgerTail

    sessions = Sessions(settings)
    app.state.dashboard_sessions = sessions
    app.state.cookie_principal = sessions.principal
    app.state.dashboard_verify = {}
    app.state.dashboard_lock = threading.Lock()
    app.state.dashboard_policy_yaml = {}
    app.state.dashboard_static_v = _static_version()
    app.state.ledger_tail = None

    @app.exception_handler(LoginRedirect)
    async def _to_login(request: Request, exc: LoginRedirect) -> Response:
        return RedirectResponse(f"/login?next={quote(exc.next_url, safe='/')}",
                                status_code=303)

    @app.exception_handler(PageError)
    async def _page_error(request: Request, exc: PageError) -> HTMLResponse:
        key = getattr(request.state, "principal", None)
        return render(request, "error.html", status=exc.status, key=key, title=exc.title,
                      message=exc.message)

    async def start_tail(app: FastAPI) -> None:
        daemon = app.state.daemon
        tail = LedgerTail(daemon.ledger, daemon.metrics)
        tail.start()
        app.state.ledger_tail = tail

    async def stop_tail(app: FastAPI) -> None:
        tail, app.state.ledger_tail = app.state.ledger_tail, None
        if tail is not None:
            tail.stop()

    app.state.on_start.append(start_tail)
    app.state.on_stop.append(stop_tail)
    app.include_router(router)
    app.mount("/static/dashboard", StaticFiles(directory=str(_STATIC)),
              name="dashboard-static")
