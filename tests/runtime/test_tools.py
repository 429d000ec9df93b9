"""Each built-in tool becomes the action kind the issue names."""

from __future__ import annotations

from typing import Any

import pytest

from codor.runtime import TOOLS
from tests.runtime.conftest import SetupFactory
from tests.runtime.hostrunner import DirectHttpClient, UnsafeHostRunner

CALLS: list[tuple[str, dict[str, Any], str]] = [
    ("fs.read", {"path": "f.txt"}, "file.read"),
    ("fs.write", {"path": "g.txt", "content": "x"}, "file.write"),
    ("fs.list", {}, "file.list"),
    ("fs.exists", {"path": "f.txt"}, "file.list"),
    ("fs.delete", {"path": "f.txt"}, "file.delete"),
    ("search.grep", {"pattern": "x"}, "file.list"),
    ("search.glob", {"pattern": "*"}, "file.list"),
    ("patch.apply", {"patch": "--- /dev/null\n+++ b/h.txt\n@@ -0,0 +1 @@\n+h\n"}, "patch.apply"),
    ("shell.exec", {"command": "true"}, "command.exec"),
    ("test.run", {"argv": ["true"]}, "command.exec"),
    ("http.fetch", {"url": "http://example.org/"}, "network.request"),
]


def test_the_tool_table_is_the_issues_list() -> None:
    assert sorted(TOOLS) == sorted(name for name, _, _ in CALLS)


@pytest.mark.parametrize(("name", "arguments", "kind"), CALLS)
def test_tool_maps_to_its_action_kind(make_setup: SetupFactory, name: str,
                                     arguments: dict[str, Any], kind: str) -> None:
    setup = make_setup(sandbox_runner=UnsafeHostRunner(), http_client=DirectHttpClient())
    (setup.root / "f.txt").write_text("x\n")
    result = setup.router.call(name, arguments)
    assert result.action is not None and result.action.kind == kind
    assert result.action.meta["tool"] == name and result.action.origin == "codor-runtime"
    assert result.status in ("ok", "denied"), result.to_json()
