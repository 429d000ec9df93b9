"""Real runners on tiny projects, for the tests of :mod:`codor.claims.runners`.

Each ``*_project`` function writes a small project whose test counts are known by
construction; :class:`Runs` runs real runners on them in the background (several at once, so
the slow ones overlap) and hands back what they printed. A runner missing from the machine
fails the test that needs it with the command that installs it: ``make test`` installs them all
(``scripts/install-system-deps.sh`` for go and cargo, ``tests/npm`` for jest, vitest, mocha,
tsc and eslint).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

NPM_BIN = Path(__file__).resolve().parents[1] / "npm" / "node_modules" / ".bin"
VENV_BIN = Path(sys.executable).parent
INSTALL_HINT = {
    "go": "install Go: `make test` does (scripts/install-system-deps.sh: Debian golang-go)",
    "cargo": "install Rust's cargo: `make test` does (scripts/install-system-deps.sh: cargo)",
    "npm": "install Node.js and npm: `make test` does (scripts/install-system-deps.sh)",
}


def write(root: Path, files: Mapping[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))
    return root


def find_tool(name: str) -> str | None:
    """The executable ``name``: the JavaScript runners from ``tests/npm``, the Python tools
    from this interpreter's environment, the rest from ``PATH`` (and ``~/.cargo/bin``)."""
    for place in (NPM_BIN, VENV_BIN):
        if (place / name).is_file():
            return str(place / name)
    found = shutil.which(name)
    if found is None and name == "cargo":
        found = shutil.which("cargo", path=str(Path.home() / ".cargo" / "bin"))
    return found


def missing_message(name: str) -> str:
    if name in ("jest", "vitest", "mocha", "tsc", "eslint"):
        return (f"`{name}` is not installed in {NPM_BIN}: run `make npm-deps` (or "
                f"`cd tests/npm && npm ci`), which `make test` does")
    return f"`{name}` is not installed: " + INSTALL_HINT.get(name, "`make test` installs it")


def clean_env(**extra: str) -> dict[str, str]:
    """The environment for a runner: this test session's, without pytest's own settings, with
    the npm-installed runners on ``PATH``."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTEST_", "COV_", "NODE_OPTIONS", "FORCE_COLOR", "NO_COLOR"))}
    env["PATH"] = os.pathsep.join([str(NPM_BIN), env.get("PATH", "")])
    env.update(PYTHONDONTWRITEBYTECODE="1", CI="true")
    env.update(extra)
    return env


@dataclass(frozen=True, slots=True)
class Ran:
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        """stdout then stderr, the way the claim verifier's caller joins them."""
        return self.stdout + self.stderr


class Runs:
    """Runner invocations started in the background; :meth:`get` waits for one."""

    def __init__(self, workers: int = 4) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers)
        self._runs: dict[str, Future[Ran]] = {}
        self._missing: dict[str, str] = {}

    def start(self, name: str, argv: Sequence[str], cwd: Path, env: Mapping[str, str],
              after: str | None = None, timeout: float = 180) -> None:
        """Runs ``argv`` (its first word a tool name, resolved by :func:`find_tool`) in
        ``cwd``; ``after`` names a run to wait for first (runs sharing a build directory)."""
        exe = find_tool(argv[0])
        if exe is None:
            self._missing[name] = missing_message(argv[0])
            return
        full = (exe, *argv[1:])
        wait = self._runs.get(after) if after else None

        def run() -> Ran:
            if wait is not None:
                wait.result()
            done = subprocess.run(full, cwd=cwd, env=dict(env), capture_output=True,
                                  text=True, timeout=timeout, stdin=subprocess.DEVNULL,
                                  check=False)
            return Ran(full, done.returncode, done.stdout, done.stderr)

        self._runs[name] = self._pool.submit(run)

    def get(self, name: str) -> Ran:
        if name in self._missing:
            pytest.fail(self._missing[name], pytrace=False)
        return self._runs[name].result()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


# ====================================================================== the projects

def pytest_project(root: Path) -> Path:
    """``test_mixed.py``: 3 pass, 2 fail, 1 errors in its fixture, 2 skipped, 1 xfail, 1 xpass;
    ``test_ok.py``: 5 pass; ``test_many.py``: 300 pass, 1 fails (long verbose output)."""
    return write(root, {
        "test_mixed.py": """
            import pytest

            def test_one():
                assert 1 + 1 == 2

            def test_two():
                assert "a".upper() == "A"

            def test_three():
                assert [1, 2] == [1, 2]

            def test_fails():
                assert 2 * 2 == 5

            def test_fails_too():
                assert "abc".startswith("b")

            @pytest.fixture
            def broken():
                raise RuntimeError("fixture broken")

            def test_errors(broken):
                pass

            @pytest.mark.skip(reason="not now")
            def test_skipped():
                pass

            def test_skipped_inside():
                pytest.skip("decided at run time")

            @pytest.mark.xfail(reason="known bug")
            def test_xfail():
                assert 1 == 2

            @pytest.mark.xfail(reason="fixed since")
            def test_xpass():
                assert 1 == 1
            """,
        "ok/test_ok.py": """
            import pytest

            @pytest.mark.parametrize("n", [1, 2, 3])
            def test_square(n):
                assert n * n == n ** 2

            def test_join():
                assert ",".join("ab") == "a,b"

            def test_strip():
                assert " x ".strip() == "x"
            """,
        "many/test_many.py": """
            import pytest

            @pytest.mark.parametrize("n", range(300))
            def test_double(n):
                assert n + n == 2 * n

            def test_wrong():
                assert sum([1, 2]) == 4
            """,
        "collect_error/test_broken.py": """
            import a_module_that_does_not_exist

            def test_never():
                pass
            """,
        "collect_error/test_fine.py": """
            def test_fine():
                assert True
            """,
        "empty/README.txt": "no tests here\n",
    })


