"""Shared helpers for the guard unit tests: compile one guard from YAML text, run one action
through it, sum up its findings, and read the conformance cases it can judge alone."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar

import pytest
import yaml

from codor.model import Action
from codor.policy.guards.base import CompileContext, EvalContext, Finding, Guard
from codor.policy.schema import Section
from codor.policy.source import load_yaml

WORKSPACE, HOME = "/workspace", "/home/user"
CONFORMANCE_DIR = Path(__file__).resolve().parents[2] / "conformance"

GuardCase = tuple[str, str, dict[str, Any], str, str | None]
"""One conformance case: (``group: case`` name, guard config YAML, action, expect, rule)."""

G_co = TypeVar("G_co", bound=Guard, covariant=True)


class GuardModule(Protocol[G_co]):
    """A guard module, such as ``codor.policy.guards.egress``."""

    __name__: str

    def compile_guard(self, section: Section, cc: CompileContext) -> G_co: ...


def build(module: GuardModule[G_co], text: str = "{}", *, cc: CompileContext | None = None,
          warnings: list[str] | None = None, workspace: str = WORKSPACE,
          filename: str = "policy.yaml") -> G_co:
    """Compile ``module``'s guard from ``text``, read as the section ``guards.<module name>``
    of ``filename``. Without ``cc``, a fresh :class:`CompileContext` for ``workspace``."""
    name = module.__name__.rsplit(".", 1)[-1]
    section = Section(load_yaml(text, filename), f"guards.{name}", warnings)
    return module.compile_guard(section, cc if cc is not None else CompileContext(workspace, HOME))


def judge(guard: Guard, kind: str, /, *, workspace: str = WORKSPACE,
          **fields: Any) -> Sequence[Finding]:
    """What ``guard`` finds in the action ``kind`` with ``fields``, evaluated at time 0."""
    action = Action.create(kind, **fields)
    return guard.check(action, EvalContext(0.0, workspace, HOME))


def outcome(findings: Sequence[Finding], *, default: str = "deny") -> str:
    """The strongest effect found (deny > ask > allow); ``default`` when there is none."""
    effects = {f.effect for f in findings}
    for effect in ("deny", "ask", "allow"):
        if effect in effects:
            return effect
    return default


def rules(findings: Sequence[Finding]) -> set[str]:
    return {f.rule for f in findings}


def load_conformance(guard_name: str) -> Any:
    """The parsed ``tests/conformance/<guard_name>.yaml``."""
    return yaml.safe_load((CONFORMANCE_DIR / f"{guard_name}.yaml").read_text(encoding="utf-8"))


def guard_cases(guard_name: str) -> list[GuardCase]:
    """Every case of ``tests/conformance/<guard_name>.yaml`` with its group's config for that
    guard alone."""
    out: list[GuardCase] = []
    for group in load_conformance(guard_name)["groups"]:
        policy = yaml.safe_load(group["policy"])
        config = yaml.safe_dump(policy["guards"][guard_name])
        for case in group["cases"]:
            out.append((f"{group['name']}: {case['name']}", config, case["action"],
                        case["expect"], case.get("rule")))
    return out


def for_each_guard_case(guard_name: str) -> pytest.MarkDecorator:
    """Parametrize a test over :func:`guard_cases` (arguments ``name, config, action, expect,
    rule``; ids are the case names)."""
    cases = guard_cases(guard_name)
    return pytest.mark.parametrize(("name", "config", "action", "expect", "rule"), cases,
                                   ids=[c[0] for c in cases])
