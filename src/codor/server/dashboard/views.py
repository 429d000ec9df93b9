"""The dashboard's pages: server-rendered HTML (Jinja2) that works without JavaScript; a small
script adds the live parts (event stream, verification progress, keyboard shortcuts).

Every page needs the ``read`` permission (a browser without a session is sent to
``/login``); deciding an approval needs ``approvals.decide``. Data comes from the daemon's
parts directly: the ledger store, the approvals queue (``daemon.extras["approvals"]``, when
enabled) and the policy engine.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Final
from urllib.parse import quote

import jinja2
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.responses import StreamingResponse as Streaming
from starlette.concurrency import run_in_threadpool

from codor.errors import CodorError
from codor.evidence.leaves import leaf_record, session_needle
from codor.server.auth import allowed
from codor.server.dashboard.session import LOGIN_COOKIE, Sessions
from codor.server.http import ApiError, daemon_of, require
from codor.server.keys import ApiKey  # at runtime: FastAPI reads the annotations
from codor.server.routes.stream import sse
from codor.server.tail import action_target, describe

if TYPE_CHECKING:
    from codor.server.auth import Permission
    from codor.server.daemon import Daemon

__all__ = ["LoginRedirect", "PageError", "router", "templates"]

router = APIRouter(include_in_schema=False)

_HERE: Final = Path(__file__).parent
_SCAN_CHUNK: Final = 50_000
_TIMELINE_MAX: Final = 2000


class LoginRedirect(Exception):
    """A page was asked for without a session: go to ``/login?next=...``."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


class PageError(Exception):
    """A page-level refusal shown as an HTML page with its status."""

    def __init__(self, status: int, title: str, message: str) -> None:
        super().__init__(message)
        self.status, self.title, self.message = status, title, message


# -- rendering --------------------------------------------------------------------------------
def _when(wall_us: Any) -> str:
    if not isinstance(wall_us, int | float) or isinstance(wall_us, bool):
        return ""
    moment = dt.datetime.fromtimestamp(wall_us / 1e6, tz=dt.UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def _when_s(ts: Any) -> str:
    return _when(ts * 1e6) if isinstance(ts, int | float) and ts else ""


def _iso(wall_us: Any) -> str:
    if not isinstance(wall_us, int | float) or isinstance(wall_us, bool):
        return ""
    return dt.datetime.fromtimestamp(wall_us / 1e6, tz=dt.UTC).isoformat()


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(_HERE / "templates")),
                             autoescape=True, undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True)
    env.filters["when"] = _when
    env.filters["when_s"] = _when_s
    env.filters["iso"] = _iso
    env.filters["target"] = lambda action: action_target(action) if isinstance(action, dict) else ""
    env.filters["urlpart"] = lambda value: quote(str(value), safe="")
    env.filters["pretty"] = lambda value: json.dumps(value, indent=2, ensure_ascii=False,
                                                     sort_keys=True)
    return env


templates: Final = _environment()


def _sessions(request: Request) -> Sessions:
    return request.app.state.dashboard_sessions  # type: ignore[no-any-return]


