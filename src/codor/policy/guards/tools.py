"""The ``tools`` guard: which tools (built-in or MCP) an agent may call, and with what arguments.

Configuration::

    tools:
      allow: [tool name globs]    # a pattern with "/" is matched against "server/tool"
      ask:   [...]
      deny:  [...]
      default: pass               # allow | ask | deny | pass, for tools in no list
      max_argument_bytes: 1048576 # JSON-serialised arguments larger than this: deny
      inherit: true               # false: replace, not merge with, an extended policy's config
      constraints:
        - tool: "write_file"      # tool name glob (same language as the lists)
          pointer: "/path"        # RFC 6901 JSON pointer into the arguments
          allow: ["/workspace/**"]  # every value must match one of these
          deny: ["**/.ssh/**"]    # a value matching any of these violates the constraint
          effect: deny            # deny | ask, when the constraint is violated
          message: "..."          # optional, replaces the generated message

Tool names: a plain name (``Bash``, ``read_file``) or Claude Code's MCP form
``mcp__<server>__<tool>`` (split at the first ``__`` after ``mcp__``); the action's ``server``
field names the server too. A pattern without ``/`` matches the bare tool name or the name as
written (so ``mcp__github__*`` works); a pattern with ``/`` matches ``server/tool`` and never
matches a call whose server is unknown. Name globs: ``*`` (not across ``/``), ``?``, ``[abc]``,
``[!abc]``, ``{a,b}``; case-sensitive. When the ``server`` field and the MCP form disagree, a
``/`` pattern denies or asks if it matches either server and allows only if it matches both.

Constraint values: entries starting with ``re:`` are regular expressions searched (unanchored:
use ``^`` and ``\\Z``) in the value's text (strings as they are, other JSON values as compact
JSON); every other entry is a path glob (the ``paths`` guard language) matched against the
value's path forms (lexically normalised against the action's cwd, and symlink-resolved): a
deny glob fires when any form matches, an allow glob must match every form. A value that is a
list is checked element by element. A constraint whose pointer finds nothing in the arguments
is violated only when it has an ``allow`` list (the value must exist); a deny-only constraint
is satisfied by a missing value.

Like every guard, the verdict does not depend on order: a ``deny`` match denies
(``tools.deny``), an ``ask`` match asks (``tools.ask``), oversized arguments are denied
(``tools.too_large``), a violated constraint has its effect (``tools.constraint.<index>``),
an ``allow`` match allows (``tools.allow``), and a tool in no list gets ``default``
(``tools.default``; ``pass`` says nothing).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from types import MappingProxyType
from typing import Any, Final

from codor.errors import PolicyPatternError
from codor.model import Action, Effect, Severity, thaw
from codor.policy.guards.base import CompileContext, EvalContext, Finding
from codor.policy.patterns import GlobSet, compile_regex
from codor.policy.schema import Section

__all__ = ["ToolName", "ToolsGuard", "compile_guard", "parse_pointer", "split_tool_name"]

_MCP = re.compile(r"mcp__(.+?)__(.+)", re.DOTALL)
_VERB = {"deny": "denied", "ask": "needs approval", "allow": "allowed"}
_MISSING: Final = object()
_INDEX = re.compile(r"0|[1-9][0-9]*")


# -- tool names -----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ToolName:
    """A tool call's name: ``raw`` as written, the ``bare`` tool name, the qualified
    ``server/tool`` names (one per server the call names; none when no server is known)."""

    raw: str
    bare: str
    qualified: tuple[str, ...]

    @property
    def display(self) -> str:
        return self.qualified[0] if len(self.qualified) == 1 else self.raw


@lru_cache(maxsize=4096)
def split_tool_name(tool: str, server: str | None = None) -> ToolName:
    """Split ``mcp__<server>__<tool>`` and combine with the action's ``server`` field."""
    servers: list[str] = []
    bare = tool
    m = _MCP.fullmatch(tool)
    if m is not None:
        servers.append(m.group(1))
        bare = m.group(2)
    if server is not None and server not in servers:
        servers.insert(0, server)
    return ToolName(tool, bare, tuple(f"{s}/{bare}" for s in servers))