def unittest_project(root: Path) -> Path:
    """``test_mixed_ut``: 7 tests (3 pass, 1 fails, 1 errors, 1 skipped, 1 expected failure);
    ``test_ok_ut``: 4 pass."""
    return write(root, {
        "test_mixed_ut.py": """
            import unittest

            class Mixed(unittest.TestCase):
                def test_one(self):
                    self.assertEqual(1 + 1, 2)

                def test_two(self):
                    self.assertTrue("a".isalpha())

                def test_three(self):
                    self.assertIn(2, [1, 2])

                def test_fails(self):
                    self.assertEqual(2 * 2, 5)

                def test_errors(self):
                    raise RuntimeError("boom")

                @unittest.skip("not now")
                def test_skipped(self):
                    pass

                @unittest.expectedFailure
                def test_expected(self):
                    self.assertEqual(1, 2)
            """,
        "test_ok_ut.py": """
            import unittest

            class Ok(unittest.TestCase):
                def test_a(self):
                    self.assertEqual("x" * 2, "xx")

                def test_b(self):
                    self.assertEqual(len([1, 2]), 2)

                def test_c(self):
                    self.assertFalse("")

                def test_d(self):
                    self.assertIsNone(None)
            """,
        "empty/README.txt": "no tests here\n",
    })


_SUM_TESTS = {
    "sum.js": "module.exports = (a, b) => a + b;\n",
    "a.test.js": """
        const sum = require('./sum');
        test('adds', () => { expect(sum(1, 2)).toBe(3); });
        test('adds zero', () => { expect(sum(0, 0)).toBe(0); });
        test.skip('skipped', () => {});
        test.todo('later');
        """,
    "b.test.js": """
        const sum = require('./sum');
        test('broken', () => { expect(sum(1, 1)).toBe(3); });
        test('fine', () => { expect(sum(1, 1)).toBe(2); });
        """,
}


def jest_project(root: Path) -> Path:
    """``a.test.js``: 2 pass, 1 skipped, 1 todo; ``b.test.js``: 1 fails, 1 passes;
    ``broken.test.js`` does not parse. ``npm test`` runs jest on a and b."""
    return write(root, {
        **_SUM_TESTS,
        "broken.test.js": "test('never', () => {\n",
        "package.json": json.dumps({
            "name": "jest-mixed", "version": "1.0.0", "private": True,
            "scripts": {"test": "jest --ci a.test.js b.test.js"},
            "jest": {"cacheDirectory": str(root / ".jest-cache")},
        }),
    })


def npm_two_runners_project(root: Path) -> Path:
    """``npm test`` runs jest (2 pass) and then mocha (3 pass)."""
    return write(root, {
        "sum.js": "module.exports = (a, b) => a + b;\n",
        "sum.test.js": """
            const sum = require('./sum');
            test('adds', () => { expect(sum(2, 3)).toBe(5); });
            test('adds negatives', () => { expect(sum(-2, -3)).toBe(-5); });
            """,
        "mocha/sum.js": """
            const assert = require('assert');
            const sum = require('../sum');
            describe('sum', function () {
              it('adds', function () { assert.strictEqual(sum(1, 2), 3); });
              it('adds zero', function () { assert.strictEqual(sum(0, 0), 0); });
              it('adds floats', function () { assert.strictEqual(sum(0.5, 0.25), 0.75); });
            });
            """,
        "package.json": json.dumps({
            "name": "two-runners", "version": "1.0.0", "private": True,
            "scripts": {"test": "jest --ci && mocha mocha"},
            "jest": {"cacheDirectory": str(root / ".jest-cache"),
                     "testPathIgnorePatterns": ["/node_modules/", "/mocha/"]},
        }),
    })


def vitest_project(root: Path) -> Path:
    """The jest project's tests as ES modules for vitest (2 + 1 pass, 1 fails, 1 skipped,
    1 todo)."""
    return write(root, {
        "sum.js": "export function sum(a, b) { return a + b; }\n",
        "a.test.js": """
            import { test, expect } from 'vitest';
            import { sum } from './sum.js';
            test('adds', () => { expect(sum(1, 2)).toBe(3); });
            test('adds zero', () => { expect(sum(0, 0)).toBe(0); });
            test.skip('skipped', () => {});
            test.todo('later');
            """,
        "b.test.js": """
            import { test, expect } from 'vitest';
            import { sum } from './sum.js';
            test('broken', () => { expect(sum(1, 1)).toBe(3); });
            test('fine', () => { expect(sum(1, 1)).toBe(2); });
            """,
        "package.json": json.dumps({"name": "vitest-mixed", "private": True,
                                    "type": "module"}),
    })


