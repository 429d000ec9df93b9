"""Running the MCP gateway: connect the upstream, serve MCP clients on stdio or streamable HTTP.

:func:`run_gateway` opens the workspace's kernel (observer ``mcp-gateway``; every record
committed before the answer it explains goes back), starts or reaches the upstream
with the official SDK's :class:`mcp.Client` (``auto`` mode: the 2026-07-28 ``server/discover``
probe, else the 2025-11-25 ``initialize`` handshake), lists and pins its tools, and serves
the :class:`~codor.integrations.mcp.gateway.Gateway`'s handlers through the SDK's low-level
:class:`mcp.server.Server`, which speaks both revisions to clients (handshake-era sessions and
per-request 2026-07-28 envelopes) on stdio (through :mod:`~codor.integrations.mcp.stdio`'s
pipes) and on streamable HTTP. The upstream's instructions are passed on only when the
injection guard allows them (decided as ``content.inbound`` and recorded).

A stdio upstream inherits the gateway's environment, as if the client had started it itself
(the SDK would otherwise pass only ``HOME``, ``PATH`` and a few more); its stderr is the
gateway's. Over HTTP the gateway listens on loopback only, with DNS-rebinding protection
(:mod:`~codor.integrations.mcp.listen`), and prints ``listening on http://HOST:PORT/mcp`` on
stderr once it accepts connections. SIGTERM and SIGINT end it cleanly: the ledger is flushed
and closed, the upstream stopped. ``--repin`` re-pins every tool the upstream lists now and
exits without serving.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, cast

import anyio
from mcp import Client, StdioServerParameters, types
from mcp.server import Server
from mcp.server.stdio import stdio_server
from mcp.shared.exceptions import MCPError

from codor.errors import CodorError
from codor.integrations.context import codor_home, find_workspace, open_kernel
from codor.integrations.mcp import listen
from codor.integrations.mcp.config import GatewayConfig
from codor.integrations.mcp.errors import GatewayError, UpstreamError
from codor.integrations.mcp.gateway import ORIGIN, Gateway
from codor.integrations.mcp.pins import PinStore
from codor.integrations.mcp.stdio import pipe_stdio
from codor.model import Action

if TYPE_CHECKING:
    from mcp.client.session import IncomingMessage

    from codor.kernel import Kernel

__all__ = ["PIN_FILE", "build_server", "run_gateway"]

#: the pin file's name inside CODOR's state directory
PIN_FILE = "mcp-pins.json"


def run_gateway(config: GatewayConfig) -> int:
    """Run ``codor mcp gateway`` until the client goes away or a signal ends it; the exit
    status (0). Raises :class:`~codor.errors.CodorError` for a bad policy, an unusable ledger,
    an unreadable pin file or an upstream that cannot be started or reached."""
    return anyio.run(_main, config)


async def _main(config: GatewayConfig) -> int:
    root = find_workspace(config.workspace)
    # every record is committed before its answer goes back (no group_allows): a group commit
    # holds the ledger's write lock for up to its interval, stalling every other process
    # that records in the same workspace (hooks, other gateways) for that long
    kernel = open_kernel(root, policy=config.policy, observer=ORIGIN, record=config.record)
    status = 0
    try:
        pins = PinStore(codor_home(root) / PIN_FILE)
        pins.load()  # a broken pin file stops the gateway before anything starts
        try:
            async with anyio.create_task_group() as tg:
                stopper = _Stopper(tg.cancel_scope)
                tg.start_soon(_stop_on_signal, stopper)
                status = await _run(config, kernel, pins, stopper)
                tg.cancel_scope.cancel()
        except BaseExceptionGroup as group:  # a CodorError raised inside: report it as is
            error = _codor_error(group)
            if error is None:
                raise
            raise error from None
        return status
    finally:
        kernel.close()


def _codor_error(group: BaseExceptionGroup[BaseException]) -> CodorError | None:
    """The group's only :class:`CodorError`, if that is all it holds."""
    leaves: list[BaseException] = []
    stack: list[BaseException] = [group]
    while stack:
        exc = stack.pop()
        if isinstance(exc, BaseExceptionGroup):
            stack.extend(exc.exceptions)
        else:
            leaves.append(exc)
    return leaves[0] if len(leaves) == 1 and isinstance(leaves[0], CodorError) else None


class _Stopper:
    """How a signal ends the gateway: cancel everything (stdio), or let the HTTP server shut
    down gracefully (it then returns, and everything else ends)."""

    def __init__(self, scope: anyio.CancelScope) -> None:
        self.scope = scope
        self.hook: Callable[[], None] | None = None

    def stop(self) -> None:
        if self.hook is not None:
            self.hook()
        else:
            self.scope.cancel()


