"""``http.fetch``: the request the router hands to an HTTP client and the report it gets back.

The router never opens a socket itself: it calls an injected :class:`HttpClient` (wired to
CODOR's egress proxy by ``codor run`` and the MCP server). A client must not follow
redirects: a ``3xx`` goes back to the agent, whose next fetch of the ``Location`` is a new
action with its own decision.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final, Protocol

__all__ = ["METHODS", "FetchReport", "FetchRequest", "HttpClient"]

METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


@dataclass(frozen=True, slots=True)
class FetchRequest:
    """One HTTP request; the client reads at most ``max_bytes`` of the body."""

    url: str
    method: str = "GET"
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes | None = None
    timeout: float = 30.0
    max_bytes: int = 1 << 20


@dataclass(frozen=True, slots=True)
class FetchReport:
    """What the client observed: status, headers, the body's beginning (``body_size`` and
    ``body_sha256`` describe all of it when the client read it whole or hashed it), and
    ``(wall_us, mono_us)`` times; ``via`` names the path taken (the egress proxy)."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    started: tuple[int, int]
    ended: tuple[int, int]
    via: str
    body_size: int | None = None
    body_sha256: str | None = None


class HttpClient(Protocol):
    """Performs one request without following redirects. Raising a
    :class:`~codor.errors.CodorError` or :class:`OSError` means no response was received."""

    def __call__(self, request: FetchRequest) -> FetchReport: ...
