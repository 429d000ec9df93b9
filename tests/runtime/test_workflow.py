"""Workflow modes, pure: the transition table walked pair by pair (every move of the table
known, every other refused), every guard true and false on hand-built evidence, what each phase
allows for each kind of action, automatic-transition planning, and the TDD exemption
categories."""

from __future__ import annotations

from typing import Any

import pytest

from codor.claims.evidence import Run, SessionEvidence, Write
from codor.claims.runners import parse_output
from codor.model import Action
from codor.runtime.workflow import (
    DEFAULT_PATTERNS,
    EXEMPTION_CATEGORIES,
    FIRST_PHASE,
    GUARDS,
    MODES,
    PHASES,
    TRANSITIONS,
    Evidence,
    Exemption,
    ExemptionError,
    ExemptionSet,
    GuardContext,
    RunFact,
    WorkflowError,
    WorkflowTransitionError,
    WriteFact,
    allows,
    check_exemption,
    check_path,
    classify,
    describe_phase,
    evaluate_guard,
    evidence_from,
    fix_is_in,
    guard_for,
    next_phase,
    plan_paths,
    relative_path,
)

WS = "/ws"

FAILED = "F.\n=== FAILURES ===\n___ test_add ___\nE assert 2 == 3\n1 failed, 1 passed in 0.12s\n"
PASSED = "..\n2 passed in 0.05s\n"
NOTHING = "\nno tests ran in 0.01s\n"
COLLECTION = ("=== ERRORS ===\nE   ModuleNotFoundError: No module named 'src.app'\n"
              "!!! Interrupted: 1 error during collection !!!\n1 error in 0.10s\n")
MYPY_AND_PASS = "src/a.py:1: error: x  [misc]\nFound 1 error in 1 file (checked 2 source files)\n" \
    "..\n2 passed in 0.05s\n"


def run(index: int, output: str = PASSED, exit_status: int | None = 0, *,
        command: str = "pytest -q", full: bool = True, ran: bool = True) -> RunFact:
    return RunFact(index, command, test=True, full=full, ran=ran, exit_status=exit_status,
                   summary=parse_output(output) if ran else None, decided_us=index,
                   started_us=index, ended_us=index, outcome=index if ran else None)


def commit(index: int, exit_status: int | None = 0, output: str = "") -> RunFact:
    return RunFact(index, "git commit -m x", commit=True, exit_status=exit_status,
                   output=output, outcome=index)


def tw(index: int, path: str = "tests/test_app.py") -> WriteFact:
    return WriteFact(index, path, test=True)


def cw(index: int, path: str = "src/app.py") -> WriteFact:
    return WriteFact(index, path, code=True)


def ctx(runs: tuple[RunFact, ...] = (), writes: tuple[WriteFact, ...] = (), *,
        since: int = 0, size: int = 100, **kw: Any) -> GuardContext:
    ev = Evidence("s1", tuple(sorted(runs, key=lambda r: r.index)),
                  tuple(sorted(writes, key=lambda w: w.index)), size)
    return GuardContext(ev, since, session="s1", **kw)


# ================================================================================ the table

ALL = [(m, a, b) for m in MODES for a in PHASES[m] for b in PHASES[m]]
KNOWN = [(m, a, b) for m, a, b in ALL if b in TRANSITIONS.get((m, a), ())]
UNKNOWN = [(m, a, b) for m, a, b in ALL if b not in TRANSITIONS.get((m, a), ())]


