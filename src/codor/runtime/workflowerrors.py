"""The workflow's errors: a request that is not valid (:class:`WorkflowError`), a transition
whose guard does not hold (:class:`GuardError`) and a phase change the transition table does
not have (:class:`WorkflowTransitionError`). They are raised by the pure workflow modules
(:mod:`codor.runtime.workflow` and its parts) and by the store
(:mod:`codor.runtime.workflowstore`), and re-exported by :mod:`codor.runtime.workflow`.
"""

from __future__ import annotations

from codor.errors import CodorError

__all__ = ["GuardError", "WorkflowError", "WorkflowTransitionError"]


class WorkflowError(CodorError):
    """A workflow request that is not valid (unknown mode or phase, a session not in the
    state the request needs)."""

    code = "E_WORKFLOW"


class GuardError(WorkflowError):
    """A transition whose guard does not hold; the message says what evidence is missing."""

    code = "E_WORKFLOW_GUARD"


class WorkflowTransitionError(WorkflowError):
    """A phase change the transition table does not allow."""

    code = "E_WORKFLOW_TRANSITION"
