"""``invocations`` and ``prints_only``: which checks a command line runs, narrowed or whole,
masked or piped, and whether a command only prints text."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codor.claims.shell import Invocation, invocations, prints_only

T = tuple[str, str, str | None, str | None, str | None]


def found(command: str) -> list[T]:
    return [(i.category, i.tool, i.subset, i.masked, i.piped) for i in invocations(command)]


def test(tool: str, subset: str | None = None, masked: str | None = None,
         piped: str | None = None) -> T:
    return ("test", tool, subset, masked, piped)


test.__test__ = False  # type: ignore[attr-defined]  # a helper, not a test


# --------------------------------------------------------------------------- runners found

@pytest.mark.parametrize(("command", "expected"), [
    ("pytest", [test("pytest")]),
    ("cd /repo && pytest -q", [test("pytest")]),
    ("cd /repo; python -m pytest", [test("pytest")]),
    ("python3 -m pytest tests/", [test("pytest")]),
    ("py.test .", [test("pytest")]),
    (".venv/bin/pytest -x -vv", [test("pytest")]),
    ("/usr/bin/python3.12 -X dev -W error -m pytest", [test("pytest")]),
    ("python -mpytest", [test("pytest")]),
    ("uv run pytest", [test("pytest")]),
    ("uv run --with pytest-cov --frozen pytest --cov src", [test("pytest")]),
    ("uvx pytest", [test("pytest")]),
    ("poetry run pytest", [test("pytest")]),
    ("pipenv run python -m pytest", [test("pytest")]),
    ("pdm run pytest", [test("pytest")]),
    ("hatch run pytest", [test("pytest")]),
    ("hatch test", [test("hatch")]),
    ("coverage run -m pytest", [test("pytest")]),
    ("coverage run --source src -m pytest -k io", [test("pytest", "-k io")]),
    ("env CI=1 PYTHONPATH=src pytest", [test("pytest")]),
    ("CI=1 PYTHONPATH=src pytest", [test("pytest")]),
    ("timeout 60 pytest", [test("pytest")]),
    ("timeout -s KILL 5m pytest", [test("pytest")]),
    ("nice -n 10 nohup pytest", [test("pytest")]),
    ("time pytest", [test("pytest")]),
    ("sudo -u ci -E pytest", [test("pytest")]),
    ("conda run -n dev pytest", [test("pytest")]),
    ("python3 -m unittest", [test("unittest")]),
    ("python -m unittest discover -s tests -p 'test_*.py'", [test("unittest")]),
    ("python manage.py test", [test("django")]),
    ("python runtests.py", [test("python")]),
    ("npx jest", [test("jest")]),
    ("npx --yes jest@29 --ci", [test("jest")]),
    ("CI=true npx jest --ci --coverage", [test("jest")]),
    ("node_modules/.bin/jest", [test("jest")]),
    ("node node_modules/jest/bin/jest.js --ci", [test("jest")]),
    ("npx vitest run", [test("vitest")]),
    ("vitest run --coverage", [test("vitest")]),
    ("pnpm exec vitest run", [test("vitest")]),
    ("./node_modules/.bin/mocha", [test("mocha")]),
    ("npx mocha 'test/**/*.spec.js'", [test("mocha")]),
    ("yarn jest --ci", [test("jest")]),
    ("node --test", [test("node")]),
    ("npm test", [test("npm")]),
    ("npm t", [test("npm")]),
    ("npm run test", [test("npm")]),
    ("npm run test:unit", [test("npm")]),
    ("npm run-script test", [test("npm")]),
    ("yarn test", [test("yarn")]),
    ("yarn run test", [test("yarn")]),
    ("pnpm test", [test("pnpm")]),
    ("pnpm run test:e2e", [test("pnpm")]),
    ("bun test", [test("bun")]),
    ("go test ./...", [test("go")]),
    ("go test -v -count=1 -race ./...", [test("go")]),
    ("cargo test", [test("cargo")]),
    ("cargo test --offline --no-fail-fast --workspace", [test("cargo")]),
    ("cargo +nightly test", [test("cargo")]),
    ("make test", [test("make")]),
    ("make check", [test("make")]),
    ("make -C backend -j4 test", [test("make")]),
    ("just test", [test("just")]),
    ("tox", [test("tox")]),
    ("tox -e py311", [test("tox")]),
    ("nox -s tests", [test("nox")]),
    ("mvn test", [test("mvn")]),
    ("./gradlew test", [test("gradle")]),
    ("dotnet test", [test("dotnet")]),
    ("npx playwright test", [test("playwright")]),
    ("python test_parser.py", [test("python")]),
])
def test_test_runners_are_found(command: str, expected: list[T]) -> None:
    assert found(command) == expected


@pytest.mark.parametrize(("command", "expected"), [
    ("npm run build", [("build", "npm", None, None, None)]),
    ("yarn build", [("build", "yarn", None, None, None)]),
    ("pnpm run build:prod", [("build", "pnpm", None, None, None)]),
    ("cargo build --release", [("build", "cargo", None, None, None)]),
    ("cargo check", [("build", "cargo", None, None, None)]),
    ("go build ./...", [("build", "go", None, None, None)]),
    ("make", [("build", "make", None, None, None)]),
    ("make build", [("build", "make", None, None, None)]),
    ("make all", [("build", "make", None, None, None)]),
    ("python -m build", [("build", "build", None, None, None)]),
    ("uv build", [("build", "uv", None, None, None)]),
    ("tsc -b", [("build", "tsc", None, None, None)]),
    ("npx vite build", [("build", "vite", None, None, None)]),
    ("docker build -t app .", [("build", "docker", None, None, None)]),
    ("npm run lint", [("lint", "npm", None, None, None)]),
    ("ruff check", [("lint", "ruff", None, None, None)]),
    ("ruff check src tests", [("lint", "ruff", None, None, None)]),
    ("uv run ruff check .", [("lint", "ruff", None, None, None)]),
    ("ruff .", [("lint", "ruff", None, None, None)]),
    ("ruff format --check .", [("lint", "ruff", None, None, None)]),
    ("flake8 src", [("lint", "flake8", None, None, None)]),
    ("python -m pylint src", [("lint", "pylint", None, None, None)]),
    ("eslint .", [("lint", "eslint", None, None, None)]),
    ("npx eslint --max-warnings 0 src", [("lint", "eslint", None, None, None)]),
    ("go vet ./...", [("lint", "go", None, None, None)]),
    ("cargo clippy -- -D warnings", [("lint", "cargo", None, None, None)]),
    ("black --check .", [("lint", "black", None, None, None)]),
    ("pre-commit run --all-files", [("lint", "pre-commit", None, None, None)]),
    ("pre-commit run", [("lint", "pre-commit", "staged files only", None, None)]),
    ("make lint", [("lint", "make", None, None, None)]),
    ("tox -e lint", [("lint", "tox", None, None, None)]),
    ("mypy .", [("typecheck", "mypy", None, None, None)]),
    ("mypy --strict src", [("typecheck", "mypy", None, None, None)]),
    ("python -m mypy src/app.py", [("typecheck", "mypy", "file src/app.py", None, None)]),
    ("pyright", [("typecheck", "pyright", None, None, None)]),
    ("tsc --noEmit", [("typecheck", "tsc", None, None, None)]),
    ("npx tsc --noEmit -p tsconfig.json", [("typecheck", "tsc", None, None, None)]),
    ("npm run typecheck", [("typecheck", "npm", None, None, None)]),
    ("npm run type-check", [("typecheck", "npm", None, None, None)]),
    ("yarn tsc", [("typecheck", "tsc", None, None, None)]),
    ("npm run check:types", [("typecheck", "npm", None, None, None)]),
    ("tox -e mypy", [("typecheck", "tox", None, None, None)]),
])
def test_builds_linters_and_type_checkers_are_found(command: str, expected: list[T]) -> None:
    assert found(command) == expected


@pytest.mark.parametrize("command", [
    "", "   ", "ls -la", "git status", "git commit -m 'make tests pass'", "echo pytest",
    "cat pytest.ini", "npm ci", "npm install --save-dev jest", "yarn", "yarn add vitest",
    "pip install pytest", "python -m pip install -U pytest", "make clean", "cargo fmt",
    "ruff format src", "black .", "go mod tidy", "go run ./cmd/app", "python app.py",
    "python -c 'import pytest'", "which pytest", "command -v jest", "pytest --version",
    "pytest -h", "jest --help", "vim tests/test_a.py", "grep -rn pytest .", "test -f x",
    "[ -f setup.py ] && echo yes", "cat <<EOF\npytest -q\nEOF", "# pytest",
    "echo 'go test ./...' > notes.txt", "tox -l", "make -n test", "npm run dev",
])
def test_commands_that_run_no_check(command: str) -> None:
    assert invocations(command) == []


def test_several_checks_in_order() -> None:
    assert found("ruff check . && mypy src && pytest -q") == [
        ("lint", "ruff", None, None, None), ("typecheck", "mypy", None, None, None),
        test("pytest")]
    assert found("make lint test") == [("lint", "make", None, None, None), test("make")]
    assert found("npm run lint; npm test") == [("lint", "npm", None, None, None), test("npm")]


def test_words_are_the_simple_command() -> None:
    [inv] = invocations("cd app && CI=1 timeout 60 npx jest --ci 2>&1 > out.log")
    assert inv == Invocation("test", "jest", ("CI=1", "timeout", "60", "npx", "jest", "--ci"))
    [inner] = invocations("bash -lc 'cd x && \"py\"test -q'")
    assert inner.words == ("pytest", "-q")


# ------------------------------------------------------------------------------ see-through

@pytest.mark.parametrize(("command", "expected"), [
    ("bash -c 'cd x && pytest -q'", [test("pytest")]),
    ("sh -c \"go test ./...\"", [test("go")]),
    ("bash -lc 'npm test'", [test("npm")]),
    ("zsh -c 'cargo test'", [test("cargo")]),
    ("bash -c \"bash -c 'pytest'\"", [test("pytest")]),
    ("env -S 'pytest -q'", [test("pytest")]),
    ("eval 'pytest -q'", [test("pytest")]),
    ("npx -c 'jest --ci'", [test("jest")]),
    ("(cd tests && pytest)", [test("pytest")]),
    ("{ pytest; }", [test("pytest")]),
    ("if pytest; then echo ok; fi", [test("pytest")]),
    ("while ! pytest -x; do sleep 1; done", [test("pytest")]),
    ("for d in a b; do (cd $d && go test ./...); done", [test("go")]),
    ("case $1 in unit) pytest -q ;; *) echo no ;; esac", [test("pytest")]),
    ("echo $(pytest -q 2>&1 | tail -1)", [test("pytest", piped="| tail -1")]),
    ("result=`cargo test`", [test("cargo")]),
    ("diff <(pytest -q) expected.txt", [test("pytest")]),
    ("bash <<'EOF'\ncd app\npytest -q\nEOF", [test("pytest")]),
    ("bash <<< 'pytest -q'", [test("pytest")]),
    ("p\"y\"test -q", [test("pytest")]),
    ("py\\test", [test("pytest")]),
    ("$'pytest'", [test("pytest")]),
    ("cd a &&\\\n pytest", [test("pytest")]),
    ("xargs -n1 pytest < files.txt", [test("pytest")]),
    ("mise exec -- pytest", [test("pytest")]),
    ("corepack pnpm test", [test("pnpm")]),
    ("git stash && pytest; git stash pop", [test("pytest")]),
    ("cat > t.py <<'EOF'\ndef test_x(): pass\nEOF\npytest t.py",
     [test("pytest", "file t.py")]),
])
def test_wrappers_groups_and_nested_shells_are_seen_through(command: str,
                                                            expected: list[T]) -> None:
    assert found(command) == expected


# ----------------------------------------------------------------------------------- subsets

@pytest.mark.parametrize(("command", "subset"), [
    ("pytest tests/", None),
    ("pytest . tests", None),
    ("pytest -q --tb=short -p no:cacheprovider -n 4 --cov src", None),
    ("pytest -k parser", "-k parser"),
    ("pytest -kparser", "-k parser"),
    ("pytest -k 'parser and not slow'", "-k 'parser and not slow'"),
    ("pytest -m slow", "-m slow"),
    ("pytest --lf", "--lf"),
    ("pytest --last-failed -x", "--lf"),
    ("pytest --sw", "--sw"),
    ("pytest --deselect tests/test_a.py::test_x", "--deselect tests/test_a.py::test_x"),
    ("pytest --ignore=tests/slow", "--ignore tests/slow"),
    ("pytest tests/test_a.py", "file tests/test_a.py"),
    ("pytest tests/test_a.py::test_x", "test tests/test_a.py::test_x"),
    ("pytest tests/test_a.py::TestA::test_x -q", "test tests/test_a.py::TestA::test_x"),
    ("pytest --collect-only", "no tests run (--collect-only)"),
    ("pytest $(git diff --name-only)", "files from $(git diff --name-only)"),
    ("pytest -c pytest.ini -o addopts='' tests", None),
    ("python -m unittest tests.test_parser", "test tests.test_parser"),
    ("python -m unittest discover", None),
    ("python -m unittest -k parser", "-k parser"),
    ("python manage.py test accounts", "test accounts"),
    ("jest", None),
    ("jest --ci --coverage", None),
    ("jest -t 'adds'", "-t adds"),
    ("jest --testNamePattern='adds one'", "-t 'adds one'"),
    ("jest src/parser.test.ts", "file src/parser.test.ts"),
    ("jest parser", "pattern parser"),
    ("jest src/", None),
    ("jest --onlyChanged", "--onlyChanged"),
    ("jest --shard=1/3", "--shard 1/3"),
    ("vitest run", None),
    ("vitest", None),
    ("vitest run src/a.test.ts", "file src/a.test.ts"),
    ("vitest run -t parser", "-t parser"),
    ("vitest related src/a.ts", "related, file src/a.ts"),
    ("mocha", None),
    ("mocha 'test/**/*.spec.js'", None),
    ("mocha test/a.spec.js", "file test/a.spec.js"),
    ("mocha --grep parser", "--grep parser"),
    ("mocha -g parser", "--grep parser"),
    ("mocha -t 5000", None),
    ("node --test --test-name-pattern=parser", "--test-name-pattern parser"),
    ("npm test -- -t parser", "-t parser"),
    ("npm test -- --coverage", None),
    ("npm run test -- src/a.test.js", "file src/a.test.js"),
    ("yarn test parser", "pattern parser"),
    ("yarn workspace web test", "workspace web"),
    ("pnpm --filter web test", "filter web"),
    ("go test ./...", None),
    ("go test", None),
    ("go test .", None),
    ("go test -run TestParse ./...", "-run TestParse"),
    ("go test -run=TestParse ./...", "-run TestParse"),
    ("go test ./pkg/a", "package ./pkg/a"),
    ("go test ./pkg/...", "package ./pkg/..."),
    ("go test -v -count=1 -timeout 30s ./...", None),
    ("cargo test", None),
    ("cargo test parser", "test name parser"),
    ("cargo test -- parser", "test name parser"),
    ("cargo test -p core", "package core"),
    ("cargo test --test integration", "--test integration"),
    ("cargo test --lib", "--lib"),
    ("cargo test -- --ignored", "--ignored"),
    ("cargo test -- --include-ignored --nocapture --test-threads 1", None),
    ("cargo test --no-run", "no tests run (--no-run)"),
    ("tox -- -k parser", "-k parser"),
    ("hatch test -k parser", "-k parser"),
])
def test_subsets(command: str, subset: str | None) -> None:
    [inv] = invocations(command)
    assert inv.category == "test"
    assert inv.subset == subset


# ------------------------------------------------------------------------- masking, pipes

@pytest.mark.parametrize(("command", "masked", "piped"), [
    ("pytest", None, None),
    ("pytest || true", "|| true", None),
    ("pytest || :", "|| :", None),
    ("pytest || /bin/true", "|| /bin/true", None),
    ("pytest || exit 0", "|| exit 0", None),
    ("pytest || echo 'tests failed'", "|| echo tests failed", None),
    ("pytest && echo ok || echo failed", "|| echo failed", None),
    ("pytest || { echo failed; true; }", "|| { … }", None),
    ("pytest -x || (echo fail; exit 0)", "|| ( … )", None),
    ("pytest; exit 0", "; exit 0", None),
    ("pytest; true", "; true", None),
    ("pytest\ntrue", "; true", None),
    ("(pytest; exit 0)", "; exit 0", None),
    ("{ pytest; } || true", "|| true", None),
    ("bash -c 'pytest' || true", "|| true", None),
    ("sh -c 'pytest || true'", "|| true", None),
    ("set +e; pytest; echo done", "set +e", None),
    ("set +e\npytest\nexit 0", "; exit 0", None),
    ("set -e; pytest; true", None, None),
    ("set -e; pytest && echo ok; true", "; true", None),
    ("pytest || pytest --lf", None, None),
    ("pytest || exit 1", None, None),
    ("pytest || exit", None, None),
    ("pytest; echo \"exit: $?\"", None, None),
    ("true; pytest", None, None),
    ("if pytest; then true; fi", None, None),
    ("pytest | tail -5", None, "| tail -5"),
    ("pytest 2>&1 | tee log.txt", None, "| tee log.txt"),
    ("pytest -q 2>&1 | grep -v warn | head -50", None, "| grep -v warn | head -50"),
    ("pytest |& tail", None, "| tail"),
    ("(cd t && pytest) | tail", None, "| tail"),
    ("bash -c 'pytest' | tail -3", None, "| tail -3"),
    ("set -o pipefail; pytest | tail -5", None, None),
    ("set -euo pipefail\npytest | tee out", None, None),
    ("bash -o pipefail -c 'pytest | tail'", None, None),
    ("bash -eo pipefail -c 'pytest | tail'", None, None),
    ("pytest | tee log; exit ${PIPESTATUS[0]}", None, None),
    ("cat files | xargs pytest", None, None),
    ("pytest | tail -5 || true", "|| true", "| tail -5"),
])
def test_masking_and_pipes(command: str, masked: str | None, piped: str | None) -> None:
    inv = invocations(command)[0]
    assert (inv.masked, inv.piped) == (masked, piped)


def test_masking_applies_to_each_check_it_covers() -> None:
    invs = invocations("ruff check . && pytest || true")
    assert [(i.tool, i.masked) for i in invs] == [("ruff", "|| true"), ("pytest", "|| true")]
    invs = invocations("pytest || true && mypy .")
    assert [(i.tool, i.masked) for i in invs] == [("pytest", "|| true"), ("mypy", None)]
    invs = invocations("pytest | tail; go test ./...")
    assert [(i.tool, i.piped) for i in invs] == [("pytest", "| tail"), ("go", None)]


# ------------------------------------------------------------------------------------- argv

def test_argv() -> None:
    assert invocations(None, ["pytest", "-k", "parser"]) == [
        Invocation("test", "pytest", ("pytest", "-k", "parser"), "-k parser")]
    assert invocations(None, ["bash", "-c", "go test ./... || true"]) == [
        Invocation("test", "go", ("go", "test", "./..."), None, "|| true")]
    assert invocations(None, ["git", "status"]) == []
    assert invocations(None, []) == []
    assert invocations(None, None) == []
    assert invocations("pytest", ["cargo", "test"])[0].tool == "pytest"   # command wins
    assert prints_only(None, ["echo", "5 passed in 0.1s"])
    assert not prints_only(None, ["pytest"])
    assert not prints_only(None, None)


# ----------------------------------------------------------------------------- prints_only

@pytest.mark.parametrize("command", [
    "echo '5 passed in 0.12s'",
    "echo -e '===== 5 passed =====\\n'",
    "printf '%s\\n' 'Tests: 3 passed, 3 total'",
    "cat test_output.txt",
    "cat logs/pytest.log | tail -20",
    "tail -n 50 out.log",
    "head -5 results.txt && tail -5 results.txt",
    "tac out.txt",
    "yes | head -3",
    "cat <<EOF\n===== 12 passed in 0.5s =====\nEOF",
    "cat > out.txt <<'EOF'\nRan 4 tests in 0.01s\n\nOK\nEOF",
    "cat <<EOF | tee report.txt\nok\nEOF",
    "echo done > status.txt",
    "cd /repo && cat results.txt",
    "python -c \"print('5 passed in 0.1s')\"",
    "python3 -c 'print(\"Ran 3 tests\"); print(\"OK\")'",
    "python -c 'import sys; sys.stdout.write(\"12 passed\\n\")'",
    "python3 -c \"print('=' * 20, 'passed', sep='')\"",
    "python - <<'EOF'\nprint('ok  example.com/m 0.01s')\nEOF",
    "bash -c \"echo '1 passed'\"",
    "env LANG=C echo hi",
    "grep passed out.log | wc -l",
    "sleep 2; echo 'All checks passed!'",
    "for i in 1 2 3; do echo \"test $i ... ok\"; done",
    "echo \"$(cat out.txt)\"",
    "type pytest",
    "less out.txt",
])
def test_prints_only(command: str) -> None:
    assert prints_only(command)


@pytest.mark.parametrize("command", [
    "", "   ", "cd /repo", "true", "pytest", "echo start && pytest", "pytest | tail -5",
    "cat out.txt; npm test", "ls", "ls -la tests", "git log --oneline", "echo $(pytest -q)",
    "python -c 'import os; os.system(\"pytest\")'", "python -c 'print(run())'",
    "python -c 'print(__import__(\"os\").getcwd())'", "python script.py", "python",
    "python - <<'EOF'\nimport subprocess\nsubprocess.run(['pytest'])\nEOF",
    "bash run_tests.sh", "bash -c 'pytest'", "node -e \"console.log('5 passing')\"",
    "make test", "awk 'BEGIN { system(\"pytest\") }'", "xargs pytest < files",
    "cat <<EOF | bash\npytest\nEOF", "echo ok | sh", "python -c 'import sys'",
    "python -c 'syntax error('",
])
def test_not_prints_only(command: str) -> None:
    assert not prints_only(command)


# ------------------------------------------------------------------------------ robustness

@pytest.mark.parametrize("command", [
    "pytest 'unbalanced", "pytest \"unbalanced", "echo $(pytest", "echo `pytest",
    "((((((((((((((((((((((((((((((((((((((((pytest", ")))) pytest ((((", "|| && ; | pytest",
    "if then fi done esac }", "case", "for", "cat <<", "cat <<EOF\nno end", "$((1 + ",
    "${unclosed", "a\\", "'" * 101, "bash -c", "env -S", "npx", "npm run", "uv run",
    "time", "! ! ! pytest", "{ { { pytest", "`" * 33, "$(" * 500 + "pytest",
    "(" * 3000 + "pytest", "bash -c " * 200 + "pytest", "! " * 5000 + "pytest",
    "npx " * 3000 + "jest",
])
def test_malformed_command_lines_do_not_raise(command: str) -> None:
    for inv in invocations(command):
        assert isinstance(inv, Invocation)
    assert prints_only(command) in (True, False)


@pytest.mark.parametrize("command", [
    "pytest | " * 3000 + "tail", "pytest || " * 3000 + "true", "pytest; " * 3000 + "true",
    ")" * 30000 + "pytest", "echo $(pytest) " * 3000, "eval " * 3000 + "pytest",
    "case x in " + "a) pytest;; " * 3000 + "esac", "pytest " + "-k x " * 20000,
    "pytest " + "$(echo x) " * 5000, "cat <<EOF\n" * 3000, "set +e; " * 3000 + "pytest",
])
def test_long_command_lines_are_analysed_in_linear_time(command: str) -> None:
    start = time.perf_counter()
    invocations(command)
    prints_only(command)
    assert time.perf_counter() - start < 2.0


def test_pipe_consumer_label_is_short() -> None:
    assert invocations("pytest | a | b | c | d | e")[0].piped == "| a | b | c | …"


_SHELL_BITS = st.sampled_from([
    "pytest", "jest", "go test", "cargo test", "npm test", "npm run", "make", "bash -c ",
    "sh -c ", "eval ", "env A=1 ", "timeout 5 ", "npx ", "uv run ", "python -m ", "echo ",
    "cat ", "<<EOF\n", "\nEOF\n", "<<-", "<<<", " | ", " |& ", " || ", " && ", "; ", " & ",
    "(", ")", "{ ", " }", "'", '"', "\\", "$(", "`", "${", "$'", "<(", "2>&1", ">", "<",
    "#", "\n", " -k x", " -t y", " -- ", "true", "exit 0", "set +e", "set -o pipefail",
    "if ", "then ", "fi", "for x in a; do ", "done", "case x in ", "a) ", ";;", "esac",
    "!", "time ", "python -c 'print(1)'", "$", "=", "A=1 ", " ",
])


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.text(), st.lists(st.one_of(_SHELL_BITS, st.text(max_size=4)),
                                     max_size=40).map("".join)))
def test_command_analysis_never_raises(command: str) -> None:
    invs = invocations(command)
    assert all(isinstance(i, Invocation) and i.category in ("test", "build", "lint",
                                                             "typecheck") for i in invs)
    assert prints_only(command) in (True, False)
    assert isinstance(invocations(None, command.split()), list)
    assert prints_only(None, command.split()) in (True, False)