def test_the_table_is_the_specification() -> None:
    assert PHASES["strict"] == ("planning", "test_writing", "code_writing", "validating",
                                "reviewing", "committing")
    assert PHASES["explore"] == ("exploring", "retro_testing", "validating", "reviewing",
                                 "committing")
    assert PHASES["debug"] == ("debugging",)
    assert FIRST_PHASE == {"strict": "planning", "explore": "exploring", "debug": "debugging"}
    forward = {m: [next_phase(m, p) for p in PHASES[m]] for m in MODES}
    assert forward["strict"] == ["test_writing", "code_writing", "validating", "reviewing",
                                 "committing", "planning"]
    assert forward["explore"] == ["retro_testing", "validating", "reviewing", "committing",
                                  "exploring"]
    assert forward["debug"] == [None]
    back = {(m, a, b) for (m, a), tos in TRANSITIONS.items() for b in tos[1:]}
    assert back == {("strict", "code_writing", "test_writing"),
                    ("strict", "validating", "code_writing"),
                    ("strict", "reviewing", "code_writing"),
                    ("explore", "validating", "exploring"),
                    ("explore", "reviewing", "exploring")}
    assert len(KNOWN) == len(GUARDS) == 16


@pytest.mark.parametrize(("mode", "a", "b"), KNOWN)
def test_every_move_of_the_table_has_a_guard(mode: str, a: str, b: str) -> None:
    assert guard_for(mode, a, b) == GUARDS[mode, a, b]


@pytest.mark.parametrize(("mode", "a", "b"), UNKNOWN)
def test_every_other_move_is_refused(mode: str, a: str, b: str) -> None:
    with pytest.raises(WorkflowTransitionError) as info:
        guard_for(mode, a, b)
    assert info.value.code == "E_WORKFLOW_TRANSITION"
    assert f"from {a} to {b}" in info.value.message


def test_moves_across_modes_are_refused() -> None:
    with pytest.raises(WorkflowTransitionError):
        guard_for("strict", "planning", "exploring")
    with pytest.raises(WorkflowTransitionError):
        guard_for("explore", "exploring", "code_writing")


# =================================================================== every guard, true and false

GUARD_CASES: dict[str, tuple[list[GuardContext], list[GuardContext]]] = {
    "none": ([ctx()], []),
    "failing_test": (
        [ctx((run(3, FAILED, 1),), (tw(2),)),
         ctx((run(3, COLLECTION, 2),), (tw(2),)),                 # a collection error counts
         ctx((run(3, FAILED, 1), run(4, PASSED)), (tw(2),)),      # any failing run after
         ctx((run(5, FAILED, None),), (tw(2), tw(4)))],           # failed > 0: exit unknown
        [ctx(),                                                    # no test written
         ctx(writes=(tw(2),)),                                     # not run since
         ctx((run(3, PASSED),), (tw(2),)),                         # passed
         ctx((run(3, NOTHING, 5),), (tw(2),)),                     # collected nothing
         ctx((run(1, FAILED, 1),), (tw(2),)),                      # failed before the write
         ctx((run(3, FAILED, 1),), (tw(2), tw(4))),                # not since the last write
         ctx((run(3, FAILED, 1),), (tw(2),), since=2),             # written before the phase
         ctx((run(3, COLLECTION, None),), (tw(2),)),               # errors, exit not nonzero
         ctx((run(3, FAILED, 1, ran=False),), (tw(2),)),           # no outcome
         ctx((run(3, MYPY_AND_PASS, 1),), (tw(2),))]),             # a checker's errors
    "passing_after_change": (
        [ctx((run(3, PASSED),), (cw(2),)),
         ctx((run(3, PASSED, None),), (cw(2),)),                   # exit not reported
         ctx((run(4, PASSED),), (cw(2), tw(3))),
         ctx((run(3, PASSED),), ())],                              # nothing written, ran
        [ctx(writes=(cw(2),)),
         ctx((run(3, FAILED, 1),), (cw(2),)),
         ctx((run(3, PASSED), run(4, FAILED, 1)), (cw(2),)),       # the last run counts
         ctx((run(1, PASSED),), (cw(2),)),                         # before the change
         ctx((run(3, PASSED, 1),), (cw(2),)),                      # exit 1
         ctx((run(3, NOTHING, 0),), (cw(2),)),                     # no test passed
         ctx((run(3, PASSED),), (cw(2), tw(4))),                   # a test written after
         ctx((run(3, PASSED),), (), since=5)]),                    # before entering
    "validated": (
        [ctx((run(3, PASSED),)),
         ctx((run(3, FAILED, 1), run(4, PASSED)))],
        [ctx(),
         ctx((run(3, PASSED, full=False),)),                       # a subset
         ctx((run(3, FAILED, 1),)),
         ctx((run(3, PASSED), run(4, FAILED, 1))),
         ctx((run(3, PASSED),), since=5),
         ctx((run(3, PASSED),), coverage_locked=True, coverage_note="coverage -6")]),
    "review_approved": ([ctx(review="bob")], [ctx(), ctx(review="")]),
    "committed": (
        [ctx((commit(3),)), ctx((commit(3, None, "[main abc] x\n 1 file changed"),))],
        [ctx(), ctx((commit(3, 1),)), ctx((commit(3, None, "nothing to commit"),)),
         ctx((commit(3),), since=4)]),
    "retro_tested": (
        [ctx((run(5, PASSED),), (cw(2), tw(4))),
         ctx((run(5, PASSED),), (tw(4),), since=10)],              # not tied to the phase
        [ctx((run(5, PASSED),), (cw(2),)),                         # no test written at all
         ctx((run(5, FAILED, 1),), (cw(2), tw(4))),
         ctx((run(5, PASSED),), (tw(4), cw(6)))]),                 # code changed since
    "coverage_unlocked": ([ctx()], [ctx(coverage_locked=True, coverage_note="x")]),
    "repeated_failures": (
        [ctx((run(1, FAILED, 1), run(2, FAILED, 1), run(3, COLLECTION, 2))),
         ctx((run(1, PASSED), run(2, FAILED, 1), run(3, FAILED, 1), run(4, FAILED, 1))),
         ctx((run(1, FAILED, 1), run(2, FAILED, 1)), debug_failures=2)],
        [ctx(),
         ctx((run(1, FAILED, 1), run(2, FAILED, 1))),
         ctx((run(1, FAILED, 1), run(2, FAILED, 1), run(3, PASSED))),
         ctx((run(1, FAILED, 1), run(2, PASSED), run(3, FAILED, 1), run(4, FAILED, 1)))]),
}


