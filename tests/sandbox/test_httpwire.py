"""HTTP heads and body framing: strict where parsers could disagree."""

from __future__ import annotations

import asyncio
import socket

import pytest

from codor.sandbox.httpwire import (
    Framing,
    HttpError,
    end_to_end,
    parse_head,
    relay,
    request_framing,
    response_framing,
    serialize_head,
)


def req(text: str) -> bytes:
    return text.replace("\n", "\r\n").encode("latin-1")


def test_a_request_head_is_parsed_with_names_in_their_case() -> None:
    head = parse_head(req("GET http://a.test/x HTTP/1.1\nHost: a.test\nX-Thing:  v  \n\n"),
                      request=True)
    assert head.first == ("GET", "http://a.test/x", "HTTP/1.1")
    assert head.headers == (("Host", "a.test"), ("X-Thing", "v"))
    assert head.one("host") == "a.test" and head.values("x-thing") == ["v"]


@pytest.mark.parametrize("raw", [
    "GET  / HTTP/1.1\n\n",                       # two spaces
    "GET / HTTP/2.0\n\n",                        # version
    "GET / HTTP/1.1\nHost : a\n\n",              # space before colon
    "GET / HTTP/1.1\nHost: a\n folded\n\n",      # obsolete folding
    "GET / HTTP/1.1\nX: a\x00b\n\n",             # NUL in a value
    "GET / HTTP/1.1\nX: a\rb\n\n",               # bare CR in a value
    "G(T / HTTP/1.1\n\n",                        # method is not a token
    "GET /\x7f HTTP/1.1\n\n",                    # DEL in the target
])
def test_ambiguous_heads_are_refused(raw: str) -> None:
    with pytest.raises(HttpError) as info:
        parse_head(req(raw), request=True)
    assert info.value.status in (400, 505)


def test_duplicate_single_headers_are_refused() -> None:
    head = parse_head(req("GET / HTTP/1.1\nHost: a\nHost: b\n\n"), request=True)
    with pytest.raises(HttpError):
        head.one("host")


def test_hop_by_hop_and_connection_listed_headers_are_not_forwarded() -> None:
    head = parse_head(req("GET / HTTP/1.1\nConnection: keep-alive, X-Secret\nX-Secret: 1\n"
                          "Proxy-Authorization: Basic x\nKeep-Alive: 5\nAccept: */*\n\n"),
                      request=True)
    assert end_to_end(head) == [("Accept", "*/*")]
    assert serialize_head("GET / HTTP/1.1", [("A", "b")]) == b"GET / HTTP/1.1\r\nA: b\r\n\r\n"


def test_request_framing() -> None:
    def framing(extra: str) -> Framing:
        return request_framing(parse_head(req(f"POST / HTTP/1.1\n{extra}\n"), request=True))

    assert framing("") == Framing("none")
    assert framing("Content-Length: 5\n") == Framing("length", 5)
    assert framing("Content-Length: 5, 5\n") == Framing("length", 5)
    assert framing("Transfer-Encoding: Chunked\n") == Framing("chunked")
    for bad in ("Content-Length: 5\nContent-Length: 6\n", "Content-Length: -1\n",
                "Content-Length: 5\nTransfer-Encoding: chunked\n",
                "Transfer-Encoding: gzip, chunked\n"):
        with pytest.raises(HttpError):
            framing(bad)


def test_response_framing() -> None:
    def framing(first: str, extra: str, method: str = "GET") -> Framing:
        return response_framing(parse_head(req(f"{first}\n{extra}\n"), request=False), method)

    assert framing("HTTP/1.1 200 OK", "Content-Length: 3\n") == Framing("length", 3)
    assert framing("HTTP/1.1 200 OK", "Content-Length: 3\n", "HEAD") == Framing("none")
    assert framing("HTTP/1.1 304 Not Modified", "Content-Length: 3\n") == Framing("none")
    assert framing("HTTP/1.1 200 OK", "Transfer-Encoding: chunked\n") == Framing("chunked")
    assert framing("HTTP/1.1 200 OK", "") == Framing("close")
    assert framing("HTTP/1.0 200", "") == Framing("close")
    with pytest.raises(HttpError):
        parse_head(req("HTTP/1.1 2000 OK\n\n"), request=False)


def pipe_through(framing: Framing, data: bytes) -> tuple[int, bytes]:
    """Relay ``data`` (as sent by a peer) through :func:`relay` over real socket pairs."""

    async def run() -> tuple[int, bytes]:
        a, b = socket.socketpair()
        c, d = socket.socketpair()
        a.sendall(data)
        a.shutdown(socket.SHUT_WR)
        reader, reader_side = await asyncio.open_connection(sock=b)
        _, writer = await asyncio.open_connection(sock=c)
        try:
            count = await relay(framing, reader, writer, idle=5)
            writer.close()
            await writer.wait_closed()
            out = b""
            while chunk := d.recv(65536):
                out += chunk
            return count, out
        finally:
            for s in (a, d):
                s.close()
            for w in (writer, reader_side):
                w.close()
                await w.wait_closed()

    return asyncio.run(run())


def test_relays_copy_exactly_one_body() -> None:
    assert pipe_through(Framing("length", 3), b"abcdef") == (3, b"abc")
    body = b"3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\nTrailer: x\r\n\r\nNEXT"
    count, out = pipe_through(Framing("chunked"), body)
    assert out == body[:-4] and count == len(out)
    assert pipe_through(Framing("close"), b"until eof") == (9, b"until eof")


def test_bad_chunks_and_short_bodies_are_errors() -> None:
    with pytest.raises(HttpError):
        pipe_through(Framing("chunked"), b"zz\r\nabc\r\n")
    with pytest.raises(HttpError):
        pipe_through(Framing("chunked"), b"3\r\nabcX\r\n")
    with pytest.raises(asyncio.IncompleteReadError):
        pipe_through(Framing("length", 10), b"short")
