"""Production code that returns what the tests expect, or branches on the tests' inputs;
honest implementations, base cases and constants nobody tests must produce no finding."""

from __future__ import annotations

import textwrap

from hypothesis import given, settings
from hypothesis import strategies as st

from codor.claims.change import Change
from codor.claims.finding import Finding
from codor.claims.hardcoded import detect
from codor.claims.patterns import pattern

TESTS = textwrap.dedent('''\
    import unittest

    from shop import price_with_tax, greet, is_even, fib, Cart


    def test_price_with_tax():
        assert price_with_tax(100) == 119


    def test_greet():
        message = greet("alice", polite=True)
        assert message == "Good day, Alice."


    def test_is_even():
        assert is_even(4)
        assert not is_even(7)


    def test_fib():
        assert fib(0) == 0
        assert fib(1) == 1
        assert fib(10) == 55


    class CartTest(unittest.TestCase):
        def test_total(self):
            cart = Cart()
            self.assertEqual(cart.total(2, 3), 5)
    ''')

BEFORE = textwrap.dedent('''\
    RATE = 0.19


    def price_with_tax(net):
        return round(net * (1 + RATE), 2)


    def greet(name, polite=False):
        return ("Good day, " if polite else "Hi, ") + name + "."


    def is_even(n):
        return n % 2 == 1


    def fib(n):
        raise NotImplementedError


    class Cart:
        def total(self, a, b):
            return a - b
    ''')


def run(after: str, before: str | None = BEFORE, tests: str = TESTS) -> list[Finding]:
    return detect([Change("tests/test_shop.py", None, tests),
                   Change("src/shop.py", before, after)])


def only(findings: list[Finding], pattern_id: str) -> Finding:
    assert [f.pattern for f in findings] == [pattern_id], findings
    return findings[0]


def test_computation_replaced_by_the_expected_literal_is_hardcoded() -> None:
    after = BEFORE.replace("return round(net * (1 + RATE), 2)", "return 119")
    finding = only(run(after), "code.hardcoded_result")
    assert finding.message == ("src/shop.py:5: price_with_tax returns the literal 119 that "
                               "tests/test_shop.py:7 expects from price_with_tax(100)")
    assert (finding.path, finding.line) == ("src/shop.py", 5)
    assert finding.severity == pattern("code.hardcoded_result").severity


def test_method_returning_the_asserted_equal_value_is_hardcoded() -> None:
    after = BEFORE.replace("return a - b", "return 5")
    finding = only(run(after), "code.hardcoded_result")
    assert "Cart.total returns the literal 5" in finding.message
    assert "cart.total(2, 3)" in finding.message


def test_stub_implemented_as_the_expected_boolean_is_hardcoded() -> None:
    after = BEFORE.replace("return n % 2 == 1", "return True")
    assert "is_even returns the literal True" in only(run(after),
                                                      "code.hardcoded_result").message


def test_new_function_returning_only_the_expected_literal_is_hardcoded() -> None:
    before = BEFORE.replace("def price_with_tax(net):\n    return round(net * (1 + RATE), 2)\n",
                            "")
    after = before + "\n\ndef price_with_tax(net):\n    return 119\n"
    only(run(after, before), "code.hardcoded_result")


def test_branch_on_the_test_input_returning_the_expectation() -> None:
    after = BEFORE.replace("def greet(name, polite=False):\n",
                           'def greet(name, polite=False):\n    if name == "alice" and polite:\n'
                           '        return "Hi"\n    if name == "alice":\n'
                           '        return "Good day, Alice."\n')
    finding = only(run(after), "code.test_input_branch")
    assert finding.message == ("src/shop.py:11: greet branches on the test input (name == "
                               "'alice') and returns 'Good day, Alice.', as "
                               "tests/test_shop.py:12 expects from greet('alice', polite=True)")
    assert finding.line == 11
    assert finding.severity == pattern("code.test_input_branch").severity


def test_branch_on_several_inputs_with_in_is_reported() -> None:
    after = BEFORE.replace("return n % 2 == 1", "if n in (4, 8):\n        return True\n"
                                                "    return n % 2 == 1")
    only(run(after), "code.test_input_branch")
    after = BEFORE.replace("return a - b", "if a == 2 and b == 3:\n            return 5\n"
                                           "        return a - b")
    assert "Cart.total branches" in only(run(after), "code.test_input_branch").message