def test_every_guard_has_cases() -> None:
    assert set(GUARD_CASES) == set(GUARDS.values()) | {"repeated_failures"}


@pytest.mark.parametrize(("guard", "case"), [(g, i) for g, (ok, _) in GUARD_CASES.items()
                                             for i in range(len(ok))])
def test_guard_holds(guard: str, case: int) -> None:
    result = evaluate_guard(guard, GUARD_CASES[guard][0][case])
    assert result.ok, result
    assert result.guard == guard


@pytest.mark.parametrize(("guard", "case"), [(g, i) for g, (_, bad) in GUARD_CASES.items()
                                             for i in range(len(bad))])
def test_guard_does_not_hold_and_says_what_is_missing(guard: str, case: int) -> None:
    result = evaluate_guard(guard, GUARD_CASES[guard][1][case])
    assert not result.ok, result
    assert result.need and result.hint
    assert result.message() == f"{result.need} — {result.hint}"


def test_guard_messages_are_actionable() -> None:
    r = evaluate_guard("failing_test", ctx(writes=(tw(2),)))
    assert r.message() == ("a failing test run first — run the tests you wrote (none ran since "
                           "tests/test_app.py was written)")
    r = evaluate_guard("failing_test", ctx())
    assert "no test file was written in this phase" in r.hint
    r = evaluate_guard("failing_test", ctx((run(3, PASSED),), (tw(2),)))
    assert "showed no failing test" in r.hint
    r = evaluate_guard("passing_after_change", ctx((run(3, FAILED, 1),), (cw(2),)))
    assert "1 failed" in r.hint and "src/app.py" in r.hint
    r = evaluate_guard("review_approved", ctx())
    assert "codor mode approve --session s1 review" in r.hint
    r = evaluate_guard("repeated_failures", ctx((run(1, FAILED, 1),)))
    assert "only 1 consecutive failing" in r.hint
    ok = evaluate_guard("failing_test", ctx((run(3, FAILED, 1),), (tw(2),)))
    assert ok.evidence == (2, 3, 3)
    with pytest.raises(WorkflowError):
        evaluate_guard("nope", ctx())


