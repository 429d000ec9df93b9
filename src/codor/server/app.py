"""``create_app(settings)``: the daemon's FastAPI application.

Every route but ``/health`` and ``/ready`` needs an API key (``Authorization: Bearer
codor_...``) or a dashboard session cookie, and names the permission it needs
(:mod:`codor.server.auth`). Bodies larger than ``max_body_bytes`` are refused before they are
read; each key has a request rate limit. Errors are JSON ``{"error": {"code", "message",
"location"}}`` with a stable code — a CODOR input error is 400, a missing or bad key 401, a
missing permission 403, an unavailable part 503 — and never a traceback.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from codor.errors import CodorError
from codor.server.http import ApiError, error_body, error_response

if TYPE_CHECKING:
    from codor.server.daemon import Daemon
    from codor.server.settings import ServerSettings

__all__ = ["create_app"]



class BodyLimit:
    """Refuse a body over ``limit`` bytes with 413: by its Content-Length when it has one,
    else while it streams in."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    too_big = int(value) > self.limit
                except ValueError:
                    too_big = True
                if too_big:
                    await _send_error(send, 413, "E_BODY_TOO_LARGE",
                                      f"the body is larger than {self.limit} bytes")
                    return
        seen = 0

        async def limited() -> Any:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise ApiError(413, "E_BODY_TOO_LARGE",
                                   f"the body is larger than {self.limit} bytes")
            return message

        await self.app(scope, limited, send)


async def _send_error(send: Send, status: int, code: str, message: str) -> None:
    import json

    body = json.dumps(error_body(code, message)).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def _describe(app: FastAPI) -> None:
    """The OpenAPI description and its Swagger page, for keys with ``read`` (the brief:
    every route but ``/health`` and ``/ready`` needs a key)."""
    from fastapi import Depends
    from fastapi.openapi.docs import get_swagger_ui_html
    from fastapi.responses import HTMLResponse

    from codor.server.http import require

    @app.get("/v1/openapi.json", include_in_schema=False,
             dependencies=[Depends(require("read"))])
    def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/v1/docs", include_in_schema=False, dependencies=[Depends(require("read"))])
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/v1/openapi.json", title="CODOR API")


def create_app(settings: ServerSettings, *, daemon: Daemon | None = None) -> FastAPI:
    """The application. With ``daemon`` given (tests, ``codor serve``) it is used and not
    closed; otherwise one is opened on startup and closed on shutdown."""
    from codor import __version__
    from codor.server.routes import ROUTERS

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own = app.state.daemon is None
        if own:
            from codor.server.daemon import Daemon

            app.state.daemon = Daemon.open(settings)
        for start in app.state.on_start:
            await start(app)
        try:
            yield
        finally:
            for stop in reversed(app.state.on_stop):
                with contextlib.suppress(Exception):
                    await stop(app)
            if own:
                app.state.daemon.close()

    app = FastAPI(title="CODOR", version=__version__, lifespan=lifespan,
                  description="Decide, confine, record and verify what AI agents do.",
                  openapi_url=None, docs_url=None, redoc_url=None)  # served below, with auth
    app.state.settings = settings
    app.state.daemon = daemon
    app.state.on_start = []
    app.state.on_stop = []
    app.state.rate = {}
    app.state.cookie_principal = None  # set by the dashboard: its session cookie

    async def _error(request: Request, exc: Exception) -> JSONResponse:
        return error_response(request, exc)

    for caught in (ApiError, CodorError, Exception):
        app.add_exception_handler(caught, _error)

    for router in ROUTERS():
        app.include_router(router)
    _describe(app)
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    from codor.server.dashboard import install_dashboard
    install_dashboard(app, settings)
    return app
