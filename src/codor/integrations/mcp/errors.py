"""Errors of the MCP gateway, each a ``CodorError`` with a stable code."""

from __future__ import annotations

from codor.errors import CodorError

__all__ = ["GatewayConfigError", "GatewayError", "PinFileError", "UpstreamError"]


class GatewayError(CodorError):
    """Base of every problem the MCP gateway reports on purpose."""

    code = "E_MCP_GATEWAY"


class GatewayConfigError(GatewayError):
    """Bad gateway options: an empty or unparsable ``--upstream`` command, a ``--upstream-url``
    that is not http(s), a ``--listen`` address that is malformed or not on loopback."""

    code = "E_MCP_CONFIG"


class UpstreamError(GatewayError):
    """The upstream MCP server cannot be started, reached or spoken to."""

    code = "E_MCP_UPSTREAM"


class PinFileError(GatewayError):
    """The tool pin file (``.codor/mcp-pins.json``) cannot be read, parsed or written."""

    code = "E_MCP_PINS"