def test_check_path_evaluates_later_steps_as_just_entered() -> None:
    # planning -> test_writing (none) -> code_writing (failing_test): the failing run exists,
    # but after entering test_writing "now" nothing was written yet
    c = ctx((run(3, FAILED, 1),), (tw(2),), since=0, size=10)
    results = check_path("strict", "planning", ("test_writing", "code_writing"), c)
    assert [r.ok for r in results] == [True, False]
    results = check_path("strict", "test_writing", ("code_writing",), c)
    assert [r.ok for r in results] == [True]
    with pytest.raises(WorkflowTransitionError):
        check_path("strict", "planning", ("committing",), c)


def test_fix_is_in() -> None:
    assert fix_is_in(Evidence("s", (run(5, PASSED),), (cw(4),), 10), 2)
    assert not fix_is_in(Evidence("s", (run(5, FAILED, 1),), (cw(4),), 10), 2)
    assert not fix_is_in(Evidence("s", (run(3, PASSED),), (cw(4),), 10), 2)
    assert not fix_is_in(Evidence("s", (run(1, PASSED),), (), 10), 2)


# ============================================================================ what phases allow

def act(kind: str, **fields: Any) -> Action:
    fields.setdefault("session", "s1")
    return Action.create(kind, **fields)


ACTIONS = {
    "read": act("file.read", path=f"{WS}/src/app.py"),
    "list": act("file.list", path=f"{WS}/src"),
    "write-test": act("file.write", path=f"{WS}/tests/test_app.py", content="x"),
    "write-code": act("file.write", path="src/app.py", content="x", cwd=WS),
    "write-doc": act("file.write", path=f"{WS}/README.md", content="x"),
    "write-outside": act("file.write", path="/tmp/elsewhere/x.py", content="x"),
    "delete-code": act("file.delete", path=f"{WS}/src/app.py"),
    "patch-code": act("patch.apply", patch="--- a/src/app.py\n+++ b/src/app.py\n@@ -1 +1 @@\n"
                                           "-a\n+b\n", cwd=WS),
    "run-tests": act("command.exec", command="pytest -q", cwd=WS),
    "shell-writes-code": act("command.exec", command="cat > src/app.py <<'EOF'\nx=1\nEOF",
                             cwd=WS),
    "shell-writes-log": act("command.exec", command="pytest > run.log", cwd=WS),
    "commit": act("command.exec", command="git commit -m 'x'", cwd=WS),
    "push": act("command.exec", argv=["git", "push", "origin", "main"], cwd=WS),
    "network": act("network.request", url="https://example.com"),
    "tool": act("tool.call", tool="search"),
}
A = True
D = False
#: phase -> action -> allowed
EXPECTED: dict[str, dict[str, bool]] = {
    "planning": {"write-test": D, "write-code": D, "write-doc": D, "delete-code": D,
                 "patch-code": D, "shell-writes-code": D, "commit": D, "push": D},
    "test_writing": {"write-test": A, "write-code": D, "write-doc": D, "delete-code": D,
                     "patch-code": D, "shell-writes-code": D, "commit": D, "push": D},
    "code_writing": {"write-test": A, "write-code": A, "write-doc": D, "delete-code": A,
                     "patch-code": A, "shell-writes-code": A, "commit": D, "push": D},
    "validating": {"write-test": D, "write-code": D, "write-doc": D, "delete-code": D,
                   "patch-code": D, "shell-writes-code": D, "commit": D, "push": D},
    "reviewing": {"write-test": D, "write-code": D, "write-doc": D, "delete-code": D,
                  "patch-code": D, "shell-writes-code": D, "commit": D, "push": D},
    "committing": {"write-test": D, "write-code": D, "write-doc": D, "delete-code": D,
                   "patch-code": D, "shell-writes-code": D, "commit": A, "push": A},
    "exploring": {"write-test": A, "write-code": A, "write-doc": A, "delete-code": A,
                  "patch-code": A, "shell-writes-code": A, "commit": A, "push": D},
    "retro_testing": {"write-test": A, "write-code": D, "write-doc": D, "delete-code": D,
                      "patch-code": D, "shell-writes-code": D, "commit": D, "push": D},
    "debugging": {"write-test": A, "write-code": A, "write-doc": D, "delete-code": A,
                  "patch-code": A, "shell-writes-code": A, "commit": D, "push": D},
}
ALWAYS = ("read", "list", "write-outside", "run-tests", "shell-writes-log", "network", "tool")
MODE_OF = {p: m for m in MODES for p in PHASES[m]}


