"""Checks disabled instead of fixed: suppression comments added, and lint, type, test or
coverage configuration loosened; pre-existing suppressions and tightening are not reported."""

from __future__ import annotations

import textwrap

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codor.claims.change import Change
from codor.claims.finding import Finding
from codor.claims.patterns import pattern
from codor.claims.suppressions import detect

CODE = textwrap.dedent('''\
    import json


    def load(path):
        with open(path) as fh:
            return json.load(fh)


    def total(items):
        return sum(i.price for i in items)
    ''')


def run(path: str, before: str | None, after: str | None) -> list[Finding]:
    return detect([Change(path, before, after)])


def only(findings: list[Finding], pattern_id: str) -> Finding:
    assert [f.pattern for f in findings] == [pattern_id], findings
    return findings[0]


# -- checks.suppression_added ----------------------------------------------------------------

def test_type_ignore_added_is_reported_at_its_line() -> None:
    after = CODE.replace("return sum(i.price for i in items)",
                         "return sum(i.price for i in items)  # type: ignore[attr-defined]")
    finding = only(run("src/cart.py", CODE, after), "checks.suppression_added")
    assert finding.message == ("src/cart.py:10: # type: ignore added: return sum(i.price for i "
                               "in items)  # type: ignore[attr-defined]")
    assert (finding.path, finding.line) == ("src/cart.py", 10)
    assert finding.severity == pattern("checks.suppression_added").severity


@pytest.mark.parametrize(("comment", "kind"), [
    ("# noqa: E501", "# noqa"), ("# pylint: disable=broad-except", "# pylint: disable"),
    ("# pragma: no cover", "# pragma: no cover"), ("# pyright: ignore[reportGeneralTypeIssues]",
                                                   "# pyright: ignore"),
])
def test_python_suppression_comments_added(comment: str, kind: str) -> None:
    after = CODE.replace("import json", f"import json  {comment}")
    assert kind in only(run("src/cart.py", CODE, after), "checks.suppression_added").message


def test_file_level_mypy_ignore_errors_added() -> None:
    after = "# mypy: ignore-errors\n" + CODE
    finding = only(run("src/cart.py", CODE, after), "checks.suppression_added")
    assert finding.line == 1


def test_pre_existing_suppression_on_an_edited_line_is_not_new() -> None:
    before = CODE.replace("import json", "import json  # noqa: F401")
    after = before.replace("import json  # noqa: F401", "import json as js  # noqa: F401")
    assert run("src/cart.py", before, after) == []
    moved = before.replace("import json  # noqa: F401\n", "") + "import json  # noqa: F401\n"
    assert run("src/cart.py", before, moved) == []


def test_suppression_text_inside_a_string_is_not_a_suppression() -> None:
    after = CODE + '\nHELP = "write # type: ignore or # noqa to silence a checker"\n'
    assert run("src/cart.py", CODE, after) == []


def test_ts_ignore_and_eslint_disable_added() -> None:
    before = "const total = (items: Item[]) => items.reduce((s, i) => s + i.price, 0);\n"
    after = ("// @ts-ignore\n" + before.replace("0);", "0); // eslint-disable-line no-magic")
             + "/* eslint-disable */\n// @ts-expect-error\nlet x: number = 'a';\n")
    findings = run("web/src/cart.ts", before, after)
    assert [f.message.split(" added")[0] for f in findings] == [
        "web/src/cart.ts:1: @ts-ignore", "web/src/cart.ts:2: eslint-disable",
        "web/src/cart.ts:3: eslint-disable", "web/src/cart.ts:4: @ts-expect-error"]


def test_rust_allow_and_go_nolint_added() -> None:
    before_rs = "fn total(v: &[i64]) -> i64 { v.iter().sum() }\n"
    finding = only(run("src/lib.rs", before_rs, "#[allow(dead_code)]\n" + before_rs),
                   "checks.suppression_added")
    assert finding.message.startswith("src/lib.rs:1: #[allow(...)] added")
    before_go = "package cart\n\nfunc Total() int { return 0 }\n"
    after_go = before_go.replace("return 0 }", "return 0 } //nolint:errcheck")
    assert only(run("cart.go", before_go, after_go), "checks.suppression_added").line == 3


