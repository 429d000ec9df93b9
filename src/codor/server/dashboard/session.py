"""Dashboard sessions: an HMAC-signed cookie naming an API key, and CSRF tokens bound to it.

A person logs in by pasting an API key. The cookie (``codor_session``: HttpOnly,
SameSite=Strict, Secure behind TLS, path ``/``) holds the key's id, an expiry (8 h) and a
random session id, signed with the daemon's cookie secret; it never holds the key's secret.
On every request the key is looked up again, so a revoked key ends its sessions at once; a
logout ends the session in this daemon (its id is remembered until it would have expired).

Unsafe requests (POST, PUT, PATCH, DELETE) made with the cookie need the session's CSRF
token — ``HMAC(secret, "csrf:" + session id)`` — in the ``X-CSRF-Token`` header or the
``csrf`` form field (checked by the dashboard's own form handlers). Requests with a bearer
token need none: a browser never adds one by itself.

The login form is protected too (login CSRF): ``GET /login`` sets a short-lived
``codor_login`` cookie with a random nonce and the form carries its HMAC.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from fastapi import Request, Response

from codor.server.http import ApiError

if TYPE_CHECKING:
    from codor.server.keys import ApiKey
    from codor.server.settings import ServerSettings

__all__ = ["COOKIE", "LOGIN_COOKIE", "SESSION_S", "CookieSession", "Sessions"]

COOKIE: Final = "codor_session"
LOGIN_COOKIE: Final = "codor_login"
SESSION_S: Final = 8 * 3600
LOGIN_S: Final = 3600
_UNSAFE: Final = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True, slots=True)
class CookieSession:
    """A verified session cookie's contents."""

    key_id: str
    expires: float
    sid: str


class Sessions:
    """Issues and checks session cookies and CSRF tokens with one secret."""

    def __init__(self, settings: ServerSettings) -> None:
        self._secret = settings.cookie_secret().encode()
        self.secure = settings.secure_cookies
        self._ended: dict[str, float] = {}  # logged-out session ids → their expiry
        self._lock = threading.Lock()

    # -- signing ----------------------------------------------------------------------------
    def _mac(self, purpose: str, data: str) -> str:
        return hmac.new(self._secret, f"{purpose}:{data}".encode(), hashlib.sha256).hexdigest()

    def issue(self, key_id: str, now: float | None = None) -> tuple[str, CookieSession]:
        """A new session for ``key_id``: the cookie value and what it holds."""
        now = time.time() if now is None else now
        session = CookieSession(key_id, now + SESSION_S, secrets.token_urlsafe(16))
        body = _b64(json.dumps({"k": session.key_id, "e": int(session.expires),
                                "s": session.sid}, separators=(",", ":")).encode())
        return f"{body}.{self._mac('session', body)}", session

    def read(self, value: str | None, now: float | None = None) -> CookieSession | None:
        """The session of a cookie value when its signature holds and it has not expired or
        been logged out; else ``None``."""
        if not value or len(value) > 1024 or "." not in value:
            return None
        body, _, mac = value.rpartition(".")
        if not hmac.compare_digest(mac, self._mac("session", body)):
            return None
        try:
            data = json.loads(_unb64(body))
            session = CookieSession(str(data["k"]), float(data["e"]), str(data["s"]))
        except (ValueError, KeyError, TypeError):
            return None
        now = time.time() if now is None else now
        if session.expires <= now:
            return None
        with self._lock:
            if session.sid in self._ended:
                return None
        return session

    def end(self, session: CookieSession) -> None:
        """Log ``session`` out (this daemon forgets it before it expires)."""
        now = time.time()
        with self._lock:
            self._ended = {s: e for s, e in self._ended.items() if e > now}
            self._ended[session.sid] = session.expires

    def csrf(self, session: CookieSession) -> str:
        return self._mac("csrf", session.sid)

    def csrf_ok(self, session: CookieSession, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(str(token), self.csrf(session))

    # -- login form -------------------------------------------------------------------------
    def login_nonce(self, request: Request) -> tuple[str, bool]:
        """The login form's nonce (from its cookie, else a new one) and whether it is new."""
        nonce = request.cookies.get(LOGIN_COOKIE)
        if nonce and 16 <= len(nonce) <= 64:
            return nonce, False
        return secrets.token_urlsafe(16), True

    def login_token(self, nonce: str) -> str:
        return self._mac("login", nonce)

    def login_ok(self, request: Request, token: str | None) -> bool:
        nonce = request.cookies.get(LOGIN_COOKIE)
        return bool(nonce) and bool(token) and hmac.compare_digest(
            str(token), self.login_token(str(nonce)))

    # -- cookies ----------------------------------------------------------------------------
    def set_cookie(self, response: Response, value: str) -> None:
        response.set_cookie(COOKIE, value, max_age=SESSION_S, path="/", httponly=True,
                            samesite="strict", secure=self.secure)

    def set_login_cookie(self, response: Response, nonce: str) -> None:
        response.set_cookie(LOGIN_COOKIE, nonce, max_age=LOGIN_S, path="/login",
                            httponly=True, samesite="strict", secure=self.secure)

    def clear(self, response: Response) -> None:
        response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict",
                               secure=self.secure)

    # -- the request's principal ------------------------------------------------------------
    def session_of(self, request: Request) -> CookieSession | None:
        return self.read(request.cookies.get(COOKIE))

    def principal(self, request: Request) -> ApiKey | None:
        """The key of the request's session cookie (``app.state.cookie_principal``): ``None``
        without a valid session; an unsafe method without the session's CSRF token is a
        403 ``E_CSRF``."""
        session = self.session_of(request)
        if session is None:
            return None
        key = key_by_id(request, session.key_id)
        if key is None:
            return None
        if request.method in _UNSAFE and not getattr(request.state, "csrf_ok", False) and \
                not self.csrf_ok(session, request.headers.get("x-csrf-token")):
            raise ApiError(403, "E_CSRF", "this form is missing its CSRF token or it does "
                           "not belong to your session; reload the page and try again")
        return key


def key_by_id(request: Request, key_id: str) -> ApiKey | None:
    """The key ``key_id`` when it exists and is not revoked (checked on every request)."""
    daemon = request.app.state.daemon
    return None if daemon is None else daemon.keys.active(key_id)
