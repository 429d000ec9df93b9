"""How the SDK loads: lazily from ``codor``, nothing heavy on import, and adapters that name
their extra when its framework is missing."""

from __future__ import annotations

import subprocess
import sys

import pytest

import codor
import codor.integrations.sdk as sdk
from codor.errors import CodorError


def _python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=False)


def test_the_sdk_names_are_lazy_exports_of_codor() -> None:
    from codor.integrations.sdk.agent import EnforcedAgent
    from codor.integrations.sdk.decorator import guarded
    from codor.integrations.sdk.errors import ActionDenied, ApprovalRequired
    from codor.integrations.sdk.guard import Guard

    assert codor.Guard is Guard and sdk.Guard is Guard
    assert codor.guarded is guarded and sdk.guarded is guarded
    assert codor.EnforcedAgent is EnforcedAgent
    assert codor.ActionDenied is ActionDenied and issubclass(ActionDenied, CodorError)
    assert issubclass(ApprovalRequired, ActionDenied)
    assert set(sdk.__all__) <= set(dir(sdk)) | set(sdk._EXPORTS)
    with pytest.raises(AttributeError):
        _ = codor.Nope  # type: ignore[attr-defined]


def test_importing_codor_and_the_sdk_loads_nothing_heavy() -> None:
    heavy = ("codor.integrations.sdk", "codor.kernel", "codor.policy", "codor.ledger",
             "yaml", "cryptography", "langchain_core", "agents", "pydantic")
    out = _python("import sys, codor; "
                  f"print(sorted(m for m in {heavy!r} if m in sys.modules))")
    assert out.stdout.strip() == "[]", out.stderr
    out = _python("import sys, codor.integrations.sdk as s; s.Guard; s.EnforcedAgent; "
                  f"print(sorted(m for m in {heavy[1:]!r} if m in sys.modules))")
    assert out.stdout.strip() == "[]", out.stderr


@pytest.mark.parametrize(("module", "blocked", "extra"), [
    ("codor.integrations.sdk.langchain", "langchain_core", "langchain"),
    ("codor.integrations.sdk.openai_agents", "agents", "openai-agents"),
])
def test_an_adapter_without_its_framework_names_the_extra(module: str, blocked: str,
                                                          extra: str) -> None:
    code = (f"import sys; sys.modules[{blocked!r}] = None\n"
            "from codor.errors import CodorError\n"
            f"try:\n    import {module}\n"
            "except CodorError as exc:\n    print(exc.code, exc.message)\n")
    out = _python(code)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("E_EXTRA_MISSING ")
    assert f"pip install 'codor[{extra}]'" in out.stdout
