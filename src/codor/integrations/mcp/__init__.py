"""CODOR on MCP: a policy gateway in front of other MCP servers, and CODOR's tools as one.

* :mod:`~codor.integrations.mcp.gateway` — ``codor mcp gateway``: every ``tools/call`` of an
  upstream MCP server decided by the policy and recorded; tools pinned against rug pulls
  (:mod:`~codor.integrations.mcp.pins`); results scanned for secrets and prompt injection
  (:mod:`~codor.integrations.mcp.scan`); options in :mod:`~codor.integrations.mcp.config`,
  transports and startup in :mod:`~codor.integrations.mcp.serve`.
* :mod:`~codor.integrations.mcp.server` — ``codor mcp serve``: CODOR's built-in tools
  (:mod:`~codor.integrations.mcp.toolspecs`) served over MCP.

Importing this package loads nothing: the exports below, and the ``mcp`` SDK behind the
gateway and server modules, load on first use (``pip install 'codor[mcp]'``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from codor.lazy import lazy_exports

if TYPE_CHECKING:
    from codor.integrations.mcp.config import GatewayConfig
    from codor.integrations.mcp.gateway import Gateway
    from codor.integrations.mcp.pins import PinChange, PinStore, tool_fingerprint
    from codor.integrations.mcp.scan import ScannedResult, scan_result
    from codor.integrations.mcp.serve import run_gateway

__all__ = ["Gateway", "GatewayConfig", "PinChange", "PinStore", "ScannedResult", "run_gateway",
           "scan_result", "tool_fingerprint"]

_EXPORTS = {"Gateway": "codor.integrations.mcp.gateway",
            "GatewayConfig": "codor.integrations.mcp.config",
            "run_gateway": "codor.integrations.mcp.serve",
            "PinChange": "codor.integrations.mcp.pins",
            "PinStore": "codor.integrations.mcp.pins",
            "tool_fingerprint": "codor.integrations.mcp.pins",
            "ScannedResult": "codor.integrations.mcp.scan",
            "scan_result": "codor.integrations.mcp.scan"}
__getattr__ = lazy_exports(__name__, _EXPORTS)
