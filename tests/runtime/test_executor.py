"""The sandbox executor as the tool router's runner: shell.exec really runs in bubblewrap, and
what it wrote is recorded as its products."""

from __future__ import annotations

import hashlib

from codor.runtime import ToolRouter
from codor.runtime.executor import SandboxExecutor
from tests.runtime.conftest import SetupFactory


def test_shell_exec_runs_confined_and_records_its_products(make_setup: SetupFactory) -> None:
    setup = make_setup()
    with SandboxExecutor(setup.kernel, setup.root, session="s-exec") as executor:
        router = ToolRouter(setup.kernel, setup.root, sandbox_runner=executor)
        result = router.call(
            "shell.exec", {"command": "echo made > made.txt; touch /etc/codor-escape; "
                                      "echo status=$?"}, session="s-exec")
    assert result.ok, result.to_json()
    assert result.output["exit_status"] == 0
    assert "status=1" in result.output["stdout"]  # the host's /etc is read-only inside
    assert (setup.root / "made.txt").read_text() == "made\n"
    [outcome] = setup.outcomes()
    assert outcome.sandbox == "bubblewrap"
    assert dict(outcome.products) == {
        str(setup.root / "made.txt"): hashlib.sha256(b"made\n").hexdigest()}


def test_explain_names_the_backend_and_the_namespaces(make_setup: SetupFactory) -> None:
    setup = make_setup()
    with SandboxExecutor(setup.kernel, setup.root) as executor:
        text = executor.explain(["true"])
    assert text.startswith("backend: bubblewrap")
    assert "--unshare-user" in text and "--unshare-net" in text
