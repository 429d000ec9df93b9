"""Data-driven conformance: every ``tests/conformance/*.yaml`` case through the full engine.

Format: ``groups: [{name, policy (inline YAML or codor:<name>), cases: [{name, action,
expect, rule?}]}]``. Evaluated with WORKSPACE=/workspace, HOME=/home/user, cwd=/workspace.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from codor.model import Action
from codor.policy import compile_ref
from codor.policy.engine import Engine

HERE = Path(__file__).parent
WORKSPACE = "/workspace"
HOME = "/home/user"


def _cases() -> Iterator[Any]:
    for path in sorted(HERE.glob("*.yaml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        for group in doc["groups"]:
            for case in group["cases"]:
                yield pytest.param(group["policy"], case,
                                   id=f"{path.stem}::{group['name']}::{case['name']}")


_ENGINES: dict[str, Engine] = {}


def _engine(policy: str, tmp_dir: Path) -> Engine:
    engine = _ENGINES.get(policy)
    if engine is None:
        if policy.strip().startswith("codor:"):
            ref: str | Path = policy.strip()
        else:
            ref = tmp_dir / f"policy-{len(_ENGINES)}.yaml"
            ref.write_text(policy, encoding="utf-8")
        engine = Engine(compile_ref(ref, workspace=WORKSPACE, home=HOME, env={}))
        _ENGINES[policy] = engine
    return engine


@pytest.fixture(scope="module")
def policy_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield tmp_path_factory.mktemp("conformance")
    for engine in _ENGINES.values():
        engine.close()
    _ENGINES.clear()


CASES = list(_cases())


def test_there_are_at_least_150_cases() -> None:
    assert len(CASES) >= 150


@pytest.mark.parametrize(("policy", "case"), CASES)
def test_conformance(policy: str, case: dict[str, Any], policy_dir: Path) -> None:
    engine = _engine(policy, policy_dir)
    data = {"cwd": WORKSPACE, **case["action"]}
    decision = engine.decide(Action.from_json(data))
    assert decision.decision == case["expect"], decision.to_json()
    if "rule" in case:
        assert case["rule"] in [r.rule for r in decision.reasons], decision.to_json()
