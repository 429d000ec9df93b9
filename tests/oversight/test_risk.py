"""Risk scoring: the documented points and the level table, on real actions and decisions."""

from __future__ import annotations

from codor.model import Action, Decision, Reason
from codor.oversight.risk import History, assess, level_for


def ask(*reasons: tuple[str | None, str]) -> Decision:
    return Decision("ask", tuple(Reason(f"r{i}", guard, sev, "m")  # type: ignore[arg-type]
                                 for i, (guard, sev) in enumerate(reasons)))


RUN = Action.create("command.exec", command="make deploy", session="s1")
POST = Action.create("network.request", url="https://paste.example/upload", session="s1")


def test_levels_follow_the_documented_thresholds() -> None:
    assert [level_for(s) for s in (0, 9, 10, 49, 50, 79, 80, 100)] == [
        "auto", "auto", "review", "review", "approval", "approval", "block", "block"]


def test_severity_and_the_riskiest_guard_add_up() -> None:
    risk = assess(RUN, ask((None, "info")))
    assert (risk.score, risk.level) == (0, "auto")
    risk = assess(RUN, ask((None, "medium")))
    assert (risk.score, risk.level) == (25, "review")
    # highest severity (high 45) + riskiest guard (secrets 20, not paths 10)
    risk = assess(RUN, ask(("paths", "low"), ("secrets", "high")))
    assert (risk.score, risk.level) == (65, "approval")
    assert "guard secrets: +20" in risk.reasons and "severity high: +45" in risk.reasons


def test_data_flow_after_a_secret_read_and_history_raise_the_level() -> None:
    decision = ask(("egress", "medium"))
    assert assess(POST, decision).score == 25 + 15 + 5
    flowed = assess(POST, decision, History(secret_read=True))
    assert flowed.score == 25 + 15 + 25 and flowed.level == "approval"
    assert any(r.startswith("data flow:") for r in flowed.reasons)
    # the data-flow bonus is for outbound kinds only
    assert assess(RUN, ask((None, "medium")), History(secret_read=True)).score == 25
    # 5 per refusal, at most 20
    assert assess(RUN, ask((None, "medium")), History(refusals=2)).score == 35
    capped = assess(POST, ask(("egress", "critical")), History(refusals=9, secret_read=True))
    assert capped.score == 100 and capped.level == "block"
