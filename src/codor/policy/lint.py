"""``codor policy lint`` and ``codor policy test``: find problems before they cost a decision.

Lint reports, each with ``file:line`` and a stable code:
errors (``E_POLICY_*``: anything that stops the policy from loading), and warnings:
``W_EMPTY_PATTERNS`` (an empty pattern list matches nothing, case 25), ``W_NEVER_FIRES``
(an except identical to the match, case 26; a path pattern on kinds without paths),
``W_SHADOWED`` (an allow/ask rule that a deny rule always overrides), ``W_DUPLICATE`` (two
rules with the same kinds, match and effect), ``W_NO_EFFECT`` (a pass rule), ``W_UNKNOWN_RULE``,
``W_BROAD_EGRESS`` (an egress allow that covers hosts anyone can publish to:
:mod:`codor.policy.openhosts`),
and ``I_OVERRIDE`` notes for rules replaced by a child policy.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from codor.canonical import canonical_json
from codor.errors import CodorError
from codor.model import Action, Decision, thaw
from codor.policy.compiler import CompiledPolicy
from codor.policy.schema import PolicyWarning

__all__ = ["LintProblem", "PolicyTestResult", "lint_policy", "run_policy_tests"]

_PATHLESS_KINDS = frozenset({"command.exec", "network.request", "tool.call", "content.inbound",
                             "content.outbound"})


@dataclass(frozen=True, slots=True)
class LintProblem:
    level: str  # error | warning | info
    code: str
    location: str | None
    message: str

    def __str__(self) -> str:
        where = f"{self.location}: " if self.location else ""
        return f"{where}{self.level}: {self.message} [{self.code}]"


def _as_problem(w: str, level: str = "warning") -> LintProblem:
    if isinstance(w, PolicyWarning):
        lvl = "info" if w.code.startswith("I_") else level
        return LintProblem(lvl, w.code, w.location, w.text)
    return LintProblem(level, "W_POLICY", None, w)


def lint_policy(load: Callable[[], CompiledPolicy]) -> list[LintProblem]:
    """Lint the policy that ``load()`` compiles; never raises for a bad policy."""
    try:
        compiled = load()
    except CodorError as exc:
        return [LintProblem("error", exc.code, exc.location, exc.message)]
    try:
        problems = [_as_problem(w) for w in compiled.warnings]
        problems += [_as_problem(w, "info") for w in compiled.document.overrides]
        problems += _rule_problems(compiled)
        return problems
    finally:
        compiled.close()


def _rule_problems(compiled: CompiledPolicy) -> list[LintProblem]:
    out: list[LintProblem] = []
    raw = compiled.document.rules
    rules = compiled.rules

    def loc(rid: str) -> str | None:
        data = raw.get(rid)
        return data.loc("id") if data is not None else None

    def match_key(rid: str) -> bytes:
        data: Mapping[str, Any] = raw[rid].get("match") or {}
        return canonical_json(thaw(data))

    seen: dict[tuple[frozenset[str], bytes, str], str] = {}
    for rid, rule in rules.items():
        if rule.effect == "pass" and not rule.excepts:
            out.append(LintProblem("warning", "W_NO_EFFECT", loc(rid),
                                   f"rule {rid!r} has effect pass and no except: it does nothing"))
        has_path = "path" in (raw[rid].get("match") or {})
        pathless = rule.kinds & _PATHLESS_KINDS
        if has_path and pathless:
            out.append(LintProblem(
                "warning", "W_NEVER_FIRES", loc(rid),
                f"rule {rid!r} matches on path, which {', '.join(sorted(pathless))} "
                "actions never carry: it never fires for them"))
        key = (rule.kinds, match_key(rid), rule.effect)
        if key in seen:
            out.append(LintProblem("warning", "W_DUPLICATE", loc(rid),
                                   f"rule {rid!r} duplicates rule {seen[key]!r}"))
        else:
            seen[key] = rid
    for rid, rule in rules.items():
        if rule.effect not in ("allow", "ask"):
            continue
        for did, deny in rules.items():
            if deny.effect != "deny" or deny.excepts or not rule.kinds <= deny.kinds:
                continue
            deny_match = raw[did].get("match") or {}
            if not deny_match or match_key(did) == match_key(rid):
                out.append(LintProblem(
                    "warning", "W_SHADOWED", loc(rid),
                    f"rule {rid!r} ({rule.effect}) is shadowed: deny rule {did!r} always "
                    "matches the same actions, and a deny wins"))
                break
    return out


@dataclass(frozen=True, slots=True)
class PolicyTestResult:
    name: str
    location: str | None
    passed: bool
    expected: str
    decision: Decision | None
    error: str | None = None

    def __str__(self) -> str:
        where = f"{self.location}: " if self.location else ""
        if self.error:
            return f"{where}ERROR {self.name}: {self.error}"
        got = self.decision.decision if self.decision else "?"
        status = "ok" if self.passed else f"FAIL (expected {self.expected}, got {got})"
        return f"{where}{status} {self.name}"


def run_policy_tests(decide: Callable[[Action], Decision],
                     compiled: CompiledPolicy) -> list[PolicyTestResult]:
    """Run the ``tests:`` of the top policy file: each an action and the expected decision
    (optionally ``rule``: a reason that must be present)."""
    results: list[PolicyTestResult] = []
    for i, test in enumerate(compiled.document.tests):
        name = str(test.get("name") or f"test {i + 1}")
        where = test.loc() if hasattr(test, "loc") else None
        expected = str(test.get("expect", ""))
        unknown = set(test) - {"name", "action", "expect", "rule"}
        if unknown or expected not in ("allow", "deny", "ask"):
            msg = (f"unknown key(s) {sorted(unknown)}" if unknown
                   else f"expect must be allow, deny or ask, got {expected!r}")
            results.append(PolicyTestResult(name, where, False, expected, None, msg))
            continue
        try:
            action = Action.from_json(thaw(test.get("action")), location=where)
        except CodorError as exc:
            results.append(PolicyTestResult(name, where, False, expected, None, exc.one_line()))
            continue
        decision = decide(action)
        ok = decision.decision == expected
        rule = test.get("rule")
        if ok and rule is not None:
            ok = any(r.rule == rule for r in decision.reasons)
        results.append(PolicyTestResult(name, where, ok, expected, decision))
    return results
