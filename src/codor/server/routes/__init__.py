"""The daemon's HTTP routes, one module per resource; :func:`ROUTERS` lists them in the order
they are mounted."""

from __future__ import annotations

from fastapi import APIRouter

__all__ = ["ROUTERS"]


def ROUTERS() -> list[APIRouter]:
    from codor.server.routes import check, health

    return [health.router, check.router]
