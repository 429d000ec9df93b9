"""JS/TS, Go and Rust tests weakened so they pass, at the regex level: each pattern on a
realistic before/after pair, and honest changes that must produce no finding."""

from __future__ import annotations

import textwrap

from hypothesis import given, settings
from hypothesis import strategies as st

from codor.claims.change import Change
from codor.claims.finding import Finding
from codor.claims.jstests import detect
from codor.claims.patterns import pattern

PATH = "src/cart.test.ts"

BEFORE = textwrap.dedent('''\
    import { total, discount, parse } from "./cart";

    // expect(true).toBe(true) in a comment is not an assertion
    describe("cart", () => {
      it("totals items", () => {
        expect(total([1, 2])).toBe(3);
        expect(total([])).toBe(0);
      });

      it("rejects negative prices", () => {
        expect(() => total([-1])).toThrow("negative (price)");
      });

      describe("discount", () => {
        test("applies ten percent", () => {
          expect(discount(100, 0.1)).toEqual(90);
        });
      });
    });

    it("parses a line", () => {
      const item = parse("apple,2");
      assert.strictEqual(item.name, "apple");
      expect(item.count).toBe(2);
    });
    ''')


def run(after: str | None, before: str | None = BEFORE, path: str = PATH) -> list[Finding]:
    return detect([Change(path, before, after)])


def only(findings: list[Finding], pattern_id: str) -> Finding:
    assert [f.pattern for f in findings] == [pattern_id], findings
    return findings[0]


def test_removed_expect_is_reported_with_the_count() -> None:
    finding = only(run(BEFORE.replace("    expect(total([])).toBe(0);\n", "")),
                   "tests.assertion_removed")
    assert finding.message == "src/cart.test.ts::cart > totals items: 1 assertion removed (2 → 1)"
    assert finding.severity == pattern("tests.assertion_removed").severity
    assert (finding.path, finding.line) == (PATH, 5)


def test_expect_true_to_be_true_replacing_assertion_is_trivial() -> None:
    after = BEFORE.replace("expect(discount(100, 0.1)).toEqual(90);", "expect(true).toBe(true);")
    finding = only(run(after), "tests.trivial_assertion")
    assert finding.message == ("src/cart.test.ts::cart > discount > applies ten percent: "
                               "assertion that cannot fail: expect(true).toBe(true)")
    assert finding.line == 16


def test_literal_truthy_and_self_equal_expectations_are_trivial() -> None:
    for trivial in ("expect(true).toBeTruthy();", "expect(1).toBe(1);", "expect(item).toBe(item);",
                    "assert.ok(true);", "assert.strictEqual('a', 'a');"):
        after = BEFORE.replace("expect(item.count).toBe(2);", trivial)
        finding = only(run(after), "tests.trivial_assertion")
        assert finding.message.startswith("src/cart.test.ts::parses a line: assertion that "
                                          "cannot fail")


def test_it_skip_added_is_a_skip() -> None:
    finding = only(run(BEFORE.replace('it("rejects', 'it.skip("rejects')), "tests.skip_added")
    assert finding.message == 'src/cart.test.ts:10: skip added (it.skip("rejects negative prices"))'
    assert finding.line == 10


def test_xit_xdescribe_and_todo_are_skips() -> None:
    for before, after in (('it("rejects', 'xit("rejects'), ('describe("discount"',
                                                            'xdescribe("discount"'),
                          ('describe("discount"', 'describe.skip("discount"'),
                          ('test("applies', 'test.skip("applies')):
        only(run(BEFORE.replace(before, after)), "tests.skip_added")
    after = BEFORE.replace("});\n\nit(", '  it.todo("handles coupons");\n});\n\nit(')
    assert "it.todo" in only(run(after), "tests.skip_added").message


def test_only_added_is_reported() -> None:
    for before, after in (('it("totals', 'it.only("totals'), ('it("parses', 'fit("parses'),
                          ('describe("cart"', 'describe.only("cart"')):
        finding = only(run(BEFORE.replace(before, after)), "tests.only_added")
        assert ".only added" in finding.message


def test_new_test_without_expect_is_reported() -> None:
    after = BEFORE + '\nit("parses blank lines", () => {\n  parse("");\n});\n'
    finding = only(run(after), "tests.no_assertion")
    assert finding.message == "src/cart.test.ts::parses blank lines: new test has no assertion"
    assert finding.line == 27


def test_expected_value_edited_in_to_be() -> None:
    finding = only(run(BEFORE.replace("toBe(3)", "toBe(4)")), "tests.expected_changed")
    assert finding.message == ("src/cart.test.ts::cart > totals items: expected value changed "
                               "3 → 4 (expect(total([1,2])).toBe)")
    assert finding.line == 6


def test_expected_value_edited_in_assert_strict_equal() -> None:
    after = BEFORE.replace('assert.strictEqual(item.name, "apple")',
                           'assert.strictEqual(item.name, "pear")')
    assert '"apple" → "pear"' in only(run(after), "tests.expected_changed").message


def test_deleted_test_and_deleted_file() -> None:
    start, end = BEFORE.index('  it("rejects'), BEFORE.index('  describe("discount"')
    finding = only(run(BEFORE[:start] + BEFORE[end:]), "tests.deleted")
    assert finding.message == "src/cart.test.ts::cart > rejects negative prices: test deleted"
    assert finding.line == 10
    finding = only(run(None), "tests.deleted")
    assert finding.message.startswith("src/cart.test.ts: test file deleted with 4 tests")