@pytest.mark.parametrize(("phase", "name"), [(p, n) for p in EXPECTED for n in ACTIONS])
def test_what_each_phase_allows(phase: str, name: str) -> None:
    expected = True if name in ALWAYS else EXPECTED[phase][name]
    verdict = allows(MODE_OF[phase], phase, ACTIONS[name], workspace=WS)
    assert verdict.allowed is expected, (phase, name, verdict)
    if not expected:
        assert verdict.rule == "workflow.phase"
        assert verdict.message.startswith(f"{MODE_OF[phase]} mode, phase {phase}: ")


def test_no_mode_allows_everything() -> None:
    for action in ACTIONS.values():
        assert allows(None, None, action, workspace=WS).allowed
        assert allows("off", "planning", action, workspace=WS).allowed


def test_explore_commit_carries_a_warning() -> None:
    verdict = allows("explore", "exploring", ACTIONS["commit"], workspace=WS)
    assert verdict.allowed and "unverified" in verdict.warnings[0]
    assert allows("explore", "committing", ACTIONS["commit"], workspace=WS).warnings == ()


def test_an_agent_cannot_change_its_own_mode() -> None:
    for command in ("codor mode set off --session s1", "codor mode approve review -s s1",
                    "bash -c 'python -m codor.cli.main mode set explore'",
                    # quoting, escapes, other spellings and verbs; computed subcommands
                    "codor mode 'set' off --session s1", 'codor mode "approve" review',
                    r"codor mode s\et off", ".venv/bin/codor mode set off",
                    "python3 -m codor mode set off", "x=set; codor mode $x off",
                    "codor $(echo mode) set", "codor mode baseline 0",
                    "codor mode exempt --category docs --path 'docs/**' --reason r"):
        verdict = allows("strict", "code_writing", act("command.exec", command=command),
                         workspace=WS)
        assert not verdict.allowed and verdict.rule == "workflow.self-approval", command
    for command in ("codor mode show", "codor mode advance -s s1", "codor mode exempt "
                    "--category docs --reason r --session s1", "echo codor mode set off"):
        assert allows("strict", "code_writing", act("command.exec", command=command),
                      workspace=WS).allowed


@pytest.mark.parametrize("command", [
    "git commit -m x", "git -C repo commit -am x", "git -c user.name=x commit",
    "bash -c 'git add . && git commit -m x'", "cd repo && git commit", "sudo git commit",
    'git $VERB -m x'])
def test_commit_is_seen_through_wrappers(command: str) -> None:
    assert classify(act("command.exec", command=command)).commit


@pytest.mark.parametrize("command", ["git status", "git log --grep commit", "echo commit",
                                     "git add ."])
def test_not_a_commit(command: str) -> None:
    facts = classify(act("command.exec", command=command))
    assert not facts.commit and not facts.push


def test_classify() -> None:
    facts = classify(ACTIONS["patch-code"], workspace=WS)
    assert facts.family == "write" and [t.path for t in facts.targets] == ["src/app.py"]
    assert facts.what == "patching src/app.py"
    facts = classify(ACTIONS["shell-writes-code"], workspace=WS)
    assert [(t.path, t.kind, t.via_command) for t in facts.targets] == [
        ("src/app.py", "code", True)]
    assert classify(ACTIONS["run-tests"]).test
    fixture = classify(act("file.write", path=f"{WS}/tests/data/x.json", content="{}"),
                       workspace=WS)
    assert fixture.targets[0].kind == "test"  # fixtures under tests/ are tests