def _name_glob_regex(pattern: str) -> str:
    """Translate a tool-name glob into a regex source (for ``fullmatch``)."""
    out: list[str] = []
    i, n, depth = 0, len(pattern), 0
    while i < n:
        c = pattern[i]
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            j = i + 1
            if j < n and pattern[j] in "!^":
                j += 1
            if j < n and pattern[j] == "]":
                j += 1
            while j < n and pattern[j] != "]":
                j += 1
            if j >= n:
                raise PolicyPatternError(f"bad tool pattern {pattern!r}: unclosed '['")
            body = pattern[i + 1 : j]
            negate = body[:1] in ("!", "^")
            if negate:
                body = body[1:]
            body = body.replace("\\", "\\\\")
            out.append(f"[^/{body}]" if negate else f"[{body}]")
            i = j
        elif c == "{":
            depth += 1
            out.append("(?:")
        elif c == "}" and depth:
            depth -= 1
            out.append(")")
        elif c == "," and depth:
            out.append("|")
        else:
            out.append(re.escape(c))
        i += 1
    if depth:
        raise PolicyPatternError(f"bad tool pattern {pattern!r}: unclosed '{{'")
    return "".join(out)


class NameSet:
    """Tool-name globs, split into plain patterns and ``server/tool`` patterns."""

    __slots__ = ("_plain", "_qualified", "patterns")

    def __init__(self, patterns: Sequence[str], locations: Sequence[str | None] = ()) -> None:
        self.patterns = tuple(patterns)
        plain: list[tuple[str, re.Pattern[str]]] = []
        qualified: list[tuple[str, re.Pattern[str]]] = []
        for i, p in enumerate(patterns):
            loc = locations[i] if i < len(locations) else None
            if not p:
                raise PolicyPatternError("empty tool pattern", location=loc)
            if p.count("/") > 1 or p.startswith("/") or p.endswith("/"):
                raise PolicyPatternError(
                    f"bad tool pattern {p!r}: use 'tool' or 'server/tool'", location=loc)
            try:
                regex = re.compile(_name_glob_regex(p), re.DOTALL)
            except PolicyPatternError as exc:
                raise PolicyPatternError(exc.message, location=loc) from None
            except re.error as exc:
                raise PolicyPatternError(f"bad tool pattern {p!r}: {exc}", location=loc) from None
            (qualified if "/" in p else plain).append((p, regex))
        self._plain = tuple(plain)
        self._qualified = tuple(qualified)

    def __bool__(self) -> bool:
        return bool(self.patterns)

    def first(self, name: ToolName, *, strict: bool) -> str | None:
        """The first pattern matching ``name``. With ``strict`` (allow lists) a ``server/tool``
        pattern must match every qualified name; otherwise any one is enough."""
        for pattern, regex in self._plain:
            if regex.fullmatch(name.bare) or regex.fullmatch(name.raw):
                return pattern
        if name.qualified:
            for pattern, regex in self._qualified:
                hits = [regex.fullmatch(q) is not None for q in name.qualified]
                if all(hits) if strict else any(hits):
                    return pattern
        return None


# -- JSON pointers --------------------------------------------------------------------------
def parse_pointer(pointer: str) -> tuple[str, ...]:
    """RFC 6901: ``""`` is the whole document, ``/a/b~1c`` is ``("a", "b/c")``."""
    if pointer == "":
        return ()
    if not pointer.startswith("/"):
        raise ValueError("a JSON pointer starts with '/'")
    tokens = []
    for raw in pointer[1:].split("/"):
        if re.search(r"~(?![01])", raw):
            raise ValueError(f"bad escape in JSON pointer token {raw!r}")
        tokens.append(raw.replace("~1", "/").replace("~0", "~"))
    return tuple(tokens)


def resolve_pointer(document: Any, tokens: Sequence[str]) -> Any:
    """The value at ``tokens`` in ``document``, or ``_MISSING``."""
    value = document
    for token in tokens:
        if isinstance(value, Mapping):
            if token not in value:
                return _MISSING
            value = value[token]
        elif isinstance(value, list | tuple):
            if _INDEX.fullmatch(token) is None or int(token) >= len(value):
                return _MISSING
            value = value[int(token)]
        else:
            return _MISSING
    return value


# -- constraints ----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Values:
    """One constraint list: path globs plus ``re:`` regexes."""

    globs: GlobSet
    regexes: tuple[tuple[str, re.Pattern[str]], ...]

    def __bool__(self) -> bool:
        return bool(self.globs) or bool(self.regexes)


@dataclass(frozen=True, slots=True)
class _Constraint:
    index: int
    tools: NameSet
    pointer: str
    tokens: tuple[str, ...]
    allow: _Values
    deny: _Values
    requires: bool  # has an ``allow`` list: the value must exist and match it
    effect: Effect
    message: str | None