def test_suppressions_in_a_new_file_are_reported() -> None:
    findings = run("src/new.py", None, "import os  # noqa\n")
    assert only(findings, "checks.suppression_added").line == 1


def test_markdown_mentioning_suppressions_is_ignored() -> None:
    assert run("docs/lint.md", "", "Use `# type: ignore` or `// @ts-ignore` sparingly.\n") == []


# -- checks.config_loosened ------------------------------------------------------------------

PYPROJECT = textwrap.dedent('''\
    [tool.mypy]
    strict = true
    disallow_untyped_defs = true

    [[tool.mypy.overrides]]
    module = "vendor.*"
    ignore_missing_imports = true

    [tool.ruff.lint]
    select = ["E", "F", "B", "S"]
    ignore = ["E501"]

    [tool.ruff.lint.per-file-ignores]
    "tests/**" = ["S101"]

    [tool.pytest.ini_options]
    addopts = "--strict-markers -ra --cov=cart --cov-fail-under=90"
    filterwarnings = ["error"]

    [tool.coverage.report]
    fail_under = 90
    ''')


@pytest.mark.parametrize(("old", "new", "message"), [
    ("strict = true", "strict = false", "pyproject.toml: mypy.strict true → false"),
    ("strict = true\n", "", "pyproject.toml: mypy.strict true → removed"),
    ("disallow_untyped_defs = true", "disallow_untyped_defs = false",
     "pyproject.toml: mypy.disallow_untyped_defs true → false"),
    ('ignore_missing_imports = true', 'ignore_missing_imports = true\nignore_errors = true',
     "pyproject.toml: mypy.overrides.vendor.*.ignore_errors set to true"),
    ('ignore = ["E501"]', 'ignore = ["E501", "B008", "S603"]',
     "pyproject.toml: ruff.ignore gained B008, S603"),
    ('"tests/**" = ["S101"]', '"tests/**" = ["S101"]\n"src/**" = ["ANN"]',
     "pyproject.toml: ruff.per-file-ignores.src/** gained ANN"),
    ('select = ["E", "F", "B", "S"]', 'select = ["E", "F"]',
     "pyproject.toml: ruff.select lost B, S"),
    ("fail_under = 90", "fail_under = 60", "pyproject.toml: coverage.report.fail_under 90 → 60"),
    ("--cov-fail-under=90", "--cov-fail-under=50",
     "pyproject.toml: pytest.addopts loosened: --cov-fail-under 90 → 50"),
    ("-ra", "-ra -p no:warnings --deselect tests/test_cart.py::test_total",
     "pyproject.toml: pytest.addopts loosened: --deselect=tests/test_cart.py::test_total, "
     "-p=no:warnings"),
    ("--strict-markers ", "", "pyproject.toml: pytest.addopts loosened: --strict-markers"),
    ('filterwarnings = ["error"]', 'filterwarnings = ["ignore::DeprecationWarning"]',
     "pyproject.toml: pytest.filterwarnings lost 'error'"),
])
def test_pyproject_loosening_is_reported(old: str, new: str, message: str) -> None:
    after = PYPROJECT.replace(old, new, 1)
    finding = only(run("pyproject.toml", PYPROJECT, after), "checks.config_loosened")
    assert finding.message == message
    assert finding.path == "pyproject.toml"
    assert finding.severity == pattern("checks.config_loosened").severity


def test_loosened_setting_line_points_at_the_setting() -> None:
    after = PYPROJECT.replace("fail_under = 90", "fail_under = 60")
    assert only(run("pyproject.toml", PYPROJECT, after), "checks.config_loosened").line == 21


