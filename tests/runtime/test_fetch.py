"""http.fetch: decided as a network.request, performed by the injected client, recorded.

A real HTTP server on 127.0.0.1 (started by the test) answers; the client is
:class:`~tests.runtime.hostrunner.DirectHttpClient` (no egress proxy: what is under test is
the router's deciding and recording)."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from codor.runtime import FetchReport, FetchRequest
from tests.runtime.conftest import SetupFactory
from tests.runtime.hostrunner import DirectHttpClient

BODY = b"hello from loopback\n" * 10


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/moved":
            self.send_response(302)
            self.send_header("Location", "http://example.org/")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


class Counting(DirectHttpClient):
    def __init__(self) -> None:
        self.requests: list[FetchRequest] = []

    def __call__(self, request: FetchRequest) -> FetchReport:
        self.requests.append(request)
        return super().__call__(request)


def test_an_allowed_fetch_is_performed_and_recorded(make_setup: SetupFactory,
                                                    server: str) -> None:
    client = Counting()
    setup = make_setup(http_client=client)
    result = setup.router.call("http.fetch", {"url": f"{server}/data"})
    assert result.ok, result.to_json()
    assert result.output["status"] == 200 and result.output["body"] == BODY.decode()
    [decision] = setup.decisions()
    assert decision.action.kind == "network.request" and decision.action.method == "GET"
    [outcome] = setup.outcomes()
    assert outcome.stdout.sha256 == hashlib.sha256(BODY).hexdigest()
    assert outcome.stderr.excerpt.startswith("HTTP 200")
    assert outcome.sandbox == "direct-unsafe" and outcome.exit_status is None


def test_denied_and_asked_hosts_are_never_contacted(make_setup: SetupFactory) -> None:
    client = Counting()
    setup = make_setup(http_client=client)
    assert setup.router.call("http.fetch", {"url": "http://example.org/"}).status == "denied"
    asked = setup.router.call("http.fetch", {"url": "https://ask.example/x"})
    assert asked.status == "approval_needed"
    assert client.requests == [] and setup.outcomes() == []


def test_redirects_are_returned_not_followed(make_setup: SetupFactory, server: str) -> None:
    client = Counting()
    setup = make_setup(http_client=client)
    result = setup.router.call("http.fetch", {"url": f"{server}/moved"})
    assert result.output["status"] == 302 and len(client.requests) == 1
    assert ["Location", "http://example.org/"] in result.to_json()["output"]["headers"]


def test_a_bounded_body_keeps_the_whole_digest(make_setup: SetupFactory, server: str) -> None:
    setup = make_setup(http_client=DirectHttpClient())
    result = setup.router.call("http.fetch", {"url": f"{server}/", "max_bytes": 5})
    assert result.output["body"] == "hello" and result.output["truncated"] is True
    [outcome] = setup.outcomes()
    assert outcome.stdout.size == len(BODY) and outcome.stdout.truncated
    assert outcome.stdout.sha256 == hashlib.sha256(BODY).hexdigest()


def test_fetch_arguments_and_a_missing_client(make_setup: SetupFactory) -> None:
    setup = make_setup(http_client=DirectHttpClient())
    assert setup.router.call("http.fetch", {"url": "file:///etc/passwd"}).error_code == \
        "E_TOOL_ARGS"
    assert setup.router.call("http.fetch", {"url": "http://x/", "method": "BREW"}
                             ).error_code == "E_TOOL_ARGS"
    bare = make_setup()
    assert bare.router.call("http.fetch", {"url": "http://127.0.0.1/"}).error_code == "E_TOOL"
