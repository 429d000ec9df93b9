"""Engine behaviour beyond the 26 cases: the decision memo stays correct when the world changes."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import EngineFactory, act

WRITE_INSIDE = """
version: 1
guards:
  paths:
    write: {{allow: ["{ws}/**"]}}
"""


def test_memo_notices_a_retargeted_symlink(make_engine: EngineFactory, tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    (ws / "real").mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    link = ws / "link"
    link.symlink_to(ws / "real")
    engine = make_engine(WRITE_INSIDE.format(ws=ws), workspace=str(ws))
    action = act("file.write", path=str(link / "f.txt"), content="x")
    assert engine.decide(action).decision == "allow"
    assert engine.decide(action).decision == "allow"  # served by the memo
    link.unlink()
    link.symlink_to(outside)
    assert engine.decide(action).decision == "deny"


def test_memo_notices_a_path_that_becomes_a_symlink(
    make_engine: EngineFactory, tmp_path: Path
) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    engine = make_engine(WRITE_INSIDE.format(ws=ws), workspace=str(ws))
    action = act("file.write", path=str(ws / "later" / "f.txt"), content="x")
    assert engine.decide(action).decision == "allow"
    (ws / "later").symlink_to("/etc")
    assert engine.decide(action).decision == "deny"


def test_memo_can_be_disabled_with_identical_results(make_engine: EngineFactory) -> None:
    actions = [act("file.read", path="/workspace/a"), act("command.exec", command="ls | wc"),
               act("network.request", url="https://pypi.org/x"),
               act("tool.call", tool="shell_exec", arguments={"cmd": ["ls", {"a": 1}]})]
    with_memo = make_engine("codor:default")
    without = make_engine("codor:default", memo=False)
    for action in actions * 3:
        assert with_memo.decide(action) == without.decide(action)


def test_actions_with_unhashable_meta_are_still_decided(make_engine: EngineFactory) -> None:
    from codor.model import Action

    engine = make_engine("codor:default")
    raw = Action(kind="file.read", path="/workspace/a", meta={"k": ["list"]})  # unfrozen
    assert engine.decide(raw).decision == "allow"
