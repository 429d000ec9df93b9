"""What stands between a simple command and the tool it runs: wrappers, interpreters, scripts.
:func:`_classify` reads one simple command's words past variable assignments and wrappers
(``env``, ``timeout``, ``sudo``, ``uv run``, ``poetry run``, ``npx``...), through interpreters
(``python -m``, ``python runtests.py``, ``node``, ``coverage run``) and package-manager scripts
(``npm test``, ``yarn run lint``, ``pnpm --filter x test``) to a known tool
(:mod:`codor.claims.toolcalls`); the scripts the command runs in turn (``bash -c SCRIPT``,
``eval``, a shell fed a heredoc) go back to the caller as :class:`_Nested`, to be parsed and
walked; :func:`_may_run` is the cheap test that a text could run any check at all.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final

from codor.claims.runnerargs import (
    _ASSIGN,
    _PYTHON,
    _django,
    _forwarded,
    _name,
    _node_test,
    _reasons,
    _unittest,
)
from codor.claims.shellsyntax import _MAX_DEPTH
from codor.claims.toolcalls import _Found, _script_category, _tool

# ---- package managers ----------------------------------------------------------------------

_NPM_TAKES: Final = frozenset({"--prefix", "-C", "--workspace", "-w", "--loglevel", "--cache",
                               "--userconfig", "--registry", "--script-shell", "--filter", "-F",
                               "--dir", "--cwd", "--node-options"})
_NPM_WRAP_SUBS: Final = frozenset({"exec", "x", "dlx"})
_NPM_TEST_ALIASES: Final = frozenset({"test", "t", "tst"})
_NPM_RUN_ALIASES: Final = frozenset({"run", "run-script", "rum", "urn", "run-s"})
_PM_BUILTINS: Final = frozenset({
    "install", "i", "ci", "add", "remove", "rm", "uninstall", "un", "update", "up", "upgrade",
    "outdated", "why", "info", "view", "init", "create", "publish", "pack", "link", "unlink",
    "cache", "config", "audit", "list", "ls", "prune", "dedupe", "login", "logout", "whoami",
    "version", "help", "start", "stop", "restart", "set", "get", "import", "patch", "store",
    "setup", "env", "bin", "root", "global", "node", "plugin", "search", "doctor", "fund",
    "explain", "licenses", "dlx", "workspaces", "approve-builds", "rebuild", "self-update",
})


def _package_manager(pm: str, words: Sequence[str], i: int, depth: int,
                     nested: list[_Nested]) -> _Found:
    """``npm``/``yarn``/``pnpm``/``bun`` at ``words[i]``."""
    args = list(words[i + 1:])
    scope: list[str] = []
    j = 0
    while j < len(args) and args[j].startswith("-") and args[j] != "--":
        opt = args[j].split("=", 1)[0]
        if opt in _NPM_TAKES:
            if "=" not in args[j] and j + 1 < len(args):
                val = args[j + 1]
                j += 1
            else:
                val = args[j].partition("=")[2]
            if opt in ("--workspace", "-w", "--filter", "-F"):
                scope.append(f"{'workspace' if opt.startswith(('-w', '--w')) else 'filter'} "
                             f"{val}")
        j += 1
    rest = args[j:]
    if not rest:
        return []
    sub = rest[0]
    if pm == "yarn" and sub == "workspace" and len(rest) >= 3:
        scope.append(f"workspace {rest[1]}")
        rest = rest[2:]
        sub = rest[0]
    if sub in _NPM_WRAP_SUBS or (pm == "bun" and sub == "x"):
        return _classify(_skip_npx(rest, 1), depth + 1, nested)
    if sub in _NPM_TEST_ALIASES:
        script, extra = "test", rest[1:]
        if pm == "bun":     # bun's own runner
            own = _forwarded(extra)
            return [("test", "bun", _reasons([*scope, own] if own else scope))]
    elif sub in _NPM_RUN_ALIASES:
        k = 1
        while k < len(rest) and rest[k].startswith("-"):
            k += 1
        if k >= len(rest):
            return []
        script, extra = rest[k], rest[k + 1:]
    elif pm == "npm" or sub in _PM_BUILTINS:
        return []
    else:
        # yarn / pnpm / bun run a script or a package binary named directly
        if _name(sub) in _TOOLS:
            return _classify(rest, depth + 1, nested)
        script, extra = sub, rest[1:]
    category = _script_category(script)
    if category is None:
        return []
    if category == "test":
        forwarded = _forwarded([a for a in extra if a != "--" and not
                                a.startswith(("--if-present", "--silent", "--workspaces",
                                              "--ws", "--recursive", "-r"))])
        return [("test", pm, _reasons(scope + ([forwarded] if forwarded else [])))]
    return [(category, pm, None)]


def _skip_npx(args: Sequence[str], i: int) -> list[str]:
    """The command an ``npx``-style wrapper runs (from ``args[i]``)."""
    takes = {"-p", "--package", "--call", "-c", "--node-options", "--workspace", "-w",
             "--shell", "--cache", "--registry"}
    n = len(args)
    while i < n:
        a = args[i]
        if a == "--":
            i += 1
            break
        if a.startswith("-"):
            if a in ("-c", "--call"):
                return ["bash", "-c", args[i + 1]] if i + 1 < n else []
            i += 2 if a in takes else 1
            continue
        break
    return list(args[i:])


# ---- python / node / coverage -------------------------------------------------------------

_PY_TAKES: Final = frozenset({"-W", "-X", "--check-hash-based-pycs"})
_TEST_SCRIPT = re.compile(r"(?:test_[^/]*|[^/]*_test|tests|runtests|run_tests|test)\.py")


def _python(words: Sequence[str], i: int, depth: int, nested: list[_Nested]) -> _Found:
    args = words[i + 1:]
    j = 0
    n = len(args)
    while j < n:
        a = args[j]
        if a.startswith("-m"):
            module = a[2:] or (args[j + 1] if j + 1 < n else "")
            rest = list(args[j + (1 if a[2:] else 2):])
            return _module(module, rest, depth, nested)
        if a.startswith("-c") or a == "-":
            return []
        if a in _PY_TAKES:
            j += 2
            continue
        if a.startswith("-"):
            j += 1
            continue
        break
    if j >= n:
        return []
    script = args[j]
    rest = list(args[j + 1:])
    base = _name(script)
    if base == "manage.py" and rest[:1] == ["test"]:
        return [("test", "django", _django(rest[1:]))]
    if base == "setup.py" and "test" in rest:
        return [("test", "setuptools", None)]
    if base == "runtests.py":
        return [("test", "python", _forwarded(rest) if rest else None)]
    if _TEST_SCRIPT.fullmatch(base):
        return [("test", "python", None)]
    return []


def _module(module: str, rest: list[str], depth: int, nested: list[_Nested]) -> _Found:
    if module == "unittest":
        return [("test", "unittest", _unittest(rest))]
    if module == "django":
        return [("test", "django", _django(rest[1:]))] if rest[:1] == ["test"] else []
    if module == "doctest":
        return [("test", "doctest", None)]
    if module == "coverage":
        return _coverage(rest, depth, nested)
    if module == "build":
        return [("build", "build", None)]
    if module == "twisted.trial":
        return [("test", "trial", None)]
    tool = _PY_MODULES.get(module.split(".", 1)[0])
    return _tool(tool, rest) if tool is not None else []


def _coverage(args: list[str], depth: int, nested: list[_Nested]) -> _Found:
    if not args or args[0] != "run" or depth > _MAX_DEPTH:
        return []
    takes = {"--source", "--omit", "--include", "--rcfile", "--data-file", "--concurrency",
             "--context", "--debug"}
    j = 1
    while j < len(args):
        a = args[j]
        if a == "-m":
            return _module(args[j + 1] if j + 1 < len(args) else "", args[j + 2:], depth + 1,
                           nested)
        if a.startswith("-"):
            j += 2 if a in takes else 1
            continue
        return _python(["python", *args[j:]], 0, depth + 1, nested)
    return []


_PY_MODULES: Final = {m.replace("-", "_"): m for m in (
    "pytest", "mypy", "ruff", "flake8", "pylint", "pyright", "basedpyright", "black", "isort",
    "tox", "nox", "hatch", "nose2", "pycodestyle", "pydocstyle", "bandit", "vulture",
    "codespell", "pytype", "yapf", "autopep8", "pre-commit", "behave", "green", "ward", "ty",
    "pyrefly",
)}
_NODE_TAKES: Final = frozenset({"-r", "--require", "--import", "--loader", "--experimental-loader",
                                "--env-file", "--conditions", "-C", "--title", "--input-type"})


def _node(words: Sequence[str], i: int) -> _Found:
    args = list(words[i + 1:])
    j = 0
    test_mode = False
    while j < len(args):
        a = args[j]
        if a in ("-e", "--eval", "-p", "--print"):
            return []
        if a == "--test":
            test_mode = True
        if a.startswith("--test"):
            j += 1
            continue
        if a in _NODE_TAKES:
            j += 2
            continue
        if a.startswith("-"):
            j += 1
            continue
        break
    if test_mode:
        return [("test", "node", _node_test(args))]
    if j >= len(args):
        return []
    script = _name(args[j])
    for ext in (".js", ".mjs", ".cjs"):
        if script.endswith(ext):
            script = script[:-len(ext)]
    if script in ("jest", "jest-cli", "vitest", "mocha", "_mocha", "tsc", "eslint"):
        return _tool(script, args[j + 1:])
    return []


# ---- wrappers ------------------------------------------------------------------------------

# wrapper name -> (subcommand it needs or None, options that take a value, positionals to skip)
_WRAPPERS: Final[dict[str, tuple[str | None, frozenset[str], int]]] = {
    "env": (None, frozenset({"-u", "--unset", "-C", "--chdir", "-S", "--split-string"}), 0),
    "timeout": (None, frozenset({"-s", "--signal", "-k", "--kill-after"}), 1),
    "gtimeout": (None, frozenset({"-s", "--signal", "-k", "--kill-after"}), 1),
    "nice": (None, frozenset({"-n", "--adjustment"}), 0),
    "ionice": (None, frozenset({"-c", "-n", "-p", "--class", "--classdata"}), 0),
    "nohup": (None, frozenset(), 0),
    "time": (None, frozenset({"-f", "--format", "-o", "--output"}), 0),
    "command": (None, frozenset(), 0),
    "builtin": (None, frozenset(), 0),
    "exec": (None, frozenset({"-a"}), 0),
    "stdbuf": (None, frozenset({"-i", "-o", "-e", "--input", "--output", "--error"}), 0),
    "sudo": (None, frozenset({"-u", "-g", "-C", "-D", "-h", "-p", "-r", "-t", "-U", "-T",
                              "--user", "--group", "--chdir"}), 0),
    "doas": (None, frozenset({"-u", "-C"}), 0),
    "chronic": (None, frozenset(), 0),
    "unbuffer": (None, frozenset(), 0),
    "xvfb-run": (None, frozenset({"-s", "--server-args", "-n", "--server-num", "-e",
                                  "--error-file", "-f", "--auth-file", "-p"}), 0),
    "xargs": (None, frozenset({"-n", "-I", "-P", "-L", "-d", "-E", "-s", "-a", "--max-args",
                               "--max-procs", "--replace", "--delimiter", "--arg-file",
                               "--max-lines", "--max-chars", "--eof"}), 0),
    "watch": (None, frozenset({"-n", "--interval", "-d", "--differences", "-q"}), 0),
    "uvx": (None, frozenset({"--with", "--from", "--python", "-p", "--with-requirements",
                             "--with-editable", "--index", "--index-url", "--extra-index-url",
                             "--default-index", "--cache-dir", "--directory", "--project"}), 0),
    "pipx": ("run", frozenset({"--spec", "--python", "--pip-args", "--index-url"}), 0),
    "poetry": ("run", frozenset({"-C", "--directory", "-P", "--project"}), 0),
    "pipenv": ("run", frozenset(), 0),
    "rye": ("run", frozenset({"--pyproject"}), 0),
    "pyenv": ("exec", frozenset(), 0),
    "asdf": ("exec", frozenset(), 0),
    "mise": ("exec", frozenset({"-C", "--cd", "-j", "--jobs"}), 0),
    "rtx": ("exec", frozenset(), 0),
    "direnv": ("exec", frozenset(), 1),
    "conda": ("run", frozenset({"-n", "--name", "-p", "--prefix", "--cwd"}), 0),
    "mamba": ("run", frozenset({"-n", "--name", "-p", "--prefix", "--cwd"}), 0),
    "micromamba": ("run", frozenset({"-n", "--name", "-p", "--prefix", "--cwd"}), 0),
    "dotenv": (None, frozenset({"-f", "--file", "-e", "-c", "-v"}), 0),
    "nyc": (None, frozenset({"--reporter", "-r", "--include", "-n", "--exclude", "-x",
                             "--temp-dir", "--report-dir", "--extension", "-e"}), 0),
    "c8": (None, frozenset({"--reporter", "-r", "--include", "-n", "--exclude", "-x",
                            "--temp-directory", "--reports-dir", "-o", "--extension"}), 0),
    "corepack": (None, frozenset(), 0),
    "npx": (None, frozenset(), 0),
    "pnpx": (None, frozenset(), 0),
    "bunx": (None, frozenset(), 0),
}
_UV_TAKES: Final = frozenset({
    "--with", "--with-requirements", "--with-editable", "--python", "-p", "--package",
    "--extra", "--group", "--only-group", "--no-group", "--env-file", "--directory",
    "--project", "--index", "--index-url", "--default-index", "--extra-index-url", "--from",
    "--config-file", "--cache-dir", "-w", "--script", "--isolated-env",
})
_SCRIPT_RUNNERS: Final = frozenset({"hatch", "pdm", "pixi"})    # `X run <script>`
_SHELLS: Final = frozenset({"bash", "sh", "zsh", "dash", "ksh", "ash", "mksh", "busybox"})


class _Nested:
    """A script run by a command: ``bash -c SCRIPT``, ``eval``, a shell fed a heredoc."""

    __slots__ = ("errexit", "fresh", "pipefail", "script")

    def __init__(self, script: str, fresh: bool, pipefail: bool = False,
                 errexit: bool = False) -> None:
        self.script = script
        self.fresh = fresh
        self.pipefail = pipefail
        self.errexit = errexit


def _shell(words: Sequence[str], i: int, bodies: list[str], nested: list[_Nested]) -> None:
    args = words[i + 1:]
    pipefail = errexit = has_c = False
    j = 0
    n = len(args)
    if _name(words[i]) == "busybox":
        if not args or args[0] not in ("sh", "ash", "bash"):
            return
        j = 1
    while j < n:
        a = args[j]
        j += 1
        if a in ("-o", "+o"):
            if j < n and args[j] == "pipefail":
                pipefail = a == "-o"
            elif j < n and args[j] == "errexit":
                errexit = a == "-o"
            j += 1
        elif a.startswith("--"):
            continue
        elif len(a) > 1 and a[0] in "-+":
            letters = a[1:]
            if "e" in letters:
                errexit = a[0] == "-"
            if "c" in letters:
                has_c = True
            if "o" in letters and j < n:
                pipefail = pipefail or (args[j] == "pipefail" and a[0] == "-")
                j += 1
        else:
            if has_c:
                nested.append(_Nested(a, True, pipefail, errexit))
            return      # a script file: its contents are not in the command line
    for body in bodies:
        nested.append(_Nested(body, True, pipefail, errexit))


_TOOLS: Final = frozenset({
    "pytest", "py.test", "pytest-3", "py.test-3", "jest", "vitest", "mocha", "_mocha", "nose2",
    "nosetests", "trial", "green", "ward", "behave", "ava", "tap", "jasmine", "rspec", "phpunit",
    "pest", "ctest", "karma", "tape", "uvu", "go", "cargo", "make", "gmake", "just", "task",
    "tox", "nox", "hatch", "mypy", "dmypy", "pyright", "basedpyright", "pytype", "pyre",
    "vue-tsc", "svelte-check", "flow", "ty", "pyrefly", "tsc", "ruff", "flake8", "pylint",
    "pycodestyle", "pydocstyle", "bandit", "eslint", "stylelint", "shellcheck", "hadolint",
    "rubocop", "staticcheck", "yamllint", "markdownlint", "markdownlint-cli2", "oxlint", "xo",
    "standard", "vulture", "codespell", "actionlint", "black", "isort", "prettier", "gofmt",
    "rustfmt", "autopep8", "yapf", "biome", "golangci-lint", "pre-commit", "gradle", "gradlew",
    "mvn", "mvnw", "dotnet", "bazel", "bazelisk", "swift", "mix", "deno", "sbt", "lein", "stack",
    "cabal", "dune", "zig", "playwright", "cypress", "vite", "next", "nuxt", "astro", "parcel",
    "ng", "vue-cli-service", "react-scripts", "docker", "podman", "cmake", "meson", "poetry",
    "uv", "pdm", "rye", "flit", "maturin", "webpack", "rollup", "esbuild", "tsup", "ninja",
    "msbuild", "scons", "npm", "yarn", "pnpm", "bun", "node", "nodejs", "coverage", "poe",
})
# words that lead to a check without being a tool name: `pdm run` / `pixi run` scripts
_EXTRA_TRIGGERS: Final = frozenset({"pdm", "pixi", "pytest-3", "jest-cli"})


def _classify(words: Sequence[str], depth: int, nested: list[_Nested],
              bodies: list[str] | None = None) -> _Found:
    """The checks the simple command ``words`` runs; scripts it runs go to ``nested``."""
    if depth > _MAX_DEPTH:
        return []
    i = 0
    n = len(words)
    while i < n:
        w = words[i]
        if _ASSIGN.match(w):
            i += 1
            continue
        name = _name(w)
        if name == "uv":
            sub = words[i + 1] if i + 1 < n else ""
            if sub == "run":
                i += 2
            elif sub == "tool" and words[i + 2:i + 3] == ["run"]:
                i += 3
            else:
                return _tool("uv", list(words[i + 1:]))
            while i < n and words[i].startswith("-") and words[i] != "--":
                i += 2 if words[i] in _UV_TAKES else 1
            if i < n and words[i] == "--":
                i += 1
            continue
        if name in _SCRIPT_RUNNERS and words[i + 1:i + 2] == ["run"]:
            i += 2
            while i < n and words[i].startswith("-"):
                i += 2 if words[i] in ("-e", "--environment", "--env", "-p", "--project",
                                       "--manifest-path") else 1
            if i < n and _name(words[i].split(":")[-1]) not in _TOOLS and \
                    not _PYTHON.fullmatch(_name(words[i])):
                category = _script_category(words[i].split(":")[-1])
                return [(category, name, None)] if category else []
            continue
        spec = _WRAPPERS.get(name)
        if spec is not None:
            need, takes, positionals = spec
            i += 1
            if need is not None:
                if i >= n or words[i] != need:
                    return _tool(name, list(words[i:])) if name in _TOOLS else []
                i += 1
            if name in ("npx", "pnpx", "bunx"):
                return _classify(_skip_npx(words, i), depth + 1, nested, bodies)
            if name == "command" and i < n and words[i] in ("-v", "-V"):
                return []
            while i < n:
                a = words[i]
                if a == "--":
                    i += 1
                    break
                if name == "env" and a in ("-S", "--split-string") and i + 1 < n:
                    nested.append(_Nested(words[i + 1], False))
                    return []
                if a.startswith("-") and len(a) > 1:
                    i += 2 if a in takes else 1
                    continue
                if (name == "env" and _ASSIGN.match(a)) or (name == "dotenv" and a == "run"):
                    i += 1
                    continue
                break
            i += positionals
            continue
        if name in _SHELLS:
            _shell(words, i, bodies or [], nested)
            return []
        if name == "eval":
            nested.append(_Nested(" ".join(words[i + 1:]), False))
            return []
        if _PYTHON.fullmatch(name):
            return _python(words, i, depth, nested)
        if name in ("node", "nodejs"):
            return _node(words, i)
        if name in ("npm", "yarn", "pnpm", "bun"):
            return _package_manager(name, words, i, depth, nested)
        if name == "coverage":
            return _coverage(list(words[i + 1:]), depth, nested)
        if name in _TOOLS:
            return _tool(name, list(words[i + 1:]))
        return []
    return []


# ---- the cheap test ------------------------------------------------------------------------

_WORDISH = re.compile(r"[A-Za-z0-9_.-]+")
_STRIP_QUOTES = str.maketrans("", "", "'\"\\")


def _may_run(text: str) -> bool:
    """A cheap test that ``text`` names some tool a check could be run with (every tool name,
    wrapped or nested, appears as a word of the raw text)."""
    for word in _WORDISH.findall(text.translate(_STRIP_QUOTES)):
        if word in _TOOLS or word.startswith(("python", "pypy")) or word == "py" or \
                word in _EXTRA_TRIGGERS or word.split(".", 1)[0] in _TOOLS:
            return True
    return False
