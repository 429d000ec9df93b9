"""Explicit policy rules: ``on`` kinds, ``match`` fields (ANDed, list values ORed), ``except``.

Rule syntax::

    rules:
      - id: review-deps            # unique; a child policy's rule with the same id replaces it
        on: [file.write, patch.apply]   # kinds, wildcards allowed: file.*, *
        match:
          path: ["**/package.json", "**/requirements*.txt"]
        except:                    # a list of match mappings; any one matching makes the rule pass
          - agent: ["release-bot"]
        effect: ask                # allow | deny | ask | pass
        reason: Dependency changes need a person.
        severity: medium

String values are globs (``*`` matches any characters, ``?`` one) unless they start with
``re:`` (a regular expression, searched). ``path`` values are path globs (see patterns.py);
``host`` values are host patterns (``*.example.com``); ``port`` values are integers;
``arguments`` maps a JSON pointer to string patterns.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from codor.canonical import canonical_json
from codor.errors import PolicyPatternError
from codor.model import ACTION_KINDS, Action, Effect, Severity
from codor.policy.diff import touched_paths
from codor.policy.guards.base import CompileContext, EvalContext, Finding
from codor.policy.patterns import GlobSet, compile_regex
from codor.policy.schema import Section

__all__ = ["CompiledRule", "compile_rule", "expand_kinds", "json_pointer"]

RULE_KEYS = ("id", "on", "match", "except", "effect", "reason", "severity", "description")
_STRING_FIELDS: dict[str, Callable[[Action], str | None]] = {
    "command": lambda a: a.command if a.command is not None else (
        " ".join(a.argv) if a.argv else None),
    "url": lambda a: a.url,
    "scheme": lambda a: a.scheme,
    "method": lambda a: a.method,
    "tool": lambda a: a.tool,
    "server": lambda a: a.server,
    "text": lambda a: a.text,
    "content": lambda a: a.content if a.content is not None else a.patch,
    "source": lambda a: a.source,
    "destination": lambda a: a.destination,
    "agent": lambda a: a.agent.id if a.agent else None,
    "role": lambda a: a.agent.role if a.agent else None,
    "origin": lambda a: a.origin,
    "session": lambda a: a.session,
    "task": lambda a: a.task,
    "mode": lambda a: a.mode,
    "cwd": lambda a: a.cwd,
}
MATCH_FIELDS = (*_STRING_FIELDS, "path", "host", "port", "arguments", "program")

Predicate = Callable[[Action, EvalContext, bool], bool]


def expand_kinds(patterns: Sequence[str], section: Section, key: str) -> frozenset[str]:
    """Turn ``on`` patterns (``file.*``, ``*``) into the set of known kinds they cover."""
    out: set[str] = set()
    for i, pat in enumerate(patterns):
        hit = {k for k in ACTION_KINDS if fnmatch.fnmatchcase(k, pat)}
        if not hit:
            raise PolicyPatternError(
                f"{section.path(key)}: {pat!r} matches no action kind; known kinds: "
                + ", ".join(sorted(ACTION_KINDS)),
                location=section.item_loc(key, i),
            )
        out |= hit
    return frozenset(out)


def json_pointer(doc: Any, pointer: str) -> tuple[bool, Any]:
    """Resolve an RFC 6901 pointer; returns ``(found, value)``."""
    if pointer == "":
        return True, doc
    if not pointer.startswith("/"):
        return False, None
    cur = doc
    for raw_token in pointer[1:].split("/"):
        token = raw_token.replace("~1", "/").replace("~0", "~")
        if isinstance(cur, Mapping) and token in cur:
            cur = cur[token]
        elif isinstance(cur, Sequence) and not isinstance(cur, str) and token.isdigit() \
                and int(token) < len(cur):
            cur = cur[int(token)]
        else:
            return False, None
    return True, cur


def _glob_source(pattern: str) -> str:
    """``fnmatch`` translation without its ``(?s:...)\\Z`` wrapper."""
    src = fnmatch.translate(pattern)
    if src.startswith("(?s:") and src.endswith(")\\Z"):
        src = src[4:-3]
    return src


class _StringSet:
    """Globs (whole-string, ``*`` crosses ``/``) and ``re:`` regexes (searched)."""

    __slots__ = ("_regex",)

    def __init__(self, patterns: Sequence[str], section: Section, key: str) -> None:
        parts = []
        for i, pat in enumerate(patterns):
            where = section.item_loc(key, i)
            if pat.startswith("re:"):
                compile_regex(pat[3:], location=where)
                parts.append(f"(?:.*?(?:{pat[3:]}).*)")
            else:
                parts.append(f"(?:{_glob_source(pat)})")
        source = "|".join(parts)
        self._regex = re.compile(f"(?s:{source})") if parts else None

    def match(self, value: str) -> bool:
        return self._regex is not None and self._regex.fullmatch(value) is not None


def _compile_match(sec: Section, cc: CompileContext) -> list[Predicate]:
    sec.only(*MATCH_FIELDS)
    preds: list[Predicate] = []
    for key in sec:
        if key == "path":
            preds.append(_path_predicate(cc.globs(sec, key)))
        elif key == "port":
            ports = frozenset(sec.integers(key))
            if not ports:
                sec.warn(key, "empty list matches nothing", "W_EMPTY_PATTERNS")
            preds.append(_port_predicate(ports))
        elif key == "host":
            preds.append(_host_predicate(sec.strings(key, warn_empty=True), sec, key))
        elif key == "arguments":
            preds.append(_arguments_predicate(sec.section(key)))
        elif key == "program":
            preds.append(_program_predicate(_StringSet(sec.strings(key, warn_empty=True),
                                                       sec, key)))
        else:
            getter = _STRING_FIELDS[key]
            strings = _StringSet(sec.strings(key, warn_empty=True), sec, key)

            def pred(a: Action, _c: EvalContext, _s: bool, g: Any = getter,
                     m: _StringSet = strings) -> bool:
                value = g(a)
                return value is not None and m.match(value)

            preds.append(pred)
    return preds


def _path_predicate(globs: GlobSet) -> Predicate:
    def pred(action: Action, ctx: EvalContext, strict: bool) -> bool:
        paths = touched_paths(action)
        if not paths:
            return False  # a path pattern never matches an action without a path
        try:
            forms = [f for p in paths for f in ctx.forms(p, action.cwd)]
        except ValueError:
            return not strict
        hits = [globs.matches(f) for f in forms]
        return all(hits) if strict else any(hits)

    return pred


def _port_predicate(ports: frozenset[int]) -> Predicate:
    from codor.policy.hosts import parse_target

    def pred(a: Action, _c: EvalContext, _s: bool) -> bool:
        if a.kind == "network.request":
            try:
                return parse_target(a.url, a.host, a.port, a.scheme).port in ports
            except ValueError:
                return False
        return a.port in ports

    return pred


def _host_predicate(patterns: list[str], sec: Section, key: str) -> Predicate:
    from codor.policy.hosts import HostTable, parse_target

    try:
        table = HostTable(patterns)
    except PolicyPatternError as exc:
        raise PolicyPatternError(exc.message, location=sec.loc(key)) from None

    def pred(a: Action, _c: EvalContext, _s: bool) -> bool:
        if a.url is None and a.host is None:
            return False
        try:
            target = parse_target(a.url, a.host, a.port, a.scheme)
        except ValueError:
            return False
        return table.match(target.host, target.port, target.ip) is not None

    return pred


def _arguments_predicate(sec: Section) -> Predicate:
    checks = [(ptr, _StringSet(sec.strings(ptr, warn_empty=True), sec, ptr))
              for ptr in sec]
    for ptr in sec:
        if ptr and not ptr.startswith("/"):
            raise sec.fail(ptr, "argument keys are JSON pointers starting with '/'")

    def pred(a: Action, _c: EvalContext, _s: bool) -> bool:
        if a.arguments is None:
            return False
        for ptr, strings in checks:
            found, value = json_pointer(a.arguments, ptr)
            if not found:
                return False
            text = value if isinstance(value, str) else json.dumps(value, sort_keys=True,
                                                                   default=str)
            if not strings.match(text):
                return False
        return True

    return pred


def _program_predicate(strings: _StringSet) -> Predicate:
    def pred(a: Action, _c: EvalContext, _s: bool) -> bool:
        from codor.policy.shell import programs_of

        if a.command is None and a.argv is None:
            return False
        return any(strings.match(p) for p in programs_of(a.command, a.argv))

    return pred


@dataclass(frozen=True, slots=True)
class CompiledRule:
    id: str
    kinds: frozenset[str]
    effect: Effect
    severity: Severity
    reason: str
    match: tuple[Predicate, ...]
    excepts: tuple[tuple[Predicate, ...], ...]

    def check(self, action: Action, ctx: EvalContext) -> Sequence[Finding]:
        strict = self.effect == "allow"
        for pred in self.match:
            if not pred(action, ctx, strict):
                return ()
        for preds in self.excepts:
            if all(p(action, ctx, not strict) for p in preds):
                return ()  # an except that matches turns the rule into pass
        if self.effect == "pass":
            return ()
        return (Finding(self.effect, self.id, None, self.severity, self.reason),)


def compile_rule(sec: Section, cc: CompileContext) -> CompiledRule:
    sec.only(*RULE_KEYS)
    rid = sec.req_string("id")
    on = sec.strings("on")
    if not on:
        raise sec.fail("on", "is required: the action kinds this rule applies to")
    kinds = expand_kinds(on, sec, "on")
    effect = cast(Effect, sec.effect("effect", "deny"))
    if "effect" not in sec:
        raise sec.fail("effect", "is required: allow, deny, ask or pass")
    default_sev = {"deny": "high", "ask": "medium"}.get(effect, "info")
    severity = cast(Severity, sec.severity("severity", default_sev))
    reason = sec.string("reason") or f"rule {rid}"
    match_sec = sec.section("match")
    match = tuple(_compile_match(match_sec, cc))
    raw_except = sec.raw("except")
    except_secs: list[Section]
    if raw_except is None:
        except_secs = []
    elif isinstance(raw_except, Mapping):
        except_secs = [sec.section("except")]
    else:
        except_secs = sec.sections("except")
    excepts = tuple(tuple(_compile_match(e, cc)) for e in except_secs)
    match_json = canonical_json(dict(match_sec.raw_mapping()))
    for e in except_secs:
        if canonical_json(dict(e.raw_mapping())) == match_json:
            sec.warn("except", f"rule {rid!r} never fires: an except entry is identical to "
                               "its match", "W_NEVER_FIRES")
        elif not list(e.keys()):
            sec.warn("except", f"rule {rid!r} never fires: an empty except matches everything",
                     "W_NEVER_FIRES")
    return CompiledRule(rid, kinds, effect, severity, reason, match, excepts)
