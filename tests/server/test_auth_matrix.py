"""The permission matrix, route by route: every route of the app names the permission its
``require(...)`` dependency checks, and for each role a request is refused with 403 exactly
when :data:`codor.server.auth.MATRIX` says so; without a key every route but the public
ones is 401. A route added without a permission fails this test.

The allowed case is observed without running the endpoint: each role's rate-limit bucket is
emptied first, so a request that passes authentication and the permission check stops at
the rate limit (429), which ``require`` applies only after both — no side effects, and no
endless stream or long poll to wait for.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute, Mount

from codor.server.auth import MATRIX, PERMISSIONS
from tests.server.conftest import Server, ServerFactory

#: no key needed, by design
PUBLIC = {("GET", "/health"), ("GET", "/ready")}
#: not API routes: the dashboard's static files
NOT_API = ("/static/",)
#: the dashboard's HTML pages (its own cookie login, with redirects; tested with it)
DASHBOARD_MODULE = "codor.server.dashboard"
#: routes that also let a role without their permission through the auth layer, for its
#: own objects only (the endpoint checks ownership): route -> the permission that admits it
OWN_ONLY = {("GET", "/v1/approvals/{approval_id}/wait"): "check"}

ROLES = tuple(MATRIX)


def _walk(routes: list[BaseRoute], prefix: str = "",
          inherited: tuple[Any, ...] = ()) -> Iterator[tuple[str, BaseRoute, tuple[Any, ...]]]:
    """Every leaf route with its full path and the dependencies of the routers it sits in
    (FastAPI may keep included routers as nodes of their own)."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            ctx = getattr(route, "include_context", None)
            deps = tuple(getattr(ctx, "dependencies", ()) or ())
            yield from _walk(inner.routes, prefix + str(getattr(ctx, "prefix", "") or ""),
                             inherited + deps)
        elif isinstance(route, Mount) and not isinstance(getattr(route, "app", None),
                                                         type(None)) and \
                hasattr(route.app, "routes"):
            yield from _walk(list(route.app.routes), prefix + route.path, inherited)
        else:
            yield prefix + str(getattr(route, "path", "")), route, inherited


def _permissions(dependant: Any) -> list[str]:
    found = []
    for sub in dependant.dependencies:
        permission = getattr(sub.call, "permission", None)
        if permission is not None:
            found.append(permission)
        found += _permissions(sub)
    return found


def routes_of(server: Server) -> list[tuple[str, str, str | None, BaseRoute]]:
    """``(method, path, permission, route)`` for every route and method of the app."""
    out = []
    for path, route, inherited in _walk(list(server.client.app.routes)):  # type: ignore[attr-defined]
        methods = sorted((getattr(route, "methods", None) or {"GET"}) - {"HEAD"})
        permission = None
        if isinstance(route, APIRoute) and \
                str(getattr(route.endpoint, "__module__", "")).startswith(DASHBOARD_MODULE):
            continue
        if isinstance(route, APIRoute):
            names = _permissions(route.dependant)
            names += [p for d in inherited
                      if (p := getattr(getattr(d, "dependency", None), "permission", None))]
            assert len(set(names)) <= 1, f"{path} names several permissions: {names}"
            permission = names[0] if names else None
        for method in methods:
            out.append((method, path, permission, route))
    return out


def concrete(path: str) -> str:
    """The route's path with each parameter filled in."""
    values = {"index": "0", "key_id": "0123456789abcdef"}
    return re.sub(r"\{([^}:]+)(:[^}]*)?\}", lambda m: values.get(m.group(1), "x-1"), path)


def request(server: Server, method: str, path: str, token: str | None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return server.client.request(method, concrete(path), headers=headers, json={},
                                 follow_redirects=False)


@pytest.fixture
def matrix_server(make_server: ServerFactory) -> Server:
    server = make_server(rate_limit=1e-9, rate_burst=1)
    keys = {k.name: k for k in server.daemon.keys.list()}
    buckets = server.client.app.state.rate  # type: ignore[attr-defined]
    for role in ROLES:
        buckets[keys[f"test {role}"].id] = [0.0, time.monotonic()]  # empty, refills never
    return server


def test_every_api_route_names_a_known_permission(matrix_server: Server) -> None:
    routes = routes_of(matrix_server)
    assert len([r for r in routes if r[2] is not None]) >= 20
    for method, path, permission, route in routes:
        if (method, path) in PUBLIC or path.startswith(NOT_API):
            continue
        if not isinstance(route, APIRoute):
            continue  # a page of the dashboard (cookie login), not an API route
        assert permission is not None, f"{method} {path} has no require(...) permission"
        assert permission in PERMISSIONS, f"{method} {path}: unknown {permission!r}"


def test_each_role_is_refused_exactly_where_the_matrix_says(matrix_server: Server) -> None:
    checked = 0
    for method, path, permission, _ in routes_of(matrix_server):
        if permission is None:
            continue
        for role in ROLES:
            r = request(matrix_server, method, path, matrix_server.tokens[role])
            also = OWN_ONLY.get((method, path))
            if permission in MATRIX[role] or also in MATRIX[role]:
                assert r.status_code == 429, (role, method, path, r.status_code, r.text)
            else:
                assert r.status_code == 403, (role, method, path, r.status_code, r.text)
                assert r.json()["error"]["code"] == "E_FORBIDDEN"
            checked += 1
    assert checked >= 20 * len(ROLES)


def test_without_a_key_every_route_but_health_and_ready_is_401(matrix_server: Server
                                                               ) -> None:
    for method, path, _, route in routes_of(matrix_server):
        if path.startswith(NOT_API) or not isinstance(route, APIRoute):
            continue
        r = request(matrix_server, method, path, None)
        if (method, path) in PUBLIC:
            assert r.status_code in (200, 503), (method, path)
            continue
        assert r.status_code == 401, (method, path, r.status_code)
        assert r.json()["error"]["code"] == "E_UNAUTHENTICATED"
        bad = request(matrix_server, method, path, "codor_0123456789abcdef_" + "x" * 43)
        assert bad.status_code == 401, (method, path)