def test_tightening_and_unrelated_edits_are_not_loosening() -> None:
    after = (PYPROJECT.replace("fail_under = 90", "fail_under = 95")
             .replace('ignore = ["E501"]', "ignore = []")
             .replace('select = ["E", "F", "B", "S"]', 'select = ["E", "F", "B", "S", "UP"]')
             + '\n[tool.hatch.build]\npackages = ["src/cart"]\n')
    assert run("pyproject.toml", PYPROJECT, after) == []
    assert run("pyproject.toml", PYPROJECT,
               PYPROJECT.replace('select = ["E", "F", "B", "S"]', 'select = ["ALL"]')) == []


def test_mypy_settings_moved_between_files_are_not_loosening() -> None:
    ini = "[mypy]\nstrict = True\n\n[mypy-vendor.*]\nignore_missing_imports = True\n"
    changes = [Change("mypy.ini", ini, None), Change("pyproject.toml", "", PYPROJECT)]
    assert detect(changes) == []


def test_ini_style_configuration_loosening() -> None:
    setup = ("[flake8]\nmax-line-length = 100\nextend-ignore = E203\n\n[coverage:report]\n"
             "fail_under = 85\n")
    after = setup.replace("E203", "E203, W503, E731").replace("85", "70")
    findings = run("setup.cfg", setup, after)
    assert [f.message for f in findings] == [
        "setup.cfg: flake8.extend-ignore gained E731, W503",
        "setup.cfg: coverage.report.fail_under 85 → 70"]
    assert [f.line for f in findings] == [3, 6]
    mypy = "[mypy]\nstrict = True\nwarn_unreachable = True\n"
    finding = only(run("mypy.ini", mypy, mypy.replace("warn_unreachable = True",
                                                      "warn_unreachable = False")),
                   "checks.config_loosened")
    assert finding.message == "mypy.ini: mypy.warn_unreachable true → False"


def test_tsconfig_strict_turned_off() -> None:
    before = ('{\n  // compiler\n  "compilerOptions": {\n    "strict": true,\n'
              '    "noImplicitAny": true,\n  }\n}\n')
    after = before.replace('"strict": true', '"strict": false').replace(
        '    "noImplicitAny": true,\n', "")
    findings = run("web/tsconfig.json", before, after)
    assert [f.message for f in findings] == [
        "web/tsconfig.json: tsconfig.json.compilerOptions.strict true → false",
        "web/tsconfig.json: tsconfig.json.compilerOptions.noImplicitAny true → removed"]
    assert [f.line for f in findings] == [4, None]


def test_eslint_rules_turned_off_in_json_and_flat_config() -> None:
    before = ('{"extends": "eslint:recommended", "rules": {"no-console": "error", '
              '"eqeqeq": ["error", "always"]}}')
    after = before.replace('"no-console": "error"', '"no-console": "off"').replace(
        '}}', ', "no-unused-vars": 0}}')
    messages = [f.message for f in run(".eslintrc.json", before, after)]
    assert messages == [".eslintrc.json: eslint.rules.no-console error → off",
                        ".eslintrc.json: eslint.rules.no-unused-vars default → 0"]
    flat = "export default [\n  { rules: { 'no-console': 'error' } },\n];\n"
    finding = only(run("eslint.config.mjs", flat, flat.replace("'error'", "'off'")),
                   "checks.config_loosened")
    assert (finding.message, finding.line) == (
        "eslint.config.mjs: eslint.rules.no-console error → off", 2)


def test_jest_coverage_threshold_lowered_and_test_script_masked() -> None:
    before = ('{"scripts": {"test": "jest"}, "jest": {"coverageThreshold": '
              '{"global": {"branches": 80, "lines": 90}}}}')
    after = before.replace('"lines": 90', '"lines": 40').replace('"jest"}', '"jest || true"}')
    messages = [f.message for f in run("package.json", before, after)]
    assert messages == ["package.json: jest.coverageThreshold.global.lines 90 → 40",
                        "package.json: npm.scripts.test masks failures: || true"]
    config = "module.exports = {\n  coverageThreshold: { global: { lines: 90 } },\n};\n"
    finding = only(run("jest.config.js", config, config.replace("90", "10")),
                   "checks.config_loosened")
    assert "90 → 10" in finding.message