async def _stop_on_signal(stopper: _Stopper) -> None:
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async for _ in signals:
            stopper.stop()


async def _run(config: GatewayConfig, kernel: Kernel, pins: PinStore, stopper: _Stopper) -> int:
    holder: list[Gateway] = []

    async def on_message(message: IncomingMessage) -> None:
        if isinstance(message, types.ToolListChangedNotification) and holder:
            holder[0].mark_stale()

    async with _upstream(config, on_message) as client:
        gateway = Gateway(kernel, pins, config, client)
        holder.append(gateway)
        try:
            await gateway.refresh()
        except MCPError as exc:
            raise UpstreamError(f"the upstream cannot list its tools: {exc.message}") from None
        if config.repin:
            names = gateway.repin()
            sys.stderr.write(f"codor mcp gateway: re-pinned {len(names)} tool(s) of "
                             f"{gateway.server} ({config.identity})\n")
            return 0
        server = build_server(gateway, _instructions(gateway))
        if config.listen is None:
            async with pipe_stdio() as pipes:
                # duck-typed: stdio_server only iterates lines, writes and flushes
                wire = stdio_server() if pipes is None else \
                    stdio_server(cast(Any, pipes[0]), cast(Any, pipes[1]))
                async with wire as (read, write):
                    await server.run(read, write, server.create_initialization_options())
        else:
            await _serve_http(server, *config.listen, stopper)
    return 0


@asynccontextmanager
async def _upstream(config: GatewayConfig, on_message: Any) -> AsyncIterator[Client]:
    """The connected upstream client; :class:`UpstreamError` when it cannot be had."""
    from codor import __version__

    target: StdioServerParameters | str
    if config.upstream_url is not None:
        target = config.upstream_url
    else:
        target = StdioServerParameters(command=config.upstream[0], args=list(config.upstream[1:]),
                                       env=dict(os.environ))
    client = Client(target, cache=None, message_handler=on_message,
                    client_info=types.Implementation(name="codor-mcp-gateway",
                                                     version=__version__))
    try:
        await client.__aenter__()
    except Exception as exc:  # OSError, MCPError, an HTTP failure, an exception group...
        raise UpstreamError(f"cannot connect to the upstream {config.identity}: "
                            f"{_first_error(exc)}") from None
    try:
        yield client
    finally:
        await client.__aexit__(None, None, None)


def _first_error(exc: BaseException) -> str:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:300]


def _instructions(gateway: Gateway) -> str | None:
    """The upstream's instructions, passed on only when the injection guard allows them."""
    text = gateway.upstream.instructions
    if not text:
        return None
    action = Action.create("content.inbound", text=text, source="tool", session=gateway.session,
                           origin=ORIGIN, meta={"server": gateway.server, "part": "instructions"})
    decision, _ = gateway.kernel.decide_and_index(action)
    return text if decision.decision == "allow" else None


def build_server(gateway: Gateway, instructions: str | None = None) -> Server[Any]:
    """The MCP server in front of ``gateway``: ``tools/list`` and ``tools/call``, both eras."""
    from codor import __version__

    server: Server[Any] = Server(
        f"codor-gateway-{gateway.server}", version=__version__,
        title=f"{gateway.server} through the CODOR gateway", instructions=instructions,
        get_tool_input_schema=gateway.input_schema)
    # no OpenTelemetry span per message (the SDK's default middleware, a no-op without an
    # exporter that still costs ~0.1 ms a call): the ledger is CODOR's record of each call
    server.middleware.clear()
    # registered directly: the handlers answer wire-form dicts (no model round trip); the
    # server still validates them against the client's protocol revision
    server.add_request_handler("tools/list", types.PaginatedRequestParams, gateway.list_tools)
    server.add_request_handler("tools/call", types.CallToolRequestParams, gateway.call_tool)
    return server


async def _serve_http(server: Server[Any], host: str, port: int, stopper: _Stopper) -> None:
    import uvicorn

    sock = listen.bind(host, port, GatewayError)
    app = server.streamable_http_app(streamable_http_path=listen.MCP_PATH, host=host,
                                     transport_security=listen.transport_security(host))
    userver = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on",
                                            access_log=False, timeout_graceful_shutdown=2))

    def shut_down() -> None:
        userver.should_exit = True

    stopper.hook = shut_down
    url = listen.url(host, sock.getsockname()[1])

    async def announce() -> None:
        while not userver.started:
            await anyio.sleep(0.01)
        sys.stderr.write(f"codor mcp gateway: listening on {url}\n")
        sys.stderr.flush()

    async with anyio.create_task_group() as tg:
        tg.start_soon(announce)
        await userver.serve(sockets=[sock])
        tg.cancel_scope.cancel()
