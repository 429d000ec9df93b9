"""Find checks disabled instead of fixed: suppression comments added to code
(``checks.suppression_added``) and lint, type, test or coverage configuration loosened
(``checks.config_loosened``).

Suppressions are compared per file and per kind: only occurrences beyond those the file had
at the session's start are reported (an edited line that keeps its ``# noqa`` is not new).
Python comments are found with :mod:`tokenize` (a ``"# noqa"`` inside a string is not one),
other languages by regular expression on comment syntax.

Configuration is read with :mod:`tomllib`, :mod:`configparser`, :mod:`json` or YAML where both
versions parse (``key: value`` pairs otherwise) into settings named by tool (``mypy.strict``,
``ruff.ignore``, ``pytest.addopts``...), merged over the changed configuration files of one
directory, so moving a setting from ``mypy.ini`` to ``pyproject.toml`` is not a loosening.
Loosening is: a strictness flag (``strict``, ``disallow_*``, ``warn_*``, ``strictNullChecks``,
``noImplicitAny``, ``xfail_strict``, ``forbid-only``...) going from true to false or away;
``ignore_errors``/``allow_untyped_*``/``passWithNoTests`` turned on; a coverage threshold
(``fail_under``, ``--cov-fail-under``, ``coverageThreshold``/``thresholds``) lowered or
removed; ``ignore``/``extend-ignore``/``per-file-ignores``/``disable``/``testPathIgnorePatterns``
gaining entries; ``select``/``extend-select``/``enable`` losing some (not for ``ALL``); an
eslint rule, a Cargo lint or a pyright check lowered (``"error"`` → ``"off"``); pytest
``addopts`` gaining ``-p no:...``, ``--ignore``, ``--deselect``, ``-k`` or losing
``--strict-markers``/``-W error``; ``filterwarnings`` losing ``error``; an npm script gaining
``|| true`` or ``--passWithNoTests``. A tool configured for the first time in a directory is
a setup: its rule levels and ignore lists are not reported.
"""

from __future__ import annotations

import configparser
import io
import json
import posixpath
import re
import tokenize
import tomllib
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Any, Final

import yaml

from codor.claims.change import Change
from codor.claims.finding import Finding
from codor.claims.pathkinds import is_config_path
from codor.claims.patterns import pattern

__all__ = ["detect"]

MAX_BYTES: Final = 1_000_000
_PY_EXTS: Final = frozenset({"py", "pyi", "pyx"})
_JS_EXTS: Final = frozenset({"js", "jsx", "mjs", "cjs", "ts", "tsx", "mts", "cts", "vue",
                             "svelte"})
_PY_MARKERS: Final = (
    ("# type: ignore", re.compile(r"type:\s*ignore\b")),
    ("# noqa", re.compile(r"\bnoqa\b", re.I)),
    ("# pylint: disable", re.compile(r"pylint:\s*disable")),
    ("# pragma: no cover", re.compile(r"pragma:\s*no\s*(cover|branch)")),
    ("# pyright: ignore", re.compile(r"pyright:\s*(ignore|basic)\b")),
    ("# mypy: ignore-errors", re.compile(r"mypy:\s*(ignore-errors|disable-error-code)")),
)
_JS_MARKERS: Final = (
    ("@ts-ignore", re.compile(r"(?://|/\*|^\s*\*)\s*@ts-ignore\b")),
    ("@ts-expect-error", re.compile(r"(?://|/\*|^\s*\*)\s*@ts-expect-error\b")),
    ("@ts-nocheck", re.compile(r"(?://|/\*|^\s*\*)\s*@ts-nocheck\b")),
    ("eslint-disable", re.compile(r"(?://|/\*)\s*eslint-disable(?:-next-line|-line)?\b")),
    ("eslint rule turned off", re.compile(r"/\*\s*eslint\s+[^*]*?:\s*[\"']?(?:off|0)\b")),
    ("coverage ignore", re.compile(r"/\*\s*(?:istanbul|c8|v8)\s+ignore\b")),
)
_LANG_MARKERS: Final = {
    "rs": (("#[allow(...)]", re.compile(r"#!?\[\s*allow\s*\(")),),
    "go": (("//nolint", re.compile(r"//\s*nolint\b")),),
}

