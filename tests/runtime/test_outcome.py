"""Stream summaries of bounded output, and the JSON form of a tool result."""

from __future__ import annotations

import hashlib
import json

from codor.model import Decision
from codor.runtime import ToolResult
from codor.runtime.outcome import stream


def test_stream_of_a_whole_output_is_its_summary() -> None:
    summary = stream(b"abc")
    assert summary.sha256 == hashlib.sha256(b"abc").hexdigest()
    assert summary.size == 3 and summary.excerpt == "abc" and not summary.truncated


def test_stream_of_a_bounded_output_describes_the_whole_stream() -> None:
    whole = b"x" * 10_000
    summary = stream(whole[:100], size=len(whole), sha256=hashlib.sha256(whole).hexdigest())
    assert summary.size == 10_000 and summary.truncated
    assert summary.sha256 == hashlib.sha256(whole).hexdigest()
    assert summary.excerpt == "x" * 100


def test_tool_result_json() -> None:
    decision = Decision("deny", (), (), "")
    result = ToolResult("fs.read", "denied", decision, {}, None, "denied: no", None, 4)
    data = result.to_json()
    assert data == {"tool": "fs.read", "status": "denied", "output": {},
                    "decision": decision.to_json(), "decision_index": 4}
    ok = ToolResult("fs.list", "ok", decision, {"entries": [{"name": "a"}]},
                    warnings=("the outcome could not be recorded",))
    assert ok.ok and json.loads(json.dumps(ok.to_json()))["output"] == {
        "entries": [{"name": "a"}]}
    assert ok.to_json()["warnings"] == ["the outcome could not be recorded"]
    error = ToolResult("x", "error", error_code="E_TOOL_ARGS", error="bad")
    assert error.to_json()["error"] == {"code": "E_TOOL_ARGS", "message": "bad"}
