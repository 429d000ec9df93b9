"""The policy engine: load, compile and evaluate policies; decide every action.

Typical use::

    from codor.policy import load_engine
    engine = load_engine("codor:coding-assistant", workspace="/repo")
    decision = engine.decide(Action.create("file.read", path="src/app.py"))
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from codor.policy.compiler import CompiledPolicy
    from codor.policy.engine import Engine

__all__ = ["DEFAULT_POLICY", "compile_ref", "load_engine"]

#: The policy that applies when a workspace has no policy file.
DEFAULT_POLICY = "codor:coding-assistant"


def compile_ref(
    ref: str | Path,
    *,
    workspace: str | Path | None = None,
    home: str | None = None,
    env: dict[str, str] | None = None,
    codor_home: str | None = None,
) -> CompiledPolicy:
    """Load and compile a policy file or built-in ruleset (``codor:<name>``)."""
    from codor.policy.compiler import compile_policy
    from codor.policy.loader import load_policy

    ws = str(Path(workspace or os.getcwd()).absolute())
    env_map = dict(os.environ) if env is None else env
    home_dir = home or env_map.get("HOME") or str(Path.home())
    doc = load_policy(ref, workspace=ws, home=home_dir, env=env_map, codor_home=codor_home)
    return compile_policy(doc, workspace=ws, home=home_dir, codor_home=codor_home)


def load_engine(ref: str | Path = DEFAULT_POLICY, **kwargs: Any) -> Engine:
    """Compile ``ref`` and return an :class:`~codor.policy.engine.Engine` for it.

    Keyword arguments go to :func:`compile_ref` (workspace, home, env, codor_home) and, for
    ``builtins``, ``tokens``, ``clock``, ``on_internal_error``, to the engine.
    ``tokens="workspace"`` gives the engine the workspace's capability-token verifier
    (:func:`codor.policy.tokenstore.workspace_verifier` for ``codor_home``, with ``state`` and
    ``record`` — ``record=False`` spends no persisted use); the engine closes it.
    """
    from codor.policy.engine import Engine

    state = kwargs.pop("state", None)
    record = kwargs.pop("record", True)
    engine_keys = ("builtins", "tokens", "clock", "on_internal_error")
    engine_kwargs = {k: kwargs.pop(k) for k in engine_keys if k in kwargs}
    compiled = compile_ref(ref, **kwargs)
    try:
        if engine_kwargs.get("tokens") == "workspace":
            from codor.policy.tokenstore import workspace_verifier

            home = kwargs.get("codor_home") or Path(kwargs.get("workspace") or os.getcwd()) \
                / ".codor"
            engine_kwargs["tokens"] = workspace_verifier(
                home, workspace=compiled.workspace, state=state, persistent=record)
        return Engine(compiled, **engine_kwargs)
    except BaseException:
        compiled.close()
        raise
