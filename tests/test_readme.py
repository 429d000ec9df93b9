"""The README's list of error codes names every code an error class of CODOR carries."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_error_code_is_listed_in_the_readme() -> None:
    source = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "src/codor").rglob("*.py"))
    defined = set(re.findall(r'code(?::\s*ClassVar\[str\])?\s*=\s*"(E_[A-Z_]+)"', source))
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Errors and exit codes", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"`(E_[A-Z_]+)`", section))
    assert defined, "no error codes found: the pattern no longer matches the sources"
    assert sorted(defined - listed) == []