def test_relative_path() -> None:
    assert relative_path("/ws/src/a.py", None, "/ws") == ("src/a.py", True)
    assert relative_path("a.py", "/ws/src", "/ws") == ("src/a.py", True)
    assert relative_path("../x.py", "/ws", "/ws") == ("/x.py", False)
    assert relative_path("/ws", None, "/ws") == (".", True)
    assert relative_path("src/a.py", None, None) == ("src/a.py", True)
    assert relative_path("/abs/a.py", None, None) == ("/abs/a.py", False)


def test_describe_phase() -> None:
    assert describe_phase("committing")["commands"].startswith("git commit")
    assert "codor mode approve --session s9 review" in describe_phase("reviewing", "s9")["next"]


# ================================================================== automatic-transition plans

def test_plan_paths() -> None:
    facts = {name: classify(a, workspace=WS) for name, a in ACTIONS.items()}
    assert plan_paths("strict", "test_writing", facts["write-code"]) == [("code_writing",)]
    assert plan_paths("strict", "planning", facts["write-test"]) == [
        ("test_writing",), ("test_writing", "code_writing")]
    assert plan_paths("strict", "planning", facts["write-code"]) == [
        ("test_writing", "code_writing")]
    assert plan_paths("strict", "validating", facts["write-code"]) == [("code_writing",)]
    assert plan_paths("strict", "code_writing", facts["commit"]) == []  # three steps away
    assert plan_paths("strict", "reviewing", facts["commit"]) == [("committing",)]
    assert plan_paths("strict", "committing", facts["write-test"]) == [
        ("planning", "test_writing")]
    assert plan_paths("strict", "code_writing", facts["write-doc"]) == []
    assert plan_paths("explore", "retro_testing", facts["write-doc"]) == [
        ("validating", "exploring")]


# ================================================================================== exemptions

@pytest.mark.parametrize(("category", "pattern"), [
    ("config", "*.toml"), ("config", "pyproject.toml"), ("config", ".github/**"),
    ("config", ".github/workflows/*.yml"), ("config", "Makefile"), ("config", "**/*.yaml"),
    ("config", "conf/*.{yaml,yml,json}"), ("docs", "*.md"), ("docs", "docs/**"),
    ("docs", "**/docs/**"), ("docs", "README"), ("docs", "guide/intro.rst"),
    ("assets", "*.png"), ("assets", "static/*.css"), ("assets", "images/**"),
    ("assets", "*.{woff,woff2}"), ("type-only", "*.pyi"), ("type-only", "src/**/*.pyi"),
    ("type-only", "types/*.d.ts")])
def test_patterns_within_their_category(category: str, pattern: str) -> None:
    assert check_exemption(category, [pattern]) == (pattern,)


@pytest.mark.parametrize(("category", "pattern"), [
    ("type-only", "src/**/*.py"), ("type-only", "*.ts"), ("type-only", "types/**"),
    ("config", "*.py"), ("config", "src/**"), ("config", "**"), ("config", "*"),
    ("config", ".env"), ("docs", "src/docs/**"), ("docs", "docs/*.py"), ("docs", "*.{md,py}"),
    ("assets", "*.js"), ("assets", "assets/**/*.ts"), ("docs", "*.[mr]d"), ("config", "x.*")])
def test_patterns_outside_their_category_are_refused(category: str, pattern: str) -> None:
    with pytest.raises(ExemptionError) as info:
        check_exemption(category, [pattern])
    assert info.value.code == "E_WORKFLOW_EXEMPTION"
    assert f"a {category} exemption cannot cover" in info.value.message


@pytest.mark.parametrize("pattern", ["/etc/*.toml", "~/x.md", "../x.md", "docs/../src/**",
                                     "", "a\x01.md", "docs/[z-a].md", "docs/{a.md"])
def test_bad_patterns_are_refused(pattern: str) -> None:
    with pytest.raises(ExemptionError):
        check_exemption("docs", [pattern])


