"""The dashboard in headless Chromium against a real ``codor serve``: log in with the first
admin key, watch an agent's action appear live, approve a waiting action from the keyboard
and see the waiting call return allow, read a claims report, verify the ledger. The
screenshots in the README (docs/screenshots/*.png) are taken here."""

from __future__ import annotations

import re
import threading
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import LiveDaemon

pytestmark = pytest.mark.slow


def _log_in(page: Any, daemon: LiveDaemon, path: str = "/") -> None:
    page.goto(daemon.url + path)
    page.wait_for_url(re.compile(r"/login\?next="))
    token = page.get_by_label("API key")
    expect(token).to_be_focused()  # autofocus: type straight away
    page.keyboard.type(daemon.admin_token)
    page.keyboard.press("Enter")
    page.wait_for_url(daemon.url + path)


def _check(daemon: LiveDaemon, action: dict[str, Any], timeout: float = 10.0) -> Any:
    r = httpx.post(f"{daemon.url}/v1/check", json=action, timeout=timeout,
                   headers={"Authorization": f"Bearer {daemon.agent_token}"})
    r.raise_for_status()
    return r.json()


def _verify_claims(daemon: LiveDaemon, session: str, report: str) -> None:
    """What ``codor claims verify`` does, in this process: verify the report against the
    session's evidence and record the result in the daemon's ledger (another process
    appending to the same SQLite log, as hooks do)."""
    from codor.claims.verification import record, verify
    from codor.integrations.context import open_kernel

    kernel = open_kernel(daemon.workspace, policy=str(daemon.workspace /
                                                       "dashboard-policy.yaml"))
    try:
        assert kernel.ledger is not None
        result = verify(kernel.ledger, session, report,
                        workspace=kernel.engine.policy.workspace,
                        settings=kernel.engine.policy.claims)
        record(kernel, result)
    finally:
        kernel.close()


def test_log_in_and_watch_an_event_appear_live(live_daemon: LiveDaemon, page: Any,
                                               screenshots: Any) -> None:
    _log_in(page, live_daemon)
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    expect(page.locator("#stream-status")).to_have_attribute("data-state", "live")
    page.evaluate("window.__stillTheSamePage = true")
    decision = _check(live_daemon, {"kind": "command.exec", "command": "git status",
                                    "session": "s-browser", "agent": {"id": "claude-code"}})
    assert decision["decision"] == "allow"
    row = page.locator("#events li", has_text="git status").first
    expect(row).to_be_visible()
    expect(row.locator(".pill")).to_have_text("allow")
    expect(page.locator("#count-allow")).not_to_have_text("0")
    denied = _check(live_daemon, {"kind": "file.read", "path": "/home/dev/.ssh/id_ed25519",
                                  "session": "s-browser", "agent": {"id": "claude-code"}})
    assert denied["decision"] == "deny"
    expect(page.locator("#events li", has_text="id_ed25519").first).to_be_visible()
    assert page.evaluate("window.__stillTheSamePage") is True  # no reload happened
    # keyboard: the skip link is the first stop
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    page.evaluate("document.activeElement.blur()")
    page.screenshot(path=str(screenshots / "overview.png"))


def test_approve_a_pending_action_and_the_waiting_call_returns_allow(
        live_daemon: LiveDaemon, page: Any, screenshots: Any) -> None:
    _log_in(page, live_daemon)
    expect(page.locator("#stream-status")).to_have_attribute("data-state", "live")
    result: dict[str, Any] = {}

    def agent() -> None:  # waits (long-poll) until a person answers
        try:
            result["decision"] = _check(live_daemon, {
                "kind": "command.exec", "command": "deploy --prod", "session": "s-deploy",
                "agent": {"id": "claude-code"}}, timeout=60)
        except Exception as exc:  # reported by the assertion below
            result["error"] = repr(exc)

    waiting = threading.Thread(target=agent, daemon=True)
    waiting.start()
    expect(page.locator("#events li", has_text="deploy --prod").first).to_be_visible()
    page.get_by_role("link", name="Approvals").click()
    card = page.locator("[data-approval]", has_text="deploy --prod")
    expect(card).to_be_visible()
    assert waiting.is_alive()  # the call is still waiting for a person
    page.screenshot(path=str(screenshots / "approvals.png"))
    card.get_by_label("Comment").focus()
    page.keyboard.type("reviewed the release notes")
    card.get_by_role("button", name="Approve").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#flash")).to_contain_text("approved")
    waiting.join(30)
    assert "error" not in result, result.get("error")
    assert result["decision"]["decision"] == "allow"
    decided = page.locator("table.grid tr", has_text="deploy --prod")
    expect(decided).to_contain_text("reviewed the release notes")


def test_claims_report_and_ledger_verification(live_daemon: LiveDaemon, page: Any,
                                               screenshots: Any) -> None:
    _check(live_daemon, {"kind": "command.exec", "command": "git status",
                         "session": "s-claims", "agent": {"id": "claude-code"}})
    report = live_daemon.workspace / "report.md"
    report.write_text("I ran `git status`.\nI ran `pytest -q` and all 12 tests pass.\n",
                      encoding="utf-8")
    _verify_claims(live_daemon, "s-claims", report.read_text(encoding="utf-8"))
    _log_in(page, live_daemon, "/claims")
    article = page.locator("article.report", has_text="s-claims").first
    expect(article).to_be_visible()
    expect(article.locator("table.verdicts")).to_be_visible()
    page.screenshot(path=str(screenshots / "claims.png"), full_page=True)

    page.get_by_role("link", name="Ledger").click()
    expect(page.get_by_role("heading", name="Ledger")).to_be_visible()
    page.get_by_role("button", name="Verify now").focus()
    page.keyboard.press("Enter")
    result = page.locator("#verify-result")
    expect(result).to_have_attribute("data-outcome", "verified")
    expect(result).to_contain_text("entries")
    expect(page.locator("#verify-progress")).to_be_visible()
    page.screenshot(path=str(screenshots / "ledger.png"))

    page.get_by_role("link", name="Policy").click()
    expect(page.locator("pre.code")).to_contain_text("deploy")
    page.get_by_role("link", name="Sessions").click()
    page.get_by_role("link", name="s-claims").click()
    expect(page.locator(".timeline li", has_text="claims.verification")).to_be_visible()