def mocha_project(root: Path) -> Path:
    """``test/a.spec.js``: 2 pass, 1 skipped, 1 pending, 1 fails."""
    return write(root, {
        "test/a.spec.js": """
            const assert = require('assert');
            describe('sum', function () {
              it('adds', function () { assert.strictEqual(1 + 2, 3); });
              it('adds zero', function () { assert.strictEqual(0 + 0, 0); });
              it.skip('skipped', function () {});
              it('pending');
              it('broken', function () { assert.strictEqual(1 + 1, 3); });
            });
            """,
        "package.json": json.dumps({"name": "mocha-mixed", "private": True}),
    })


def go_module(root: Path) -> Path:
    """Packages ``a`` (2 pass, 1 skipped), ``b`` (1 fails, 1 passes), ``c`` (no tests)."""
    return write(root, {
        "go.mod": "module example.com/m\n\ngo 1.18\n",
        "a/a.go": "package a\n\nfunc Add(x, y int) int { return x + y }\n",
        "a/a_test.go": """
            package a

            import "testing"

            func TestAdd(t *testing.T) {
                if Add(1, 2) != 3 {
                    t.Fatal("1 + 2")
                }
            }

            func TestAddZero(t *testing.T) {
                if Add(0, 0) != 0 {
                    t.Fatal("0 + 0")
                }
            }

            func TestLater(t *testing.T) { t.Skip("later") }
            """,
        "b/b.go": "package b\n\nfunc Sub(x, y int) int { return x - y }\n",
        "b/b_test.go": """
            package b

            import "testing"

            func TestSub(t *testing.T) {
                if got := Sub(3, 1); got != 3 {
                    t.Fatalf("got %d", got)
                }
            }

            func TestSubOk(t *testing.T) {
                if Sub(3, 1) != 2 {
                    t.Fatal("3 - 1")
                }
            }
            """,
        "c/c.go": "package c\n\nfunc C() int { return 1 }\n",
    })


def go_broken_module(root: Path) -> Path:
    return write(root, {
        "go.mod": "module example.com/broken\n\ngo 1.18\n",
        "x/x.go": "package x\n\nfunc X( {\n",
        "x/x_test.go": "package x\n\nimport \"testing\"\n\nfunc TestX(t *testing.T) {}\n",
    })


def cargo_crate(root: Path) -> Path:
    """Library tests: 2 pass, 1 ignored, 1 fails; an integration test passes."""
    return write(root, {
        "Cargo.toml": """
            [package]
            name = "tiny"
            version = "0.1.0"
            edition = "2021"

            [dependencies]
            """,
        "src/lib.rs": """
            pub fn add(a: i32, b: i32) -> i32 {
                a + b
            }

            #[cfg(test)]
            mod tests {
                use super::*;

                #[test]
                fn adds() {
                    assert_eq!(add(1, 2), 3);
                }

                #[test]
                fn adds_zero() {
                    assert_eq!(add(0, 0), 0);
                }

                #[test]
                #[ignore]
                fn slow() {}

                #[test]
                fn broken() {
                    assert_eq!(add(1, 1), 3);
                }
            }
            """,
        "tests/it.rs": """
            #[test]
            fn integration() {
                assert_eq!(tiny::add(2, 2), 4);
            }
            """,
    })


def cargo_broken_crate(root: Path) -> Path:
    return write(root, {
        "Cargo.toml": "[package]\nname = \"broken\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
        "src/lib.rs": "pub fn f() -> i32 { not_defined }\n\n#[test]\nfn t() {}\n",
    })


def checkers_project(root: Path) -> Path:
    """Files for mypy (2 errors in ``typed_bad.py``), ruff (2 unused imports in
    ``lint_bad.py``, ``fmt_bad.py`` unformatted), tsc (2 errors in ``bad.ts``) and eslint
    (``bad.js``: 1 error, 1 warning; ``warn.js``: 1 warning)."""
    return write(root, {
        "typed_ok.py": "def double(x: int) -> int:\n    return 2 * x\n",
        "typed_bad.py": 'count: int = "three"\nname: str = 3\n',
        "lint_bad.py": "import os\nimport sys\n\nVALUE = 1\n",
        "fmt_bad.py": "x=( 1,2 )\n",
        "ok.ts": "const z: number = 1;\nexport { z };\n",
        "bad.ts": 'const x: number = "a";\nconst y: string = 1;\nexport { x, y };\n',
        "eslint.config.mjs": """
            export default [{
              rules: { "no-unused-vars": "error", "no-console": "warn", "no-undef": "off" },
            }];
            """,
        "bad.js": "const unused = 1;\nconsole.log('x');\n",
        "warn.js": "console.log('y');\n",
        "ok.js": "export const b = 2;\n",
    })
