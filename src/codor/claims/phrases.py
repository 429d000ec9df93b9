"""Phrase tables of :mod:`codor.claims.extract`: the words and regular expressions that turn a
sentence of an agent's report into claims.

Every expression here runs on *normalised, lower-cased* text (see ``extract._prepare``):
Markdown emphasis removed, checkmarks mapped to ``✓`` / ``✗``, curly quotes made straight,
whitespace collapsed, code spans kept with their backticks. All are precompiled, anchored on a
literal word where possible, and use bounded gaps only, so no input backtracks badly.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = [
    "ALL_WORDS", "ATTRIBUTION", "BROWSER", "CHECK", "CHECK_CODE", "CHECK_NOUN", "CLAUSE", "COMMAND",
    "COMMAND_LABELS", "COMMIT", "COMMIT_SUPPRESS", "COMPILES", "COND", "FAIL_COUNT",
    "FAIL_SUPPRESS", "GAP", "GUARDS", "MODAL", "NEG", "NEW_TESTS", "NOT_RUN", "NO_ERRORS", "NUM",
    "NUM_A", "PASS_COUNT", "PASS_SUPPRESS", "PROSE_TOOL", "RAN_PASSIVE", "RAN_VERB", "RATIO",
    "STOP_WORDS", "SUBJECT_FAIL", "SUBJ_ONE", "TESTS_ADDED", "TESTS_FAIL", "TESTS_PASS",
    "TEST_NOUN", "VAGUE", "VERB_FIRST", "number",
]

_NUMBER_WORDS: Final[dict[str, int]] = {
    w: i for i, w in enumerate(
        ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
         "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
         "eighteen", "nineteen", "twenty"])
}
_NUMW = "|".join(sorted(_NUMBER_WORDS, key=len, reverse=True))
#: A count: digits or a number word.
NUM: Final = rf"(?:\d{{1,6}}|{_NUMW})"
#: A count that may also be "a"/"an"/"a single" (one), but not "a few", "a couple"...
NUM_A: Final = (rf"(?:\d{{1,6}}|{_NUMW}|a\s+single|an?(?!\s+(?:few|couple|number|bunch|handful|"
                rf"lot|series|set|suite|variety|range|pair)\b))")


def number(word: str) -> int | None:
    """The value of a count matched by :data:`NUM` / :data:`NUM_A`; None if not a number."""
    word = " ".join(word.split())
    if word.isdigit():
        return int(word)
    if word in ("a", "an", "a single"):
        return 1
    return _NUMBER_WORDS.get(word)


# -- sentence structure ---------------------------------------------------------------------
#: Clause boundaries: negation and hedges do not reach across them.
CLAUSE: Final = re.compile(
    r"[;,:()|—–]|\s-\s|\b(?:but|and|although|though|while|whereas|however|so|because|since|"
    r"then)\b")
#: Negators, searched between the clause start and the end of a positive match.
NEG: Final = re.compile(
    r"\b(?:not|never|no\s+longer|neither|nor|cannot|unable|yet\s+to|failed\s+to|none|"
    r"nothing)\b|n't\b")
_CLAUSE_END = r"[^,;:.!?—–()]*"
#: Conditional clauses ("if the tests pass, ..."): blanked before any rule runs.
COND: Final = re.compile(
    rf"\b(?:if|unless|once|whether|assuming|provided\s+that|in\s+case|as\s+long\s+as|"
    rf"as\s+soon\s+as|until)\b{_CLAUSE_END}")
#: Modal, future and imperative hedges: blanked for positive claims and honest failures.
MODAL: Final = re.compile(
    rf"\b(?:will|would|could|should|might|may|must|shall|needs?\s+to|have\s+to|has\s+to|"
    rf"going\s+to|wants?\s+to|plan(?:s|ned)?\s+to|trying\s+to|try|please|let's|"
    rf"expect(?:s|ed)?\s+to|ought\s+to|hopefully|probably|likely|maybe|perhaps|"
    rf"to\s+(?:verify|ensure|make\s+sure|check|confirm|validate|see)|recommend(?:ed)?|"
    rf"suggest(?:ed)?|consider|todo|next\s+step)\b{_CLAUSE_END}")
#: Words that make a test claim about the whole suite.
ALL_WORDS: Final = frozenset(
    {"all", "full", "entire", "whole", "every", "complete", "existing", "everything"})
#: Words before a test noun that do not name a group of tests ("and the tests pass").
STOP_WORDS: Final = frozenset(
    ["the", "a", "an", "my", "our", "your", "these", "those", "its", "their", "now", "also",
     "still", "and", "or", "but", "then", "so", "that", "which", "i", "we", "it", "all", "both",
     "of", "with", "after", "before", "when", "once", "ran", "run", "re-ran", "rerun", "executed",
     "confirmed", "verified", "checked", "ensured", "made", "make", "are", "is", "were", "was",
     "have", "has", "had", "do", "does", "did", "any", "other's", "✓", "✗", "-", ":", "|",
     "tests", "test"])

# -- gaps -----------------------------------------------------------------------------------
_SEP = r"[\s,:|=>→—–()\-]"
_WORD = r"\w+(?:[-.'/]\w+)*"
#: Up to four words between a subject and its verb ("the test suite is now green").
GAP: Final = (rf"(?:{_SEP}+(?!(?:pass\w*|fail\w*|but|then|so|because|however|although|"
              rf"except|errors?|warnings?|issues|tests?|specs?)\b){_WORD}){{0,4}}?{_SEP}*")

# -- tests ----------------------------------------------------------------------------------
TEST_NOUN: Final = r"(?:test(?:s|[ -]suites?|[ -]cases?)?|specs?|suites?)"
_PASSING = r"(?:pass(?:es|ed|ing)?|green|succeed(?:s|ed)?|successful(?:ly)?|✓|ok(?:ay)?)"
_FAILING = r"(?:fail(?:s|ed|ing|ures?)?|broken|✗|erroring|errored|(?:is|are)\s+(?:still\s+)?red)"
#: "the full test suite is green", "tests: pass", "5 new tests, all passing".
TESTS_PASS: Final = re.compile(
    rf"\b(?P<noun>{TEST_NOUN})(?![\w/-]|\.\w)(?P<gap>{GAP})(?P<verb>{_PASSING})(?![\w-])")
_FAIL_NOUN = rf"(?:{TEST_NOUN}|(?:[\w.-]+/)*test_[\w.-]*|[\w./-]*\.(?:test|spec)\.\w+)"
#: "the test for X fails", "two tests are still failing", "tests/test_a.py fails".
TESTS_FAIL: Final = re.compile(
    rf"\b(?P<noun>{_FAIL_NOUN})(?![\w/-])(?P<gap>{GAP})(?P<verb>{_FAILING})(?![\w-])")
#: Failure counts: "2 failed", "3 failing", "failures: 2", "one test is still failing".
FAIL_COUNT: Final = (
    re.compile(r"(?<![\w/.])(?P<n>\d{1,6})\s+(?:failed|failing|failures?)\b"),
    re.compile(r"\b(?:failures?|failed|failing)\s*[:=]\s*(?P<n>\d{1,6})\b"),
    re.compile(rf"\b(?P<n>{NUM_A})\s+(?:[\w-]+\s+){{0,2}}?{TEST_NOUN}(?![\w/-]|\.\w){GAP}"
               rf"(?:fail(?:s|ed|ing)?|failures|broken|erroring)\b"),
    re.compile(rf"\ball\s+but\s+(?P<n>{NUM})\b[^.;]{{0,30}}?\bpass"),
)
#: "42/42 tests passed", "40 of 42 pass": a pass when both numbers agree, else failures.
RATIO: Final = re.compile(
    rf"(?<![\w/.])(?P<n>\d{{1,6}})\s*(?:/|of|out\s+of)\s*(?P<t>\d{{1,6}})(?![\w/.])"
    rf"(?:\s+(?:[\w-]+\s+){{0,2}}?{TEST_NOUN}(?![\w/-]|\.\w))?(?P<gap>{GAP})"
    rf"(?:pass(?:es|ed|ing)?|succeed(?:s|ed)?|green|✓)(?![\w-])")
#: Pass counts: "12 passed", "42 tests pass", "42 passing", "pass (42 tests)".
PASS_COUNT: Final = (
    re.compile(r"(?<![\w/.])(?P<n>\d{1,6})\s+(?:(?:tests?|specs?)\s+)?(?:passed|passing|pass(?:es)?)"
               r"(?![\w-])"),
    re.compile(r"\bpass(?:ed|ing|es)?\s*\(\s*(?P<n>\d{1,6})(?:\s*(?:tests?|specs?))?\s*\)"),
    re.compile(rf"\bpass(?:es|ed)?\s+(?:all\s+|every\s+)?(?:(?P<n>\d{{1,6}})\s+)?(?:of\s+)?"
               rf"(?:the\s+)?(?:[\w-]+\s+){{0,2}}?{TEST_NOUN}(?![\w/-]|\.\w)"),
)
#: Contexts in which a failure word is history, not a failing test now.
FAIL_SUPPRESS: Final = re.compile(
    r"\b(?:fix(?:ed|es|ing)?|resolv\w*|address(?:ed|es|ing)|repair\w*|correct(?:ed|s)|"
    r"previously|used\s+to|originally|(?:were|was|had\s+been)\s+failing|before\s+the\s+fix|"
    r"without\s+the\s+(?:fix|change|patch)|on\s+(?:main|master)|no\s+(?:\w+\s+)?(?:tests?|specs?)"
    r"|regression|expected\s+to\s+fail|xfail)\b")
#: Contexts in which a pass word is history.
PASS_SUPPRESS: Final = re.compile(
    r"\b(?:previously|used\s+to|originally|on\s+(?:main|master)|before\s+(?:my|the|this|these|"
    r"i)\b)")
#: The agent says the tests were not run.
_NOTP = r"(?:n't|\s+not)"
NOT_RUN: Final = (
    re.compile(
        rf"\b(?:did{_NOTP}|could{_NOTP}|can{_NOTP}|cannot|(?:was|were){_NOTP}\s+able\s+to|"
        rf"(?:was|were)\s+unable\s+to|unable\s+to|(?:have|has|had){_NOTP}|never|not\s+yet|"
        rf"yet\s+to|no\s+(?:way|chance|time)\s+to|without)\s+(?:yet\s+|actually\s+|been\s+able"
        rf"\s+to\s+|able\s+to\s+|get\s+to\s+)?(?:re-?)?(?:run|ran|execute|executed|running|"
        rf"executing)\s+(?:[\w-]+\s+){{0,3}}?(?P<obj>{TEST_NOUN}|`[^`\n]+`|pytest|jest|vitest|"
        rf"mocha|unittest|go\s+test|cargo\s+test|npm\s+test)(?![\w/-])"),
    re.compile(rf"\b(?P<obj>{TEST_NOUN})(?![\w/-]|\.\w)(?:\s+\w+){{0,2}}?\s+(?:(?:were|was|have|has|"
               rf"are|is|had){_NOTP}|not)\s+(?:yet\s+|been\s+)*(?:re-?)?(?:run|executed|ran)\b"),
    re.compile(rf"\b(?:untested|(?:have|has|did|had){_NOTP}\s+(?:yet\s+|been\s+|actually\s+)*"
               rf"tested|not\s+(?:yet\s+|been\s+)*tested)\b"),
    re.compile(rf"\b(?:skipped|skipping)\s+(?:running\s+)?(?:the\s+)?(?:[\w-]+\s+)?"
               rf"(?P<obj>{TEST_NOUN})(?![\w/-]|\.\w)"),
    re.compile(rf"(?:\b(?P<obj>{TEST_NOUN})|`(?P<cmd>[^`\n]+)`)\s*[:|—–-]\s*(?:[^\w\s|]\s*)?"
               rf"(?:not\s+(?:yet\s+)?run|skipped|n/a|none)\b"),
)
#: "Added 3 tests", "wrote unit tests for", "added a regression test".
TESTS_ADDED: Final = re.compile(
    rf"\b(?P<v>added|adds|add|wrote|writes|write|written|created|creates|introduced|"
    rf"introduces|implemented)\s+(?:(?P<n>{NUM_A})\s+)?(?:(?:new|more|additional|extra|"
    rf"further)\s+)?(?:[\w-]+\s+){{0,2}}?(?:{TEST_NOUN}|test\s+coverage)(?![\w/-]|\.\w)")
#: "5 new tests".
NEW_TESTS: Final = re.compile(
    rf"\b(?P<n>{NUM})\s+(?:new|additional|more|extra)\s+(?:[\w-]+\s+){{0,2}}?"
    rf"(?:tests?|test\s+cases?|specs?)(?![\w/-]|\.\w)")

# -- commands -------------------------------------------------------------------------------
#: (category, label, pattern, usable as a bare word in prose). The first match in a command
#: decides; at one position the earlier entry wins.
_COMMANDS: Final[tuple[tuple[str, str, str, bool], ...]] = (
    ("typecheck", "tsc --noEmit", r"(?:vue-)?tsc\b[^`\n]*--noemit", True),
    ("typecheck", "mypy", r"mypy|dmypy", True),
    ("typecheck", "pyright", r"(?:based)?pyright", True),
    ("typecheck", "pytype", r"pytype", True),
    ("typecheck", "vue-tsc", r"vue-tsc", True),
    ("typecheck", "typecheck", r"(?:npm|pnpm|yarn|bun)\s+(?:run\s+)?(?:typecheck|type-check|"
     r"check-types|types)", False),
    ("lint", "ruff", r"ruff(?:\s+check)?(?!\s+format\b(?![^`\n]*--check))", True),
    ("lint", "flake8", r"flake8", True),
    ("lint", "pylint", r"pylint", True),
    ("lint", "eslint", r"eslint", True),
    ("lint", "clippy", r"(?:cargo\s+)?clippy", True),
    ("lint", "golangci-lint", r"golangci-lint", True),
    ("lint", "go vet", r"go\s+vet", True),
    ("lint", "rubocop", r"rubocop", True),
    ("lint", "shellcheck", r"shellcheck", True),
    ("lint", "stylelint", r"stylelint", True),
    ("lint", "biome", r"biome", True),
    ("lint", "prettier --check", r"prettier\b[^`\n]*--check", True),
    ("lint", "black --check", r"black\b[^`\n]*--check", False),
    ("lint", "lint", r"(?:npm|pnpm|yarn|bun)\s+(?:run\s+)?lint|make\s+lint", False),
    ("test", "pytest", r"py\.test|pytest", True),
    ("test", "unittest", r"(?:python3?\s+-m\s+)?unittest", True),
    ("test", "vitest", r"vitest", True),
    ("test", "jest", r"jest", True),
    ("test", "mocha", r"mocha", True),
    ("test", "go test", r"go\s+test", True),
    ("test", "cargo test", r"cargo\s+(?:test|nextest)", True),
    ("test", "npm test", r"npm\s+(?:run\s+)?test|npm\s+t", True),
    ("test", "yarn test", r"yarn\s+(?:run\s+)?test", True),
    ("test", "pnpm test", r"pnpm\s+(?:run\s+)?test", True),
    ("test", "bun test", r"bun\s+test", True),
    ("test", "deno test", r"deno\s+test", True),
    ("test", "make test", r"make\s+(?:test|check)", True),
    ("test", "tox", r"tox|nox", False),
    ("test", "rspec", r"rspec", True),
    ("test", "phpunit", r"phpunit", True),
    ("test", "dotnet test", r"dotnet\s+test", True),
    ("test", "gradle test", r"(?:\./)?gradlew?\s+test", False),
    ("test", "mvn test", r"mvn\s+test", False),
    ("test", "playwright test", r"playwright\s+test", True),
    ("build", "build", r"(?:npm|pnpm|yarn|bun)\s+(?:run\s+)?build|cargo\s+(?:build|check)|"
     r"go\s+build|python3?\s+-m\s+build|vite\s+build|next\s+build|webpack|"
     r"mvn\s+(?:package|compile|install)|gradlew?\s+build|docker\s+build|dotnet\s+build|"
     r"cmake\s+--build|swift\s+build|make(?:\s+(?:build|all))?$|tsc", False),
)
#: (category, label) of each alternative of :data:`COMMAND` / :data:`PROSE_TOOL`, by group.
COMMAND_LABELS: Final[dict[str, tuple[str, str]]] = {
    f"c{i}": (cat, label) for i, (cat, label, _, _) in enumerate(_COMMANDS)}
COMMAND: Final = re.compile("(?<![\\w-])(?:" + "|".join(
    rf"(?P<c{i}>{pat})" for i, (_, _, pat, _) in enumerate(_COMMANDS)) + ")(?![\\w-])")
_PROSE_PLAIN = "|".join(rf"(?:{pat})" for _, _, pat, ok in _COMMANDS if ok)
#: Tool names that mean the tool even outside a code span ("mypy passes"); classify a match
#: with :data:`COMMAND`. (No capturing groups: they make this scan three times slower.)
PROSE_TOOL: Final = re.compile(rf"(?<![\w-])(?:{_PROSE_PLAIN})(?![\w-])")

#: "ran", "executed", "have run", "after running", "commands run:".
RAN_VERB: Final = re.compile(
    r"\b(?:ran|re-?ran|executed|invoked|(?:have|has|had|i've|we've)\s+(?:also\s+|now\s+|just\s+)?"
    r"(?:re-?)?run|(?:re-?)?running|commands?(?:\s+(?:run|ran|executed|used))?\s*:)(?![\w-])")
#: "`npm run build` was run".
RAN_PASSIVE: Final = re.compile(
    r"`(?P<cmd>[^`\n]+)`\s+(?:was|were|has\s+been|have\s+been)\s+(?:re-?)?(?:run|executed)\b")

# -- build / lint / typecheck ---------------------------------------------------------------
_LINT_NOUN = (r"lint(?:ing|er|ers|s)?|static\s+analysis|style\s+checks?|"
              r"format(?:ting)?\s+checks?|code\s+style")
_TYPE_NOUN = r"type[\s-]?check(?:s|ing|er|ers)?|typing|static\s+typ(?:ing|es)|types?(?=\s*[:|✓])"
_BUILD_NOUN = r"(?:production\s+|release\s+|docker\s+|project\s+)?build|compilation|compiler"
_SUBJ = (rf"(?:`[^`\n]+`|(?:{_PROSE_PLAIN})|(?:{_LINT_NOUN})|"
         rf"(?:{_TYPE_NOUN})|(?:{_BUILD_NOUN}))")
#: One subject of a check claim, with the group that says which.
SUBJ_ONE: Final = re.compile(
    rf"`(?P<cmd>[^`\n]+)`|(?<![\w-])(?:(?P<tool>{_PROSE_PLAIN})|"
    rf"(?P<lint>{_LINT_NOUN})|(?P<types>{_TYPE_NOUN})|(?P<build>{_BUILD_NOUN}))(?![\w-])")
_LIST = r"\s*(?:,\s*(?:and\s+)?|and\s+|&\s*|\+\s*|/\s*)"
_SUCCESS = (
    r"(?:pass(?:es|ed|ing)?|succeed(?:s|ed)?|successful(?:ly)?|clean(?:ly)?|green|✓|ok(?:ay)?|"
    r"fine|happy|complete[sd]?|finish(?:es|ed)|works|all\s+checks\s+passed|"
    r"(?:(?:with|reports?|reported|shows?|showed|found|finds|returns?|returned|gives|gave|has|"
    r"had|produces|produced)\s+)?(?:no|zero|0)\s+(?:\w+\s+)?(?:errors?|issues|problems|warnings|"
    r"violations|diagnostics|findings|complaints|failures)|without\s+(?:any\s+)?(?:errors?|"
    r"issues|problems|warnings|failures)|exit(?:s|ed)?\s+(?:with\s+)?(?:code\s+|status\s+)?0)")
_CHECK_TAIL = rf"(?:{_LIST}{_SUBJ}){{0,6}})(?![\w-])(?P<gap>{GAP})(?P<ok>{_SUCCESS})(?![\w-])"
#: "ruff reports no issues", "mypy passes".
CHECK: Final = re.compile(rf"(?<![\w-])(?P<subj>(?:{_PROSE_PLAIN}){_CHECK_TAIL}")
#: "Lint: ✓", "the build succeeds", "type checks pass".
CHECK_NOUN: Final = re.compile(
    rf"(?<![\w-])(?P<subj>(?:{_LINT_NOUN}|{_TYPE_NOUN}|{_BUILD_NOUN}){_CHECK_TAIL}")
#: "`npm run build` completes without errors" (the same, from a code span: a fast scan).
CHECK_CODE: Final = re.compile(rf"(?P<subj>`[^`\n]+`{_CHECK_TAIL}")
#: "passes `ruff check` and `mypy --strict`", "passed type checking".
VERB_FIRST: Final = re.compile(
    rf"\bpass(?:es|ed|ing)?\s+(?:all\s+)?(?:the\s+)?(?P<subj>{_SUBJ}(?:{_LIST}{_SUBJ}){{0,6}})"
    rf"(?![\w-])")
#: "no type errors", "zero lint warnings".
NO_ERRORS: Final = re.compile(
    r"\b(?:no|zero|0)\s+(?:(?P<lint>lint(?:ing|er)?|ruff|eslint|flake8|pylint|clippy|style)|"
    r"(?P<types>type|typing|mypy|pyright|tsc|typescript|type-?check(?:ing|er)?)|"
    r"(?P<build>build|compile|compilation|compiler))\s+(?:errors?|warnings|issues|problems|"
    r"violations|complaints|findings|diagnostics)\b")
#: "compiles cleanly" (build), "type-checks cleanly", "lints cleanly".
COMPILES: Final = re.compile(
    r"\b(?:(?P<build>compiles?|compiled|builds|built)|(?P<types>type-?checks?)|"
    r"(?P<lint>lints?))(?:\s+\w+){0,2}?\s+(?:cleanly|successfully|fine|without\s+(?:any\s+)?"
    r"(?:errors?|warnings|issues|problems)|with\s+no\s+(?:errors?|warnings|issues))\b"
    r"|\b(?P<lint2>lint)[- ]clean\b")
#: A failing command: "`npm test` fails", "pytest exits with 1".
SUBJECT_FAIL: Final = re.compile(
    rf"(?<![\w-])(?P<subj>`[^`\n]+`|{_PROSE_PLAIN})(?![\w-])(?P<gap>{GAP})(?:fail(?:s|ed|ing)?|✗|"
    rf"errors?\s+out|exit(?:s|ed)?\s+(?:with\s+)?(?:code\s+|status\s+)?[1-9]\d*)(?![\w-])")

# -- commits --------------------------------------------------------------------------------
COMMIT: Final = re.compile(
    r"\b(?P<w>commit(?:ted|s)?|pushed|sha(?:-?1)?|hash)\b(?P<gap>[^.;!?\n`]{0,40}?)[`(#]?"
    r"(?<![\w])(?P<sha>[0-9a-f]{7,40})(?![0-9a-z])")
COMMIT_SUPPRESS: Final = re.compile(
    r"\b(?:introduced|regressed|broke|broken|since|see|revert(?:ed|ing|s)?|cherry-?pick(?:ed)?|"
    r"upstream|original|previous|earlier|parent)\b")

# -- manual checks, vague words, attribution ------------------------------------------------
_BROWSERS = r"(?:browser|chrome|chromium|firefox|safari|edge|dev\s?tools|playwright\s+ui)"
BROWSER: Final = (
    re.compile(rf"\b(?:verified|checked|tested|confirmed|validated|viewed|inspected|looked\s+at|"
               rf"opened|loaded|tried)\b[^.;!?]{{0,40}}?\bin\s+(?:the\s+|a\s+)?{_BROWSERS}\b"),
    re.compile(r"\b(?:tested|verified|checked|confirmed|validated)\s+(?:it\s+|this\s+|that\s+|"
               r"the\s+[\w-]+\s+|everything\s+)?(?:manually|by\s+hand|visually)\b"),
    re.compile(r"\b(?:manually|visually)\s+(?:tested|verified|checked|confirmed|validated|"
               r"inspected)\b|\bmanual\s+(?:testing|qa|verification|check)\b"),
    re.compile(r"\bconfirmed\s+(?:that\s+)?(?:it|the\s+[\w-]+(?:\s+[\w-]+)?)\s+(?:now\s+)?"
               r"(?:renders|displays|looks|appears|shows|loads)\b"),
    re.compile(r"\b(?:renders|displays)\s+(?:correctly|properly|as\s+expected)\b|"
               r"\bclicked\s+through\b|\b(?:took|captured)\s+(?:a\s+)?screenshots?\b|"
               r"\bsmoke[- ]tested\b"),
)
VAGUE: Final = re.compile(
    r"\b(?:thoroughly|fully|comprehensively|extensively|rigorously|exhaustively)\s+(?:tested|"
    r"validated|verified|checked|exercised|covered)\b|\btested\s+thoroughly\b|"
    r"\bworks?\s+end[- ]to[- ]end\b|\bend[- ]to[- ]end\s+(?:works|working|verified|tested)\b|"
    r"\bproduction[- ]ready\b|\beverything\s+(?:now\s+)?(?:works|is\s+working|passes|is\s+green|"
    r"checks\s+out|looks\s+good|is\s+done|is\s+complete)\b|\bshould\s+(?:now\s+)?(?:work|"
    r"be\s+(?:working|fixed|resolved|good|fine))\b|\bworks\s+(?:perfectly|flawlessly|correctly|"
    r"as\s+expected|great)\b|\b(?:all|every)\s+(?:checks?|validations?|verifications?)\s+"
    r"(?:pass(?:ed|es)?|(?:are|were)\s+green|succeeded)\b|\b(?:fully|100%)\s+(?:functional|"
    r"working|operational|complete|implemented)\b|\bbattle[- ]tested\b|\brock[- ]solid\b|"
    r"\bbulletproof\b|\b(?:has|have)\s+been\s+(?:tested|validated|verified)\b|"
    r"\ball\s+(?:functionality|features?|requirements?)\s+(?:(?:is|are|have\s+been)\s+)?"
    r"(?:working|verified|tested|met|implemented)\b")
_OTHERS = (r"(?:team|teammates?|colleagues?|agents?|sub-?agents?|developers?|devs?|engineers?|"
           r"maintainers?|reviewers?|qa|contributors?|ci|pipeline)")
ATTRIBUTION: Final = (
    re.compile(rf"\b(?:the|our|my|another|other|a\s+different)\s+(?:[\w-]+\s+)?{_OTHERS}\b"
               rf"(?:\s+\w+){{0,3}}?\s+(?:(?:has|had)\s+)?(?:already\s+)?(?:finished|completed|"
               rf"implemented|fixed|built|wrote|handled|did|done|took\s+care|added|created|"
               rf"tested|verified|validated|resolved|will\s+(?:verify|check|test|handle|fix|"
               rf"finish|review|validate|catch|take\s+care|run))\b"),
    re.compile(r"\b(?:done|completed|finished|implemented|fixed|handled|written|built|tested|"
               r"verified|created|added|resolved)\s+(?:already\s+)?by\s+(?:another|the\s+other|"
               r"a\s+different|someone|somebody|the\s+(?:team|user|ci|qa|reviewers?|previous|"
               r"other)|a\s+(?:teammate|colleague|previous|different|sub-?agent)|"
               r"(?:an?\s+|the\s+)?(?:[\w-]+\s+){0,2}(?:agents?|sub-?agents?|bots?|team))\b"),
    re.compile(r"\b(?:someone|somebody)\s+else\b"),
    re.compile(r"\b(?:the\s+)?(?:ci|ci\s+pipeline|pipeline|github\s+actions|ci/cd)\s+(?:will|"
               r"should|would|can)\s+(?:verify|check|catch|run|test|validate|confirm|handle)\b"),
    re.compile(r"\b(?:left|leaving|defer(?:red)?)\s+(?:it\s+|this\s+|that\s+)?(?:to|for)\s+"
               r"(?:the\s+)?(?:ci|qa|reviewers?|team|user|maintainers?)\b"),
    re.compile(r"\b(?:the\s+)?user\s+(?:already\s+)?(?:ran|fixed|tested|verified|implemented|"
               r"completed|finished|did|wrote|created|confirmed)\b"),
    # a failure blamed on someone else's work: "that is from the design team's rework"
    re.compile(rf"\b(?:is\s+from|comes\s+from|coming\s+from|caused\s+by|due\s+to|because\s+of|"
               rf"introduced\s+(?:by|in)|blame\s+(?:on\s+)?)\s+(?:the|another|other|a\s+different)"
               rf"\s+(?:[\w-]+\s+)?{_OTHERS}(?:'s|\u2019s|s')?(?!\w)"),
    # someone else's fix, out of sight: "already fixed this on their branch"
    re.compile(r"\b(?:fixed|resolved|handled|addressed|done)\s+(?:this\s+|it\s+|that\s+)?"
               r"(?:on|in)\s+(?:their|another|a\s+different|the\s+other|someone\s+else's)\s+"
               r"(?:branch|pr|pull\s+request|fork|repo(?:sitory)?)\b"),
)

# -- guards ---------------------------------------------------------------------------------
#: For each expression, substrings one of which every match contains (in lower-cased text):
#: a unit without any of them is not scanned. Speed only; results do not depend on it.
GUARDS: Final[dict[re.Pattern[str], tuple[str, ...]]] = {
    NOT_RUN[0]: ("run", "ran", "execut"), NOT_RUN[1]: ("run", "ran", "execut"),
    NOT_RUN[2]: ("tested",), NOT_RUN[3]: ("skipp",),
    NOT_RUN[4]: ("not", "skipped", "n/a", "none"),
    FAIL_COUNT[0]: ("fail",), FAIL_COUNT[1]: ("fail",),
    FAIL_COUNT[2]: ("fail", "broken", "erroring"),
    FAIL_COUNT[3]: ("all but",), RATIO: ("/", "of"),
    TESTS_FAIL: ("fail", "broken", "✗", "error", "red"),
    SUBJECT_FAIL: ("fail", "✗", "error", "exit"),
    TESTS_PASS: ("pass", "green", "succe", "✓", "ok"),
    PASS_COUNT[0]: ("pass",), PASS_COUNT[1]: ("pass",), PASS_COUNT[2]: ("pass",),
    NEW_TESTS: ("new", "additional", "more", "extra"),
    TESTS_ADDED: ("add", "wrot", "writ", "creat", "introduc", "implement"),
    CHECK: ("mypy", "pyright", "pytype", "tsc", "ruff", "flake8", "pylint", "eslint", "clippy",
            "golangci", "go vet", "rubocop", "shellcheck", "stylelint", "biome", "prettier",
            "pytest", "py.test", "unittest", "vitest", "jest", "mocha", "go test", "cargo",
            "npm", "yarn", "pnpm", "bun test", "deno test", "make test", "make check", "rspec",
            "phpunit", "dotnet", "playwright"),
    CHECK_NOUN: ("lint", "typ", "static", "style", "format", "build", "compil"),
    CHECK_CODE: ("`",),
    VERB_FIRST: ("pass",), NO_ERRORS: ("no ", "zero", "0"),
    COMPILES: ("compil", "build", "built", "check", "lint"),
    BROWSER[0]: ("browser", "chrom", "firefox", "safari", "edge", "dev", "playwright"),
    BROWSER[1]: ("manually", "by hand", "visually"), BROWSER[2]: ("manual", "visual"),
    BROWSER[3]: ("confirmed",), BROWSER[4]: ("render", "display", "clicked", "screenshot", "smoke"),
    ATTRIBUTION[0]: ("team", "agent", "colleague", "dev", "engineer", "maintainer", "reviewer",
                     "qa", "contributor", "ci", "pipeline"),
    ATTRIBUTION[1]: ("by",), ATTRIBUTION[2]: ("else",), ATTRIBUTION[3]: ("ci", "pipeline",
                                                                       "github actions"),
    ATTRIBUTION[4]: ("left", "leaving", "defer"), ATTRIBUTION[5]: ("user",),
    ATTRIBUTION[6]: ("team", "agent", "colleague", "dev", "engineer", "maintainer", "reviewer",
                     "qa", "contributor", "ci", "pipeline"),
    ATTRIBUTION[7]: ("their", "another", "different", "other", "else"),
    VAGUE: ("thorough", "fully", "comprehensive", "extensive", "rigorous", "exhaustive", "end",
            "production", "everything", "should", "works", "check", "validation",
            "verification", "100%", "battle", "rock", "bulletproof", "been", "functionality",
            "feature", "requirement"),
    COND: ("if", "unless", "once", "whether", "assuming", "provided", "in case", "as long",
           "as soon", "until"),
    MODAL: ("will", "would", "could", "should", "might", "may", "must", "shall", "need", "have to",
            "has to", "going to", "want", "plan", "trying", "try", "please", "let's", "expect",
            "ought", "hopefully", "probably", "likely", "maybe", "perhaps", "to ", "recommend",
            "suggest", "consider", "todo", "next step"),
    RAN_VERB: ("ran", "execut", "invok", "run", "command"), RAN_PASSIVE: ("run", "execut"),
    COMMIT: ("commit", "push", "sha", "hash"),
}