_ANY_MARKER: Final = re.compile(r"type:\s*ignore|noqa|pylint:|pragma:|pyright:|mypy:|@ts-|"
                                r"eslint|istanbul|c8|v8|allow|nolint", re.I)
Occurrence = tuple[str, int, str]  # kind, line, the line's text (stripped)


def _ext(path: str) -> str:
    name = posixpath.basename(path)
    return name.rsplit(".", 1)[1].lower() if "." in name else ""


def _python_comments(text: str) -> Iterator[tuple[int, str]]:
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if tok.type == tokenize.COMMENT:
                yield tok.start[0], tok.string
    except (tokenize.TokenError, SyntaxError, ValueError):
        for number, line in enumerate(text.splitlines(), 1):  # unfinished code: best effort
            if "#" in line:
                yield number, line[line.index("#"):]


def _occurrences(path: str, text: str) -> list[Occurrence]:
    ext, lines, out = _ext(path), text.splitlines(), []
    if ext in _PY_EXTS:
        for number, comment in _python_comments(text):
            line = lines[number - 1].strip() if number <= len(lines) else comment
            out += [(kind, number, line) for kind, rx in _PY_MARKERS if rx.search(comment)]
        return out
    markers = _JS_MARKERS if ext in _JS_EXTS else _LANG_MARKERS.get(ext, ())
    for number, line in enumerate(lines, 1):
        for kind, rx in markers:
            out += [(kind, number, line.strip())] * len(rx.findall(line))
    return out


def _candidates(text: str) -> Counter[str]:
    return Counter(line.strip() for line in text.splitlines() if _ANY_MARKER.search(line))


def _added_suppressions(change: Change) -> Iterator[Finding]:
    if not _candidates(change.after or "") - _candidates(change.before or ""):
        return  # no line with a marker that the file did not have: nothing can be new
    after = _occurrences(change.path, change.after or "")
    before = _occurrences(change.path, change.before or "")
    for kind in dict.fromkeys(k for k, _, _ in after):
        mine = [o for o in after if o[0] == kind]
        old = [o for o in before if o[0] == kind]
        excess = len(mine) - len(old)
        if excess <= 0:
            continue
        seen = Counter(line for _, _, line in old)
        fresh = []
        for occ in mine:
            if seen[occ[2]] > 0:
                seen[occ[2]] -= 1
            else:
                fresh.append(occ)
        for _, number, line in fresh[:excess]:
            yield _finding("checks.suppression_added",
                           f"{change.path}:{number}: {kind} added: {line[:100]}",
                           change.path, number)


# -- configuration ---------------------------------------------------------------------------

Setting = tuple[Any, str, str]  # value, path, the key's name as written
_PAIR: Final = re.compile(
    r"""["']?([A-Za-z_@][\w@./-]*)["']?\s*[:=]\s*\[?\s*("[^"\n]*"|'[^'\n]*'"""
    r"""|-?\d+(?:\.\d+)?\b|[Tt]rue\b|[Ff]alse\b)""")
_LEVELS: Final = {"off": 0, "allow": 0, "none": 0, "false": 0, "0": 0, "warn": 1,
                  "warning": 1, "information": 1, "1": 1, "error": 2, "2": 2, "deny": 2,
                  "true": 2, "forbid": 3, "basic": 1, "standard": 2, "strict": 3}
_STRICT_BOOL: Final = re.compile(
    r"strict|strict-.*|.*-strict|disallow-.*|warn-.*|check-untyped-defs|no-implicit-.*|"
    r"extra-checks|noimplicit\w*|strict\w*|alwaysstrict|nounchecked\w*|exactoptional\w*|"
    r"useunknownincatchvariables|nofallthroughcasesinswitch|nounused\w*|checkjs|forbid-?only")
_LOOSE_BOOL: Final = frozenset({"ignore-errors", "passwithnotests", "allow-untyped-defs",
                                "allow-untyped-calls", "allow-incomplete-defs"})
