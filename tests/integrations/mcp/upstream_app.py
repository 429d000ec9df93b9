"""A tiny MCP server for the gateway's tests, written with the official SDK (run as a script).

Its one tool, ``greet``, takes its description from ``$CODOR_TEST_DESCRIPTION``, so a test can
change the tool between two runs of the same command line (a rug pull).
"""

from __future__ import annotations

import os

from mcp.server.mcpserver import MCPServer

app = MCPServer("pin-test")


@app.tool(name="greet", description=os.environ.get("CODOR_TEST_DESCRIPTION", "Say hello."))
def greet(name: str) -> str:
    return f"Hello, {name}!"


if __name__ == "__main__":
    app.run()
