"""HTTP-side plumbing shared by the routes: the one place errors become statuses, the
request's principal (API key or dashboard session) with its permission and rate limit, and
access to the daemon."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, Final

from fastapi import Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from codor.errors import CodorError

if TYPE_CHECKING:
    from codor.server.auth import Permission
    from codor.server.daemon import Daemon
    from codor.server.keys import ApiKey

__all__ = ["ApiError", "daemon_of", "error_body", "error_response", "json_object", "require",
           "status_of"]

#: stable error codes of CODOR errors and their HTTP statuses (400 otherwise)
_STATUS: Final[dict[str, int]] = {
    "E_STATE": 503, "E_DAEMON": 503, "E_LEDGER_STORE": 503, "E_INTERNAL": 500,
    "E_NOT_FOUND": 404, "E_CONFLICT": 409, "E_KEY": 400,
}


class ApiError(CodorError):
    """An HTTP-level refusal with its status (401, 403, 404, 413, 429...)."""

    def __init__(self, status: int, code: str, message: str, *, location: str | None = None,
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message, location=location)
        self.status = status
        self.code = code  # per instance: the refusal's own code
        self.headers = dict(headers or {})


def status_of(exc: CodorError) -> int:
    return exc.status if isinstance(exc, ApiError) else _STATUS.get(exc.code, 400)


def error_body(code: str, message: str, location: str | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": " ".join(message.split()),
                      "location": location}}


def error_response(request: Request, exc: Exception) -> JSONResponse:
    """The JSON answer to an error: a refusal's own status, a CODOR error's status by its
    code, anything else a logged 500 without the traceback."""
    if isinstance(exc, ApiError):
        return JSONResponse(error_body(exc.code, exc.message, exc.location),
                            status_code=exc.status, headers=exc.headers)
    if isinstance(exc, CodorError):
        return JSONResponse(error_body(exc.code, exc.message, exc.location),
                            status_code=status_of(exc))
    logging.getLogger("codor.server").error("internal error on %s %s", request.method,
                                            request.url.path, exc_info=exc)
    return JSONResponse(error_body("E_INTERNAL", "internal error (logged by the daemon)"),
                        status_code=500)


def json_object(body: bytes, location: str = "body") -> dict[str, Any]:
    """A request body that must be one JSON object (an :class:`InputError` otherwise)."""
    import orjson

    from codor.errors import InputError

    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InputError(f"not valid JSON: {exc}", location=location) from None
    if not isinstance(data, dict):
        raise InputError("must be a JSON object", location=location)
    return data


def daemon_of(request: Request) -> Daemon:
    daemon = request.app.state.daemon
    if daemon is None:
        raise ApiError(503, "E_NOT_READY", "the daemon is starting")
    return daemon  # type: ignore[no-any-return]


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def _rate(request: Request, key: ApiKey) -> None:
    """A token bucket per key: ``rate_limit`` per second, ``rate_burst`` deep."""
    settings = request.app.state.settings
    buckets: dict[str, list[float]] = request.app.state.rate
    now = time.monotonic()
    bucket = buckets.get(key.id)
    if bucket is None:
        bucket = buckets[key.id] = [float(settings.rate_burst), now]
    tokens = min(float(settings.rate_burst), bucket[0] + (now - bucket[1]) * settings.rate_limit)
    if tokens < 1.0:
        bucket[1] = now
        bucket[0] = tokens
        retry = max(1, round((1.0 - tokens) / settings.rate_limit + 0.5))
        daemon_of(request).metrics.rejected.labels("rate").inc()
        raise ApiError(429, "E_RATE_LIMITED", "too many requests for this API key",
                       headers={"Retry-After": str(retry)})
    bucket[0], bucket[1] = tokens - 1.0, now


def principal(request: Request) -> ApiKey:
    """The key behind the request: a bearer token, else the dashboard session cookie (set by
    the dashboard's login; checked with its CSRF token on unsafe methods)."""
    daemon = daemon_of(request)
    token = _bearer(request)
    key = None
    if token is not None:
        key = daemon.keys.verify(token)
    else:
        resolve = getattr(request.app.state, "cookie_principal", None)
        if resolve is not None:
            key = resolve(request)
    return _known(daemon, key)


def _known(daemon: Daemon, key: ApiKey | None) -> ApiKey:
    if key is None:
        daemon.metrics.rejected.labels("auth").inc()
        raise ApiError(401, "E_UNAUTHENTICATED", "a valid API key is required "
                       "(Authorization: Bearer codor_...)",
                       headers={"WWW-Authenticate": 'Bearer realm="codor"'})
    return key


def require(permission: Permission) -> Callable[[Request], Awaitable[ApiKey]]:
    """A route dependency: the request's key, which must hold ``permission``.

    It runs on the event loop (a sync dependency would cost every request a hop to the
    thread pool): a bearer token is checked there — :meth:`KeyStore.verify` answers from
    memory and reads the state database only when its few-second cache has expired — while
    the dashboard's cookie resolver, which may read its session store, runs in the pool."""
    from codor.server.auth import allowed

    async def dependency(request: Request) -> ApiKey:
        token = _bearer(request)
        if token is not None:
            daemon = daemon_of(request)
            key = _known(daemon, daemon.keys.verify(token))
        else:
            key = await run_in_threadpool(principal, request)
        if not allowed(key.role, permission):
            daemon_of(request).metrics.rejected.labels("forbidden").inc()
            raise ApiError(403, "E_FORBIDDEN", f"the {key.role} role may not {permission}")
        _rate(request, key)
        request.state.principal = key
        return key

    dependency.permission = permission  # type: ignore[attr-defined]  # read by the matrix test
    return dependency
