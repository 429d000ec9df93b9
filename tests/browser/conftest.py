"""Browser tests of the dashboard: a real ``codor serve`` process on a free port in a fresh
``codor init`` workspace, driven by headless Chromium (Debian ``chromium``) through
Playwright. Nothing is mocked; the daemon is the one people run."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "docs" / "screenshots"

#: codor:default, and a person approves every `deploy`
POLICY = """\
version: 1
name: dashboard-browser-test
description: codor:default, and a person approves every deploy.
extends: ["codor:default"]
guards:
  commands:
    ask: [deploy]
"""


@dataclass
class LiveDaemon:
    """A running ``codor serve``: its URL, the first admin token and an agent token."""

    url: str
    admin_token: str
    agent_token: str
    workspace: Path
    process: subprocess.Popen[str]
    output: list[str]


def _codor() -> list[str]:
    exe = Path(sys.executable).with_name("codor")
    return [str(exe)] if exe.is_file() else [sys.executable, "-m", "codor"]


@pytest.fixture(scope="module")
def live_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveDaemon]:
    from codor.server.keys import KeyStore
    from codor.statedb import StateDB

    ws = tmp_path_factory.mktemp("dashboard-ws")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("CODOR_") or k == "CODOR_TEST"}
    env["CODOR_SERVE_APPROVAL_WAIT_S"] = "45"
    subprocess.run([*_codor(), "init", "-w", str(ws)], check=True, env=env,
                   capture_output=True, text=True, timeout=60)
    (ws / "dashboard-policy.yaml").write_text(POLICY, encoding="utf-8")
    state = StateDB.open(str(ws / ".codor" / "state.db"))
    try:
        _, agent_token = KeyStore(state).create("browser-test agent", "agent")
    finally:
        state.close()
    errors = (ws / "daemon.stderr").open("w")
    process = subprocess.Popen(
        [*_codor(), "serve", "--port", "0", "-w", str(ws), "--policy",
         str(ws / "dashboard-policy.yaml")],
        cwd=ws, env=env, stdout=subprocess.PIPE, stderr=errors, text=True)
    assert process.stdout is not None
    output: list[str] = []
    url = token = None
    for line in process.stdout:  # the banner: URL first, then the first admin key
        output.append(line)
        found = re.search(r"CODOR daemon: (http://\S+)", line)
        if found:
            url = found.group(1)
        found = re.search(r"keep it: (codor_\S+)", line)
        if found:
            token = found.group(1)
            break
    if url is None or token is None:
        process.kill()
        process.wait(10)
        errors.close()
        raise AssertionError("codor serve did not announce its URL and admin key:\n"
                             + "".join(output) + (ws / "daemon.stderr").read_text())

    def drain() -> None:  # keep the pipe from filling up
        assert process.stdout is not None
        for line in process.stdout:
            output.append(line)

    threading.Thread(target=drain, daemon=True).start()
    _wait_ready(url)
    yield LiveDaemon(url, token, agent_token, ws, process, output)
    process.terminate()
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)
    errors.close()
    if process.stdout is not None:
        process.stdout.close()


def _wait_ready(url: str) -> None:
    import httpx

    with httpx.Client(timeout=2.0) as client:
        for _ in range(300):
            try:
                if client.get(f"{url}/ready").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            threading.Event().wait(0.05)
    raise AssertionError(f"the daemon at {url} never became ready")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"{CHROMIUM} is missing: `make system-deps` installs it", pytrace=False)
    from playwright import sync_api as playwright_api

    # module scope: Playwright's sync API runs an event loop on this thread until it stops,
    # and later tests start their own
    with playwright_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                     args=["--no-sandbox", "--disable-dev-shm-usage"])
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 860},
                                  color_scheme="light")
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the pages are photographed: the README's docs/screenshots/ with
    ``CODOR_UPDATE_SCREENSHOTS=1`` (how they are made), else a temporary directory, so a test
    run leaves the work tree clean."""
    import os

    if os.environ.get("CODOR_UPDATE_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        return SCREENSHOTS
    return tmp_path_factory.mktemp("screenshots")


__all__ = ["CHROMIUM", "LiveDaemon"]
