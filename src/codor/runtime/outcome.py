"""What a tool call returns (:class:`ToolResult`) and what its execution observed
(:class:`Observation`, recorded as an :class:`~codor.evidence.records.OutcomeRecord`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from codor.evidence.records import StreamSummary, now_us
from codor.model import Action, Decision, FrozenMap, freeze, thaw

__all__ = ["Observation", "Status", "ToolResult", "stream"]

#: ``ok``: executed; ``denied``: the policy refused, nothing ran; ``approval_needed``: the
#: policy asks a person, nothing ran; ``error``: bad arguments, or execution failed.
Status = Literal["ok", "denied", "approval_needed", "error"]
_EMPTY = FrozenMap()


def stream(data: bytes, *, size: int | None = None, sha256: str | None = None) -> StreamSummary:
    """A stream summary of ``data``; ``size``/``sha256`` describe the whole stream when
    ``data`` is only its (bounded) beginning, as a sandbox hands it over."""
    summary = StreamSummary.of(data)
    if (size is None or size == summary.size) and (sha256 is None or sha256 == summary.sha256):
        return summary
    total = summary.size if size is None else size
    return StreamSummary(sha256 or summary.sha256, total, summary.excerpt,
                         summary.truncated or total > len(data))


@dataclass(frozen=True, slots=True)
class Observation:
    """The facts of one execution, as the outcome record will hold them. ``materials`` are
    files read (path → sha256 before), ``products`` files written (path → sha256 after); a
    deleted file is a material without a product (in-toto's convention)."""

    started: tuple[int, int]
    ended: tuple[int, int] = field(default_factory=now_us)
    exit_status: int | None = None
    stdout: StreamSummary | None = None
    stderr: StreamSummary | None = None
    products: Mapping[str, str] = _EMPTY
    materials: Mapping[str, str] = _EMPTY
    sandbox: str | None = None


@dataclass(frozen=True, slots=True)
class ToolResult:
    """The answer to one tool call.

    ``decision`` is the policy's answer for the call's action (``None`` only when the
    arguments did not make an action); ``output`` is the tool's JSON result (``{}`` unless
    ``ok``); ``error_code``/``error`` explain ``error`` (and name the refusal for
    ``denied``); ``decision_index``/``outcome_index`` locate the records in the ledger
    (``None`` without one); ``warnings`` carry what did not stop the call (an outcome that
    could not be recorded, a policy warning)."""

    tool: str
    status: Status
    decision: Decision | None = None
    output: Mapping[str, Any] = _EMPTY
    error_code: str | None = None
    error: str | None = None
    action: Action | None = None
    decision_index: int | None = None
    outcome_index: int | None = None
    warnings: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.output, FrozenMap):
            object.__setattr__(self, "output", freeze(self.output))

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"tool": self.tool, "status": self.status,
                               "output": thaw(self.output)}
        if self.decision is not None:
            out["decision"] = self.decision.to_json()
        if self.error_code is not None:
            out["error"] = {"code": self.error_code, "message": self.error}
        for name in ("decision_index", "outcome_index"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        if self.warnings:
            out["warnings"] = list(self.warnings)
        return out