def test_categories_and_defaults() -> None:
    assert EXEMPTION_CATEGORIES == ("config", "docs", "assets", "type-only")
    for category in EXEMPTION_CATEGORIES:
        assert check_exemption(category, []) == DEFAULT_PATTERNS[category]
        assert check_exemption(category, None) == DEFAULT_PATTERNS[category]
        assert check_exemption(category, DEFAULT_PATTERNS[category]) == \
            DEFAULT_PATTERNS[category]
    with pytest.raises(ExemptionError, match="unknown exemption category"):
        check_exemption("code", ["*.py"])
    with pytest.raises(ExemptionError, match="more than"):
        check_exemption("docs", ["{a,b,c,d,e,f,g,h}/{a,b,c,d,e,f,g,h}/{a,b}.md"])
    assert check_exemption("docs", ["*.md", " *.md "]) == ("*.md",)


def test_exemption_matching_fits_the_category() -> None:
    docs = Exemption("ex-1", "docs", DEFAULT_PATTERNS["docs"], "r", "me")
    config = Exemption("ex-2", "config", ("*.toml", ".github/**"), "r", "me", session="s1")
    types = Exemption("ex-3", "type-only", ("*.pyi",), "r", "me")
    exemptions = ExemptionSet([docs, config, types])
    assert exemptions.match("README.md") is docs
    assert exemptions.match("docs/guide/index.rst") is docs
    assert exemptions.match("docs/conf.py") is None            # code under docs/
    assert exemptions.match("requirements.txt") is None        # *.txt, but code
    assert exemptions.match("pyproject.toml") is config
    assert exemptions.match(".github/workflows/ci.yml") is config
    assert exemptions.match("src/app.pyi") is types
    assert exemptions.match("src/app.py") is None
    assert exemptions.match("tests/notes.md") is None          # no exemption covers tests
    assert not ExemptionSet() and ExemptionSet().match("README.md") is None
    verdict = allows("strict", "planning", ACTIONS["write-doc"], [docs], workspace=WS)
    assert verdict.allowed
    verdict = allows("strict", "validating", ACTIONS["write-doc"], [docs], workspace=WS)
    assert verdict.allowed  # exempted paths are allowed in every phase
    assert not allows("strict", "planning", ACTIONS["write-code"], [docs], workspace=WS).allowed
    assert docs.to_json()["scope"] == "workspace" and config.to_json()["scope"] == "session"


# ============================================================================ the evidence view

def test_evidence_from_session_evidence() -> None:
    ev = SessionEvidence("s1", 40)
    ev.writes = [Write(3, "file.write", f"{WS}/tests/test_app.py", "allow", 3),
                 Write(4, "file.write", f"{WS}/src/app.py", "deny", 4),
                 Write(5, "patch.apply", "src/app.py", "allow", 5)]
    ev.runs = [Run(6, "pytest -q", None, "allow", 6, "x", outcome=7, exit_status=1,
                   output=FAILED, started_us=6, ended_us=7),
               Run(8, "pytest tests/test_app.py", None, "allow", 8, "x", outcome=9,
                   exit_status=0, output=PASSED),
               Run(10, "ls -la", None, "allow", 10, "x", outcome=11, exit_status=0),
               Run(12, "git commit -m x", None, "allow", 12, "x", outcome=13, exit_status=0,
                   output="[main 1] x"),
               Run(14, "pytest", None, "deny", 14, "x")]
    view = evidence_from(ev, WS, {7: ("ab" * 32,)})
    assert [(w.index, w.path, w.test, w.code) for w in view.writes] == [
        (3, "tests/test_app.py", True, False), (5, "src/app.py", False, True)]
    assert [(r.index, r.test, r.full, r.commit, r.ran) for r in view.runs] == [
        (6, True, True, False, True), (8, True, False, False, True),
        (12, False, True, True, True), (14, True, True, False, False)]
    assert view.runs[0].failing and view.runs[0].products == ("ab" * 32,)
    assert view.runs[1].passing and view.runs[2].committed
    assert view.size == 40