_THRESHOLDS: Final = frozenset({"fail-under", "branches", "functions", "lines", "statements"})
_GROW: Final = frozenset({"ignore", "extend-ignore", "disable", "testpathignorepatterns",
                          "per-file-ignores", "extend-per-file-ignores"})
_SHRINK: Final = frozenset({"select", "extend-select", "enable"})
_ADDOPT_LOOSE: Final = re.compile(r"-p=no:(?!cacheprovider)|--ignore|--deselect|-k="
                                  r"|--continue-on-collection-errors")
_ADDOPT_STRICT: Final = re.compile(r"--strict(-markers|-config)?|-W=?error|-Werror")
_MASKED_SCRIPT: Final = re.compile(r"--passWithNoTests|\|\|\s*(?:true|exit 0|:)")


def _jsonc(text: str) -> Any:
    text = re.sub(r'("(?:\\.|[^"\\\n])*")|//[^\n]*|/\*.*?\*/', lambda m: m.group(1) or "",
                  text, flags=re.S)
    return json.loads(re.sub(r",(\s*[}\]])", r"\1", text))


def _flatten(value: Any, prefix: str, out: dict[str, Any], depth: int = 0) -> None:
    if len(out) > 5000 or depth > 30:
        return
    if isinstance(value, dict):
        for key, sub in value.items():
            name = str(key)
            if name == "overrides" and prefix == "mypy." and isinstance(sub, list):
                for item in sub:
                    if isinstance(item, dict):
                        mods = item.get("module", "*")
                        for mod in mods if isinstance(mods, list) else [mods]:
                            _flatten(item, f"mypy.overrides.{mod}.", out, depth + 1)
                continue
            _flatten(sub, f"{prefix}{name}.", out, depth + 1)
    elif isinstance(value, list) and any(isinstance(v, dict) for v in value):
        for i, sub in enumerate(value):
            _flatten(sub, f"{prefix}{i}.", out, depth + 1)
    elif isinstance(value, list):
        out[prefix.rstrip(".")] = [v for v in value if not isinstance(v, (list, dict))]
    elif value is not None:
        out[prefix.rstrip(".")] = value


def _ini(text: str, name: str) -> dict[str, Any]:
    parser = configparser.RawConfigParser(strict=False, interpolation=None)
    parser.read_string(text)
    data: dict[str, Any] = {}
    for section in parser.sections():
        low = section.lower()
        if low.startswith("mypy-"):
            tool = f"mypy.overrides.{section[5:]}"
        elif low in ("tool:pytest", "pytest"):
            tool = "pytest"
        elif low.startswith("coverage:") or name == ".coveragerc":
            tool = "coverage." + low.removeprefix("coverage:")
        else:
            tool = "pylint" if "pylint" in name else low
        for key, value in parser.items(section):
            data[f"{tool}.{key}"] = value
    return data