def test_golangci_linter_disabled_and_cargo_lint_allowed() -> None:
    before = "linters:\n  enable:\n    - errcheck\n    - govet\n"
    after = before.replace("    - govet\n", "") + "  disable:\n    - gosec\n"
    messages = [f.message for f in run(".golangci.yml", before, after)]
    assert messages == [".golangci.yml: golangci.linters.enable lost govet",
                        ".golangci.yml: golangci.linters.disable gained gosec"]
    cargo = '[package]\nname = "cart"\n\n[lints.clippy]\nunwrap_used = "deny"\n'
    finding = only(run("Cargo.toml", cargo, cargo.replace('"deny"', '"allow"')),
                   "checks.config_loosened")
    assert finding.message == 'Cargo.toml: cargo.lints.clippy.unwrap_used deny → allow'


def test_first_setup_of_a_tool_is_not_loosening() -> None:
    before = "[project]\nname = 'cart'\n"
    after = before + ('[tool.ruff.lint]\nselect = ["E", "F"]\nignore = ["E501"]\n\n'
                      '[tool.ruff.lint.per-file-ignores]\n"tests/**" = ["S101"]\n')
    assert run("pyproject.toml", before, after) == []
    assert run(".eslintrc.json", None, '{"rules": {"no-console": "off"}}') == []


def test_ignore_errors_in_a_new_mypy_override_is_loosening() -> None:
    before = "[project]\nname = 'cart'\n"
    after = before + '[[tool.mypy.overrides]]\nmodule = "cart.legacy"\nignore_errors = true\n'
    finding = only(run("pyproject.toml", before, after), "checks.config_loosened")
    assert finding.message == ("pyproject.toml: mypy.overrides.cart.legacy.ignore_errors set "
                               "to true")
    assert finding.line == 5


def test_unparseable_configuration_falls_back_to_key_value_pairs() -> None:
    before = PYPROJECT
    after = PYPROJECT.replace("strict = true", "strict = false") + "\n[broken\n"
    finding = only(run("pyproject.toml", before, after), "checks.config_loosened")
    assert "strict true → false" in finding.message


@settings(max_examples=150, deadline=None)
@given(st.text(), st.text(), st.sampled_from([
    "pyproject.toml", "setup.cfg", "tsconfig.json", ".eslintrc", ".eslintrc.yml",
    "eslint.config.js", "package.json", ".golangci.yml", "Cargo.toml", "src/a.py", "a.ts",
    "lib.rs", "main.go", ".coveragerc"]))
def test_detect_never_raises_on_arbitrary_text(before: str, after: str, path: str) -> None:
    findings = detect([Change(path, before, after), Change(path, None, after),
                       Change(path, before, None)])
    assert all(f.path == path for f in findings)


_CONFIG_FRAGMENTS = st.sampled_from([
    "[tool.mypy]\n", "strict = true\n", "strict = false\n", "[mypy]\n", "fail_under = 9\n",
    'ignore = ["E1"]\n', "select = []\n", '{"rules": {"x": "off"}}', "- a\n", "a: [1, {b: 2}]\n",
    "&a [*a, *a]\n", "[[tool.mypy.overrides]]\nmodule = 1\n", '"addopts" = 3\n',
])


@settings(max_examples=150, deadline=None)
@given(st.lists(_CONFIG_FRAGMENTS, max_size=6), st.lists(_CONFIG_FRAGMENTS, max_size=6),
       st.sampled_from(["pyproject.toml", "setup.cfg", ".eslintrc", ".golangci.yml"]))
def test_detect_never_raises_on_config_like_fragments(before: list[str], after: list[str],
                                                      path: str) -> None:
    findings = detect([Change(path, "".join(before), "".join(after))])
    assert all(f.pattern == "checks.config_loosened" for f in findings)
