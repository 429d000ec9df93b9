"""Guards: configurable rule generators with real logic, one module per guard."""

from __future__ import annotations

from codor.policy.guards.base import CompileContext, EvalContext, Finding, Guard

__all__ = ["CompileContext", "EvalContext", "Finding", "Guard"]
