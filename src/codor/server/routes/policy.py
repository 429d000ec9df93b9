"""The policy over HTTP: read it (``read``), validate policy text, replace it with a signed
bundle, or reload it from the workspace (``policy.write``).

``PUT /v1/policy`` takes a signed policy bundle (:mod:`codor.policy.bundle`): it is verified
against ``.codor/policy-keys/*.pub`` before anything else, compiled, recorded in the ledger
as a ``policy.changed`` event (new and previous sha256, the signer), and only then used for
every later decision; it is kept as ``.codor/policy.bundle.json``. ``POST
/v1/policy/validate`` lints policy YAML as if it were ``.codor/policy.yaml`` and answers 200
with the problems, never 500; it needs ``policy.write`` because the text may name files on
the daemon's host (``extends``) that the loader reads.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Annotated, Any, Final

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool

from codor.server.http import daemon_of, require
from codor.server.keys import ApiKey  # at runtime: FastAPI reads the annotations

if TYPE_CHECKING:
    from codor.policy.engine import Engine
    from codor.server.daemon import Daemon
    from codor.server.policyload import BundleInfo

router = APIRouter(prefix="/v1", tags=["policy"])

#: the ledger session the daemon's own events (policy changes) are recorded in
DAEMON_SESSION: Final = "codor-daemon"
_CHANGE = threading.Lock()  # one policy change at a time
_TEXT_BODY: Final = {"requestBody": {"required": True, "content": {
    "application/yaml": {"schema": {"type": "string"}},
    "text/plain": {"schema": {"type": "string"}}}}}
_BUNDLE_BODY: Final = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": {
        "type": "object", "required": ["payload", "payloadType", "signatures"],
        "properties": {"payload": {"type": "string"},
                       "payloadType": {"type": "string"},
                       "signatures": {"type": "array", "items": {"type": "object"}}}}}}}}


def _warning(w: object) -> dict[str, Any]:
    from codor.policy.schema import PolicyWarning

    if isinstance(w, PolicyWarning):
        return {"code": w.code, "location": w.location, "message": w.text}
    return {"code": "W_POLICY", "location": None, "message": str(w)}


def _bundle_of(daemon: Daemon) -> dict[str, Any] | None:
    """Who signed the policy in use (pushed, or the bundle the daemon started with)."""
    from codor.policy.bundle import is_bundle_ref

    found = daemon.extras.get("policy_bundle")
    if isinstance(found, dict):
        return found
    ref = daemon.settings.policy
    if ref is None or not is_bundle_ref(ref):
        return None
    from codor.errors import CodorError
    from codor.server.policyload import load_bundle_file

    try:
        info = load_bundle_file(ref, daemon.settings)
    except CodorError as exc:
        return {"file": ref, "error": exc.one_line()}
    if str(info.path) != daemon.policy_ref:
        return {"file": ref, "error": "the bundle file changed since the daemon loaded it"}
    found = {"file": ref, **info.to_json()}
    daemon.extras["policy_bundle"] = found
    return found


@router.get("/policy", summary="The policy in use: reference, sha256, merged policy, warnings")
def policy(request: Request, key: Annotated[ApiKey, Depends(require("read"))]
           ) -> dict[str, Any]:
    daemon = daemon_of(request)
    compiled = daemon.engine.policy
    return {"ref": daemon.policy_ref, "name": compiled.name, "sha256": compiled.sha256,
            "sources": list(compiled.files), "policy": compiled.document.to_json(),
            "warnings": [_warning(w) for w in compiled.warnings],
            "bundle": _bundle_of(daemon)}


def _validate(request: Request, body: bytes) -> dict[str, Any]:
    from codor.server.policyload import compile_text

    daemon = daemon_of(request)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        problems = [{"level": "error", "code": "E_INPUT", "location": "<body>",
                     "message": f"the policy is not UTF-8 (byte {exc.start})"}]
        sha = None
    else:
        if "\x00" in text:
            problems = [{"level": "error", "code": "E_INPUT", "location": "<body>",
                         "message": "the policy contains a NUL character"}]
            sha = None
        else:
            problems, sha = compile_text(text, daemon.settings)
    errors = sum(p["level"] == "error" for p in problems)
    warnings = sum(p["level"] == "warning" for p in problems)
    return {"ok": errors == 0, "errors": errors, "warnings": warnings, "sha256": sha,
            "problems": problems}


@router.post("/policy/validate", summary="Lint policy YAML (200 with the problems found)",
             openapi_extra=_TEXT_BODY)
async def validate(request: Request, key: Annotated[ApiKey, Depends(require("policy.write"))]
                   ) -> dict[str, Any]:
    body = await request.body()
    return await run_in_threadpool(_validate, request, body)


def _apply(daemon: Daemon, engine: Engine, key: ApiKey, source: dict[str, Any],
           bundle: dict[str, Any] | None) -> dict[str, Any]:
    """Record the change, then use ``engine`` (closed when the change cannot be recorded)."""
    from codor.model import Agent

    previous = daemon.engine.policy.sha256
    new = engine.policy.sha256
    try:
        index = daemon.kernel.record_event(
            DAEMON_SESSION, "policy.changed",
            {"sha256": new, "previous": previous, **source, "api_key": key.id},
            agent=Agent("codor-daemon"))
    except BaseException:
        engine.close()
        raise
    daemon.swap_engine(engine)
    daemon.policy_ref = source.get("ref") or str(engine.policy.source)
    if bundle is None:
        daemon.extras.pop("policy_bundle", None)
    else:
        daemon.extras["policy_bundle"] = bundle
    return {"changed": True, "sha256": new, "previous": previous, "index": index,
            "ref": daemon.policy_ref, "bundle": bundle}


def _put(request: Request, body: bytes, key: ApiKey) -> dict[str, Any]:
    from codor.server.policyload import engine_for, keep_pushed, verified_bundle

    daemon = daemon_of(request)
    with _CHANGE:
        info = verified_bundle(body, daemon.settings)  # first: nothing unverified is read
        engine = engine_for(info.path, daemon.settings, bundle=info)
        try:
            kept = keep_pushed(body, daemon.settings)
        except BaseException:
            engine.close()
            raise
        bundle = {"file": str(kept), **info.to_json()}
        return _apply(daemon, engine, key, {"source": "bundle", "ref": str(info.path),
                                            **info.to_json()}, bundle)


@router.put("/policy", summary="Replace the policy with a signed policy bundle",
            openapi_extra=_BUNDLE_BODY,
            responses={400: {"description": "the bundle does not verify (E_BUNDLE) or the "
                                            "policy does not compile"}})
async def put_policy(request: Request,
                     key: Annotated[ApiKey, Depends(require("policy.write"))]
                     ) -> dict[str, Any]:
    body = await request.body()
    return await run_in_threadpool(_put, request, body, key)


def _reload(request: Request, key: ApiKey) -> dict[str, Any]:
    from codor.integrations.context import resolve_policy
    from codor.policy.bundle import is_bundle_ref
    from codor.server.policyload import engine_for, load_bundle_file

    daemon = daemon_of(request)
    settings = daemon.settings
    with _CHANGE:
        ref = resolve_policy(settings.policy, settings.workspace)
        info: BundleInfo | None = None
        path = ref
        if is_bundle_ref(ref):
            info = load_bundle_file(ref, settings)
            path = str(info.path)
        engine = engine_for(path, settings, bundle=info)
        if engine.policy.sha256 == daemon.engine.policy.sha256:
            engine.close()
            return {"changed": False, "sha256": daemon.engine.policy.sha256, "index": None,
                    "ref": daemon.policy_ref, "bundle": _bundle_of(daemon)}
        bundle = None if info is None else {"file": ref, **info.to_json()}
        return _apply(daemon, engine, key, {"source": "reload", "ref": path,
                                            **({} if info is None else info.to_json())},
                      bundle)


@router.post("/policy/reload", summary="Re-read the workspace's policy (file or bundle)")
async def reload(request: Request, key: Annotated[ApiKey, Depends(require("policy.write"))]
                 ) -> dict[str, Any]:
    return await run_in_threadpool(_reload, request, key)