def _upper_bound(value: Any, limit: int) -> int:
    """An upper bound of the compact JSON size of ``value`` in UTF-8 bytes (a character
    takes at most 6 bytes: ``\\u001f``); stops counting once past ``limit``."""
    total = 0
    stack = [value]
    while stack:
        v = stack.pop()
        t = type(v)
        if t is str:
            total += 6 * len(v) + 3  # quotes, and a comma or colon
        elif t is MappingProxyType or t is dict or isinstance(v, Mapping):
            total += 2
            for k, item in v.items():
                total += 6 * len(str(k)) + 4
                stack.append(item)
        elif t is tuple or t is list:
            total += 2
            stack.extend(v)
        elif v is None or t is bool or t is int or t is float:
            total += len(str(v)) + 10
        else:
            total += 6 * len(str(v)) + 3
        if total > limit:
            break
    return total


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    try:
        return json.dumps(thaw(value), separators=(",", ":"), ensure_ascii=False,
                          sort_keys=True, default=str)
    except (ValueError, TypeError, RecursionError):
        return repr(value)


class ToolsGuard:
    name = "tools"
    kinds = frozenset({"tool.call"})

    def __init__(
        self,
        *,
        allow: NameSet,
        ask: NameSet,
        deny: NameSet,
        default: str,
        max_bytes: int,
        constraints: Sequence[_Constraint],
    ) -> None:
        self._allow, self._ask, self._deny = allow, ask, deny
        self._default = default
        self._max_bytes = max_bytes
        self._constraints = tuple(constraints)
        self._lists = lru_cache(maxsize=4096)(self._match_lists)

    def _match_lists(
        self, name: ToolName
    ) -> tuple[str | None, str | None, str | None, tuple[_Constraint, ...]]:
        """Pure and cached: the deny, ask and allow patterns matching ``name``, and the
        constraints that apply to it."""
        return (
            self._deny.first(name, strict=False),
            self._ask.first(name, strict=False),
            self._allow.first(name, strict=True),
            tuple(c for c in self._constraints if c.tools.first(name, strict=False) is not None),
        )

    def check(self, action: Action, ctx: EvalContext) -> Sequence[Finding]:
        if action.tool is None:  # pragma: no cover - Action validation requires it
            return (Finding("deny", "tools.deny", self.name, "high", "tool call without a tool"),)
        name = split_tool_name(action.tool, action.server)
        shown = name.display
        out: list[Finding] = []
        deny, ask, allow, constraints = self._lists(name)
        if deny is not None:
            out.append(self._list("deny", "high", shown, deny))
        if ask is not None:
            out.append(self._list("ask", "medium", shown, ask))
        arguments = action.arguments
        if arguments is not None:
            size = self._size(arguments)
            if size > self._max_bytes:
                out.append(Finding("deny", "tools.too_large", self.name, "medium",
                                   f"call of {shown} denied: arguments are {size} bytes, more "
                                   f"than {self._max_bytes}"))
        for constraint in constraints:
            problem = self._violation(constraint, arguments, action, ctx)
            if problem is not None:
                eff = constraint.effect
                text = constraint.message or (
                    f"call of {shown} {_VERB[eff]}: argument {constraint.pointer or '(root)'} "
                    f"{problem}")
                out.append(Finding(eff, f"tools.constraint.{constraint.index}", self.name,
                                   "high" if eff == "deny" else "medium", text))
        if allow is not None:
            out.append(self._list("allow", "info", shown, allow))
        elif deny is None and ask is None and self._default != "pass":
            eff2: Effect = "allow" if self._default == "allow" else (
                "ask" if self._default == "ask" else "deny")
            out.append(Finding(eff2, "tools.default", self.name,
                               "info" if eff2 == "allow" else "medium",
                               f"call of {shown} {_VERB[eff2]}: tool is in no list "
                               f"(default {self._default})"))
        return out

    def _size(self, arguments: Mapping[str, Any]) -> int:
        """The UTF-8 size of the compact JSON text of ``arguments``; a cheap upper bound
        first, so that ordinary calls never serialise."""
        if _upper_bound(arguments, self._max_bytes) <= self._max_bytes:
            return 0
        try:
            text = json.dumps(thaw(arguments), separators=(",", ":"), ensure_ascii=False,
                              default=str)
        except (ValueError, TypeError, RecursionError):
            return self._max_bytes + 1
        return len(text.encode("utf-8", "surrogatepass"))

    def _violation(
        self, c: _Constraint, arguments: Mapping[str, Any] | None, action: Action,
        ctx: EvalContext,
    ) -> str | None:
        value = resolve_pointer(arguments if arguments is not None else {}, c.tokens)
        if value is _MISSING:
            return "is missing" if c.requires else None
        items = list(value) if isinstance(value, list | tuple) else [value]
        for item in items:
            problem = self._check_value(c, item, action, ctx)
            if problem is not None:
                return problem
        return None

    def _check_value(
        self, c: _Constraint, item: Any, action: Action, ctx: EvalContext
    ) -> str | None:
        text = _text(item)
        forms: tuple[str, ...] | None = None
        if isinstance(item, str) and (c.allow.globs or c.deny.globs):
            try:
                forms = ctx.forms(item, action.cwd)
            except ValueError as exc:
                return f"{_clip(text)!r} is not a valid path ({exc})"
        for pattern, regex in c.deny.regexes:
            if regex.search(text):
                return f"{_clip(text)!r} matches denied {pattern!r}"
        if forms is not None and c.deny.globs:
            for form in forms:
                hit = c.deny.globs.first(form)
                if hit is not None:
                    return f"{_clip(text)!r} matches denied {hit!r}"
        if c.requires:
            if any(regex.search(text) for _, regex in c.allow.regexes):
                return None
            if forms is not None and c.allow.globs and all(
                c.allow.globs.matches(f) for f in forms
            ):
                return None
            return f"{_clip(text)!r} matches none of the allowed values"
        return None

    def _list(self, effect: Effect, severity: Severity, shown: str, pattern: str) -> Finding:
        return Finding(effect, f"tools.{effect}", self.name, severity,
                       f"call of {shown} {_VERB[effect]}: matches {effect} pattern {pattern!r}")


