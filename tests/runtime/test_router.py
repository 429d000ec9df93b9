"""The tool router end to end: decide (recorded) → execute → outcome (recorded), and the path
policy bypass attempts through the fast-path tools (symlinks, ``..``, aliases, hard links,
races, FIFOs), each against a real workspace and its ledger."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from codor.evidence.records import SessionStart, action_digest, check_binding
from codor.kernel import Kernel, evidence_form
from codor.model import Action
from codor.runtime import ToolRouter
from tests.conftest import EngineFactory
from tests.runtime.conftest import Setup, SetupFactory


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- decide → execute → record ------------------------------------------------------------------
def test_an_allowed_call_records_its_decision_then_its_outcome(setup: Setup) -> None:
    result = setup.router.call("fs.write", {"path": "src/app.py", "content": "print(1)\n"},
                               session="s1", agent="bot")
    assert result.status == "ok" and result.output["created"] is True
    assert (setup.root / "src" / "app.py").read_text() == "print(1)\n"
    records = setup.records()
    start = records[0]
    assert isinstance(start, SessionStart) and start.session == "s1"
    [decision] = setup.decisions()
    [outcome] = setup.outcomes()
    assert result.decision_index is not None and result.outcome_index is not None
    assert outcome.action_index == result.decision_index < result.outcome_index
    assert result.action is not None
    assert outcome.action_sha256 == action_digest(evidence_form(result.action))
    assert decision.action.kind == "file.write" and decision.action.content is None
    assert decision.action.content_sha256 == sha(b"print(1)\n")
    assert decision.action.meta["tool"] == "fs.write" and decision.action.origin == \
        "codor-runtime"
    assert decision.action.agent is not None and decision.action.agent.id == "bot"
    assert outcome.observer == "codor-runtime" and outcome.exit_status is None
    assert dict(outcome.products) == {str(setup.root / "src" / "app.py"): sha(b"print(1)\n")}
    assert outcome.sandbox is None and outcome.ended_mono_us >= outcome.started_mono_us
    check_binding(start, decision)
    check_binding(start, outcome)
    assert setup.workspace.open_ledger(signing=False).verify().ok


def test_a_read_records_the_file_as_a_material(setup: Setup) -> None:
    (setup.root / "notes.txt").write_bytes(b"hello\n")
    result = setup.router.call("fs.read", {"path": "notes.txt"})
    assert result.ok and result.output["content"] == "hello\n"
    assert result.output["encoding"] == "utf-8" and result.output["truncated"] is False
    [outcome] = setup.outcomes()
    assert dict(outcome.materials) == {str(setup.root / "notes.txt"): sha(b"hello\n")}


def test_binary_reads_come_back_in_base64_and_big_ones_truncated(setup: Setup) -> None:
    (setup.root / "blob").write_bytes(b"\xff\x00" * 100)
    result = setup.router.call("fs.read", {"path": "blob", "max_bytes": 10})
    assert result.output["encoding"] == "base64" and result.output["truncated"] is True
    assert result.output["size"] == 200


def test_a_deny_runs_nothing_and_records_only_the_decision(setup: Setup) -> None:
    result = setup.router.call("fs.write", {"path": "secret.txt", "content": "x"})
    assert result.status == "denied" and result.decision is not None
    assert result.decision.reasons[0].rule == "paths.deny"
    assert result.error is not None and "secret" in result.error
    assert not (setup.root / "secret.txt").exists()
    assert [d.decision.decision for d in setup.decisions()] == ["deny"]
    assert setup.outcomes() == []


def test_an_ask_needs_approval_and_runs_nothing(setup: Setup) -> None:
    result = setup.router.call("fs.write", {"path": "approve-me/x.txt", "content": "x"})
    assert result.status == "approval_needed" and not result.ok
    assert not (setup.root / "approve-me").exists()
    assert setup.outcomes() == []


def test_bad_arguments_are_errors_before_any_decision(setup: Setup) -> None:
    for name, args, text in [
        ("fs.read", {}, "path is required"),
        ("fs.read", {"path": 3}, "non-empty string"),
        ("fs.read", {"path": "a", "colour": "red"}, "unknown argument(s) colour"),
        ("fs.read", {"path": "a", "max_bytes": -1}, "max_bytes must be an integer"),
        ("fs.write", {"path": "a", "content": "\ud800"}, "lone surrogate"),
        ("no.such", {}, "unknown tool"),
    ]:
        result = setup.router.call(name, args)
        assert result.status == "error" and result.error_code == "E_TOOL_ARGS", (name, args)
        assert result.error is not None and text in result.error
    assert setup.decisions() == []


def test_an_execution_failure_is_recorded_as_an_outcome(setup: Setup) -> None:
    result = setup.router.call("fs.read", {"path": "missing.txt"})
    assert result.status == "error" and result.error_code == "E_TOOL_IO"
    [outcome] = setup.outcomes()
    assert "No such file" in outcome.stderr.excerpt and not outcome.materials


def test_an_unrecordable_decision_runs_nothing(setup: Setup) -> None:
    assert setup.kernel.ledger is not None
    setup.kernel.ledger.store.close()
    result = setup.router.call("fs.write", {"path": "a.txt", "content": "x"})
    assert result.status == "denied" and result.decision is not None
    assert result.decision.reasons[0].rule == "ledger.unavailable"
    assert not (setup.root / "a.txt").exists()


def test_without_a_ledger_the_router_still_decides(tmp_path: Path,
                                                   make_engine: EngineFactory) -> None:
    engine = make_engine("codor:default", workspace=str(tmp_path))
    router = ToolRouter(Kernel(engine), tmp_path)
    result = router.call("fs.write", {"path": "a.txt", "content": "x"})
    assert result.ok and result.decision_index is None and result.outcome_index is None
    assert router.call("fs.read", {"path": "/root/.ssh/id_rsa"}).status == "denied"


def test_list_exists_and_delete(setup: Setup) -> None:
    (setup.root / "d").mkdir()
    (setup.root / "d" / "f.txt").write_text("x")
    listing = setup.router.call("fs.list", {"path": "d"})
    assert listing.to_json()["output"]["entries"] == [{"name": "f.txt", "type": "file",
                                                       "size": 1}]
    assert setup.router.call("fs.exists", {"path": "d/f.txt"}).output["exists"] is True
    assert setup.router.call("fs.exists", {"path": "d/g.txt"}).output == {
        "path": "d/g.txt", "exists": False, "type": None}
    deleted = setup.router.call("fs.delete", {"path": "d/f.txt"})
    assert deleted.ok and not (setup.root / "d" / "f.txt").exists()
    outcome = setup.outcomes()[-1]
    assert dict(outcome.materials) == {str(setup.root / "d" / "f.txt"): sha(b"x")}
    assert not outcome.products  # in-toto: a material without a product was deleted
    kinds = [d.action.kind for d in setup.decisions()]
    assert kinds == ["file.list", "file.list", "file.list", "file.delete"]


# -- bypass attempts ----------------------------------------------------------------------------
def test_a_symlink_planted_in_the_workspace_cannot_reach_outside(setup: Setup) -> None:
    (setup.outside / "private.txt").write_text("outside data")
    (setup.root / "door").symlink_to(setup.outside)
    read = setup.router.call("fs.read", {"path": "door/private.txt"})
    assert read.status == "denied" and "outside data" not in str(read.to_json())
    write = setup.router.call("fs.write", {"path": "door/private.txt", "content": "pwned"})
    assert write.status == "denied"
    new = setup.router.call("fs.write", {"path": "door/new.txt", "content": "pwned"})
    assert new.status == "denied" and not (setup.outside / "new.txt").exists()
    assert (setup.outside / "private.txt").read_text() == "outside data"
    assert setup.outcomes() == []


def test_a_symlink_to_a_denied_name_inside_the_workspace_is_denied(setup: Setup) -> None:
    (setup.root / "secret.key").write_text("k")
    (setup.root / "innocent.txt").symlink_to("secret.key")
    assert setup.router.call("fs.read", {"path": "innocent.txt"}).status == "denied"


def test_a_symlink_inside_the_workspace_is_followed_only_after_its_own_decision(
    setup: Setup,
) -> None:
    (setup.root / "real").mkdir()
    (setup.root / "real" / "f.txt").write_text("inside")
    (setup.root / "alias").symlink_to("real")
    result = setup.router.call("fs.read", {"path": "alias/f.txt"})
    assert result.ok and result.output["content"] == "inside"
    assert result.output["path"] == "real/f.txt"
    first, second = setup.decisions()
    assert first.action.path == str(setup.root / "alias" / "f.txt")
    assert second.action.path == str(setup.root / "real" / "f.txt")
    assert second.action.meta["resolved_from"] == first.action.path


def test_dot_dot_and_doubled_slashes_are_judged_normalised(setup: Setup) -> None:
    (setup.outside / "o.txt").write_text("outside data")
    (setup.root / "in.txt").write_text("inside")
    assert setup.router.call("fs.read", {"path": "../outside/o.txt"}).status == "denied"
    assert setup.router.call("fs.read", {"path": "sub/../../outside/o.txt"}).status == "denied"
    assert setup.router.call("fs.read", {"path": "//" + str(setup.outside)[1:] + "//o.txt"}
                             ).status == "denied"
    doubled = setup.router.call("fs.read", {"path": ".//sub/..//in.txt"})
    assert doubled.ok and doubled.output["content"] == "inside"
    assert setup.router.call("fs.write", {"path": "../outside/o.txt", "content": "x"}
                             ).status == "denied"
    assert (setup.outside / "o.txt").read_text() == "outside data"


def test_proc_self_root_aliases_are_judged_as_the_real_path(setup: Setup) -> None:
    (setup.outside / "o.txt").write_text("outside data")
    (setup.root / "in.txt").write_text("inside")
    for prefix in ("/proc/self/root", "/proc/thread-self/root", f"/proc/{os.getpid()}/root"):
        assert setup.router.call("fs.read", {"path": f"{prefix}{setup.outside}/o.txt"}
                                 ).status == "denied"
    aliased = setup.router.call("fs.read", {"path": f"/proc/self/root{setup.root}/in.txt"})
    assert aliased.ok and aliased.output["path"] == "in.txt"
    assert {d.action.path for d in setup.decisions()} >= {str(setup.root / "in.txt")}


def test_a_hard_link_to_a_file_outside_is_neither_written_nor_read(setup: Setup) -> None:
    outside = setup.outside / "config.txt"
    outside.write_text("original")
    os.link(outside, setup.root / "linked.txt")  # same filesystem: tmp_path holds both
    write = setup.router.call("fs.write", {"path": "linked.txt", "content": "pwned"})
    assert write.status == "error" and write.error_code == "E_PATH_UNSAFE"
    read = setup.router.call("fs.read", {"path": "linked.txt"})
    assert read.status == "error" and read.error_code == "E_PATH_UNSAFE"
    patch = "--- a/linked.txt\n+++ b/linked.txt\n@@ -1 +1 @@\n-original\n+pwned\n"
    assert setup.router.call("patch.apply", {"patch": patch}).error_code == "E_PATH_UNSAFE"
    assert outside.read_text() == "original"
    assert all("hard links" in o.stderr.excerpt for o in setup.outcomes())


def test_a_directory_swapped_for_a_symlink_after_the_decision_fails_closed(
    make_setup: SetupFactory,
) -> None:
    """The race: allowed on a real directory, swapped for a symlink to outside before the
    open (deterministically, from the router's after-decision hook)."""
    swaps: list[str] = []

    def swap(action: Action) -> None:
        d = Path(setup.root / "d")
        for child in d.iterdir():
            child.unlink()
        d.rmdir()
        d.symlink_to(setup.outside)
        swaps.append(action.kind)

    setup = make_setup(on_allowed=swap)
    (setup.outside / "f.txt").write_text("outside data")
    (setup.root / "d").mkdir()
    (setup.root / "d" / "f.txt").write_text("inside")
    result = setup.router.call("fs.read", {"path": "d/f.txt"})
    assert swaps == ["file.read"]
    assert result.status == "error" and result.error_code == "E_PATH_UNSAFE"
    assert "outside data" not in str(result.to_json())
    [outcome] = setup.outcomes()
    assert "changed between the decision and the open" in outcome.stderr.excerpt
    assert not outcome.materials

    (setup.root / "d").unlink()
    (setup.root / "d").mkdir()
    write = setup.router.call("fs.write", {"path": "d/new.txt", "content": "pwned"})
    assert write.error_code == "E_PATH_UNSAFE" and not (setup.outside / "new.txt").exists()


def test_writing_to_a_fifo_is_refused(setup: Setup) -> None:
    os.mkfifo(setup.root / "pipe")
    result = setup.router.call("fs.write", {"path": "pipe", "content": "data"})
    assert result.status == "error" and result.error_code == "E_PATH_UNSAFE"
    assert "not a regular file" in (result.error or "")


def test_an_outcome_that_cannot_be_recorded_is_a_warning(make_setup: SetupFactory) -> None:
    """The store fails between the decision and the outcome: the write has happened, so the
    result is ok and says the outcome was not recorded."""

    def break_store(_action: Action) -> None:
        assert setup.kernel.ledger is not None
        setup.kernel.ledger.store.close()

    setup = make_setup(on_allowed=break_store)
    result = setup.router.call("fs.write", {"path": "a.txt", "content": "x"})
    assert result.status == "ok" and result.outcome_index is None
    assert (setup.root / "a.txt").read_text() == "x"
    assert any("could not be recorded" in w for w in result.warnings)
