"""The dashboard over HTTP against the real app: login and logout, the session cookie's flags,
CSRF on every form, pages for people with a session and a redirect for those without,
approvals answered from the page, and "verify now"."""

from __future__ import annotations

import re
import threading
from typing import Any

import pytest

from codor.server.dashboard.session import COOKIE, LOGIN_COOKIE, Sessions
from tests.server.conftest import Server, ServerFactory

PAGES = ("/", "/sessions", "/approvals", "/claims", "/ledger", "/policy")


def _hidden(html: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert match is not None, f"no {name} field"
    return match.group(1)


def login(server: Server, role: str = "admin") -> str:
    """Log the test client in with the ``role`` key; returns the session's CSRF token."""
    page = server.client.get("/login")
    assert page.status_code == 200
    r = server.client.post("/login", data={"token": server.tokens[role],
                                           "csrf": _hidden(page.text, "csrf"), "next": "/"},
                           follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/"
    home = server.client.get("/")
    assert home.status_code == 200
    match = re.search(r'<meta name="csrf-token" content="([^"]+)"', home.text)
    assert match is not None
    return match.group(1)


def set_cookie_headers(response: Any, name: str) -> str:
    found = [v for v in response.headers.get_list("set-cookie") if v.startswith(f"{name}=")]
    assert found, f"no Set-Cookie for {name}"
    return found[0]


def test_pages_redirect_to_login_without_a_session(server: Server) -> None:
    for path in PAGES:
        r = server.client.get(path, follow_redirects=False)
        assert r.status_code == 303, path
        assert r.headers["location"].startswith("/login?next="), path
    r = server.client.get("/sessions", follow_redirects=True)
    assert r.status_code == 200 and 'name="token"' in r.text
    assert 'name="next" value="/sessions"' in r.text


def test_login_sets_a_hardened_cookie_and_logout_ends_it(server: Server) -> None:
    page = server.client.get("/login")
    assert "HttpOnly" in set_cookie_headers(page, LOGIN_COOKIE)
    r = server.client.post("/login", data={"token": server.tokens["auditor"],
                                           "csrf": _hidden(page.text, "csrf"),
                                           "next": "/ledger"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/ledger"
    cookie = set_cookie_headers(r, COOKIE)
    flags = [part.strip().lower() for part in cookie.split(";")]
    assert "httponly" in flags and "samesite=strict" in flags and "path=/" in flags
    assert "secure" not in flags
    assert server.tokens["auditor"] not in cookie  # the cookie never holds the key's secret
    for path in PAGES:
        assert server.client.get(path).status_code == 200, path
    home = server.client.get("/").text
    csrf = re.search(r'<meta name="csrf-token" content="([^"]+)"', home)
    assert csrf is not None
    saved = server.client.cookies.get(COOKIE)
    r = server.client.post("/logout", data={"csrf": csrf.group(1)}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"
    assert server.client.get("/", follow_redirects=False).status_code == 303
    # the old cookie value no longer works either (this daemon remembers the logout)
    assert saved is not None
    server.client.cookies.set(COOKIE, saved)
    assert server.client.get("/", follow_redirects=False).status_code == 303


def test_secure_cookies_behind_tls(make_server: ServerFactory) -> None:
    server = make_server(secure_cookies=True)
    page = server.client.get("/login")
    login_cookie = set_cookie_headers(page, LOGIN_COOKIE)
    assert "secure" in login_cookie.lower()
    # a Secure cookie is not sent back over plain HTTP by the client: send it by hand
    r = server.client.post("/login", data={"token": server.tokens["admin"],
                                           "csrf": _hidden(page.text, "csrf")},
                           headers={"Cookie": login_cookie.split(";")[0]},
                           follow_redirects=False)
    flags = [p.strip().lower() for p in set_cookie_headers(r, COOKIE).split(";")]
    assert "secure" in flags and "samesite=strict" in flags and "httponly" in flags


def test_a_bad_key_or_a_missing_login_token_is_refused(server: Server) -> None:
    page = server.client.get("/login")
    r = server.client.post("/login", data={"token": "codor_nope", "csrf": _hidden(page.text,
                                                                                   "csrf")})
    assert r.status_code == 401 and "not valid" in r.text
    r = server.client.post("/login", data={"token": server.tokens["admin"], "csrf": "x"})
    assert r.status_code == 403 and COOKIE not in r.headers.get("set-cookie", "")
    server.client.cookies.clear()
    r = server.client.post("/login", data={"token": server.tokens["admin"],
                                           "csrf": _hidden(page.text, "csrf")})
    assert r.status_code == 403  # the form's token is bound to its login cookie


def test_csrf_is_required_for_cookie_requests_but_not_for_bearer_ones(server: Server) -> None:
    csrf = login(server)
    # a form without its token is refused (logout, verify, approvals)
    r = server.client.post("/ledger/verify", data={}, follow_redirects=False)
    assert r.status_code == 403
    r = server.client.post("/ledger/verify", data={"csrf": "forged"}, follow_redirects=False)
    assert r.status_code == 403
    r = server.client.post("/logout", data={}, follow_redirects=False)
    assert r.status_code == 403
    assert server.client.get("/").status_code == 200  # still logged in
    # an API call with the cookie needs the header; a bearer request needs nothing
    action = {"kind": "file.read", "path": "README.md", "session": "s-csrf"}
    r = server.client.post("/v1/check", json=action)
    assert r.status_code == 403 and r.json()["error"]["code"] == "E_CSRF"
    r = server.client.post("/v1/check", json=action, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 200 and r.json()["decision"] == "allow"
    server.client.cookies.clear()
    r = server.post("/v1/check", "agent", json=action)
    assert r.status_code == 200
    # a token of another session does not work
    other = Sessions(server.settings)
    value, session = other.issue(next(k.id for k in server.daemon.keys.list()
                                       if k.role == "admin"))
    server.client.cookies.set(COOKIE, value)
    r = server.client.post("/v1/check", json=action, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 403
    r = server.client.post("/v1/check", json=action,
                           headers={"X-CSRF-Token": other.csrf(session)})
    assert r.status_code == 200


def test_a_revoked_key_ends_its_sessions(server: Server) -> None:
    login(server, "operator")
    assert server.client.get("/approvals").status_code == 200
    key_id = server.tokens["operator"].split("_")[1]
    server.daemon.keys.revoke(key_id)
    assert server.client.get("/approvals", follow_redirects=False).status_code == 303


def test_a_tampered_or_expired_cookie_is_no_session(server: Server) -> None:
    sessions = Sessions(server.settings)
    key_id = server.tokens["admin"].split("_")[1]
    value, _ = sessions.issue(key_id)
    assert sessions.read(value) is not None
    body, _, mac = value.rpartition(".")
    assert sessions.read(f"{body}x.{mac}") is None
    assert sessions.read(value[:-1] + ("0" if value[-1] != "0" else "1")) is None
    old, _ = sessions.issue(key_id, now=0.0)
    assert sessions.read(old) is None
    server.client.cookies.set(COOKIE, old)
    assert server.client.get("/", follow_redirects=False).status_code == 303


def _ask(server: Server) -> tuple[threading.Thread, dict[str, Any]]:
    """POST an action the policy asks about from a thread (it waits for a person)."""
    out: dict[str, Any] = {}
    action = {"kind": "command.exec", "command": "frobnicate --all", "session": "s-ask",
              "agent": {"id": "claude-code"}}

    def call() -> None:
        r = server.client.post("/v1/check", json=action, headers=server.headers("agent"))
        out["status"], out["body"] = r.status_code, r.json()

    thread = threading.Thread(target=call)
    thread.start()
    return thread, out


def _wait_pending(server: Server) -> str:
    queue = server.daemon.extras["approvals"]
    for _ in range(2000):
        pending = queue.list(status="pending")
        if pending:
            return str(pending[0].id)
        threading.Event().wait(0.005)
    raise AssertionError("no approval appeared")


@pytest.fixture
def asking(make_server: ServerFactory) -> Server:
    return make_server(policy="codor:coding-assistant", approval_wait_s=20.0)


def test_roles_limit_what_pages_offer(asking: Server) -> None:
    server = asking
    page = server.client.get("/login")
    r = server.client.post("/login", data={"token": server.tokens["agent"],
                                           "csrf": _hidden(page.text, "csrf")})
    assert r.status_code == 403 and "cannot use the dashboard" in r.text
    assert COOKIE not in r.headers.get("set-cookie", "")
    r = server.client.get("/", headers=server.headers("agent"))
    assert r.status_code == 403 and "may not read" in r.text  # an HTML page, not JSON
    thread, out = _ask(server)
    approval = _wait_pending(server)
    try:
        login(server, "auditor")
        page_text = server.client.get("/approvals").text
        assert "frobnicate --all" in page_text and "Approve" not in page_text
        assert "may not answer" in page_text
        server.client.cookies.clear()
        login(server, "operator")
        assert "Approve" in server.client.get("/approvals").text
    finally:
        server.daemon.extras["approvals"].decide(approval, approved=False, identity="test",
                                                 comment=None)
        thread.join(20)
    assert out["body"]["decision"] == "deny"


def test_approving_from_the_page_lets_the_waiting_call_return_allow(asking: Server) -> None:
    server = asking
    csrf = login(server, "operator")
    thread, out = _ask(server)
    approval = _wait_pending(server)
    page = server.client.get("/approvals").text
    assert f'id="approval-{approval}"' in page and "frobnicate --all" in page
    fragment = server.client.get("/approvals?fragment=pending").text
    assert "frobnicate --all" in fragment and "<html" not in fragment
    # without the CSRF token: refused, still pending
    r = server.client.post(f"/approvals/{approval}", data={"decision": "approve"},
                           follow_redirects=False)
    assert r.status_code == 403
    assert server.daemon.extras["approvals"].get(approval).status == "pending"
    r = server.client.post(f"/approvals/{approval}", data={
        "decision": "approve", "comment": "looks fine", "csrf": csrf}, follow_redirects=False)
    assert r.status_code == 303 and "outcome=approved" in r.headers["location"]
    thread.join(20)
    assert out["status"] == 200 and out["body"]["decision"] == "allow"
    page = server.client.get(r.headers["location"]).text
    assert "approved" in page and "looks fine" in page
    # answering again is a conflict, shown on the page
    r = server.client.post(f"/approvals/{approval}", data={"decision": "deny", "csrf": csrf})
    assert r.status_code == 200 and "already" in r.text


def test_denying_with_a_bearer_token_and_json(asking: Server) -> None:
    server = asking
    thread, out = _ask(server)
    approval = _wait_pending(server)
    r = server.client.post(f"/approvals/{approval}", data={"decision": "deny"},
                           headers={**server.headers("operator"), "Accept": "application/json"})
    assert r.status_code == 200 and r.json()["status"] == "denied"
    thread.join(20)
    assert out["body"]["decision"] == "deny"
    r = server.client.post(f"/approvals/{approval}", data={"decision": "deny"},
                           headers=server.headers("auditor"))
    assert r.status_code == 403


def test_pages_show_the_ledger_sessions_claims_and_policy(server: Server) -> None:
    from codor.claims.report import Report  # noqa: F401  (the report type exists)

    for n in range(3):
        r = server.post("/v1/check", "agent", json={
            "kind": "command.exec", "command": f"echo <b>{n}</b>", "session": "s-<x>",
            "agent": {"id": "claude-code"}})
        assert r.status_code == 200
    server.daemon.kernel.record_event("s-<x>", "claims.verification", {
        "passed": False, "mode": "standard", "verdicts": {"contradicted": 1},
        "claims": [{"kind": "tests", "verdict": "contradicted", "text": "all tests pass",
                    "evidence": ["#3"]}],
        "findings": [], "failures": ["claim 1 contradicted: 'all tests pass'"]},
        observer="codor-engine")
    server.daemon.ledger.checkpoint()
    login(server, "auditor")
    home = server.client.get("/").text
    assert "echo &lt;b&gt;2&lt;/b&gt;" in home and "<b>2</b>" not in home  # escaped
    sessions = server.client.get("/sessions").text
    assert "/sessions/s-%3Cx%3E" in sessions
    timeline = server.client.get("/sessions/s-%3Cx%3E")
    assert timeline.status_code == 200 and "session start" in timeline.text
    assert timeline.text.count('class="event') >= 4
    assert server.client.get("/sessions/nope").status_code == 404
    claims = server.client.get("/claims").text
    assert "all tests pass" in claims and "contradicted" in claims and "failed" in claims
    ledger = server.client.get("/ledger").text
    assert "Verify now" in ledger and "size " in ledger
    policy = server.client.get("/policy").text
    assert server.daemon.engine.policy.sha256 in policy and "codor:default" in policy
    summary = server.client.get("/dashboard/summary").json()
    assert summary["size"] == server.daemon.ledger.store.size() and summary["checkpoint"]
    r = server.client.get("/")
    assert "default-src 'self'" in r.headers["content-security-policy"]
    assert r.headers["x-frame-options"] == "DENY"


def test_verify_now_reports_progress_and_the_result(server: Server) -> None:
    for n in range(5):
        server.post("/v1/check", "agent", json={"kind": "file.read", "path": f"f{n}",
                                                "session": "s-v"})
    csrf = login(server)
    r = server.client.post("/ledger/verify", data={"csrf": csrf},
                           headers={"Accept": "application/json"})
    assert r.status_code == 200
    job = r.json()
    assert job["events"] == f"/ledger/verify/{job['id']}/events"
    with server.client.stream("GET", job["events"]) as stream:
        text = "".join(stream.iter_text())
    assert "event: done" in text and '"ok":true' in text
    state = server.client.get(f"/ledger/verify/{job['id']}").json()
    assert state["finished"] and state["report"]["ok"]
    assert state["report"]["size"] == server.daemon.ledger.store.size()
    page = server.client.get("/ledger").text
    assert "verified" in page
    # without JavaScript: the form posts and the page shows the job
    r = server.client.post("/ledger/verify", data={"csrf": csrf}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/ledger?job=")


def test_static_files_and_keyboard_basics(server: Server) -> None:
    login(server)
    home = server.client.get("/").text
    assert 'class="skip" href="#main"' in home and 'id="main"' in home
    css = re.search(r'href="(/static/dashboard/app\.css\?v=\w+)"', home)
    js = re.search(r'src="(/static/dashboard/app\.js\?v=\w+)"', home)
    assert css and js
    assert "prefers-color-scheme: dark" in server.client.get(css.group(1)).text
    assert "EventSource" in server.client.get(js.group(1)).text
    assert 'aria-current="page"' in home
