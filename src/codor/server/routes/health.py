"""``/health`` (the process answers), ``/ready`` (ledger and state database answer; no auth
for either) and ``/metrics`` (Prometheus text; needs the ``metrics`` permission)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse

from codor.server.http import daemon_of, require
from codor.server.metrics import CONTENT_TYPE

router = APIRouter(tags=["health"])


@router.get("/health", summary="The process is up")
def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/ready", summary="The ledger and the state database answer",
            responses={503: {"description": "not ready"}})
def ready(request: Request) -> JSONResponse:
    daemon = request.app.state.daemon
    checks: dict[str, str] = {}
    if daemon is None:
        return JSONResponse({"status": "starting", "checks": checks}, status_code=503)
    try:
        checks["ledger"] = f"ok ({daemon.ledger.store.size()} entries)"
    except Exception as exc:
        checks["ledger"] = f"failed: {type(exc).__name__}"
    try:
        daemon.state.query("SELECT 1")
        checks["state"] = "ok"
    except Exception as exc:
        checks["state"] = f"failed: {type(exc).__name__}"
    ok = all(v.startswith("ok") for v in checks.values())
    return JSONResponse({"status": "ready" if ok else "not ready", "checks": checks},
                        status_code=200 if ok else 503)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response,
            dependencies=[Depends(require("metrics"))])
def metrics(request: Request) -> Response:
    daemon = daemon_of(request)
    sinks = daemon.ledger.sinks
    if sinks is not None:
        for name, drops in _sink_drops(sinks).items():
            daemon.metrics.sink_drops.labels(name).set(drops)
    return Response(daemon.metrics.render(), media_type=CONTENT_TYPE)


def _sink_drops(sinks: object) -> dict[str, int]:
    stats = getattr(sinks, "stats", None)
    if not callable(stats):
        return {}
    out: dict[str, int] = {}
    for name, values in dict(stats()).items():
        dropped = values.get("dropped", 0) if isinstance(values, dict) else \
            getattr(values, "dropped", 0)
        out[str(name)] = int(dropped or 0)
    return out