def test_expectations_are_read_from_unchanged_test_files_given_as_tests() -> None:
    after = BEFORE.replace("return n % 2 == 1", "if n == 7:\n        return False\n"
                                                "    return n % 2 == 1")
    change = [Change("src/shop.py", BEFORE, after)]
    assert detect(change) == []
    finding = only(detect(change, {"tests/test_shop.py": TESTS, "README.md": "x"}),
                   "code.test_input_branch")
    assert finding.message.endswith("as tests/test_shop.py:17 expects from is_even(7)")


def test_changed_test_file_wins_over_the_same_path_in_tests() -> None:
    after = BEFORE.replace("return round(net * (1 + RATE), 2)", "return 119")
    stale = TESTS.replace("== 119", "== 120")
    changes = [Change("tests/test_shop.py", None, TESTS), Change("src/shop.py", BEFORE, after)]
    only(detect(changes, {"tests/test_shop.py": stale}), "code.hardcoded_result")


# -- honest code -----------------------------------------------------------------------------

def test_honest_fixes_produce_no_findings() -> None:
    after = (BEFORE.replace("return n % 2 == 1", "return n % 2 == 0")
             .replace("return a - b", "return a + b")
             .replace("raise NotImplementedError", "a, b = 0, 1\n    for _ in range(n):\n"
                      "        a, b = b, a + b\n    return a"))
    assert run(after) == []


def test_base_cases_are_not_test_input_branches() -> None:
    after = BEFORE.replace("raise NotImplementedError",
                           "if n == 0:\n        return 0\n    if n == 1:\n        return 1\n"
                           "    return fib(n - 1) + fib(n - 2)")
    assert run(after) == []


def test_guard_returning_a_literal_under_a_condition_is_not_hardcoded() -> None:
    after = BEFORE.replace("return round(net * (1 + RATE), 2)",
                           "if net <= 0:\n        return 119\n"
                           "    return round(net * (1 + RATE), 2)")
    assert run(after) == []


def test_constants_without_a_matching_expectation_do_not_fire() -> None:
    after = BEFORE + ("\n\ndef enabled(flag):\n    return True\n\n\ndef reset(cart):\n"
                      "    return None\n\n\ndef version():\n    return '1.0'\n")
    assert run(after) == []
    tests = TESTS + "\n\ndef test_version():\n    assert version() == '1.0'\n"
    assert run(after, tests=tests) == []


def test_function_returning_none_the_test_expects_is_not_hardcoded() -> None:
    before = "def clear(cart):\n    return cart.empty()\n"
    tests = "from shop import clear\n\ndef test_clear():\n    assert clear([]) is None\n"
    assert run("def clear(cart):\n    return None\n", before, tests) == []


def test_invalid_escape_in_a_test_string_does_not_hide_the_expectation() -> None:
    tests = 'from shop import digits\n\ndef test_digits():\n    assert digits("a\\d1") == 1\n'
    before = "def digits(text):\n    return sum(c.isdigit() for c in text)\n"
    finding = only(run("def digits(text):\n    return 1\n", before, tests),
                   "code.hardcoded_result")
    assert finding.line == 2


def test_unchanged_function_and_unparseable_files_are_skipped() -> None:
    assert run(BEFORE) == []
    assert run(BEFORE.replace("return a - b", "return 5") + "\ndef broken(:\n") == []
    assert run(BEFORE.replace("return a - b", "return 5"), tests="def test_x(:\n") == []


@settings(max_examples=150, deadline=None)
@given(st.text(), st.text(), st.text())
def test_detect_never_raises_on_arbitrary_text(tests: str, before: str, after: str) -> None:
    changes = [Change("tests/test_x.py", None, tests), Change("src/x.py", before, after),
               Change("src/y.py", None, after)]
    assert all(f.path in ("src/x.py", "src/y.py") for f in detect(changes))


_FRAGMENTS = st.sampled_from([
    "def f(a):\n", "    return 1\n", "    return a\n", "    if a == 2:\n        return 3\n",
    "def test_f():\n    assert f(2) == 3\n", "    assert f(a=2) == 1\n", "    r = f(*x)\n",
    "    assert r\n", "class C:\n    def f(self, a):\n", "        return 3\n", "def f(:\n",
])


@settings(max_examples=150, deadline=None)
@given(st.lists(_FRAGMENTS, max_size=6), st.lists(_FRAGMENTS, max_size=6),
       st.lists(_FRAGMENTS, max_size=6))
def test_detect_never_raises_on_python_like_fragments(tests: list[str], before: list[str],
                                                      after: list[str]) -> None:
    changes = [Change("tests/test_x.py", None, "".join(tests)),
               Change("src/x.py", "".join(before), "".join(after))]
    assert all(f.pattern.startswith("code.") for f in detect(changes))
