"""Shared fixtures: factories, never shared mutable state."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from codor.model import Action
from codor.policy import compile_ref
from codor.policy.engine import Engine

WORKSPACE = "/workspace"
HOME = "/home/user"

EngineFactory = Callable[..., Engine]


@pytest.fixture
def write_policy(tmp_path: Path) -> Callable[[str, str], Path]:
    """Write a policy file (dedented) into the test's temp dir and return its path."""

    def factory(text: str, name: str = "policy.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    return factory


@pytest.fixture
def make_engine(write_policy: Callable[[str, str], Path]) -> Iterator[EngineFactory]:
    """Build an engine from inline policy YAML (or a built-in name). Engines are closed after
    the test so extension workers never outlive it."""
    engines: list[Engine] = []

    def factory(policy: str, *, workspace: str = WORKSPACE, home: str = HOME,
                env: dict[str, str] | None = None, **engine_kwargs: Any) -> Engine:
        ref: str | Path = policy if policy.startswith("codor:") else write_policy(policy,
                                                                                "policy.yaml")
        compiled = compile_ref(ref, workspace=workspace, home=home, env=env or {})
        engine = Engine(compiled, **engine_kwargs)
        engines.append(engine)
        return engine

    yield factory
    for engine in engines:
        engine.close()


def act(kind: str, **fields: Any) -> Action:
    """Shorthand for a validated action."""
    return Action.create(kind, **fields)
