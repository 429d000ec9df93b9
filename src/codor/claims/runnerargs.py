"""The arguments of test runners: how reading them tells a whole-suite run from a narrowed one.
Helpers read command words (:func:`_name` turns ``./node_modules/.bin/jest`` into ``jest``,
:func:`_opts` splits arguments into options and positionals) and, for each test runner (pytest,
unittest, Django, jest, vitest, mocha, ``node --test``, ``go test``, ``cargo test``, nextest,
and the arguments forwarded through a package-manager script), a function says why its
arguments narrow the run to a subset of the suite (``"-k parser"``, ``"file tests/test_a.py"``)
or gives ``None`` when the whole suite runs.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from typing import Final

_ASSIGN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\[[^\]]*\])?\+?=")
_PYTHON = re.compile(r"(?:python|pypy)(?:\d+(?:\.\d+)*)?(?:-dbg)?|py")
_VERSION_AT = re.compile(r"(?<=.)@[^/@]*$")


def _name(word: str) -> str:
    """A command word as a tool name: ``./node_modules/.bin/jest`` → ``jest``,
    ``vitest@1.2`` → ``vitest``, ``PYTEST.EXE`` stays case-sensitive but loses ``.exe``."""
    base = word.rsplit("/", 1)[-1]
    if base.endswith(".exe"):
        base = base[:-4]
    if "@" in base:
        base = _VERSION_AT.sub("", base)
    return base


def _q(value: str) -> str:
    return shlex.quote(value) if value else "''"


def _opts(args: Sequence[str], takes: frozenset[str], optional: frozenset[str] = frozenset(),
          attached: bool = True) -> list[tuple[str | None, str]]:
    """Splits command arguments into ``(option, value)`` pairs and ``(None, positional)``.

    ``takes`` are the options that take a value (``-k EXPR``, ``-k=EXPR``, ``-kEXPR`` when
    ``attached``); ``optional`` those whose value is optional (taken when it does not look
    like an option). Everything after ``--`` is positional."""
    out: list[tuple[str | None, str]] = []
    i = 0
    n = len(args)
    while i < n:
        a = args[i]
        i += 1
        if a == "--":
            out.extend((None, rest) for rest in args[i:])
            break
        if len(a) > 1 and a[0] == "-" and a != "-":
            if "=" in a and a.startswith("--"):
                k, _, v = a.partition("=")
                out.append((k, v))
            elif a in takes:
                out.append((a, args[i] if i < n else ""))
                i += 1
            elif a in optional:
                if i < n and not args[i].startswith("-"):
                    out.append((a, args[i]))
                    i += 1
                else:
                    out.append((a, ""))
            elif attached and a[:2] in takes and not a.startswith("--"):
                out.append((a[:2], a[2:].lstrip("=")))
            elif "=" in a and a.split("=", 1)[0] in takes:
                k, _, v = a.partition("=")
                out.append((k, v))
            else:
                out.append((a, ""))
        else:
            out.append((None, a))
    return out


def _reasons(reasons: list[str]) -> str | None:
    return ", ".join(reasons) if reasons else None


_SRC_EXT = re.compile(r"\.(?:py|pyi|[cm]?[jt]sx?|go|rs|vue|svelte)$")
_JS_EXT = re.compile(r"\.(?:[cm]?[jt]sx?|vue|svelte)$")


def _is_dir(arg: str) -> bool:
    return arg in (".", "./", "..") or arg.endswith("/") or arg.endswith("/.")


# ---- pytest / unittest / django ----------------------------------------------------------

_PYTEST_TAKES: Final = frozenset({
    "-k", "-m", "-p", "-c", "-o", "-W", "-n", "-r", "--tb", "--deselect", "--ignore",
    "--ignore-glob", "--rootdir", "--confcutdir", "--basetemp", "--junitxml", "--junit-xml",
    "--maxfail", "--durations", "--durations-min", "--timeout", "--log-level",
    "--log-cli-level", "--log-file", "--log-format", "--log-file-level", "--capture", "--color",
    "--import-mode", "--override-ini", "--cov-report", "--cov-config", "--cov-fail-under",
    "--html", "--reruns", "--reruns-delay", "--dist", "--numprocesses", "--maxprocesses",
    "--tx", "--randomly-seed", "--ds", "--doctest-glob", "--lfnf", "--last-failed-no-failures",
    "--junit-prefix", "--config-file", "--inifile", "--code-highlight", "--tb-style",
    "--benchmark-sort", "--benchmark-json",
})
_PYTEST_SUBSET_FLAGS: Final = {
    "--lf": "--lf", "--last-failed": "--lf", "--sw": "--sw", "--stepwise": "--sw",
    "--co": "no tests run (--collect-only)", "--collect-only": "no tests run (--collect-only)",
    "--setup-only": "no tests run (--setup-only)", "--setup-plan": "no tests run (--setup-plan)",
    "--fixtures": "no tests run (--fixtures)", "--markers": "no tests run (--markers)",
}


def _pytest(args: Sequence[str]) -> str | None:
    reasons: list[str] = []
    for opt, val in _opts(args, _PYTEST_TAKES, frozenset({"--cov"})):
        if opt is None:
            if "::" in val:
                reasons.append(f"test {val}")
            elif val.endswith(".py"):
                reasons.append(f"file {val}")
            elif "$(" in val or "`" in val:
                reasons.append(f"files from {val}")
        elif opt in ("-k", "-m"):
            reasons.append(f"{opt} {_q(val)}")
        elif opt in ("--deselect", "--ignore", "--ignore-glob"):
            reasons.append(f"{opt} {val}")
        elif (flag := _PYTEST_SUBSET_FLAGS.get(opt)) is not None:
            reasons.append(flag)
    return _reasons(reasons)


def _unittest(args: Sequence[str]) -> str | None:
    reasons: list[str] = []
    pairs = _opts(args, frozenset({"-k", "-p", "-s", "-t", "--durations"}))
    discover = bool(pairs) and pairs[0] == (None, "discover")
    for opt, val in pairs[1 if discover else 0:]:
        if opt == "-k":
            reasons.append(f"-k {_q(val)}")
        elif opt is None and not discover:
            reasons.append(f"test {val}")
    return _reasons(reasons)


def _django(args: Sequence[str]) -> str | None:
    reasons: list[str] = []
    takes = frozenset({"--settings", "--pythonpath", "-k", "--tag", "--exclude-tag",
                       "--testrunner", "-v", "--verbosity", "-p", "--pattern", "-t",
                       "--top-level-directory"})
    for opt, val in _opts(args, takes, frozenset({"--parallel"})):
        if opt is None:
            reasons.append(f"test {val}")
        elif opt in ("-k", "--tag", "--exclude-tag"):
            reasons.append(f"{opt} {_q(val)}")
    return _reasons(reasons)


# ---- jest / vitest / mocha / node --test --------------------------------------------------

_JEST_TAKES: Final = frozenset({
    "-c", "--config", "-t", "--testNamePattern", "-w", "--maxWorkers", "--testTimeout",
    "--reporters", "--coverageReporters", "--rootDir", "--roots", "--outputFile", "--shard",
    "--seed", "--testEnvironment", "--env", "--coverageDirectory", "--testRunner",
    "--testPathPattern", "--testPathPatterns", "--testPathIgnorePatterns", "--selectProjects",
    "--projects", "--changedSince", "--testMatch", "--setupFiles", "--collectCoverageFrom",
    "--coverageThreshold", "--globalSetup", "--globalTeardown", "--maxConcurrency",
    "--testSequencer", "--workerIdleMemoryLimit", "--cacheDirectory", "--filter",
    "--testRegex", "--moduleDirectories", "--modulePaths", "--preset", "--resolver",
    "--setupFilesAfterEnv", "--snapshotSerializers", "--testLocationInResults",
})
_JEST_SUBSET: Final = {
    "-t": "-t", "--testNamePattern": "-t", "--testPathPattern": "--testPathPattern",
    "--testPathPatterns": "--testPathPattern", "--shard": "--shard",
    "--selectProjects": "--selectProjects", "--changedSince": "--changedSince",
    "--filter": "--filter",
}
_JEST_SUBSET_FLAGS: Final = {
    "-o": "--onlyChanged", "--onlyChanged": "--onlyChanged", "--lastCommit": "--lastCommit",
    "-f": "--onlyFailures", "--onlyFailures": "--onlyFailures",
    "--findRelatedTests": "--findRelatedTests", "--listTests": "no tests run (--listTests)",
    "--showConfig": "no tests run (--showConfig)", "--init": "no tests run (--init)",
}


def _pattern_arg(val: str) -> str | None:
    """A jest/vitest positional filter: a file, a path pattern, or (a directory) nothing."""
    if _is_dir(val):
        return None
    if _JS_EXT.search(val) or "." in val.rsplit("/", 1)[-1]:
        return f"file {val}"
    if "/" in val:
        return None     # a directory path: every test under it
    return f"pattern {val}"


def _jest(args: Sequence[str]) -> str | None:
    reasons: list[str] = []
    for opt, val in _opts(args, _JEST_TAKES):
        if opt is None:
            if (why := _pattern_arg(val)) is not None:
                reasons.append(why)
        elif (label := _JEST_SUBSET.get(opt)) is not None:
            reasons.append(f"{label} {_q(val)}")
        elif (flag := _JEST_SUBSET_FLAGS.get(opt)) is not None:
            reasons.append(flag)
    return _reasons(reasons)


_VITEST_TAKES: Final = frozenset({
    "-t", "--testNamePattern", "-c", "--config", "-r", "--root", "--dir", "--reporter",
    "--outputFile", "--project", "--shard", "--pool", "--environment", "--testTimeout",
    "--hookTimeout", "--mode", "--retry", "--maxWorkers", "--minWorkers", "--changed",
    "--exclude", "--bail", "--browser", "--inspect", "--api", "--silent", "--maxConcurrency",
    "--testNamePatterns", "--sequence.seed",
})


def _vitest(args: Sequence[str]) -> str | None:
    reasons: list[str] = []
    pairs = _opts(args, _VITEST_TAKES, frozenset({"--changed"}))
    if pairs and pairs[0][0] is None and pairs[0][1] in ("run", "watch", "dev", "related",
                                                          "list", "bench", "typecheck"):
        sub = pairs.pop(0)[1]
        if sub == "related":
            reasons.append("related")
        elif sub == "list":
            reasons.append("no tests run (list)")
    for opt, val in pairs:
        if opt is None:
            if (why := _pattern_arg(val)) is not None:
                reasons.append(why)
        elif opt in ("-t", "--testNamePattern", "--testNamePatterns", "--project", "--shard"):
            reasons.append(f"{'-t' if opt.startswith('--testName') else opt} {_q(val)}")
        elif opt == "--changed":
            reasons.append("--changed")
    return _reasons(reasons)


_MOCHA_TAKES: Final = frozenset({
    "-R", "--reporter", "-O", "--reporter-option", "--reporter-options", "-t", "--timeout",
    "--timeouts", "-s", "--slow", "-r", "--require", "-u", "--ui", "--config", "--package",
    "--extension", "--file", "--ignore", "--exclude", "-j", "--jobs", "--retries", "--spec",
    "-g", "--grep", "-f", "--fgrep", "-n", "--node-option", "--import", "--loader",
})


def _mocha(args: Sequence[str]) -> str | None:
    reasons: list[str] = []
    for opt, val in _opts(args, _MOCHA_TAKES):
        if opt in ("-g", "--grep", "-f", "--fgrep"):
            reasons.append(f"{'--grep' if opt in ('-g', '--grep') else '--fgrep'} {_q(val)}")
        elif opt is None or opt == "--spec":
            if _JS_EXT.search(val) and not any(c in val for c in "*?[{"):
                reasons.append(f"file {val}")
        elif opt == "--list-files":
            reasons.append("no tests run (--list-files)")
    return _reasons(reasons)


def _node_test(args: Sequence[str]) -> str | None:
    reasons: list[str] = []
    takes = frozenset({"--test-name-pattern", "--test-skip-pattern", "--test-reporter",
                       "--test-reporter-destination", "--test-concurrency", "--test-shard",
                       "--test-timeout", "-r", "--require", "--import"})
    for opt, val in _opts(args, takes):
        if opt in ("--test-name-pattern", "--test-skip-pattern", "--test-shard"):
            reasons.append(f"{opt} {_q(val)}")
        elif opt == "--test-only":
            reasons.append("--test-only")
        elif opt is None and _JS_EXT.search(val) and not any(c in val for c in "*?[{"):
            reasons.append(f"file {val}")
    return _reasons(reasons)


def _forwarded(args: Sequence[str]) -> str | None:
    """A subset from arguments passed through a package-manager script (``npm test -- -t x``)
    to a runner we cannot see: the name filters and file arguments common to the runners."""
    reasons: list[str] = []
    takes = frozenset({"-t", "--testNamePattern", "-g", "--grep", "-k", "-m", "--testPathPattern",
                       "--testPathPatterns", "-run", "--run", "--project", "--shard", "--filter",
                       "--reporter", "--reporters", "-c", "--config", "--maxWorkers", "-w",
                       "--timeout", "--testTimeout", "--coverageReporters", "--outputFile"})
    labels = {"-t": "-t", "--testNamePattern": "-t", "-g": "--grep", "--grep": "--grep",
              "-k": "-k", "-m": "-m", "--testPathPattern": "--testPathPattern",
              "--testPathPatterns": "--testPathPattern", "-run": "-run", "--run": "-run",
              "--shard": "--shard", "--filter": "--filter"}
    for opt, val in _opts(args, takes, attached=False):
        if opt is None:
            if "::" in val:
                reasons.append(f"test {val}")
            elif val.endswith(".py") or _JS_EXT.search(val):
                reasons.append(f"file {val}")
            elif not _is_dir(val) and "/" not in val and not val.startswith("-") and \
                    "=" not in val:
                reasons.append(f"pattern {val}")
        elif (label := labels.get(opt)) is not None:
            reasons.append(f"{label} {_q(val)}")
        elif opt in ("--lf", "--last-failed", "-o", "--onlyChanged", "--changed",
                     "--onlyFailures", "--findRelatedTests"):
            reasons.append(opt)
    return _reasons(reasons)


# ---- go / cargo --------------------------------------------------------------------------

_GO_TAKES: Final = frozenset({
    "run", "skip", "bench", "benchtime", "count", "timeout", "tags", "coverprofile", "covermode",
    "coverpkg", "cpu", "parallel", "p", "o", "exec", "ldflags", "gcflags", "asmflags", "mod",
    "modfile", "shuffle", "fuzz", "fuzztime", "fuzzminimizetime", "blockprofile",
    "blockprofilerate", "cpuprofile", "memprofile", "memprofilerate", "mutexprofile",
    "mutexprofilefraction", "outputdir", "trace", "vet", "C", "overlay", "pkgdir", "toolexec",
    "buildvcs", "pgo", "list", "compiler", "installsuffix", "buildmode", "json", "failfast",
})
_GO_BOOL: Final = frozenset({"json", "failfast", "v", "short", "race", "msan", "asan", "cover",
                             "a", "n", "x", "work", "trimpath", "linkshared", "benchmem"})


def _go_test(args: Sequence[str]) -> str | None:
    reasons: list[str] = []
    i = 0
    n = len(args)
    while i < n:
        a = args[i]
        i += 1
        if a in ("-args", "--args"):
            break
        if a.startswith("-") and len(a) > 1:
            key, eq, val = a.lstrip("-").partition("=")
            if not eq and key in _GO_TAKES and key not in _GO_BOOL:
                val = args[i] if i < n else ""
                i += 1
            if key in ("run", "skip") and val:
                reasons.append(f"-{key} {_q(val)}")
            elif key == "list":
                reasons.append("no tests run (-list)")
            elif key == "fuzz" and val:
                reasons.append(f"-fuzz {_q(val)}")
        elif a not in ("./...", "...", "all", "."):
            reasons.append(f"package {a}")
    return _reasons(reasons)


_CARGO_TAKES: Final = frozenset({
    "-p", "--package", "--test", "--bench", "--bin", "--example", "--features", "-F",
    "--target", "--target-dir", "--manifest-path", "-j", "--jobs", "--profile", "--color",
    "--message-format", "-Z", "--config", "--exclude", "--lockfile-path",
})
_CARGO_BIN_TAKES: Final = frozenset({"--test-threads", "--skip", "--logfile", "--format", "-Z",
                                     "--color", "--shuffle-seed", "--report-time"})


def _cargo_test(args: Sequence[str]) -> str | None:
    reasons: list[str] = []
    if "--" in args:
        cut = list(args).index("--")
        own, binargs = args[:cut], args[cut + 1:]
    else:
        own, binargs = args, []
    for opt, val in _opts(own, _CARGO_TAKES, attached=False):
        if opt is None:
            if not val.startswith("+"):
                reasons.append(f"test name {val}")
        elif opt in ("-p", "--package"):
            reasons.append(f"package {val}")
        elif opt in ("--test", "--bench", "--bin", "--example", "--exclude"):
            reasons.append(f"{opt} {val}")
        elif opt in ("--lib", "--doc", "--bins", "--examples", "--benches"):
            reasons.append(opt)
        elif opt == "--no-run":
            reasons.append("no tests run (--no-run)")
    for opt, val in _opts(binargs, _CARGO_BIN_TAKES, attached=False):
        if opt is None:
            reasons.append(f"test name {val}")
        elif opt == "--skip":
            reasons.append(f"--skip {val}")
        elif opt in ("--ignored", "--exact"):
            reasons.append(opt)
        elif opt == "--list":
            reasons.append("no tests run (--list)")
    return _reasons(reasons)


def _nextest(args: Sequence[str]) -> str | None:
    reasons: list[str] = []
    for opt, val in _opts(args, _CARGO_TAKES | {"-E", "--filter-expr", "--filterset",
                                                "--partition", "--profile", "-P"}):
        if opt is None:
            reasons.append(f"test name {val}")
        elif opt in ("-E", "--filter-expr", "--filterset", "--partition", "-p", "--package"):
            reasons.append(f"{opt} {_q(val)}")
    return _reasons(reasons)
