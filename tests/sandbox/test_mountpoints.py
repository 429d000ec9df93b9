"""Mount points created for missing protected paths: removed by the last CODOR process out."""

from __future__ import annotations

from pathlib import Path

from codor.sandbox.mountpoints import MountPoints

# Two registries on the same lock directory behave like two CODOR processes: flock locks
# belong to open file descriptions, not to processes.


def test_the_last_holder_removes_the_empty_mount_points(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    made = [ws / ".claude", ws / ".mcp.json", ws / ".vscode"]
    for path in made:
        path.mkdir(parents=True)
    (ws / ".vscode" / "settings.json").write_text("{}")  # someone put content there
    first, second = MountPoints(str(tmp_path / "locks")), MountPoints(str(tmp_path / "locks"))
    first.record(str(ws), [str(p) for p in made])
    assert first.ours(str(ws)) == {str(ws / ".claude"), str(ws / ".mcp.json")}
    second.ours(str(ws))  # the second process runs sandboxes here too
    assert first.release(str(ws)) == []  # still needed by the second
    assert (ws / ".claude").is_dir()
    removed = second.release(str(ws))
    assert sorted(removed) == sorted([str(ws / ".claude"), str(ws / ".mcp.json")])
    assert not (ws / ".claude").exists() and (ws / ".vscode" / "settings.json").exists()
    assert list((tmp_path / "locks").iterdir()) == []  # the list goes with the last holder
    third = MountPoints(str(tmp_path / "locks"))
    assert third.ours(str(ws)) == frozenset()  # a fresh list for the next process
    third.release(str(ws))


def test_releasing_twice_or_unknown_workspaces_is_harmless(tmp_path: Path) -> None:
    registry = MountPoints(str(tmp_path / "locks"))
    assert registry.release(str(tmp_path)) == []
    registry.record(str(tmp_path), [])
    assert registry.release_all() == [] and registry.release(str(tmp_path)) == []