def _clip(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


# -- compilation ----------------------------------------------------------------------------
def _names(section: Section, key: str) -> NameSet:
    # an empty list is a normal way to say "none" (e.g. with inherit: false): no warning
    patterns = section.strings(key)
    return NameSet(patterns, [section.item_loc(key, i) for i in range(len(patterns))])


def _values(section: Section, key: str, cc: CompileContext) -> _Values:
    entries = section.strings(key, warn_empty=True)
    globs: list[str] = []
    glob_locs: list[str | None] = []
    regexes: list[tuple[str, re.Pattern[str]]] = []
    for i, entry in enumerate(entries):
        loc = section.item_loc(key, i)
        if entry.startswith("re:"):
            regexes.append((entry, compile_regex(entry[3:], location=loc)))
        else:
            globs.append(entry)
            glob_locs.append(loc)
    globset = GlobSet(globs, workspace=cc.workspace, home=cc.home,
                      case_insensitive=cc.case_insensitive, locations=glob_locs)
    return _Values(globset, tuple(regexes))


def _constraint(index: int, section: Section, cc: CompileContext) -> _Constraint:
    section.only("tool", "pointer", "allow", "deny", "effect", "message")
    tool = section.req_string("tool")
    pointer = section.req_string("pointer")
    try:
        tokens = parse_pointer(pointer)
    except ValueError as exc:
        raise PolicyPatternError(f"{section.path('pointer')}: {exc}",
                                 location=section.loc("pointer")) from None
    allow = _values(section, "allow", cc)
    deny = _values(section, "deny", cc)
    if "allow" not in section and "deny" not in section:
        raise section.fail(None, "a constraint needs 'allow' or 'deny'")
    effect = section.choice("effect", ("deny", "ask"), "deny")
    return _Constraint(
        index=index,
        tools=NameSet([tool], [section.loc("tool")]),
        pointer=pointer,
        tokens=tokens,
        allow=allow,
        deny=deny,
        requires="allow" in section,
        effect="deny" if effect == "deny" else "ask",
        message=section.string("message"),
    )


def compile_guard(section: Section, cc: CompileContext) -> ToolsGuard:
    section.only("allow", "ask", "deny", "default", "max_argument_bytes", "constraints",
                 "inherit")
    section.boolean("inherit", True)  # consumed by the loader (extends); only type-checked
    max_bytes = section.integer("max_argument_bytes", 1048576, minimum=0)
    assert max_bytes is not None
    return ToolsGuard(
        allow=_names(section, "allow"),
        ask=_names(section, "ask"),
        deny=_names(section, "deny"),
        default=section.choice("default", ("allow", "ask", "deny", "pass"), "pass"),
        max_bytes=max_bytes,
        constraints=[_constraint(i, s, cc) for i, s in enumerate(section.sections("constraints"))],
    )
