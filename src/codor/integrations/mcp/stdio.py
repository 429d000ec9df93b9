"""The gateway's stdin and stdout as non-blocking asyncio pipes: no thread hop per message.

The SDK's :func:`mcp.server.stdio.stdio_server` reads and writes the standard streams through
:func:`anyio.wrap_file`, one worker-thread round trip per line read and two per line written
— on a loaded machine a few hundred microseconds per ``tools/call``. :func:`pipe_stdio` hands
it asyncio pipe readers and writers instead (it accepts explicit streams). Like the SDK, it
takes the wire away from the standard descriptors while serving: fd 0 reads the null device
and fd 1 writes to stderr, so a stray ``print`` (or a child that inherits them) can never
corrupt a message; both are restored on exit. When the standard streams are not pipes,
sockets or terminals (a regular file), it yields ``None`` and the caller uses the SDK's.
Needs the asyncio backend (what :func:`anyio.run` uses by default).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import stat
from collections.abc import AsyncIterator
from typing import Final

__all__ = ["pipe_stdio"]

#: the longest message line accepted (a tool call may carry a large file)
MAX_LINE: Final = 256 << 20


class PipeLines:
    """Lines of text from an asyncio pipe (what ``stdio_server`` iterates)."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self._reader = reader

    def __aiter__(self) -> PipeLines:
        return self

    async def __anext__(self) -> str:
        line = await self._reader.readline()
        if not line:
            raise StopAsyncIteration
        return line.decode("utf-8", "replace")


class PipeWriter:
    """Text written to an asyncio pipe (``write``, then ``flush`` waits for the buffer)."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self._writer = writer

    async def write(self, text: str) -> int:
        self._writer.write(text.encode("utf-8"))
        return len(text)

    async def flush(self) -> None:
        await self._writer.drain()


def _pipe_like(fd: int) -> bool:
    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or stat.S_ISCHR(mode)


@contextlib.asynccontextmanager
async def pipe_stdio() -> AsyncIterator[tuple[PipeLines, PipeWriter] | None]:
    """The wire as ``(lines in, writer out)``, or ``None`` (see the module doc)."""
    if not (_pipe_like(0) and _pipe_like(1)):
        yield None
        return
    loop = asyncio.get_running_loop()
    wire_in = fcntl.fcntl(0, fcntl.F_DUPFD_CLOEXEC, 3)
    wire_out = fcntl.fcntl(1, fcntl.F_DUPFD_CLOEXEC, 3)
    saved_in = fcntl.fcntl(0, fcntl.F_DUPFD_CLOEXEC, 3)
    saved_out = fcntl.fcntl(1, fcntl.F_DUPFD_CLOEXEC, 3)
    devnull = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(2, 1)
    transports: list[asyncio.BaseTransport] = []
    try:
        reader = asyncio.StreamReader(limit=MAX_LINE)
        in_transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(wire_in, "rb", 0))
        transports.append(in_transport)
        out_transport, out_protocol = await loop.connect_write_pipe(
            asyncio.streams.FlowControlMixin, os.fdopen(wire_out, "wb", 0))
        transports.append(out_transport)
        writer = asyncio.StreamWriter(out_transport, out_protocol, None, loop)
        yield PipeLines(reader), PipeWriter(writer)
    finally:
        for transport in transports:
            transport.close()
        for fd, saved in ((0, saved_in), (1, saved_out)):
            with contextlib.suppress(OSError):
                os.dup2(saved, fd)
                os.set_blocking(fd, True)
            os.close(saved)
