"""``codor mcp gateway`` and ``codor mcp serve``: thin entry points into the MCP integration.

Both import the MCP SDK only when run. Without it installed they stop with a one-line error
saying how to get it (``pip install 'codor[mcp]'``).
"""

from __future__ import annotations

import argparse

from codor.errors import CodorError

__all__ = ["McpUnavailableError", "run_mcp"]


class McpUnavailableError(CodorError):
    """The ``mcp`` SDK (the ``codor[mcp]`` extra) is not installed."""

    code = "E_MCP_SDK"


def _require_sdk() -> None:
    import importlib.util

    if importlib.util.find_spec("mcp") is None:
        raise McpUnavailableError("the MCP SDK is not installed: pip install 'codor[mcp]'")


def run_mcp(args: argparse.Namespace) -> int:
    """Dispatch ``codor mcp <command>``; returns the exit status."""
    _require_sdk()
    if args.mcp_command == "gateway":
        from codor.integrations.mcp.config import GatewayConfig
        from codor.integrations.mcp.serve import run_gateway

        return run_gateway(GatewayConfig.from_args(args))
    from codor.integrations.mcp.server import run_server

    return run_server(args)
