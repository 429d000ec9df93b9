"""Python tests weakened so they pass: each pattern on a realistic before/after pair, and honest
changes (renames, moves, new asserted tests, pytest.raises) that must produce no finding."""

from __future__ import annotations

import textwrap

from hypothesis import given, settings
from hypothesis import strategies as st

from codor.claims.change import Change
from codor.claims.finding import Finding
from codor.claims.patterns import pattern
from codor.claims.pytests import detect

PATH = "tests/test_calc.py"

BEFORE = textwrap.dedent('''\
    import pytest

    from calc import add, divide, parse


    def test_add():
        assert add(2, 2) == 4
        assert add(-1, 1) == 0


    def test_divide_by_zero():
        with pytest.raises(ZeroDivisionError):
            divide(1, 0)


    def test_parse():
        result = parse("1 + 2")
        assert result.op == "+"
        assert result.args == (1, 2)


    class TestDivide:
        def test_exact(self):
            assert divide(6, 3) == 2

        def test_fraction(self):
            assert divide(1, 4) == pytest.approx(0.25)
    ''')


def run(after: str | None, before: str | None = BEFORE, path: str = PATH) -> list[Finding]:
    return detect([Change(path, before, after)])


def only(findings: list[Finding], pattern_id: str) -> Finding:
    assert [f.pattern for f in findings] == [pattern_id], findings
    return findings[0]


# -- tests.assertion_removed -----------------------------------------------------------------

def test_removed_assert_statement_is_reported_with_the_count() -> None:
    after = BEFORE.replace("    assert add(-1, 1) == 0\n", "")
    finding = only(run(after), "tests.assertion_removed")
    assert finding.message == "tests/test_calc.py::test_add: 1 assertion removed (2 → 1)"
    assert finding.severity == pattern("tests.assertion_removed").severity
    assert (finding.path, finding.line) == (PATH, 6)


def test_removed_pytest_raises_is_an_assertion_removed() -> None:
    after = BEFORE.replace("    with pytest.raises(ZeroDivisionError):\n        divide(1, 0)",
                           "    divide(1, 2)")
    finding = only(run(after), "tests.assertion_removed")
    assert "test_divide_by_zero: 1 assertion removed" in finding.message


def test_removed_unittest_and_mock_assertions_are_counted() -> None:
    before = textwrap.dedent('''\
        import unittest
        from unittest import mock

        class CalcTest(unittest.TestCase):
            def test_notify(self):
                sender = mock.Mock()
                notify(sender, "hi")
                sender.send.assert_called_once_with("hi")
                self.assertEqual(sender.send.call_count, 1)
                self.assertIn("hi", sender.log)
        ''')
    after = before.replace('        sender.send.assert_called_once_with("hi")\n', "").replace(
        '        self.assertIn("hi", sender.log)\n', "")
    finding = only(run(after, before), "tests.assertion_removed")
    assert finding.message == ("tests/test_calc.py::CalcTest::test_notify: 2 assertions "
                               "removed (3 → 1)")


# -- tests.trivial_assertion -----------------------------------------------------------------

def test_assert_true_replacing_assertion_is_trivial() -> None:
    after = BEFORE.replace("assert divide(6, 3) == 2", "assert True")
    finding = only(run(after), "tests.trivial_assertion")
    assert finding.message == ("tests/test_calc.py::TestDivide::test_exact: assertion that "
                               "cannot fail: assert True")
    assert finding.line == 24


def test_self_comparison_and_literal_assertions_are_trivial() -> None:
    for trivial in ("assert result == result", "assert 1", 'assert "ok"',
                    "assert (result.op, 'message')", "assert result.op == '+' or True"):
        after = BEFORE.replace('assert result.op == "+"', trivial)
        finding = only(run(after), "tests.trivial_assertion")
        assert finding.message.startswith("tests/test_calc.py::test_parse: assertion that "
                                          "cannot fail: assert ")
        assert finding.line == 18


