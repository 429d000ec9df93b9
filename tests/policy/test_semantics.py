"""The 26 normative evaluation cases (agent-kernel seed; reference/policy-semantics.md)."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from codor.model import Action
from codor.policy.builtins import BuiltinProtections
from codor.policy.guards.base import EvalContext, Finding
from codor.policy.tokens import TokenVerifier, issue_token
from tests.conftest import EngineFactory, act

T0 = 1_800_000_000.0

ALLOW_READS = """
rules:
  - id: read-workspace
    on: [file.read]
    match: {path: ["/workspace/**"]}
    effect: allow
"""


def policy(*parts: str) -> str:
    """Join policy fragments; a fragment that is a list of rules continues the rules above."""
    out = ["version: 1\n"]
    for part in parts:
        text = textwrap.dedent(part).strip("\n") + "\n"
        out.append(textwrap.indent(text, "  ") if text.startswith("-") else text)
    return "".join(out)


class AllowingBuiltin:
    """A built-in layer that allows everything (for case 5)."""

    name = "test-builtin"
    kinds = frozenset({"file.read"})

    def check(self, action: Action, ctx: EvalContext) -> Sequence[Finding]:
        return [Finding("allow", "builtin.test_allow", self.name, "info", "built-in allows")]


def extension(tmp_path: Path, name: str, body: str, *, on: str = "file.read",
              timeout_ms: int = 2000) -> str:
    """A plugin file and the policy snippet that loads it."""
    plugin = tmp_path / f"{name}.py"
    plugin.write_text(textwrap.dedent(body), encoding="utf-8")
    return (f"extensions:\n  - name: {name}\n    file: {plugin}\n    on: [{on}]\n"
            f"    timeout_ms: {timeout_ms}\n")


def marker_plugin(tmp_path: Path, effect: str) -> tuple[str, Path]:
    """A plugin that leaves a marker file each time it is called, then answers ``effect``."""
    marker = tmp_path / "called"
    body = f"""
        def check(action):
            with open({str(marker)!r}, "a") as fh:
                fh.write("x")
            return {effect!r}
    """
    return extension(tmp_path, "marker", body), marker


@pytest.fixture
def issuer() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def verifier(key: Ed25519PrivateKey) -> TokenVerifier:
    return TokenVerifier([key.public_key()], workspace="/workspace", home="/home/user")


def token(key: Ed25519PrivateKey, **kw: object) -> str:
    args: dict[str, object] = {"agent": "agent-1", "kinds": ["file.*"], "now": T0, "ttl": 60.0}
    args.update(kw)
    return issue_token(key, **args)  # type: ignore[arg-type]


def test_case_01_no_rule_matches_is_deny(make_engine: EngineFactory) -> None:
    engine = make_engine(policy(ALLOW_READS))
    decision = engine.decide(act("file.read", path="/etc/hostname"))
    assert decision.decision == "deny"
    assert decision.reasons[0].rule == "engine.default_deny"


def test_case_02_only_pass_rules_is_deny(make_engine: EngineFactory) -> None:
    engine = make_engine(policy("""
        rules:
          - {id: abstain-1, on: [file.read], effect: pass}
          - {id: abstain-2, on: ["file.*"], effect: pass}
    """))
    decision = engine.decide(act("file.read", path="/workspace/a"))
    assert decision.decision == "deny"
    assert [r.rule for r in decision.reasons] == ["engine.default_deny"]


def test_case_03_allow_and_deny_is_deny(make_engine: EngineFactory) -> None:
    engine = make_engine(policy(ALLOW_READS, """
          - id: no-secrets-dir
            on: [file.read]
            match: {path: ["/workspace/secrets/**"]}
            effect: deny
    """))
    decision = engine.decide(act("file.read", path="/workspace/secrets/k"))
    assert decision.decision == "deny"
    assert [r.rule for r in decision.reasons] == ["no-secrets-dir"]


def test_case_04_allow_and_ask_is_ask(make_engine: EngineFactory) -> None:
    engine = make_engine(policy(ALLOW_READS, """
          - id: review-config
            on: [file.read]
            match: {path: ["**/config/**"]}
            effect: ask
    """))
    decision = engine.decide(act("file.read", path="/workspace/config/app.toml"))
    assert decision.decision == "ask"
    assert [r.rule for r in decision.reasons] == ["review-config"]


def test_case_05_extension_deny_beats_builtin_allow(
    make_engine: EngineFactory, tmp_path: Path
) -> None:
    ext = extension(tmp_path, "nay", "def check(action):\n    return 'deny'\n")
    engine = make_engine(policy(ALLOW_READS, ext), builtins=[AllowingBuiltin()])
    decision = engine.decide(act("file.read", path="/workspace/a"))
    assert decision.decision == "deny"
    assert decision.reasons[0].rule == "extension.nay"


def test_case_06_ask_rule_with_matching_except_passes(make_engine: EngineFactory) -> None:
    engine = make_engine(policy(ALLOW_READS, """
          - id: review-reads
            on: [file.read]
            match: {path: ["/workspace/**"]}
            except: [{path: ["/workspace/docs/**"]}]
            effect: ask
    """))
    assert engine.decide(act("file.read", path="/workspace/docs/a.md")).decision == "allow"


def test_case_07_token_does_not_bypass_builtin_deny(
    make_engine: EngineFactory, issuer: Ed25519PrivateKey
) -> None:
    engine = make_engine(policy(ALLOW_READS), tokens=verifier(issuer), clock=lambda: T0)
    decision = engine.decide(act("file.write", path="/workspace/.codor/policy.yaml",
                                 content="rules: []", agent={"id": "agent-1"},
                                 token=token(issuer)))
    assert decision.decision == "deny"
    assert decision.reasons[0].rule == "builtin.protected_write"


def test_case_08_valid_token_skips_rules_and_extensions(
    make_engine: EngineFactory, issuer: Ed25519PrivateKey, tmp_path: Path
) -> None:
    ext, marker = marker_plugin(tmp_path, "deny")
    engine = make_engine(policy("""
        rules:
          - {id: deny-all-reads, on: [file.read], effect: deny}
    """, ext), tokens=verifier(issuer), clock=lambda: T0)
    decision = engine.decide(act("file.read", path="/workspace/a", agent={"id": "agent-1"},
                                 token=token(issuer)))
    assert decision.decision == "allow"
    assert decision.reasons[0].rule == "token.valid"
    assert not marker.exists(), "the extension must not be consulted"


def test_case_09_expired_token_is_ignored(
    make_engine: EngineFactory, issuer: Ed25519PrivateKey
) -> None:
    engine = make_engine(policy("""
        rules:
          - {id: deny-all-reads, on: [file.read], effect: deny}
    """), tokens=verifier(issuer), clock=lambda: T0 + 3600)
    decision = engine.decide(act("file.read", path="/workspace/a", agent={"id": "agent-1"},
                                 token=token(issuer)))
    assert decision.decision == "deny"
    assert decision.reasons[0].rule == "deny-all-reads"
    assert "token expired" in decision.warnings[0]


def test_case_10_several_asks_collect_every_reason(make_engine: EngineFactory) -> None:
    engine = make_engine(policy(ALLOW_READS, """
          - {id: ask-one, on: [file.read], effect: ask, reason: first}
          - {id: ask-two, on: [file.read], effect: ask, reason: second}
          - {id: ask-three, on: ["file.*"], effect: ask, reason: third}
    """))
    decision = engine.decide(act("file.read", path="/workspace/a"))
    assert decision.decision == "ask"
    assert sorted(r.rule for r in decision.reasons) == ["ask-one", "ask-three", "ask-two"]


def test_case_11_policy_deny_never_calls_extension(
    make_engine: EngineFactory, tmp_path: Path
) -> None:
    ext, marker = marker_plugin(tmp_path, "allow")
    engine = make_engine(policy("""
        rules:
          - {id: deny-all-reads, on: [file.read], effect: deny}
    """, ext))
    assert engine.decide(act("file.read", path="/workspace/a")).decision == "deny"
    assert not marker.exists()


def test_case_12_kind_matches_but_path_does_not(make_engine: EngineFactory) -> None:
    engine = make_engine(policy(ALLOW_READS, """
          - id: deny-tmp
            on: [file.read]
            match: {path: ["/tmp/**"]}
            effect: deny
    """))
    decision = engine.decide(act("file.read", path="/workspace/a"))
    assert decision.decision == "allow"
    assert all(r.rule != "deny-tmp" for r in decision.reasons)


def test_case_13_ask_rule_except_not_matching_asks(make_engine: EngineFactory) -> None:
    engine = make_engine(policy(ALLOW_READS, """
          - id: review
            on: [file.read]
            except: [{path: ["/workspace/docs/**"]}]
            effect: ask
    """))
    assert engine.decide(act("file.read", path="/workspace/src/a.py")).decision == "ask"


ASK_WITH_EXCEPTS = """
  - id: review
    on: [file.read]
    except:
      - {path: ["/workspace/docs/**"]}
      - {path: ["/workspace/tests/**"]}
      - {agent: ["trusted-*"]}
    effect: ask