def render(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    key: ApiKey | None = context.pop("key", None)
    context.setdefault("title", "Sign in" if name == "login.html" else "CODOR")
    session = _sessions(request).session_of(request)
    csrf = _sessions(request).csrf(session) if session is not None else ""
    html = templates.get_template(name).render(
        request=request, key=key, csrf=csrf, path=request.url.path,
        can_decide=key is not None and allowed(key.role, "approvals.decide"),
        static=f"/static/dashboard/{{}}?v={request.app.state.dashboard_static_v}",
        **context)
    return HTMLResponse(html, status_code=status, headers={
        "Cache-Control": "no-store", "X-Frame-Options": "DENY",
        "Referrer-Policy": "same-origin", "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
                                   "style-src 'self'; script-src 'self'; "
                                   "frame-ancestors 'none'; form-action 'self'"})


def _page(permission: Permission = "read") -> Any:
    """A page dependency: the request's key (bearer or session cookie) with
    ``permission``; without one, a redirect to the login page."""
    check = require(permission)

    async def dependency(request: Request) -> ApiKey:
        try:
            return await check(request)
        except ApiError as exc:
            if exc.status == 401:
                target = request.url.path + (f"?{request.url.query}" if request.url.query
                                             else "")
                raise LoginRedirect(target) from None
            raise PageError(exc.status, "Not allowed" if exc.status == 403 else "Refused",
                            exc.message) from None

    return dependency


PageKey = Annotated[ApiKey, Depends(_page())]


async def _form_post(request: Request, permission: Permission) -> tuple[Any, ApiKey]:
    """A dashboard form post: its fields, and the key behind it with ``permission``. A cookie
    session counts only with the form's CSRF token (``csrf``); a bearer token needs none."""
    form = await request.form()
    sessions = _sessions(request)
    session = sessions.session_of(request)
    token = form.get("csrf")
    if session is not None and isinstance(token, str) and sessions.csrf_ok(session, token):
        request.state.csrf_ok = True
    return form, await _page(permission)(request)


def _safe_next(value: str | None) -> str:
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


# -- data -------------------------------------------------------------------------------------
def _scan(daemon: Daemon, needle: bytes, limit: int) -> list[tuple[int, dict[str, Any]]]:
    """The newest ``limit`` entries whose body contains ``needle``, newest first."""
    store = daemon.ledger.store
    store.flush()
    end = store.size()
    out: list[tuple[int, dict[str, Any]]] = []
    while end > 0 and len(out) < limit:
        start = max(0, end - _SCAN_CHUNK)
        found = store.leaves_containing(start, end, needle)
        for index, leaf, _ in reversed(found):
            record = leaf_record(leaf)
            if record is not None:
                out.append((index, record))
        end = start
    return out[:limit]


def _recent(daemon: Daemon, count: int) -> tuple[int, list[dict[str, Any]]]:
    store = daemon.ledger.store
    store.flush()
    size = store.size()
    rows = store.entries(max(0, size - count), size)
    return size, [describe(r.index, leaf_record(r.leaf)) for r in reversed(rows)]


def _approvals(daemon: Daemon) -> Any:
    return daemon.extras.get("approvals")


def _pending(daemon: Daemon) -> list[dict[str, Any]] | None:
    queue = _approvals(daemon)
    if queue is None:
        return None
    return [a.to_json() for a in queue.list(status="pending", limit=100)]


def _latest_checkpoint(daemon: Daemon) -> dict[str, Any] | None:
    latest = daemon.ledger.store.latest_checkpoint()
    if latest is None:
        return None
    size, note = latest
    lines = note.splitlines()
    return {"size": size, "origin": lines[0] if lines else "",
            "root": lines[2] if len(lines) > 2 else "", "note": note}


def _summary(daemon: Daemon) -> dict[str, Any]:
    store = daemon.ledger.store
    store.flush()
    pending = _pending(daemon)
    checkpoint = _latest_checkpoint(daemon)
    return {"size": store.size(), "pending": None if pending is None else len(pending),
            "checkpoint": None if checkpoint is None else checkpoint["size"],
            "policy": daemon.engine.policy.sha256}


# -- login ------------------------------------------------------------------------------------
@router.get("/login")
def login_page(request: Request, next: str | None = None) -> Response:
    sessions = _sessions(request)
    nonce, new = sessions.login_nonce(request)
    response: Response = render(request, "login.html", next=_safe_next(next),
                                login_csrf=sessions.login_token(nonce), error=None)
    if new:
        sessions.set_login_cookie(response, nonce)
    return response


@router.post("/login")
def login(request: Request, token: Annotated[str, Form()] = "",
          csrf: Annotated[str, Form()] = "", next: Annotated[str, Form()] = "/") -> Response:
    sessions = _sessions(request)
    daemon = daemon_of(request)
    nonce, new = sessions.login_nonce(request)
    response: Response
    if not sessions.login_ok(request, csrf):
        daemon.metrics.rejected.labels("csrf").inc()
        response = render(request, "login.html", status=403, next=_safe_next(next),
                          login_csrf=sessions.login_token(nonce),
                          error="The login form expired. Please try again.")
        if new:
            sessions.set_login_cookie(response, nonce)
        return response
    key = daemon.keys.verify(token.strip())
    if key is None:
        daemon.metrics.rejected.labels("auth").inc()
        return render(request, "login.html", status=401, next=_safe_next(next),
                      login_csrf=sessions.login_token(nonce),
                      error="That API key is not valid (or was revoked).")
    if not allowed(key.role, "read"):
        return render(request, "login.html", status=403, next=_safe_next(next),
                      login_csrf=sessions.login_token(nonce),
                      error=f"Keys of the {key.role} role cannot use the dashboard; use an "
                            "admin, operator or auditor key.")
    value, _ = sessions.issue(key.id)
    response = RedirectResponse(_safe_next(next), status_code=303)
    sessions.set_cookie(response, value)
    response.delete_cookie(LOGIN_COOKIE, path="/login")
    return response


@router.post("/logout")
def logout(request: Request, csrf: Annotated[str, Form()] = "") -> Response:
    sessions = _sessions(request)
    session = sessions.session_of(request)
    if session is not None:
        if not sessions.csrf_ok(session, csrf):
            raise PageError(403, "Not allowed", "the logout form is missing its CSRF token")
        sessions.end(session)
    response = RedirectResponse("/login", status_code=303)
    sessions.clear(response)
    return response


# -- pages ------------------------------------------------------------------------------------
@router.get("/", response_class=HTMLResponse)
def overview(request: Request, key: PageKey) -> Response:
    daemon = daemon_of(request)
    size, recent = _recent(daemon, 25)
    return render(request, "overview.html", key=key, title="Overview", size=size,
                  recent=recent, summary=_summary(daemon))


@router.get("/dashboard/summary")
def summary(request: Request, key: PageKey) -> dict[str, Any]:
    return _summary(daemon_of(request))


@router.get("/sessions", response_class=HTMLResponse)
def sessions_page(request: Request, key: PageKey) -> Response:
    daemon = daemon_of(request)
    found = _scan(daemon, b'"type":"session.start"', 200)
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    for i, r in found:  # newest first; a session started again elsewhere is listed once
        sid = r.get("session")
        if r.get("type") != "session.start" or not isinstance(sid, str) or sid in seen:
            continue
        seen.add(sid)
        rows.append({"index": i, "session": sid, "agent": r.get("agent") or {},
                     "wall_us": r.get("wall_us"), "policy": r.get("policy", "")})
    return render(request, "sessions.html", key=key, title="Sessions", sessions=rows)


@router.get("/sessions/{sid}", response_class=HTMLResponse)
def session_page(request: Request, sid: str, key: PageKey) -> Response:
    daemon = daemon_of(request)
    found = [(i, r) for i, r in _scan(daemon, session_needle(sid), _TIMELINE_MAX)
             if r.get("session") == sid]
    if not found:
        raise PageError(404, "No such session", f"the ledger has no entries of session {sid!r}")
    found.reverse()  # oldest first: a timeline
    start = next((r for _, r in found if r.get("type") == "session.start"), None)
    items = [{**describe(i, r), "record": r} for i, r in found]
    return render(request, "session.html", key=key, title=f"Session {sid}", sid=sid,
                  start=start, items=items, truncated=len(found) >= _TIMELINE_MAX)


@router.get("/approvals", response_class=HTMLResponse)
def approvals_page(request: Request, key: PageKey, fragment: str | None = None,
                   decided: str | None = None, outcome: str | None = None,
                   error: str | None = None) -> Response:
    daemon = daemon_of(request)
    queue = _approvals(daemon)
    pending: list[dict[str, Any]] = []
    done: list[dict[str, Any]] = []
    if queue is not None:
        pending = [a.to_json() for a in queue.list(status="pending", limit=100)]
        done = [a.to_json() for a in queue.list(limit=100)]
        done = [a for a in done if a.get("status") != "pending"][:50]
    context: dict[str, Any] = {"key": key, "title": "Approvals", "enabled": queue is not None,
               "pending": pending, "done": done, "decided": decided, "outcome": outcome,
               "error": error}
    if fragment == "pending":
        return render(request, "_pending.html", **context)
    return render(request, "approvals.html", **context)


@router.post("/approvals/{approval_id}")
async def decide(request: Request, approval_id: str) -> Response:
    form, key = await _form_post(request, "approvals.decide")
    choice = form.get("decision")
    if choice not in ("approve", "deny"):
        raise PageError(400, "Bad request", "decision must be approve or deny")
    comment = form.get("comment")
    comment_text = comment.strip()[:1000] if isinstance(comment, str) and comment.strip() \
        else None
    queue = _approvals(daemon_of(request))
    if queue is None:
        raise PageError(503, "Approvals are not enabled", "this daemon has no approvals queue")
    wants_json = "application/json" in request.headers.get("accept", "")
    try:
        approval = await run_in_threadpool(
            queue.decide, approval_id, approved=choice == "approve",
            identity=f"{key.name} ({key.role} key {key.id})", comment=comment_text,
            channel="dashboard")
    except CodorError as exc:
        if wants_json:
            raise
        return RedirectResponse(f"/approvals?error={quote(exc.one_line())}", status_code=303)
    if wants_json:
        return JSONResponse(approval.to_json())
    return RedirectResponse(f"/approvals?decided={quote(approval_id)}&outcome="
                            f"{'approved' if choice == 'approve' else 'denied'}",
                            status_code=303)


@router.get("/claims", response_class=HTMLResponse)
def claims_page(request: Request, key: PageKey) -> Response:
    daemon = daemon_of(request)
    found = _scan(daemon, b'"event":"claims.verification"', 50)
    reports = [{"index": i, "session": r.get("session"), "wall_us": r.get("wall_us"),
                "data": r.get("data") or {}} for i, r in found
               if r.get("type") == "event" and r.get("event") == "claims.verification"]
    return render(request, "claims.html", key=key, title="Claims", reports=reports)


@router.get("/policy", response_class=HTMLResponse)
def policy_page(request: Request, key: PageKey) -> Response:
    import yaml

    daemon = daemon_of(request)
    policy = daemon.engine.policy
    cache: dict[str, str] = request.app.state.dashboard_policy_yaml
    text = cache.get(policy.sha256)
    if text is None:
        text = yaml.safe_dump(policy.document.to_json(), sort_keys=False, allow_unicode=True)
        cache.clear()
        cache[policy.sha256] = text
    return render(request, "policy.html", key=key, title="Policy", ref=daemon.policy_ref,
                  policy=policy, yaml_text=text)


# -- ledger and verification ------------------------------------------------------------------
@dataclass
class VerifyJob:
    """One ``Ledger.verify`` run in a thread, with its progress."""

    id: str
    started: float
    done: int = 0
    total: int = 0
    indeterminate: bool = False
    finished: float | None = None
    report: dict[str, Any] | None = None
    error: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def state(self) -> dict[str, Any]:
        with self._lock:
            return {"id": self.id, "done": self.done, "total": self.total,
                    "indeterminate": self.indeterminate, "finished": self.finished is not None,
                    "started": self.started, "report": self.report, "error": self.error,
                    "seconds": round((self.finished or time.time()) - self.started, 3)}

    def progress(self, done: int, total: int) -> None:
        with self._lock:
            self.done, self.total = done, total


def _run_verify(daemon: Daemon, job: VerifyJob) -> None:
    import inspect

    verify = daemon.ledger.verify
    try:
        if "progress" in inspect.signature(verify).parameters:
            report = verify(progress=job.progress)
        else:
            job.indeterminate = True
            report = verify()
        with job._lock:
            job.report = report.to_json()
            job.done = job.total = report.size if report.ok else job.done
    except Exception as exc:
        with job._lock:
            job.error = f"{type(exc).__name__}: {exc}"
    finally:
        with job._lock:
            job.finished = time.time()


def _jobs(request: Request) -> dict[str, VerifyJob]:
    return request.app.state.dashboard_verify  # type: ignore[no-any-return]


def _last_job(request: Request) -> VerifyJob | None:
    jobs = _jobs(request)
    return max(jobs.values(), key=lambda j: j.started) if jobs else None


@router.get("/ledger", response_class=HTMLResponse)
def ledger_page(request: Request, key: PageKey, job: str | None = None) -> Response:
    daemon = daemon_of(request)
    store = daemon.ledger.store
    store.flush()
    current = _jobs(request).get(job) if job else _last_job(request)
    return render(request, "ledger.html", key=key, title="Ledger", size=store.size(),
                  checkpoints=len(store.checkpoint_sizes()),
                  checkpoint=_latest_checkpoint(daemon), origin=daemon.ledger.origin,
                  job=None if current is None else current.state(),
                  store=type(store).__name__)


@router.post("/ledger/verify")
async def verify_now(request: Request) -> Response:
    await _form_post(request, "read")
    daemon = daemon_of(request)
    jobs = _jobs(request)
    with request.app.state.dashboard_lock:
        running = next((j for j in jobs.values() if j.finished is None), None)
        if running is None:
            running = VerifyJob(uuid.uuid4().hex[:12], time.time())
            for old in sorted(jobs.values(), key=lambda j: j.started)[:-9]:
                jobs.pop(old.id, None)
            jobs[running.id] = running
            threading.Thread(target=_run_verify, args=(daemon, running),
                             name="codor-dashboard-verify", daemon=True).start()
    if "application/json" in request.headers.get("accept", ""):
        return JSONResponse({**running.state(),
                             "events": f"/ledger/verify/{running.id}/events"})
    return RedirectResponse(f"/ledger?job={running.id}", status_code=303)


@router.get("/ledger/verify/{job_id}")
def verify_state(request: Request, job_id: str, key: PageKey) -> dict[str, Any]:
    job = _jobs(request).get(job_id)
    if job is None:
        raise ApiError(404, "E_NOT_FOUND", f"no verification {job_id!r}")
    return job.state()


@router.get("/ledger/verify/{job_id}/events")
async def verify_events(request: Request, job_id: str, key: PageKey) -> Streaming:
    import asyncio

    job = _jobs(request).get(job_id)
    if job is None:
        raise ApiError(404, "E_NOT_FOUND", f"no verification {job_id!r}")

    async def events() -> AsyncIterator[bytes]:
        last: tuple[int, int] | None = None
        while True:
            state = job.state()
            if state["finished"]:
                yield sse("done", state)
                return
            if (state["done"], state["total"]) != last:
                last = (state["done"], state["total"])
                yield sse("progress", state)
            await asyncio.sleep(0.1)
            if await request.is_disconnected():
                return

    return Streaming(events(), media_type="text/event-stream",
                     headers={"Cache-Control": "no-cache"})