def _parsed(name: str, text: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if name in ("pyproject.toml", "ruff.toml", ".ruff.toml", "cargo.toml", "clippy.toml",
                ".clippy.toml", ".golangci.toml"):
        data = tomllib.loads(text)
        if name == "pyproject.toml":
            _flatten(data.get("tool", {}), "", out)
        elif name == "cargo.toml":
            lints = data.get("lints") or data.get("workspace", {}).get("lints", {})
            _flatten(lints, "cargo.lints.", out)
        else:
            _flatten(data, name.split(".")[-2].lstrip(".") + ".", out)
    elif name.endswith((".ini", ".cfg", ".flake8", ".coveragerc", "pylintrc")):
        return _ini(text, name)
    elif name.endswith((".yml", ".yaml")) or name in (".eslintrc", ".mocharc"):
        try:
            data = _jsonc(text)
        except ValueError:
            data = yaml.safe_load(text)
        _flatten(data, _family(name) + ".", out)
    elif name.endswith(".json"):
        data = _jsonc(text)
        if name == "package.json" and isinstance(data, dict):
            for key, tool in (("jest", "jest"), ("eslintConfig", "eslint"),
                              ("scripts", "npm.scripts"), ("mocha", "mocha")):
                _flatten(data.get(key), f"{tool}.", out)
        else:
            _flatten(data, _family(name) + ".", out)
    else:
        raise ValueError("not a declarative configuration format")
    return {re.sub(r"^(pytest)\.ini_options\.|^(ruff)\.lint\.", r"\1\2.", k): v
            for k, v in out.items()}


def _family(name: str) -> str:
    for family in ("eslint", "jest", "vitest", "mocha", "golangci", "pyright"):
        if family in name:
            return family
    return name


def _pairs(name: str, text: str) -> dict[str, Any]:
    family = _family(name)
    prefix = {"eslint": "eslint.rules.", "jest": "jest.coverage.",
              "vitest": "jest.coverage."}.get(family, family + ".")
    out: dict[str, Any] = {}
    for m in _PAIR.finditer(text):
        key, raw = prefix + m.group(1), m.group(2).strip("'\"")
        name, n = key, 1
        while name in out:
            n += 1
            name = f"{key}#{n}"
        out[name] = raw
    return out


def _settings(path: str, text: str | None, other: str | None) -> dict[str, Setting]:
    if text is None or len(text) > MAX_BYTES:
        return {}
    name = posixpath.basename(path).lower()
    try:
        data = _parsed(name, text)
        if other is not None and len(other) <= MAX_BYTES:
            _parsed(name, other)
    except (ValueError, RecursionError, TypeError, AttributeError, configparser.Error,
            yaml.YAMLError):
        data = _pairs(name, text)
    return {k: (v, path, k.rsplit(".", 1)[-1].split("#")[0]) for k, v in data.items()}


def _as_bool(v: Any) -> bool | None:
    low = str(v).strip().lower()
    return True if low in ("true", "yes", "on", "1") else False if low in (
        "false", "no", "off", "0") else None


def _as_num(v: Any) -> float | None:
    try:
        return None if isinstance(v, bool) else float(str(v).strip().rstrip("%"))
    except ValueError:
        return None


def _as_set(v: Any) -> set[str]:
    if isinstance(v, list):
        return {str(x).strip() for x in v}
    return {t for t in re.split(r"[,\s]+", str(v)) if t} if v is not None else set()


def _level(v: Any) -> int | None:
    if isinstance(v, list) and v:
        v = v[0]
    if isinstance(v, dict):
        v = v.get("level")
    return _LEVELS.get(str(v).strip().lower()) if v is not None else None


def _addopts(v: Any) -> set[str]:
    tokens = list(v) if isinstance(v, list) else str(v or "").split()
    out, i = set(), 0
    while i < len(tokens):
        tok = str(tokens[i])
        if tok in ("-p", "--ignore", "--ignore-glob", "--deselect", "-k", "-W",
                   "--cov-fail-under") and i + 1 < len(tokens):
            tok, i = f"{tok}={tokens[i + 1]}", i + 1
        out.add(tok)
        i += 1
    return out


def _loosening(key: str, old: Setting | None, new: Setting | None, fresh: bool) -> str | None:
    """How the change of one setting loosens a check, or None. ``fresh``: the tool had no
    configuration here before, so its rule levels and ignore lists are a first setup."""
    ov, nv = (old[0] if old else None), (new[0] if new else None)
    leaf = key.rsplit(".", 1)[-1].split("#", maxsplit=1)[0].lower().replace("_", "-")
    gone = _show(nv)
    if _STRICT_BOOL.fullmatch(leaf) and _as_bool(ov) and not _as_bool(nv):
        return f"{key} true → {gone}"
    if leaf in _LOOSE_BOOL and _as_bool(nv) and not _as_bool(ov):
        return f"{key} set to true"
    if not fresh and (".rules." in key or key.startswith("cargo.lints.") or (
            key.startswith("pyright.") and (leaf.startswith("report")
                                            or leaf == "typecheckingmode"))):
        lo, ln = _level(ov) if old else 1, _level(nv) if new else 1
        if lo is not None and ln is not None and ln < lo:
            return f"{key} {_show(ov) if old else 'default'} → {gone}"
    if leaf in _THRESHOLDS and (leaf == "fail-under" or "coverage" in key.lower()
                                or "threshold" in key.lower()):
        no, nn = _as_num(ov), _as_num(nv)
        if no is not None and (nn is None or nn < no):
            return f"{key} {_show(ov)} → {gone}"
    if not fresh and (leaf in _GROW or "per-file-ignores" in key.replace("_", "-")):
        grown = sorted(_as_set(nv) - _as_set(ov))
        if grown:
            return f"{key} gained {', '.join(grown[:8])}"
    if leaf in _SHRINK and "ALL" not in _as_set(nv):
        lost = sorted(_as_set(ov) - _as_set(nv))
        if lost and new is not None:
            return f"{key} lost {', '.join(lost[:8])}"
    if leaf == "addopts":
        before, after = _addopts(ov), _addopts(nv)
        loose = sorted(t for t in after - before if _ADDOPT_LOOSE.match(t))
        loose += sorted(t for t in before - after if _ADDOPT_STRICT.fullmatch(t))
        old_cov, new_cov = _cov_under(before), _cov_under(after)
        if old_cov is not None and (new_cov is None or new_cov < old_cov):
            loose.append(f"--cov-fail-under {old_cov:g} → {_show(new_cov)}")
        if loose:
            return f"{key} loosened: {', '.join(loose)}"
    if leaf == "filterwarnings":
        lost = [e for e in _as_lines(ov) if e.startswith("error") and e not in _as_lines(nv)]
        if lost:
            return f"{key} lost {lost[0]!r}"
    if key.startswith("npm.scripts."):
        added = set(_MASKED_SCRIPT.findall(str(nv or ""))) - set(
            _MASKED_SCRIPT.findall(str(ov or "")))
        if added:
            return f"{key} masks failures: {', '.join(sorted(added))}"
    return None


def _cov_under(opts: set[str]) -> float | None:
    for opt in opts:
        if opt.startswith("--cov-fail-under="):
            return _as_num(opt.split("=", 1)[1])
    return None


def _show(v: Any) -> str:
    if v is None:
        return "removed"
    if isinstance(v, float):
        return f"{v:g}"
    return json.dumps(v) if isinstance(v, (bool, list)) else str(v)


def _as_lines(v: Any) -> list[str]:
    items = v if isinstance(v, list) else str(v or "").splitlines()
    return [str(x).strip() for x in items if str(x).strip()]


def _line_of(text: str | None, needle: str) -> int | None:
    variants = {needle, needle.replace("-", "_")}
    for number, line in enumerate((text or "").splitlines(), 1):
        if any(v in line for v in variants):
            return number
    return None


def _loosened_config(changes: Sequence[Change]) -> Iterator[Finding]:
    dirs: dict[str, tuple[dict[str, Setting], dict[str, Setting]]] = {}
    texts = {c.path: c.after for c in changes}
    for change in changes:
        if not is_config_path(change.path):
            continue
        old, new = dirs.setdefault(posixpath.dirname(change.path), ({}, {}))
        old.update(_settings(change.path, change.before, change.after))
        new.update(_settings(change.path, change.after, change.before))
    for old, new in dirs.values():
        tools = {k.split(".", 1)[0] for k in old}
        for key in dict.fromkeys([*old, *new]):
            fresh = key.split(".", 1)[0] not in tools
            why = _loosening(key, old.get(key), new.get(key), fresh)
            if why is None:
                continue
            where = new.get(key) or old[key]
            line = _line_of(texts.get(where[1]), where[2]) if key in new else None
            yield _finding("checks.config_loosened", f"{where[1]}: {why}", where[1], line)


def _finding(pattern_id: str, message: str, path: str, line: int | None) -> Finding:
    return Finding(pattern_id, pattern(pattern_id).severity, message, path=path, line=line)


def detect(changes: Sequence[Change]) -> list[Finding]:
    """Suppressions added and configuration loosened in ``changes`` (files over 1 MB skipped)."""
    findings: list[Finding] = []
    for change in changes:
        if change.after is not None and len(change.after) <= MAX_BYTES and len(
                change.before or "") <= MAX_BYTES:
            findings += _added_suppressions(change)
    findings += _loosened_config(changes)
    return findings