def test_unittest_assert_true_on_a_constant_is_trivial() -> None:
    before = ("import unittest\n\nclass T(unittest.TestCase):\n    def test_ok(self):\n"
              "        self.assertEqual(compute(), 3)\n")
    after = before.replace("self.assertEqual(compute(), 3)", "self.assertTrue(True)")
    finding = only(run(after, before), "tests.trivial_assertion")
    assert "self.assertTrue(True)" in finding.message


def test_test_body_reduced_to_pass_is_trivial() -> None:
    after = BEFORE.replace('    result = parse("1 + 2")\n    assert result.op == "+"\n'
                           '    assert result.args == (1, 2)\n', "    pass\n")
    finding = only(run(after), "tests.trivial_assertion")
    assert finding.message == ("tests/test_calc.py::test_parse: test body reduced to pass "
                               "(2 assertions removed)")


def test_existing_trivial_assertion_is_not_reported_again() -> None:
    before = BEFORE.replace("assert divide(6, 3) == 2", "assert True")
    after = before.replace("def test_exact", "def test_exact_division")
    assert run(after, before) == []


# -- tests.skip_added ------------------------------------------------------------------------

def test_skip_decorator_added_to_a_test() -> None:
    after = BEFORE.replace("def test_add():", '@pytest.mark.skip(reason="flaky")\n'
                                              "def test_add():")
    finding = only(run(after), "tests.skip_added")
    assert finding.message == "tests/test_calc.py::test_add: skip added (pytest.mark.skip)"
    assert finding.line == 6


def test_xfail_skipif_and_unittest_skips_are_skips() -> None:
    for decorator in ("@pytest.mark.xfail", "@pytest.mark.skipif(True, reason='x')",
                      "@unittest.skip('later')", "@unittest.expectedFailure"):
        after = BEFORE.replace("    def test_exact(self):",
                               f"    {decorator}\n    def test_exact(self):")
        finding = only(run(after), "tests.skip_added")
        assert "TestDivide::test_exact: skip added" in finding.message


def test_pytest_skip_call_in_a_test_body_is_a_skip() -> None:
    after = BEFORE.replace('    result = parse("1 + 2")',
                           '    pytest.skip("parser rewrite pending")\n    result = parse("1 + 2")')
    finding = only(run(after), "tests.skip_added")
    assert 'pytest.skip("parser rewrite pending")' in finding.message
    assert finding.line == 17


def test_module_level_pytestmark_skip_skips_the_file() -> None:
    after = BEFORE.replace("import pytest\n", "import pytest\n\npytestmark = "
                                              "pytest.mark.skip(reason='broken')\n")
    finding = only(run(after), "tests.skip_added")
    assert finding.message == "tests/test_calc.py: skip added (pytest.mark.skip)"


def test_skip_added_to_a_test_class_is_reported_once() -> None:
    after = BEFORE.replace("class TestDivide:", "@pytest.mark.skip\nclass TestDivide:")
    finding = only(run(after), "tests.skip_added")
    assert finding.message.startswith("tests/test_calc.py::TestDivide: skip added")


def test_xfail_parametrize_case_added_is_a_skip() -> None:
    before = ("import pytest\n\n@pytest.mark.parametrize('n', [1, 2])\n"
              "def test_square(n):\n    assert square(n) == n * n\n")
    after = before.replace("[1, 2]", "[1, pytest.param(2, marks=pytest.mark.xfail)]")
    only(run(after, before), "tests.skip_added")


# -- tests.no_assertion ----------------------------------------------------------------------

def test_new_test_without_assertion_is_reported() -> None:
    after = BEFORE + '\n\ndef test_parse_spaces():\n    parse("1 +   2")\n'
    finding = only(run(after), "tests.no_assertion")
    assert finding.message == "tests/test_calc.py::test_parse_spaces: new test has no assertion"
    assert finding.line == 30


def test_new_test_file_with_only_smoke_calls_is_reported() -> None:
    findings = run("def test_import():\n    import calc\n", None, "tests/test_smoke.py")
    assert only(findings, "tests.no_assertion").path == "tests/test_smoke.py"


