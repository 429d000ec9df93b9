"""Calls of known tools: which checks (tests, builds, linters, type checkers) a tool runs.
:func:`_tool` maps a tool that is neither a wrapper nor an interpreter nor a package manager
(pytest, jest, go, cargo, mypy, tsc, ruff, eslint, make, tox, gradle...) and its arguments to
the checks it runs as ``(category, tool, subset)`` triples, the subset of a test run coming
from :mod:`codor.claims.runnerargs`; :func:`_script_category` says what a script or target
name (``npm run test:unit``, ``make lint``, a tox environment) runs. What leads a command to
these tools (wrappers, ``python -m``, ``npm test``, ``bash -c``) is
:mod:`codor.claims.wrappers`' job.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, Literal, TypeAlias

from codor.claims.runnerargs import (
    _ASSIGN,
    _SRC_EXT,
    _cargo_test,
    _go_test,
    _jest,
    _mocha,
    _nextest,
    _opts,
    _pytest,
    _vitest,
)

Category = Literal["test", "build", "lint", "typecheck"]
_Found: TypeAlias = "list[tuple[Category, str, str | None]]"


# ---- scripts of package managers and task runners -----------------------------------------

def _script_category(name: str) -> Category | None:
    """``npm run <name>`` (and make / just / hatch targets): what a script name says it runs."""
    low = name.lower()
    flat = low.replace("-", "").replace(":", "").replace("_", "").replace(".", "")
    if "typecheck" in flat or "checktypes" in flat or "typescheck" in flat or \
            flat in ("tsc", "types", "mypy", "pyright") or low.startswith(("tsc:", "types:")):
        return "typecheck"
    if low.startswith("test") or low in ("check", "jest", "vitest", "mocha", "unit", "e2e",
                                         "spec", "pytest", "unittest", "integration",
                                         "coverage", "cov") or \
            low.startswith(("e2e:", "unit:", "spec:", "coverage:", "integration:")) or \
            low.endswith(("-test", "_test", ":test", "-tests", "_tests", ":tests")):
        return "test"
    if low.startswith("lint") or low in ("eslint", "stylelint", "flake8", "ruff", "pylint",
                                         "style", "format:check", "fmt:check", "format-check",
                                         "fmt-check", "check-format", "prettier:check",
                                         "check:format", "check:lint", "check-lint") or \
            low.endswith((":lint", "-lint")):
        return "lint"
    if low.startswith("build") or low in ("compile", "all", "bundle", "dist", "package") or \
            low.endswith((":build", "-build")):
        return "build"
    return None


_MAKE_TAKES: Final = frozenset({"-C", "-f", "--file", "--makefile", "--directory", "-I",
                                "--include-dir", "-l", "--load-average", "-o", "--old-file",
                                "-W", "--what-if", "--assume-new", "--eval", "-O",
                                "--justfile", "--working-directory", "-d", "--dir",
                                "-t", "--taskfile"})


def _make(tool: str, args: Sequence[str]) -> _Found:
    targets: list[str] = []
    i = 0
    n = len(args)
    while i < n:
        a = args[i]
        i += 1
        if a in ("-n", "--dry-run", "--just-print", "--recon", "-q", "--question", "--list",
                 "-l", "--help", "-h", "--version", "-v", "--summary", "--dump"):
            if tool == "make" and a in ("-l",):
                i += 1
                continue
            return []
        if a in ("-j", "--jobs"):
            if i < n and args[i].isdigit():
                i += 1
            continue
        if a in _MAKE_TAKES:
            i += 1
            continue
        if a.startswith("-") or _ASSIGN.match(a):
            continue
        targets.append(a)
    if not targets:
        return [("build", tool, None)] if tool == "make" else []
    out: _Found = []
    for target in targets:
        category = "build" if target == "default" else _script_category(target)
        if category is not None:
            out.append((category, tool, None))
    return out


# ---- checkers ------------------------------------------------------------------------------

def _files(args: Sequence[str], takes: frozenset[str] = frozenset()) -> str | None:
    files = [v for o, v in _opts(args, takes) if o is None and _SRC_EXT.search(v)]
    return f"file {files[0]}" if len(files) == 1 else (
        f"files {', '.join(files)}" if files else None)


def _flags(args: Sequence[str]) -> set[str]:
    return {a.split("=", 1)[0] for a in args if a.startswith("-")}


_HELP: Final = frozenset({"--version", "-V", "--help", "-h"})


def _tool(name: str, args: list[str]) -> _Found:
    """A known tool (not a wrapper, not python/node/npm) with its arguments."""
    flags = _flags(args)
    first = next((a for a in args if not a.startswith("-")), "")
    if flags & _HELP and name not in ("tsc",):
        return []
    if name in ("pytest", "py.test", "pytest-3", "py.test-3"):
        return [("test", "pytest", _pytest(args))]
    if name in ("jest",):
        return [("test", "jest", _jest(args))]
    if name in ("vitest",):
        return [("test", "vitest", _vitest(args))]
    if name in ("mocha", "_mocha"):
        return [("test", "mocha", _mocha(args))]
    if name in ("nose2", "nosetests", "trial", "green", "ward", "behave", "ava", "tap",
                "jasmine", "rspec", "phpunit", "pest", "ctest", "karma", "tape", "uvu"):
        return [("test", name, None)]
    if name == "go":
        if first == "test":
            return [("test", "go", _go_test(args[args.index("test") + 1:]))]
        if first == "vet":
            return [("lint", "go", None)]
        if first in ("build", "install"):
            return [("build", "go", None)]
        return []
    if name == "cargo":
        sub = next((a for a in args if not a.startswith(("-", "+"))), "")
        rest = args[args.index(sub) + 1:] if sub else []
        if sub in ("test", "t"):
            return [("test", "cargo", _cargo_test(rest))]
        if sub == "nextest" and rest[:1] == ["run"]:
            return [("test", "cargo", _nextest(rest[1:]))]
        if sub in ("build", "b", "check", "c"):
            return [("build", "cargo", None)]
        if sub == "clippy" or (sub == "fmt" and "--check" in rest):
            return [("lint", "cargo", None)]
        return []
    if name in ("make", "gmake", "just", "task"):
        return _make(name, args)
    if name in ("tox", "nox"):
        return _tox(name, args)
    if name == "hatch":
        if first == "test":
            return [("test", "hatch", _pytest(args[args.index("test") + 1:]))]
        if first == "build":
            return [("build", "hatch", None)]
        return []
    if name in ("mypy", "dmypy", "pyright", "basedpyright", "pytype", "pyre", "vue-tsc",
                "svelte-check", "flow", "ty", "pyrefly"):
        tool = "mypy" if name == "dmypy" else name
        if name in ("ty", "pyrefly") and first != "check":
            return []
        return [("typecheck", tool, _files(args, frozenset({"--config-file", "-p", "-m",
                                                            "--python-version"})))]
    if name == "tsc":
        if flags & (_HELP | {"-v", "--init", "--showConfig", "--listFilesOnly"}):
            return []
        if flags & {"-b", "--build"}:
            return [("build", "tsc", None)]
        return [("typecheck", "tsc", _files(args, frozenset({"-p", "--project", "--target",
                                                             "--module", "--outDir"})))]
    if name == "ruff":
        if first == "check":
            return [("lint", "ruff", _files(args[args.index("check") + 1:]))]
        if first == "format":
            return [("lint", "ruff", None)] if flags & {"--check", "--diff"} else []
        if first in ("rule", "config", "linter", "clean", "server", "version", "analyze",
                     "help"):
            return []
        return [("lint", "ruff", _files(args))]      # `ruff .`: the old spelling of check
    if name == "poe" and first:
        category = _script_category(first)
        return [(category, "poe", None)] if category else []
    if name in ("flake8", "pylint", "pycodestyle", "pydocstyle", "bandit", "eslint",
                "stylelint", "shellcheck", "hadolint", "rubocop", "staticcheck", "yamllint",
                "markdownlint", "markdownlint-cli2", "oxlint", "xo", "standard", "vulture",
                "codespell", "actionlint"):
        return [("lint", name, _files(args, frozenset({"-c", "--config", "--rcfile",
                                                        "--format", "-f", "--ext"})))]
    if name in ("black", "isort", "prettier", "gofmt", "rustfmt", "autopep8", "yapf"):
        if flags & {"--check", "--check-only", "-c", "--diff", "-l", "--list-different", "-d"}:
            return [("lint", name, None)]
        return []
    if name == "biome" and first in ("check", "lint", "ci"):
        return [("lint", "biome", None)]
    if name == "golangci-lint" and first == "run":
        return [("lint", "golangci-lint", None)]
    if name == "pre-commit" and first in ("run", ""):
        all_files = flags & {"--all-files", "-a"}
        return [("lint", "pre-commit", None if all_files else "staged files only")]
    if name in ("gradle", "gradlew", "mvn", "mvnw", "dotnet", "bazel", "bazelisk", "swift",
                "mix", "deno", "sbt", "lein", "stack", "cabal", "dune", "zig"):
        tool = {"gradlew": "gradle", "mvnw": "mvn", "bazelisk": "bazel"}.get(name, name)
        goals = [a.rsplit(":", 1)[-1] for a in args if not a.startswith("-")]
        if any(g in ("test", "check", "verify", "integrationTest") for g in goals):
            return [("test", tool, None)]
        if any(g in ("build", "compile", "package", "assemble", "install") for g in goals):
            return [("build", tool, None)]
        if name in ("deno",) and first in ("lint",):
            return [("lint", tool, None)]
        if name in ("deno",) and first in ("check",):
            return [("typecheck", tool, None)]
        return []
    if name in ("playwright", "cypress") and first in ("test", "run"):
        return [("test", name, None)]
    if name in ("vite", "next", "nuxt", "astro", "parcel", "ng", "vue-cli-service",
                "react-scripts", "docker", "podman", "cmake", "meson", "poetry", "uv", "pdm",
                "rye", "flit", "maturin") and first == "build":
        return [("build", name, None)]
    if name == "ng" and first == "test":
        return [("test", "ng", None)]
    if name == "react-scripts" and first == "test":
        return [("test", "react-scripts", _jest(args[1:]))]
    if name in ("cmake",) and "--build" in flags:
        return [("build", "cmake", None)]
    if name in ("webpack", "rollup", "esbuild", "tsup", "ninja", "msbuild", "scons"):
        return [("build", name, None)]
    return []


def _tox(name: str, args: list[str]) -> _Found:
    posargs: list[str] = []
    if "--" in args:
        cut = args.index("--")
        args, posargs = args[:cut], args[cut + 1:]
    first = next((a for a in args if not a.startswith("-")), "")
    if first in ("list", "l", "config", "c", "devenv", "d", "depends", "de", "quickstart",
                 "q", "legacy", "le") or _flags(args) & {"-l", "--listenvs", "-a",
                                                          "--listenvs-all", "--list",
                                                          "--version", "--help", "-h"}:
        return []
    envs: list[str] = []
    for opt, val in _opts(args, frozenset({"-e", "--env", "-s", "--session", "--sessions",
                                           "-k", "-f", "-c", "--conf", "-p", "--parallel",
                                           "-t", "--tags"})):
        if opt in ("-e", "--env", "-s", "--session", "--sessions"):
            envs.extend(e for e in val.split(",") if e)
    kinds = {_env_category(e) for e in envs}
    if envs and len(kinds) == 1 and (only := kinds.pop()) != "test":
        return [(only, name, None)]
    return [("test", name, _pytest(posargs) if posargs else None)]


def _env_category(env: str) -> Category:
    low = env.lower()
    if any(k in low for k in ("mypy", "type", "pyright")):
        return "typecheck"
    if any(k in low for k in ("lint", "flake8", "ruff", "pylint", "style", "pre-commit")):
        return "lint"
    if low in ("build", "docs-build", "pkg", "package"):
        return "build"
    return "test"
