"""The evaluator: the normative decision semantics over a compiled policy.

Layers: built-in protections → capability token fast path → rules and guards → extensions.
Aggregation (order-independent): any deny ⇒ deny; else any ask ⇒ ask (every reason kept);
else any allow ⇒ allow; else deny (default deny). ``pass`` abstains. A built-in deny is
terminal; a valid token answers allow without rules, guards or extensions; extensions are
called only when nothing denied. Any exception inside evaluation ⇒ deny (fail closed), reported
to ``on_internal_error`` so it can be recorded.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from codor.errors import CodorError
from codor.model import ACTION_KINDS, Action, Decision, Outcome, Reason
from codor.policy.builtins import BuiltinProtections
from codor.policy.compiler import CompiledPolicy
from codor.policy.guards.base import EvalContext, Finding, Guard, Observations, still_true
from codor.policy.memo import Memo

if TYPE_CHECKING:
    from codor.policy.tokens import TokenVerifier

__all__ = ["Engine", "InternalErrorHook"]

InternalErrorHook = Callable[[Action | None, BaseException], None]
# Findings whose messages never quote action content: rules (the policy's own text), and the
# secrets and injection guards (which name kinds and signals, never the text).
_QUOTES_NOTHING = frozenset({None, "secrets", "injection"})


def _redactor() -> Callable[[str], str]:
    """Redaction of reason messages, memoised (messages repeat)."""
    from functools import lru_cache

    from codor.policy.secret_scanner import default_scanner

    return lru_cache(maxsize=4096)(default_scanner().redact)


class Engine:
    """Decides actions under one compiled policy. Thread-safe; cheap to call."""

    def __init__(
        self,
        policy: CompiledPolicy,
        *,
        builtins: Sequence[Guard] | None = None,
        tokens: TokenVerifier | None = None,
        clock: Callable[[], float] = time.time,
        on_internal_error: InternalErrorHook | None = None,
        memo: bool = True,
    ) -> None:
        self.policy = policy
        if builtins is None:
            builtins = [BuiltinProtections.for_workspace(
                policy_files=policy.files, codor_home=policy.codor_home)]
        self.builtins = tuple(builtins)
        self.tokens = tokens
        self.clock = clock
        self.on_internal_error = on_internal_error
        self._dispatch = policy.dispatch
        self._extensions = policy.extensions
        self._unattended = policy.settings.unattended
        self._redact: Callable[[str], str] | None = None  # built at the first deny/ask
        self._sha = policy.sha256
        # Decision memo: an action decided before is decided the same way again as long as
        # every path it resolved still resolves the same (guards are pure functions of the
        # action and those paths). Never used with tokens or extensions (state elsewhere).
        self._memo: Memo[Action, tuple[Observations, Decision]] | None = (
            Memo(8192) if memo else None)

    # -- public -------------------------------------------------------------------------------
    def decide(self, action: Action) -> Decision:
        """Decide one action. Never raises: internal errors are denies."""
        now = self.clock()  # the single time snapshot of this evaluation (case 22)
        try:
            return self._decide(action, now)
        except Exception as exc:
            return self._internal_error(action, exc)

    def decide_json(self, data: Any, *, location: str | None = None) -> Decision:
        """Validate a decoded JSON action and decide it; malformed input is a deny whose
        reason carries the error code (the caller may also report the error)."""
        try:
            action = Action.from_json(data, location=location)
        except CodorError as exc:
            return Decision("deny", (Reason(f"input.{exc.code}", None, "high", exc.one_line()),),
                            policy=self._sha)
        return self.decide(action)

    def close(self) -> None:
        self.policy.close()
        if self.tokens is not None:
            self.tokens.close()

    # -- evaluation ---------------------------------------------------------------------------
    def _decide(self, action: Action, now: float) -> Decision:
        kind = action.kind
        if kind not in ACTION_KINDS:
            return Decision("deny", (Reason("engine.unknown_kind", None, "high",
                                            f"unknown action kind {kind!r}"),), policy=self._sha)
        policy = self.policy
        memo = self._memo
        if memo is not None and action.token is None and (
                self._extensions is None or kind not in self._extensions.by_kind):
            try:
                entry = memo.get(action)
            except TypeError:  # an unhashable value slipped into the action
                entry = None
                memo = None
            # a hit costs the path re-resolution only: no evaluation context is built
            if entry is not None and still_true(entry[0], policy.home):
                return entry[1]
            ctx = EvalContext(now, policy.workspace, policy.home, action.cwd)
            decision = self._evaluate(action, ctx, kind)
            if memo is not None:
                memo.put(action, (ctx.observations(), decision))
            return decision
        return self._evaluate(action, EvalContext(now, policy.workspace, policy.home,
                                                  action.cwd), kind)

    def _evaluate(self, action: Action, ctx: EvalContext, kind: str) -> Decision:
        findings: list[Finding] = []
        for builtin in self.builtins:
            findings.extend(builtin.check(action, ctx))
        if any(f.effect == "deny" for f in findings):
            return self._finish(findings, ())
        warnings: tuple[str, ...] = ()
        if action.token is not None:
            if self.tokens is None:
                warnings = ("capability token ignored: no token issuers are configured",)
            else:
                check = self.tokens.check(action.token, action, ctx)
                if check.valid:
                    reason = Reason("token.valid", "token", "info",
                                    f"allowed by capability token {check.token_id}")
                    return Decision("allow", (reason,), policy=self._sha)
                warnings = (f"capability token ignored: {check.reason}",)
        for check_fn in self._dispatch[kind]:
            findings.extend(check_fn(action, ctx))
        if self._extensions is not None and not any(f.effect == "deny" for f in findings):
            for spec in self._extensions.by_kind.get(kind, ()):
                finding = self._extensions.call(spec, action)
                findings.append(finding)
                if finding.effect == "deny":
                    break
        return self._finish(findings, warnings, kind)

    def _finish(self, findings: Sequence[Finding], warnings: tuple[str, ...],
                kind: str = "") -> Decision:
        denies = [f for f in findings if f.effect == "deny"]
        asks = [f for f in findings if f.effect == "ask"]
        outcome: Outcome
        if denies:
            outcome, chosen = "deny", denies
        elif asks:
            outcome, chosen = "ask", asks
        else:
            allows = [f for f in findings if f.effect == "allow"]
            if allows:
                outcome, chosen = "allow", allows
            else:
                reason = Reason("engine.default_deny", None, "medium",
                                f"no rule or guard allows this {kind} action (default deny)")
                return Decision("deny", (reason,), warnings, self._sha)
        if outcome == "allow":
            # the secrets guard found nothing in an allowed action, so its messages need no
            # redaction; deny and ask messages may quote what was refused
            reasons = tuple(Reason(f.rule, f.guard, f.severity, f.message) for f in chosen)
        else:
            redact = self._redact
            if redact is None:
                redact = self._redact = _redactor()
            reasons = tuple(Reason(f.rule, f.guard, f.severity,
                                   f.message if f.guard in _QUOTES_NOTHING else
                                   redact(f.message))
                            for f in chosen)
        if outcome == "ask" and self._unattended:
            return Decision("deny", reasons,
                            (*warnings, "unattended policy: approval needed, nobody to ask"),
                            self._sha)
        return Decision(outcome, reasons, warnings, self._sha)

    def _internal_error(self, action: Action | None, exc: BaseException) -> Decision:
        if self.on_internal_error is not None:
            with contextlib.suppress(Exception):  # the hook must not break fail-closed
                self.on_internal_error(action, exc)
        reason = Reason("engine.internal_error", None, "critical",
                        f"internal error during evaluation ({type(exc).__name__}); denied")
        return Decision("deny", (reason,), policy=self._sha)