def test_helper_that_asserts_counts_as_an_assertion() -> None:
    after = BEFORE + ('\n\ndef check_sum(a, b, total):\n    assert add(a, b) == total\n\n\n'
                      'def test_sums():\n    check_sum(1, 2, 3)\n')
    assert run(after) == []


# -- tests.expected_changed ------------------------------------------------------------------

def test_expected_literal_edited_to_match_wrong_output() -> None:
    after = BEFORE.replace("assert add(2, 2) == 4", "assert add(2, 2) == 5")
    finding = only(run(after), "tests.expected_changed")
    assert finding.message == ("tests/test_calc.py::test_add: expected value changed 4 → 5 "
                               "(assert add(2, 2) == 5)")
    assert finding.line == 7


def test_approx_and_assert_equal_expected_values_are_compared() -> None:
    after = BEFORE.replace("pytest.approx(0.25)", "pytest.approx(0.3)")
    assert "0.25 → 0.3" in only(run(after), "tests.expected_changed").message
    before = ("import unittest\n\nclass T(unittest.TestCase):\n    def test_total(self):\n"
              "        self.assertEqual(total([1, 2]), 3)\n")
    finding = only(run(before.replace(", 3)", ", 4)"), before), "tests.expected_changed")
    assert "3 → 4" in finding.message


# -- tests.deleted ---------------------------------------------------------------------------

def test_deleted_test_function_is_reported_at_its_old_line() -> None:
    start = BEFORE.index("def test_parse")
    after = BEFORE[:start] + BEFORE[BEFORE.index("class TestDivide"):]
    finding = only(run(after), "tests.deleted")
    assert finding.message == "tests/test_calc.py::test_parse: test deleted"
    assert finding.line == 16


def test_deleted_test_file_is_one_finding_with_its_tests() -> None:
    finding = only(run(None), "tests.deleted")
    assert finding.message == ("tests/test_calc.py: test file deleted with 5 tests (test_add, "
                               "test_divide_by_zero, test_parse, TestDivide.test_exact, "
                               "TestDivide.test_fraction)")


# -- honest changes: no findings -------------------------------------------------------------

def test_renamed_test_is_not_a_deletion() -> None:
    assert run(BEFORE.replace("def test_parse():", "def test_parse_addition():")) == []


def test_renamed_test_with_small_edit_is_matched_by_similarity() -> None:
    after = BEFORE.replace("def test_add():\n    assert add(2, 2) == 4",
                           "def test_addition():\n    assert add(2, 2) == 4  # basic case")
    after = after.replace("assert add(-1, 1) == 0", "assert add(-1, 1) == 0\n    "
                                                    "assert add(0, 0) == 0")
    assert run(after) == []


def test_test_file_moved_with_its_tests_is_not_a_deletion() -> None:
    changes = [Change(PATH, BEFORE, None), Change("tests/unit/test_calc.py", None, BEFORE)]
    assert detect(changes) == []


def test_test_moved_into_another_changed_file_is_not_a_deletion() -> None:
    start, end = BEFORE.index("def test_parse"), BEFORE.index("class TestDivide")
    other = "from calc import parse\n\n\ndef test_other():\n    assert parse('1')\n\n\n"
    changes = [Change(PATH, BEFORE, BEFORE[:start] + BEFORE[end:]),
               Change("tests/test_parse.py", other, other + BEFORE[start:end])]
    assert detect(changes) == []


def test_new_asserted_tests_and_pytest_raises_produce_no_findings() -> None:
    after = BEFORE + textwrap.dedent('''\


        def test_parse_rejects_garbage():
            with pytest.raises(ValueError, match="unexpected"):
                parse("1 +")


        @pytest.mark.parametrize("a, b, total", [(1, 2, 3), (0, 0, 0)])
        def test_add_cases(a, b, total):
            assert add(a, b) == total
        ''')
    assert run(after) == []


def test_new_test_file_with_assertions_produces_no_findings() -> None:
    text = "def test_double():\n    assert double(2) == 4\n"
    assert run(text, None, "tests/test_double.py") == []