# -- honest changes --------------------------------------------------------------------------

def test_renamed_test_and_moved_file_are_not_deletions() -> None:
    assert run(BEFORE.replace("totals items", "sums item prices")) == []
    assert detect([Change(PATH, BEFORE, None),
                   Change("src/__tests__/cart.ts", None, BEFORE)]) == []


def test_new_asserted_tests_produce_no_findings() -> None:
    after = BEFORE + textwrap.dedent('''\

        it("rounds to cents", async () => {
          await expect(total([0.1, 0.2])).resolves.toBeCloseTo(0.3);
        });

        it.each([[1, 1], [2, 4]])("squares %i", (n, sq) => {
          expect(n * n).toBe(sq);
        });
        ''')
    assert run(after) == []


def test_strings_with_brackets_do_not_confuse_blocks() -> None:
    after = BEFORE.replace('"negative (price)"', '"negative ) price { ]"')
    assert run(after) == []


def test_non_test_js_files_are_ignored() -> None:
    assert run("expect(true).toBe(true)", "", "src/cart.ts") == []


# -- Go and Rust -----------------------------------------------------------------------------

GO_BEFORE = textwrap.dedent('''\
    package cart

    import "testing"

    func TestTotal(t *testing.T) {
    \tif got := Total([]int{1, 2}); got != 3 {
    \t\tt.Errorf("Total = %d, want 3", got)
    \t}
    \trequire.Equal(t, 0, Total(nil))
    }

    func TestParse(t *testing.T) {
    \tif _, err := Parse("x"); err == nil {
    \t\tt.Fatal("want error")
    \t}
    }
    ''')


def test_go_skip_added_and_assertion_removed() -> None:
    after = GO_BEFORE.replace("func TestParse(t *testing.T) {\n",
                              'func TestParse(t *testing.T) {\n\tt.Skip("flaky")\n')
    finding = only(run(after, GO_BEFORE, "cart_test.go"), "tests.skip_added")
    assert finding.message == "cart_test.go:13: skip added (TestParse: t.Skip)"
    after = GO_BEFORE.replace("\trequire.Equal(t, 0, Total(nil))\n", "")
    finding = only(run(after, GO_BEFORE, "cart_test.go"), "tests.assertion_removed")
    assert finding.message == "cart_test.go::TestTotal: 1 assertion removed (2 → 1)"


def test_go_test_deleted() -> None:
    after = GO_BEFORE[:GO_BEFORE.index("func TestParse")]
    finding = only(run(after, GO_BEFORE, "cart_test.go"), "tests.deleted")
    assert (finding.message, finding.line) == ("cart_test.go::TestParse: test deleted", 12)


RS_BEFORE = textwrap.dedent('''\
    pub fn total(items: &[i64]) -> i64 { items.iter().sum() }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn sums<'a>() {
            let label: &'a str = "}";
            assert_eq!(total(&[1, 2]), 3);
        }

        #[test]
        fn empty() {
            assert_eq!(total(&[]), 0);
        }
    }
    ''')


def test_rust_ignore_added_and_test_deleted() -> None:
    after = RS_BEFORE.replace("    #[test]\n    fn empty",
                              "    #[test]\n    #[ignore]\n    fn empty")
    finding = only(run(after, RS_BEFORE, "src/lib.rs"), "tests.skip_added")
    assert (finding.message, finding.line) == ("src/lib.rs:14: skip added (empty: #[ignore])",
                                               14)
    start = RS_BEFORE.index("    #[test]\n    fn empty")
    after = RS_BEFORE[:start] + "}\n"
    assert only(run(after, RS_BEFORE, "src/lib.rs"), "tests.deleted").line == 14


def test_rust_assertion_removed() -> None:
    after = RS_BEFORE.replace("        assert_eq!(total(&[1, 2]), 3);\n", "")
    assert "sums: 1 assertion removed" in only(run(after, RS_BEFORE, "src/lib.rs"),
                                               "tests.assertion_removed").message


@settings(max_examples=150, deadline=None)
@given(st.text(), st.text(), st.sampled_from([PATH, "a_test.go", "src/lib.rs",
                                              "src/__tests__/x.js"]))
def test_detect_never_raises_on_arbitrary_text(before: str, after: str, path: str) -> None:
    findings = detect([Change(path, before, after), Change(path, None, after),
                       Change(path, before, None)])
    assert all(f.path == path for f in findings)


_FRAGMENTS = st.sampled_from([
    'it("a", () => {', 'expect(f(1)).toBe(2);', "});", 'describe.skip("d", () => {',
    "expect(true).toBe(true);", "`${x}`", "/[(]/.test(s)", "// it.only('x')", "'", '"', "(",
    "func TestX(t *testing.T) {", "t.Skip()", "}", "#[test]\nfn a() {", "#[ignore]", "r#\"",
])


@settings(max_examples=150, deadline=None)
@given(st.lists(_FRAGMENTS, max_size=8), st.lists(_FRAGMENTS, max_size=8),
       st.sampled_from([PATH, "x_test.go", "tests/it.rs"]))
def test_detect_never_raises_on_code_like_fragments(before: list[str], after: list[str],
                                                    path: str) -> None:
    findings = detect([Change(path, "\n".join(before), "\n".join(after))])
    assert all(f.pattern.startswith("tests.") for f in findings)
