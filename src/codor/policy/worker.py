"""The extension worker: a separate process that loads guard plugins and answers calls.

Run as ``python -m codor.policy.worker``. Protocol (JSON Lines on stdin/stdout):

1. parent → worker: ``{"extensions": [{"name", "module" | "file" | "entry_point", "function"}]}``
2. worker → parent: ``{"ready": true, "errors": {name: message}}``
3. then, per call: ``{"id": n, "ext": name, "action": {...}}`` →
   ``{"id": n, "effect", "message", "severity"}`` or ``{"id": n, "error": "..."}``

A plugin is a callable ``check(action: dict) -> str | dict``: an effect name (``allow``,
``deny``, ``ask``, ``pass``) or ``{"effect", "message"?, "severity"?}``. The worker exits when
its stdin closes, so it never outlives the engine that started it.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import sys
from collections.abc import Callable
from typing import Any


def _load(spec: dict[str, Any]) -> Callable[[dict[str, Any]], Any]:
    function = spec.get("function") or "check"
    if spec.get("module"):
        mod_name, _, attr = str(spec["module"]).partition(":")
        module = importlib.import_module(mod_name)
        return getattr(module, attr or function)  # type: ignore[no-any-return]
    if spec.get("file"):
        path = str(spec["file"])
        mod_spec = importlib.util.spec_from_file_location(f"codor_ext_{spec['name']}", path)
        if mod_spec is None or mod_spec.loader is None:
            raise ImportError(f"cannot load {path}")
        module = importlib.util.module_from_spec(mod_spec)
        mod_spec.loader.exec_module(module)
        return getattr(module, function)  # type: ignore[no-any-return]
    if spec.get("entry_point"):
        from importlib.metadata import entry_points

        for ep in entry_points(group="codor.guards"):
            if ep.name == spec["entry_point"]:
                return ep.load()  # type: ignore[no-any-return]
        raise ImportError(f"no 'codor.guards' entry point named {spec['entry_point']!r}")
    raise ImportError("extension needs module, file or entry_point")


def main() -> int:
    out = sys.stdout
    sys.stdout = sys.stderr  # a plugin's print() must not corrupt the protocol
    config = json.loads(sys.stdin.readline() or "{}")
    funcs: dict[str, Callable[[dict[str, Any]], Any]] = {}
    errors: dict[str, str] = {}
    for spec in config.get("extensions", []):
        try:
            funcs[spec["name"]] = _load(spec)
        except Exception as exc:
            errors[spec.get("name", "?")] = f"{type(exc).__name__}: {exc}"
    out.write(json.dumps({"ready": True, "errors": errors}) + "\n")
    out.flush()
    for line in sys.stdin:
        request = json.loads(line)
        reply: dict[str, Any] = {"id": request.get("id")}
        func = funcs.get(request.get("ext", ""))
        if func is None:
            reply["error"] = errors.get(request.get("ext", ""), "unknown extension")
        else:
            try:
                result = func(request.get("action", {}))
                if isinstance(result, str):
                    reply["effect"] = result
                elif isinstance(result, dict):
                    reply.update({k: result[k] for k in ("effect", "message", "severity")
                                  if k in result})
                else:
                    reply["error"] = f"plugin returned {type(result).__name__}"
            except Exception as exc:
                reply["error"] = f"{type(exc).__name__}: {exc}"
        out.write(json.dumps(reply) + "\n")
        out.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