"""


def test_case_14_one_of_several_excepts_matching_passes(make_engine: EngineFactory) -> None:
    engine = make_engine(policy(ALLOW_READS, ASK_WITH_EXCEPTS))
    assert engine.decide(act("file.read", path="/workspace/tests/t.py")).decision == "allow"
    assert engine.decide(act("file.read", path="/workspace/src/a.py",
                             agent={"id": "trusted-bot"})).decision == "allow"


def test_case_15_no_except_matching_asks(make_engine: EngineFactory) -> None:
    engine = make_engine(policy(ALLOW_READS, ASK_WITH_EXCEPTS))
    decision = engine.decide(act("file.read", path="/workspace/src/a.py", agent={"id": "bot"}))
    assert decision.decision == "ask"


def test_case_16_several_allows_allow(make_engine: EngineFactory) -> None:
    engine = make_engine(policy(ALLOW_READS, """
          - {id: allow-py, on: [file.read], match: {path: ["*.py"]}, effect: allow}
          - {id: allow-all-files, on: ["file.*"], effect: allow}
    """))
    decision = engine.decide(act("file.read", path="/workspace/a.py"))
    assert decision.decision == "allow"
    assert sorted(r.rule for r in decision.reasons) == [
        "allow-all-files", "allow-py", "read-workspace"]


def test_case_17_policy_and_extension_allow(make_engine: EngineFactory, tmp_path: Path) -> None:
    ext = extension(tmp_path, "aye", "def check(action):\n    return {'effect': 'allow', "
                                     "'message': 'fine by me'}\n")
    engine = make_engine(policy(ALLOW_READS, ext))
    decision = engine.decide(act("file.read", path="/workspace/a"))
    assert decision.decision == "allow"
    assert {r.rule for r in decision.reasons} == {"read-workspace", "extension.aye"}


def test_case_18_empty_builtin_list_still_evaluates(make_engine: EngineFactory) -> None:
    engine = make_engine(policy(ALLOW_READS, """
          - {id: deny-secrets, on: [file.read], match: {path: ["**/secret*"]}, effect: deny}
    """), builtins=[])
    assert engine.builtins == ()
    assert engine.decide(act("file.read", path="/workspace/a")).decision == "allow"
    assert engine.decide(act("file.read", path="/workspace/secret.txt")).decision == "deny"
    assert engine.decide(act("file.read", path="/etc/hostname")).decision == "deny"


def test_case_19_no_rules_default_deny_builtins_active(make_engine: EngineFactory) -> None:
    engine = make_engine("version: 1\n")
    decision = engine.decide(act("file.read", path="/workspace/a"))
    assert decision.decision == "deny"
    assert decision.reasons[0].rule == "engine.default_deny"
    protected = engine.decide(act("file.write", path="/workspace/.codor/ledger.db", content="x"))
    assert protected.reasons[0].rule == "builtin.protected_write"


@pytest.mark.parametrize("failure", ["crash", "timeout"])
def test_case_20_extension_crash_or_timeout_denies_and_restarts(
    make_engine: EngineFactory, tmp_path: Path, failure: str
) -> None:
    flag = tmp_path / "fail-once"
    flag.write_text("1")
    misbehave = "os._exit(3)" if failure == "crash" else "time.sleep(30)"
    body = f"""
        import os, time
        def check(action):
            if os.path.exists({str(flag)!r}):
                os.remove({str(flag)!r})
                {misbehave}
            return "allow"
    """
    engine = make_engine(policy(ALLOW_READS, extension(tmp_path, "flaky", body, timeout_ms=300)))
    first = engine.decide(act("file.read", path="/workspace/a"))
    assert first.decision == "deny"
    expected_rule = "extension.flaky." + ("crashed" if failure == "crash" else "timeout")
    assert first.reasons[0].rule == expected_rule
    second = engine.decide(act("file.read", path="/workspace/a"))
    assert second.decision == "allow"
    runner = engine.policy.extensions
    assert runner is not None and runner.starts == 2, "the worker must have been restarted"


def test_case_21_exhausted_token_is_invalid(
    make_engine: EngineFactory, issuer: Ed25519PrivateKey
) -> None:
    engine = make_engine(policy("""
        rules:
          - {id: deny-all-reads, on: [file.read], effect: deny}
    """), tokens=verifier(issuer), clock=lambda: T0 + 1)
    tok = token(issuer, uses=2)
    action = act("file.read", path="/workspace/a", agent={"id": "agent-1"}, token=tok)
    assert [engine.decide(action).decision for _ in range(3)] == ["allow", "allow", "deny"]
    assert "exhausted" in engine.decide(action).warnings[0]


def test_case_22_token_validity_uses_one_time_snapshot(
    make_engine: EngineFactory, issuer: Ed25519PrivateKey
) -> None:
    calls: list[float] = []

    def clock() -> float:
        # first reading: 1 ms before expiry; every later reading: after expiry
        value = T0 + 59.999 if not calls else T0 + 61
        calls.append(value)
        return value

    engine = make_engine(policy(ALLOW_READS), tokens=verifier(issuer), clock=clock)
    decision = engine.decide(act("file.write", path="/workspace/a", content="x",
                                 agent={"id": "agent-1"}, token=token(issuer)))
    assert decision.decision == "allow"
    assert decision.reasons[0].rule == "token.valid"
    assert len(calls) == 1, "evaluation must read the clock exactly once"


def test_case_23_token_bound_to_other_agent_or_sandbox_is_invalid(
    make_engine: EngineFactory, issuer: Ed25519PrivateKey
) -> None:
    engine = make_engine(policy(ALLOW_READS), tokens=verifier(issuer), clock=lambda: T0)
    other_agent = engine.decide(act("file.write", path="/workspace/a", content="x",
                                    agent={"id": "agent-2"}, token=token(issuer)))
    assert other_agent.decision == "deny"
    assert "another agent" in other_agent.warnings[0]
    sandboxed = token(issuer, sandbox="sb-1")
    wrong_box = engine.decide(act("file.write", path="/workspace/a", content="x",
                                  agent={"id": "agent-1"}, token=sandboxed,
                                  meta={"sandbox": "sb-2"}))
    assert wrong_box.decision == "deny"
    assert "another sandbox" in wrong_box.warnings[0]
    right_box = engine.decide(act("file.write", path="/workspace/a", content="x",
                                  agent={"id": "agent-1"}, token=sandboxed,
                                  meta={"sandbox": "sb-1"}))
    assert right_box.decision == "allow"


def test_case_24_unknown_kind_is_deny(make_engine: EngineFactory) -> None:
    engine = make_engine(policy("""
        rules:
          - {id: allow-everything, on: ["*"], effect: allow}
    """))
    raw = Action(kind="file.execute", path="/workspace/a")  # bypasses validation on purpose
    decision = engine.decide(raw)
    assert decision.decision == "deny"
    assert decision.reasons[0].rule == "engine.unknown_kind"
    from_json = engine.decide_json({"kind": "file.execute", "path": "/workspace/a"})
    assert from_json.decision == "deny"
    assert from_json.reasons[0].rule == "input.E_ACTION_KIND"


def test_case_25_empty_path_list_matches_nothing_and_warns(make_engine: EngineFactory) -> None:
    engine = make_engine(policy(ALLOW_READS, """
          - {id: deny-nothing, on: [file.read], match: {path: []}, effect: deny}
    """))
    assert engine.decide(act("file.read", path="/workspace/a")).decision == "allow"
    warnings = [w for w in engine.policy.warnings if "empty pattern list" in w]
    assert len(warnings) == 1
    assert "policy.yaml:" in warnings[0]


def test_case_26_identical_match_and_except_never_fires_and_warns(
    make_engine: EngineFactory,
) -> None:
    engine = make_engine(policy(ALLOW_READS, """
          - id: self-cancelling
            on: [file.read]
            match: {path: ["/workspace/**"]}
            except: [{path: ["/workspace/**"]}]
            effect: deny
    """))
    assert engine.decide(act("file.read", path="/workspace/a")).decision == "allow"
    assert any("never fires" in w for w in engine.policy.warnings)


def test_result_does_not_depend_on_rule_order(make_engine: EngineFactory) -> None:
    rules = [
        "  - {id: a, on: [file.read], effect: allow}\n",
        "  - {id: b, on: [file.read], match: {path: ['**/x/**']}, effect: ask}\n",
        "  - {id: c, on: [file.read], match: {path: ['**/x/y/**']}, effect: deny}\n",
    ]
    paths = ["/workspace/a", "/workspace/x/a", "/workspace/x/y/a"]
    outcomes = set()
    import itertools

    for order in itertools.permutations(rules):
        engine = make_engine("version: 1\nrules:\n" + "".join(order))
        outcomes.add(tuple(engine.decide(act("file.read", path=p)).decision for p in paths))
    assert outcomes == {("allow", "ask", "deny")}


def test_internal_error_in_a_guard_is_a_deny_and_reported(make_engine: EngineFactory) -> None:
    seen: list[BaseException] = []

    class Exploding:
        name = "boom"
        kinds = frozenset({"file.read"})

        def check(self, action: Action, ctx: EvalContext) -> Sequence[Finding]:
            raise RuntimeError("bug")

    engine = make_engine(policy(ALLOW_READS), builtins=[Exploding()],
                         on_internal_error=lambda _a, exc: seen.append(exc))
    decision = engine.decide(act("file.read", path="/workspace/a"))
    assert decision.decision == "deny"
    assert decision.reasons[0].rule == "engine.internal_error"
    assert len(seen) == 1 and isinstance(seen[0], RuntimeError)


def test_every_decision_carries_the_policy_hash(make_engine: EngineFactory) -> None:
    engine = make_engine(policy(ALLOW_READS))
    sha = engine.policy.sha256
    assert len(sha) == 64
    for path in ("/workspace/a", "/etc/x"):
        assert engine.decide(act("file.read", path=path)).policy == sha


def test_builtin_protects_policy_file_through_a_symlink(
    make_engine: EngineFactory, tmp_path: Path
) -> None:
    engine = make_engine(policy("""
        rules:
          - {id: allow-writes, on: [file.write], effect: allow}
    """), workspace=str(tmp_path))
    link = tmp_path / "innocent.yaml"
    link.symlink_to(tmp_path / "policy.yaml")
    decision = engine.decide(act("file.write", path=str(link), content="version: 1"))
    assert decision.decision == "deny"
    assert decision.reasons[0].rule == "builtin.protected_write"


def test_builtin_protections_cover_codor_home(tmp_path: Path) -> None:
    layer = BuiltinProtections.for_workspace(policy_files=[], codor_home=str(tmp_path / ".codor"))
    ctx = EvalContext(T0, str(tmp_path), "/home/user")
    findings = layer.check(act("file.delete", path=str(tmp_path / ".codor" / "ledger.db")), ctx)
    assert [f.rule for f in findings] == ["builtin.protected_write"]
    key_read = layer.check(act("file.read", path=str(tmp_path / ".codor/keys/log.key")), ctx)
    assert [f.rule for f in key_read] == ["builtin.protected_read"]


