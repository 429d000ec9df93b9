"""Guard plugins in the worker process: every way to name one, and every way one can fail."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.conftest import EngineFactory, act

ALLOW_READS = """
version: 1
rules:
  - {id: reads, on: [file.read], effect: allow}
"""


def policy_with(ext: str) -> str:
    return ALLOW_READS + "extensions:\n" + textwrap.indent(textwrap.dedent(ext), "  ")


def test_module_extension(make_engine: EngineFactory, tmp_path: Path,
                          monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "friday_guard.py").write_text(
        "def judge(action):\n"
        "    return {'effect': 'ask', 'message': 'path ' + action['path']}\n")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    engine = make_engine(policy_with("- {name: friday, module: 'friday_guard:judge'}\n"))
    decision = engine.decide(act("file.read", path="/workspace/a"))
    assert decision.decision == "ask"
    assert decision.reasons[0].message == "path /workspace/a"


def test_entry_point_extension(make_engine: EngineFactory, tmp_path: Path,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "ep_guard.py").write_text("def check(action):\n    return 'deny'\n")
    dist = tmp_path / "ep_guard-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: ep-guard\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[codor.guards]\nno-reads = ep_guard:check\n")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    engine = make_engine(policy_with("- {name: ep, entry_point: no-reads}\n"))
    decision = engine.decide(act("file.read", path="/workspace/a"))
    assert decision.decision == "deny"
    assert decision.reasons[0].rule == "extension.ep"


def test_extension_only_sees_its_kinds(make_engine: EngineFactory, tmp_path: Path) -> None:
    plugin = tmp_path / "p.py"
    plugin.write_text("def check(action):\n    return 'deny'\n")
    engine = make_engine(ALLOW_READS + "  - {id: lists, on: [file.list], effect: allow}\n"
                         f"extensions:\n  - {{name: p, file: {plugin}, on: [file.list]}}\n")
    assert engine.decide(act("file.read", path="/workspace/a")).decision == "allow"
    assert engine.decide(act("file.list", path="/workspace")).decision == "deny"


@pytest.mark.parametrize(("body", "rule", "fragment"), [
    ("raise RuntimeError('boom')", "extension.bad.error", "RuntimeError: boom"),
    ("return 'maybe'", "extension.bad.error", "not an effect"),
    ("return 42", "extension.bad.error", "returned int"),
])
def test_misbehaving_extension_denies(make_engine: EngineFactory, tmp_path: Path, body: str,
                                      rule: str, fragment: str) -> None:
    plugin = tmp_path / "bad.py"
    plugin.write_text(f"def check(action):\n    {body}\n")
    engine = make_engine(policy_with(f"- {{name: bad, file: {plugin}}}\n"))
    decision = engine.decide(act("file.read", path="/workspace/a"))
    assert decision.decision == "deny"
    assert decision.reasons[0].rule == rule
    assert fragment in decision.reasons[0].message


def test_extension_that_fails_to_load_denies(make_engine: EngineFactory, tmp_path: Path) -> None:
    plugin = tmp_path / "broken.py"
    plugin.write_text("this is not python\n")
    engine = make_engine(policy_with(f"- {{name: broken, file: {plugin}}}\n"))
    decision = engine.decide(act("file.read", path="/workspace/a"))
    assert decision.decision == "deny"
    assert decision.reasons[0].rule == "extension.broken.error"
    assert "failed to load" in decision.reasons[0].message


def test_plugin_printing_to_stdout_does_not_break_the_protocol(
    make_engine: EngineFactory, tmp_path: Path
) -> None:
    plugin = tmp_path / "chatty.py"
    plugin.write_text("print('loading!')\ndef check(action):\n    print('hi')\n"
                      "    return 'allow'\n")
    engine = make_engine(policy_with(f"- {{name: chatty, file: {plugin}}}\n"))
    for _ in range(3):
        assert engine.decide(act("file.read", path="/workspace/a")).decision == "allow"


def test_extension_needs_exactly_one_source(make_engine: EngineFactory, tmp_path: Path) -> None:
    from codor.errors import PolicySchemaError

    with pytest.raises(PolicySchemaError, match="exactly one of module, file, entry_point"):
        make_engine(policy_with("- {name: none}\n"))
