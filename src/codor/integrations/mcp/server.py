"""``codor mcp serve``: CODOR's built-in tools as an MCP server, every call decided, confined and
recorded.

Each runtime tool (``fs.read``, ``fs.write``, ``fs.list``, ``fs.exists``, ``fs.delete``,
``search.grep``, ``search.glob``, ``patch.apply``, ``shell.exec``, ``test.run``,
``http.fetch``) is an MCP tool of the same name, described by
:mod:`codor.integrations.mcp.toolspecs`. A ``tools/call`` runs :meth:`ToolRouter.call` in a
worker thread (:class:`~codor.integrations.mcp.toolhost.ToolHost`): the policy decides, the
tool runs (commands in the bubblewrap sandbox, fetches through the egress proxy), decision
and outcome go into the workspace ledger, in the session ``--session`` (default: a new
``mcp-...`` id), as the agent the client names in ``clientInfo.name``.

Answers: ``ok`` → the tool's JSON result as ``structuredContent`` and as JSON text;
``denied``, ``approval_needed`` and ``error`` → ``isError: true`` with one line naming the
reason (the rule, or the error code) and the refusal as ``structuredContent``; never a
traceback. ``_meta["codor.dev/call"]`` carries the session, status and ledger indexes. An
unknown tool name is a JSON-RPC ``invalid params`` error (it is recorded too).

Transports: stdio by default; ``--listen HOST:PORT`` serves streamable HTTP at
``http://HOST:PORT/mcp`` (``listening on URL`` is printed on stderr). ``--listen PORT`` or
``:PORT`` listen on 127.0.0.1; port 0 picks a free one. The address must be loopback
(127.0.0.1, ::1, ``localhost``): the tools run commands and write files and this server has
no authentication, so anything else is refused (``E_MCP_LISTEN``). Host and Origin headers
must name the listening address (DNS rebinding protection). Both protocol eras are served on both
transports: the ``initialize`` handshake (2025-11-25 and older) and per-request envelopes
(2026-07-28).

The end of stdin, or SIGINT/SIGTERM, stop the server: calls in flight get up to
:data:`STOP_GRACE` seconds, then every sandbox egress proxy is stopped and the ledger flushed
and closed; the exit status is 0.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from codor.errors import InputError
from codor.integrations.mcp import listen

if TYPE_CHECKING:
    from mcp.server.context import ServerRequestContext
    from mcp.server.lowlevel import Server

    from codor.integrations.mcp.toolhost import ToolHost
    from codor.runtime import ToolResult

__all__ = ["META_KEY", "ListenAddress", "ListenAddressError", "build_server", "parse_listen",
           "run_server"]

#: The ``_meta`` key of every tool result: session, status, ledger indexes.
META_KEY: Final = "codor.dev/call"
#: Seconds the calls in flight get to finish after SIGINT/SIGTERM.
STOP_GRACE: Final = 5.0
_INSTRUCTIONS: Final = (
    "CODOR's built-in tools for this workspace. Every call is decided by the workspace's "
    "policy, commands run in a sandbox, and every decision and outcome is recorded in a signed "
    "ledger. A refused call returns an error naming the rule; do not try to work around it.")


class ListenAddressError(InputError):
    """A ``--listen`` value that is not ``[HOST:]PORT``, or a host that may not be used."""

    code = "E_MCP_LISTEN"


@dataclass(frozen=True, slots=True)
class ListenAddress:
    """Where the HTTP transport listens (a loopback address, see :func:`parse_listen`)."""

    host: str
    port: int

    def url(self, port: int | None = None) -> str:
        return listen.url(self.host, self.port if port is None else port)


def parse_listen(text: str) -> ListenAddress:
    """``PORT``, ``:PORT``, ``HOST:PORT`` or ``[IPV6]:PORT`` (see the module doc);
    ``localhost`` listens on 127.0.0.1."""
    host, port = listen.parse_listen(text, ListenAddressError,
                                     "these tools run commands and write files, and this "
                                     "server has no authentication")
    return ListenAddress("127.0.0.1" if host == "localhost" else host, port)


# -- the MCP server ------------------------------------------------------------------------------
def build_server(host: ToolHost) -> Server[Any]:
    """The low-level MCP server answering ``tools/list`` and ``tools/call`` from ``host``."""
    import anyio.to_thread
    import mcp_types as types
    from mcp.server.lowlevel import Server
    from mcp.shared.exceptions import MCPError

    from codor import __version__
    from codor.integrations.mcp.toolhost import DEFAULT_AGENT, agent_id
    from codor.integrations.mcp.toolspecs import TOOL_SPECS

    specs = {name: TOOL_SPECS[name] for name in host.tools}
    tools = [types.Tool(name=s.name, title=s.title, description=s.description,
                        input_schema=s.input_schema(),
                        annotations=types.ToolAnnotations.model_validate(s.annotations()))
             for s in specs.values()]

    async def list_tools(ctx: ServerRequestContext[Any],
                         params: types.PaginatedRequestParams | None) -> types.ListToolsResult:
        return types.ListToolsResult(tools=[t.model_copy(deep=True) for t in tools])

    async def call_tool(ctx: ServerRequestContext[Any],
                        params: types.CallToolRequestParams) -> types.CallToolResult:
        client = ctx.session.client_params  # None: a 2026-07-28 client that did not say
        agent = DEFAULT_AGENT if client is None else agent_id(client.client_info.name)
        result = await anyio.to_thread.run_sync(_call, host, params.name,
                                                params.arguments, agent)
        if params.name not in specs:
            raise MCPError(code=types.INVALID_PARAMS,
                           message=f"unknown tool {params.name!r}; the tools are "
                                   f"{', '.join(specs)}")
        return types.CallToolResult.model_validate(to_wire(result, host.session))

    def input_schema(name: str) -> Mapping[str, Any] | None:
        spec = specs.get(name)
        return None if spec is None else spec.input_schema()

    return Server("codor", version=__version__, title="CODOR tools",
                  description="CODOR's built-in tools, decided by policy, confined and recorded",
                  instructions=_INSTRUCTIONS, get_tool_input_schema=input_schema,
                  on_list_tools=list_tools, on_call_tool=call_tool)


def _call(host: ToolHost, name: str, arguments: Mapping[str, Any] | None,
          agent: str) -> ToolResult:
    return host.call(name, arguments, agent=agent)


def to_wire(result: ToolResult, session: str) -> dict[str, Any]:
    """A :class:`ToolResult` as ``CallToolResult`` wire JSON (see the module doc)."""
    from codor.model import thaw

    meta: dict[str, Any] = {"session": session, "status": result.status}
    for name in ("decision_index", "outcome_index"):
        value = getattr(result, name)
        if value is not None:
            meta[name] = value
    out: dict[str, Any] = {"_meta": {META_KEY: meta}}
    if result.ok:
        output = thaw(result.output)
        content = [{"type": "text", "text": json.dumps(output, ensure_ascii=False)}]
        content += [{"type": "text", "text": f"warning: {w}"} for w in result.warnings]
        return {**out, "content": content, "structuredContent": output, "isError": False}
    refusal = result.to_json()
    refusal.pop("output", None)
    refusal["message"] = reason_line(result)
    return {**out, "content": [{"type": "text", "text": refusal["message"]}],
            "structuredContent": refusal, "isError": True}


def reason_line(result: ToolResult) -> str:
    """One line saying why a call did not succeed: the policy's reasons with their rules, or
    the error with its code."""
    decision = result.decision
    if result.status in ("denied", "approval_needed") and decision is not None:
        why = "; ".join(f"{r.message} [{r.rule or r.guard or 'policy'}]"
                        for r in decision.reasons) or decision.decision
        if result.status == "denied":
            head = f"CODOR denied {result.tool}: {why}"
        else:
            head = (f"CODOR: {result.tool} needs a person's approval, so it did not run "
                    f"(no approval channel on this server yet): {why}")
        where = "" if result.decision_index is None else \
            f" (decision recorded as ledger entry {result.decision_index})"
        return head + where
    code = result.error_code or "E_TOOL"
    return f"{result.tool} failed: {result.error or 'error'} [{code}]"


# -- serving -------------------------------------------------------------------------------------
def run_server(args: argparse.Namespace) -> int:
    """``codor mcp serve``: serve until stdin ends (stdio) or SIGINT/SIGTERM; returns the exit
    status. Raises :class:`~codor.errors.CodorError` for bad options, a bad policy or an
    unusable ledger (the CLI turns it into exit 2)."""
    import anyio

    from codor.integrations.mcp.toolhost import ToolHost

    where = getattr(args, "listen", None)
    address = parse_listen(where) if where else None
    host = ToolHost.open(getattr(args, "workspace", None), policy=getattr(args, "policy", None),
                         session=getattr(args, "session", None),
                         record=not getattr(args, "no_record", False))
    try:
        server = build_server(host)
        if address is None:
            anyio.run(_serve_stdio, server, host)
        else:
            _serve_http(server, host, address)
    finally:
        host.close()
    return 0


def _banner(host: ToolHost, where: str) -> None:
    policy = host.kernel.engine.policy
    recorded = "recorded in the ledger" if host.kernel.ledger is not None else \
        "NOT recorded (no ledger: run `codor init`, or --no-record was given)"
    sys.stderr.write(f"codor mcp serve: {where} · session {host.session} · workspace "
                     f"{host.workspace} · policy {policy.name} sha256:{policy.sha256[:12]} · "
                     f"{recorded}\n")
    sys.stderr.flush()


async def _serve_stdio(server: Server[Any], host: ToolHost) -> None:
    """Serve on stdin/stdout until stdin ends or SIGINT/SIGTERM. The banner is printed once
    the signals are caught, so a signal after it always shuts down cleanly."""
    import anyio
    from anyio.abc import TaskStatus
    from mcp.server.stdio import stdio_server

    async with anyio.create_task_group() as tg:

        async def stop_on_signal(*, task_status: TaskStatus[None]) -> None:
            with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                task_status.started()
                async for _ in signals:
                    tg.cancel_scope.cancel()
                    _exit_after_grace(host)
                    return

        await tg.start(stop_on_signal)
        _banner(host, "stdio")
        async with stdio_server() as (read, write):
            await server.run(read, write, server.create_initialization_options())
        tg.cancel_scope.cancel()


def _exit_after_grace(host: ToolHost) -> None:
    """After a signal: give the calls in flight up to :data:`STOP_GRACE` seconds to finish and
    be recorded, then close the host (proxies stopped, ledger flushed) and exit 0 — the SDK's
    blocking read of stdin cannot be cancelled, so waiting for it could take forever."""
    import os
    import threading
    import time

    def stop() -> None:
        deadline = time.monotonic() + STOP_GRACE
        while host.in_flight and time.monotonic() < deadline:
            time.sleep(0.05)
        host.close()
        sys.stderr.flush()
        os._exit(0)

    threading.Thread(target=stop, name="codor-mcp-stop", daemon=True).start()


def _serve_http(server: Server[Any], host: ToolHost, address: ListenAddress) -> None:
    import uvicorn

    app = server.streamable_http_app(streamable_http_path=listen.MCP_PATH, host=address.host,
                                     transport_security=listen.transport_security(address.host))
    with listen.bind(address.host, address.port, ListenAddressError) as sock:
        _banner(host, f"listening on {address.url(sock.getsockname()[1])} (streamable HTTP)")
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on",
                                timeout_graceful_shutdown=5)
        _uvicorn(config).run(sockets=[sock])


def _uvicorn(config: Any) -> Any:
    """A uvicorn server that stops on SIGINT/SIGTERM without re-raising the signal afterwards
    (stock uvicorn does, which would kill the process before the ledger is flushed)."""
    import uvicorn

    class Quiet(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            with _signals(self.handle_exit):
                yield

    return Quiet(config)


@contextlib.contextmanager
def _signals(handler: Callable[[int, Any], None]) -> Iterator[None]:
    """``handler`` for SIGINT and SIGTERM while inside (main thread only), then the old ones."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, previous in old.items():
            signal.signal(sig, previous)
