"""Bridges between CODOR and other agent-security tools (Clawdstrike events and policies)."""

from __future__ import annotations

__all__ = ["clawdstrike"]