def test_production_fix_and_unchanged_tests_produce_no_findings() -> None:
    changes = [Change("src/calc.py", "def add(a, b):\n    return a - b\n",
                      "def add(a, b):\n    return a + b\n"), Change(PATH, BEFORE, BEFORE)]
    assert detect(changes) == []


def test_assertion_rewritten_in_another_style_is_not_removed() -> None:
    after = BEFORE.replace("assert divide(6, 3) == 2", "self.assertEqual(divide(6, 3), 2)")
    assert run(after) == []


def test_identity_of_two_calls_is_not_trivial() -> None:
    after = BEFORE + "\n\ndef test_cached():\n    assert default_parser() is default_parser()\n"
    assert run(after) == []


def test_reordered_set_literal_is_not_an_expected_value_change() -> None:
    before = "def test_kinds():\n    assert kinds() == {'a', 'b', 'c'}\n"
    assert run(before.replace("{'a', 'b', 'c'}", "{'c', 'a', 'b'}"), before) == []


def test_assertion_helper_moved_to_a_shared_module_is_not_removal() -> None:
    before = ("def run(guard, action):\n    return guard.check(action)\n\n\n"
              "def test_deny():\n    assert run(make(), 'rm') == 'deny'\n")
    after = ("from tests.helpers import judge\n\n\n"
             "def test_deny():\n    assert judge(make(), 'rm') == 'deny'\n")
    assert run(after, before) == []


def test_test_moved_into_a_contract_mixin_is_not_a_deletion() -> None:
    test = "def test_busy_writer(self):\n        assert self.store.busy() is False\n"
    before = f"class TestSqlite:\n    {test}"
    changes = [Change(PATH, before, "from tests.contract import Contract\n\n\n"
                                    "class TestSqlite(Contract):\n    pass\n"),
               Change("tests/contract.py", None, f"class Contract:\n    {test}")]
    assert detect(changes) == []


def test_test_calling_a_check_helper_from_elsewhere_has_an_assertion() -> None:
    after = BEFORE + "\n\ndef test_round_trip():\n    check_round_trip(parse, '1 + 2')\n"
    assert run(after) == []


def test_invalid_escape_in_a_string_does_not_hide_the_file() -> None:
    before = 'def test_digits():\n    assert match("\\d+", "12") == "12"\n'
    after = before.replace('== "12"', '== "13"')
    assert "expected value changed '12' → '13'" in only(run(after, before),
                                                        "tests.expected_changed").message


def test_unparseable_test_file_is_skipped_without_error() -> None:
    assert run(BEFORE + "\ndef test_broken(:\n") == []
    assert run(BEFORE, "def (:\n") == []


def test_non_test_python_files_are_ignored() -> None:
    assert run(None, BEFORE, "src/calc.py") == []


@settings(max_examples=150, deadline=None)
@given(st.text(), st.text(), st.sampled_from([PATH, "tests/test_x.py", "conftest.py"]))
def test_detect_never_raises_on_arbitrary_text(before: str, after: str, path: str) -> None:
    findings = detect([Change(path, before, after), Change(path, None, after),
                       Change(path, before, None)])
    assert all(f.path == path for f in findings)


_FRAGMENTS = st.sampled_from([
    "def test_a():\n    assert f(1) == 2\n", "def test_a():\n    pass\n",
    "@pytest.mark.skip\ndef test_b():\n    assert True\n", "class TestX:\n    def test_c(self):\n",
    "        self.assertEqual(g(), 3)\n", "pytestmark = pytest.mark.xfail\n", "    assert x\n",
    "import pytest\n", "def helper():\n    assert 1\n", "def test_d(:\n",
])


@settings(max_examples=150, deadline=None)
@given(st.lists(_FRAGMENTS, max_size=6), st.lists(_FRAGMENTS, max_size=6))
def test_detect_never_raises_on_python_like_fragments(before: list[str],
                                                      after: list[str]) -> None:
    findings = detect([Change(PATH, "".join(before), "".join(after))])
    assert all(f.pattern.startswith("tests.") for f in findings)
