"""Path classification: test files, code whose change makes test results stale, and the
configuration files whose loosening the verifier looks for."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from codor.claims.pathkinds import is_code_path, is_config_path, is_test_path


@pytest.mark.parametrize("path", [
    "tests/test_calc.py", "test_calc.py", "pkg/calc_test.py", "tests/conftest.py",
    "conftest.py", "tests/unit/helpers.py", "test/helpers.py", "./tests/test_x.py",
    "src/calc.test.ts", "src/calc.spec.js", "web/Button.test.tsx", "lib/a.spec.mjs",
    "src/__tests__/calc.ts", "test/calc.js", "pkg/calc_test.go", "tests/integration.rs",
    "tests\\test_windows.py",
])
def test_test_files_are_recognised(path: str) -> None:
    assert is_test_path(path)


@pytest.mark.parametrize("path", [
    "src/calc.py", "src/testing.py", "src/contest.py", "src/calc.ts", "pkg/calc.go",
    "src/lib.rs", "tests/README.md", "tests/fixtures/data.json", "docs/testing.md",
    "src/test.go", "attestation.py", "src/protest.test", "",
])
def test_non_test_files_are_not_test_files(path: str) -> None:
    assert not is_test_path(path)


@pytest.mark.parametrize("path", [
    "src/calc.py", "src/calc.ts", "main.go", "src/lib.rs", "app/models.rb", "tests/test_x.py",
    "pyproject.toml", "setup.cfg", "package.json", "package-lock.json", "poetry.lock",
    "uv.lock", "yarn.lock", "Cargo.lock", "go.sum", "requirements-dev.txt", "Makefile",
    "Dockerfile", "CMakeLists.txt", "src/schema.json", "config/settings.yaml",
    "tests/fixtures/sample.csv", "web/styles.css", "scripts/build.sh",
])
def test_code_and_build_files_make_test_results_stale(path: str) -> None:
    assert is_code_path(path)


@pytest.mark.parametrize("path", [
    "README.md", "docs/guide.rst", "CHANGELOG.txt", "notes.txt", "LICENSE", ".gitignore",
    ".gitattributes", "docs/diagram.png", "assets/logo.svg", ".github/workflows/ci.yml",
    ".vscode/settings.json", "tests/README.md", "tests/fixtures/screenshot.png", "AUTHORS",
])
def test_documentation_and_images_do_not_make_test_results_stale(path: str) -> None:
    assert not is_code_path(path)


@pytest.mark.parametrize("path", [
    "pyproject.toml", "setup.cfg", "tox.ini", "mypy.ini", ".flake8", "ruff.toml", ".ruff.toml",
    "pytest.ini", ".coveragerc", "tsconfig.json", "web/tsconfig.build.json", ".eslintrc",
    ".eslintrc.json", ".eslintrc.cjs", "eslint.config.mjs", "jest.config.js",
    "vitest.config.ts", "package.json", ".mocharc.yml", "Cargo.toml", ".golangci.yml",
    "sub/pkg/pyproject.toml",
])
def test_lint_type_and_coverage_configuration_is_config(path: str) -> None:
    assert is_config_path(path)
    assert is_code_path(path)


@pytest.mark.parametrize("path", [
    "src/calc.py", "README.md", "config.toml", "settings.json", "tsconfig", "Cargo.lock",
    "package-lock.json", ".prettierrc",
])
def test_other_files_are_not_config(path: str) -> None:
    assert not is_config_path(path)


@given(st.text())
def test_classifiers_never_raise(path: str) -> None:
    for classify in (is_test_path, is_code_path, is_config_path):
        assert classify(path) in (True, False)
