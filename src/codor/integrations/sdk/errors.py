"""The SDK's typed errors: a refused action (:class:`ActionDenied`, :class:`ApprovalRequired`)
and an adapter whose framework is not installed (:class:`MissingExtraError`).

A *decision* is never an exception inside CODOR (``Guard.check`` returns it); these exist for
the places where the SDK stands between an agent and a function — ``Guard.require``,
``@guarded``, the adapters — and must stop the call.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from codor.errors import CodorError

if TYPE_CHECKING:
    from codor.model import Action, Decision

__all__ = ["ActionDenied", "ApprovalRequired", "MissingExtraError", "describe"]


def describe(action: Action | None) -> str:
    """A short label of an action for messages: its kind and what it names."""
    if action is None:
        return "action"
    for name in ("tool", "path", "command", "url", "host", "task", "mode"):
        value = getattr(action, name)
        if isinstance(value, str):
            text = " ".join(value.split())
            return f"{action.kind} {text[:80]}{'...' if len(text) > 80 else ''}"
    if action.argv:
        return f"{action.kind} {' '.join(action.argv)[:80]}"
    return action.kind


class ActionDenied(CodorError):
    """The policy did not allow the action, so it did not run.

    ``decision`` is the policy's answer (``deny``; ``ask`` for :class:`ApprovalRequired`),
    ``action`` what was decided (``None`` when no valid action could be built from the call)
    and ``index`` the ledger index of the decision record (``None`` without a ledger).
    """

    code = "E_DENIED"

    def __init__(self, decision: Decision, action: Action | None = None,
                 index: int | None = None) -> None:
        reasons = "; ".join(r.message for r in decision.reasons) or decision.decision
        verb = "needs approval" if decision.decision == "ask" else "denied"
        super().__init__(f"{describe(action)} {verb}: {reasons}",
                         location=None if index is None else f"ledger #{index}")
        self.decision = decision
        self.action = action
        self.index = index


class ApprovalRequired(ActionDenied):
    """The policy asks a person about the action. Until CODOR's approvals queue exists the SDK
    cannot wait for that answer, so the action does not run (an ``ask`` is never an allow)."""

    code = "E_APPROVAL_REQUIRED"


class MissingExtraError(CodorError):
    """An SDK adapter was imported without its framework installed."""

    code = "E_EXTRA_MISSING"

    def __init__(self, module: str, extra: str, package: str) -> None:
        super().__init__(f"{module} needs {package}, which is not installed: "
                         f"pip install 'codor[{extra}]'")
        self.extra = extra
