"""Clawdstrike policy YAML → CODOR policy YAML (``codor policy import clawdstrike FILE``).

Input: a Clawdstrike policy (``version: "1.x.y"``, ``extends``, ``guards``, ``settings``...),
read by :mod:`codor.integrations.clawdstrike_load` (every guard, omitted or not, with the
configuration Clawdstrike would run). Output: a standalone CODOR policy (``version: 1``, no
``extends``) whose decisions follow Clawdstrike's, with a header comment that says what was
translated and lists, as comments, what could not be.

Translation (Clawdstrike allows everything no guard blocks; CODOR denies by default, so the
translation adds explicit allows)::

    forbidden_path      → guards.paths.deny (+ exceptions); paths.allow ["/**"]
    path_allowlist      → guards.paths.read.allow / write.allow instead of "/**"
    egress_allowlist    → guards.egress allow / deny; default_action block → default: deny,
                          allow → a rule allowing network.request, log (a warning) → ask
    secret_leak         → guards.secrets with exactly the Clawdstrike patterns (CODOR's own
                          detectors disabled); patterns under severity_threshold → ask rules
    patch_integrity     → guards.patch line limits (unparseable diffs not refused) + a deny
                          rule for forbidden patterns on added lines (``+`` not ``+++``) of
                          the raw text, as Clawdstrike reads them
    shell_command       → deny rules on the command line; other commands allowed
    mcp_tool            → rules on MCP tool calls (server set, or an mcp__ name); other tool
                          calls allowed; max_args_size → tools.max_argument_bytes
    prompt_injection,
    jailbreak           → guards.injection: levels suspicious/high/critical as scores
                          0.4/0.7/0.9, jailbreak thresholds / 100; the stricter of the two
                          applies to all inbound text, which is otherwise allowed

Clawdstrike "warn" outcomes (allowed, with a warning) become CODOR ``ask``. Clawdstrike path
globs let ``*`` cross ``/``; CODOR's ``*`` stays in one segment (``**`` crosses).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import yaml

from codor.errors import PolicyExtendsError, PolicySchemaError
from codor.integrations.clawdstrike_load import ClawdstrikePolicy, bundled_ruleset, load_clawdstrike
from codor.policy.source import load_yaml

__all__ = ["import_policy", "import_policy_file", "translate"]

Doc = dict[str, Any]
Rule = dict[str, Any]


def import_policy_file(path: str | Path) -> str:
    """Read a Clawdstrike policy file and return the CODOR policy YAML text.

    ``ruleset:<name>`` (or ``clawdstrike:<name>``) names a ruleset bundled with an installed
    ``clawdstrike`` Python package.
    """
    p = Path(path).absolute()
    ref = str(path)
    if ref.startswith(("ruleset:", "clawdstrike:")):
        name = ref.partition(":")[2]
        bundled = bundled_ruleset(name)
        if bundled is None:
            raise PolicyExtendsError(
                f"no bundled Clawdstrike ruleset {name!r}: CODOR does not ship Clawdstrike's "
                "rulesets; install the clawdstrike Python package or pass the ruleset file's "
                "path", location=ref)
        p = bundled
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicySchemaError(f"cannot read Clawdstrike policy: {exc.strerror or exc}",
                                location=str(path)) from None
    p = p.resolve()
    data = load_yaml(text, str(p))
    return import_policy(data, source=str(p), base_dir=p.parent)


def import_policy(data: Mapping[str, Any], *, source: str = "<clawdstrike>",
                  base_dir: str | Path | None = None) -> str:
    """Translate a parsed Clawdstrike policy into CODOR policy YAML text.

    ``base_dir`` is where ``extends`` files are looked up (default: the current directory).
    Raises located :class:`~codor.errors.PolicyError` subclasses for invalid input.
    """
    policy = load_clawdstrike(data, source=source,
                              base_dir=Path(base_dir) if base_dir is not None else None)
    doc, notes, done = translate(policy)
    return _render(policy, doc, notes, done)


# -- translation ----------------------------------------------------------------------------
class _Out:
    """The CODOR document being built, and the notes for the header."""

    def __init__(self) -> None:
        self.guards: Doc = {}
        self.rules: list[Rule] = []
        self.notes: list[str] = []
        self.done: list[str] = []

    def rule(self, rid: str, on: list[str], effect: str, reason: str, severity: str,
             match: Doc | None = None, excepts: list[Doc] | None = None) -> None:
        rule: Rule = {"id": rid, "on": on}
        if match:
            rule["match"] = match
        if excepts:
            rule["except"] = excepts
        rule.update({"effect": effect, "reason": reason, "severity": severity})
        self.rules.append(rule)


def translate(policy: ClawdstrikePolicy) -> tuple[Doc, list[str], list[str]]:
    """The CODOR policy document for ``policy``, the notes (what could not be translated
    exactly) and the Clawdstrike guards that were translated."""
    out = _Out()
    out.notes.extend(policy.untranslated)
    g = policy.guards
    _paths(g["forbidden_path"], g["path_allowlist"], out)
    _egress(g["egress_allowlist"], out)
    _secrets(g["secret_leak"], out)
    _patch(g["patch_integrity"], out)
    _commands(g["shell_command"], g["forbidden_path"], out)
    _tools(g["mcp_tool"], out)
    _injection(g["prompt_injection"], g["jailbreak"], out)
    for key in sorted(policy.settings):
        out.notes.append(f"settings.{key}: {policy.settings[key]!r} not translated "
                         "(no CODOR equivalent)")
    doc: Doc = {"version": 1, "name": f"clawdstrike:{policy.name}"}
    if policy.description:
        doc["description"] = policy.description
    doc["guards"] = out.guards
    doc["rules"] = out.rules
    return doc, out.notes, out.done


# -- paths ----------------------------------------------------------------------------------
def path_glob(pattern: str, notes: list[str], where: str) -> str:
    """A Clawdstrike path glob in CODOR's glob language."""
    segments = [s if s == "**" else re.sub(r"\*{2,}", "*", s) for s in pattern.split("/")]
    out = "/".join(segments)
    if out != pattern:
        notes.append(f"{where}: {pattern!r} has '**' inside a segment; translated as {out!r}")
    if any("*" in s and s != "**" for s in segments[:-1]):
        notes.append(f"{where}: in {pattern!r} a '*' before the last '/' matches within one "
                     "directory in CODOR (in Clawdstrike it could span several)")
    return out


def _paths(fp: Doc, allowlist: Doc, out: _Out) -> None:
    paths: Doc = {}
    if fp["enabled"] and fp["patterns"]:
        paths["deny"] = [path_glob(p, out.notes, "forbidden_path") for p in fp["patterns"]]
        if fp["exceptions"]:
            paths["exceptions"] = [path_glob(p, out.notes, "forbidden_path.exceptions")
                                   for p in fp["exceptions"]]
        out.done.append("forbidden_path")
    if allowlist["enabled"]:
        read = [path_glob(p, out.notes, "path_allowlist") for p in allowlist["file_access_allow"]]
        write = [path_glob(p, out.notes, "path_allowlist")
                 for p in allowlist["file_write_allow"]]
        paths["read"] = {"allow": read} if read else {"deny": ["/**"]}
        paths["write"] = {"allow": write} if write else {"deny": ["/**"]}
        if allowlist["patch_allow"] and allowlist["patch_allow"] != allowlist["file_write_allow"]:
            out.notes.append("path_allowlist.patch_allow: CODOR judges patches with the write "
                             "list (file_write_allow); patch_allow not translated")
        out.done.append("path_allowlist")
    else:
        paths["allow"] = ["/**"]  # Clawdstrike: file access is allowed unless a guard blocks
    out.guards["paths"] = paths


# -- egress ---------------------------------------------------------------------------------
_PLAIN_HOST = re.compile(r"(?:\*\.)?[A-Za-z0-9_](?:[A-Za-z0-9_.\-]*[A-Za-z0-9_])?\.?")


def host_pattern(pattern: str) -> str | None:
    """A Clawdstrike domain glob as a CODOR host pattern, or ``None`` when CODOR's host
    language (``host``, ``*.host``, ``*``) cannot say it."""
    p = pattern.strip().lower()
    if p == "*":
        return "*"
    if _PLAIN_HOST.fullmatch(p) and "*" not in p.removeprefix("*."):
        return p
    return None


def _hosts(patterns: list[str], what: str, out: _Out) -> list[str]:
    hosts = []
    for p in patterns:
        h = host_pattern(p)
        if h is None:
            out.notes.append(f"egress_allowlist.{what}: {p!r} not translated (CODOR host "
                             "patterns are host, *.host or *)")
        elif h not in hosts:
            hosts.append(h)
    return hosts


def _allowed_cidrs(allow: list[str]) -> list[str]:
    """Allow-listed IP addresses and ``localhost`` as CIDRs: CODOR's private-range check
    would otherwise deny what the Clawdstrike allow list names explicitly."""
    out: list[str] = []
    for host in allow:
        if host == "localhost":
            out += ["127.0.0.1/32", "::1/128"]
            continue
        try:
            addr = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            continue
        out.append(f"{addr}/{addr.max_prefixlen}")
    return list(dict.fromkeys(out))


def _egress(eg: Doc, out: _Out) -> None:
    if not eg["enabled"]:
        out.rule("clawdstrike-egress-disabled", ["network.request"], "allow",
                 "Clawdstrike's egress guard is disabled in this policy.", "info")
        out.notes.append("egress_allowlist is disabled: every host is allowed")
        return
    cfg: Doc = {}
    allow = _hosts(eg["allow"], "allow", out)
    block = _hosts(eg["block"], "block", out)
    if allow:
        cfg["allow"] = allow
    if block:
        cfg["deny"] = block
    cidrs = _allowed_cidrs(allow)
    if cidrs:
        cfg["allow_cidrs"] = cidrs
    out.notes.append("egress: CODOR also denies loopback, private and cloud-metadata addresses "
                     "(unless listed as IPs or localhost in the allow list) and schemes other "
                     "than http/https in URLs; Clawdstrike checks host names only")
    action = eg["default_action"]
    cfg["default"] = {"block": "deny", "log": "ask"}.get(action, "pass")
    out.guards["egress"] = cfg
    if action == "allow":
        out.rule("clawdstrike-egress-default-allow", ["network.request"], "allow",
                 "Clawdstrike egress default_action is allow.", "info")
    out.done.append("egress_allowlist")


# -- secrets --------------------------------------------------------------------------------
_FLAGS = re.compile(r"\(\?([a-zA-Z]+)\)")


def python_regex(pattern: str) -> str | None:
    """A Clawdstrike (Rust) regex as a Python one: leading inline flags become a scoped
    group so the pattern can be embedded; ``None`` if Python cannot compile it."""
    m = _FLAGS.match(pattern)
    text = f"(?{m.group(1)}:{pattern[m.end():]})" if m else pattern
    try:
        re.compile(text)
    except re.error:
        return None
    return text


_RANK: Final = {"low": 0, "medium": 1, "high": 2, "critical": 3}
_NAME_CHARS = re.compile(r"[^a-z0-9_]+")


def _secrets(sl: Doc, out: _Out) -> None:
    if not sl["enabled"]:
        out.notes.append("secret_leak is disabled: writes are not scanned for secrets")
        return
    from codor.policy.guards.secrets import KINDS

    threshold = _RANK[sl["severity_threshold"]]
    skip = [path_glob(p, out.notes, "secret_leak.skip_paths") for p in sl["skip_paths"]]
    blocking: list[Doc] = []
    warning: list[str] = []
    for pat in sl["patterns"]:
        regex = python_regex(pat["pattern"])
        if regex is None:
            out.notes.append(f"secret_leak pattern {pat['name']!r}: regex not valid in "
                             "Python; not translated")
            continue
        if pat["luhn_check"]:
            out.notes.append(f"secret_leak pattern {pat['name']!r}: luhn_check not "
                             "translated (the pattern alone decides)")
        if _RANK[pat["severity"]] >= threshold:
            name = "cs_" + (_NAME_CHARS.sub("_", pat["name"].lower()).strip("_") or "pattern")
            while name in {b["name"] for b in blocking}:
                name += "_"
            blocking.append({"name": name, "regex": regex, "severity": pat["severity"]})
        else:
            warning.append(f"re:{regex}")
    out.guards["secrets"] = {"disable": list(KINDS), "entropy": {"enabled": False},
                             "patterns": blocking, **({"skip_paths": skip} if skip else {})}
    if warning:
        out.rule("clawdstrike-secret-warn", ["file.write", "patch.apply"], "ask",
                 "Clawdstrike warns about a possible secret below its severity threshold.",
                 "medium", {"content": warning},
                 [{"path": skip}] if skip else None)
    out.done.append("secret_leak")


# -- patch ----------------------------------------------------------------------------------
def added_line_regex(pattern: str) -> str:
    """A regex matching ``pattern`` on an added line (``+`` but not ``+++``) of a diff."""
    return rf"(?:\A|\n)\+(?!\+\+)[^\n]*?(?-s:{pattern})"


def _patch(pi: Doc, out: _Out) -> None:
    if not pi["enabled"]:
        out.notes.append("patch_integrity is disabled")
        return
    # Clawdstrike counts '+'/'-' lines of any text; CODOR's limits need a parseable diff,
    # and an unparseable one is not refused (Clawdstrike allows it when nothing matches).
    out.guards["patch"] = {"max_added_lines": pi["max_additions"],
                           "max_removed_lines": pi["max_deletions"],
                           "require_parseable": False}
    regexes = []
    for p in pi["forbidden_patterns"]:
        regex = python_regex(p)
        if regex is None:
            out.notes.append(f"patch_integrity.forbidden_patterns: {p!r} not valid in Python; "
                             "not translated")
        else:
            regexes.append("re:" + added_line_regex(regex))
    if regexes:
        out.rule("clawdstrike-patch-forbidden", ["patch.apply"], "deny",
                 "The patch adds a line matching a patch_integrity forbidden pattern.",
                 "critical", {"content": regexes})
    if pi["require_balance"]:
        out.notes.append(f"patch_integrity.require_balance (max_imbalance_ratio "
                         f"{pi['max_imbalance_ratio']}) not translated: CODOR has no ratio "
                         "limit; max_added_lines / max_removed_lines apply")
    out.done.append("patch_integrity")


# -- commands -------------------------------------------------------------------------------
def _commands(sc: Doc, fp: Doc, out: _Out) -> None:
    out.rule("clawdstrike-commands", ["command.exec"], "allow",
             "Clawdstrike allows commands its shell_command guard does not block.", "info")
    if not sc["enabled"]:
        out.notes.append("shell_command is disabled")
        return
    regexes = []
    for p in sc["forbidden_patterns"]:
        regex = python_regex(p)
        if regex is None:
            out.notes.append(f"shell_command.forbidden_patterns: {p!r} not valid in Python; "
                             "not translated")
        else:
            regexes.append("re:" + regex)
    if regexes:
        out.rule("clawdstrike-shell-forbidden", ["command.exec"], "deny",
                 "The command matches a shell_command forbidden pattern.", "critical",
                 {"command": regexes})
    _command_paths(sc, fp, out)
    out.done.append("shell_command")


def _command_paths(sc: Doc, fp: Doc, out: _Out) -> None:
    """The commands guard with CODOR's own detectors off (Clawdstrike has only its patterns),
    checking file arguments against guards.paths when Clawdstrike would (its
    ``enforce_forbidden_paths``)."""
    from codor.policy.guards.commands import CHECKS

    out.guards["commands"] = {
        "default": "pass",
        "checks": dict.fromkeys(CHECKS, "pass"),
        "check_paths": bool(sc["enforce_forbidden_paths"] and fp["enabled"]),
    }


# -- tools (MCP) ----------------------------------------------------------------------------
def name_glob(name: str) -> str:
    """A literal tool name as a rule string pattern (glob characters escaped)."""
    escaped = "".join(f"[{c}]" if c in "*?[" else c for c in name)
    return "[r]" + escaped[1:] if escaped.startswith("re:") else escaped


def _mcp_rules(rid: str, names: list[str], effect: str, reason: str, severity: str,
               out: _Out, *, excepts: list[str] | None = None) -> None:
    """Rules on MCP calls named in ``names`` (``None``-like empty means every MCP call):
    one for calls with a server, one for ``mcp__`` names (Clawdstrike's MCP test)."""
    ex = [{"tool": [name_glob(n) for n in excepts]}] if excepts else None
    if names:
        globs = [name_glob(n) for n in names]
        out.rule(rid, ["tool.call"], effect, reason, severity,
                 {"server": ["*"], "tool": globs}, ex)
        mcp_named = [g for g, n in zip(globs, names, strict=True) if n.startswith("mcp__")]
        if mcp_named:
            out.rule(f"{rid}-named", ["tool.call"], effect, reason, severity,
                     {"tool": mcp_named}, ex)
    else:
        out.rule(rid, ["tool.call"], effect, reason, severity, {"server": ["*"]}, ex)
        out.rule(f"{rid}-named", ["tool.call"], effect, reason, severity,
                 {"tool": ["mcp__*"]}, ex)


def _tools(mt: Doc, out: _Out) -> None:
    out.rule("clawdstrike-tool-calls", ["tool.call"], "allow",
             "Clawdstrike allows tool calls its mcp_tool guard does not block.", "info")
    if not mt["enabled"]:
        out.notes.append("mcp_tool is disabled")
        return
    out.guards["tools"] = {"default": "pass", "max_argument_bytes": mt["max_args_size"]}
    if mt["block"]:
        _mcp_rules("clawdstrike-mcp-block", mt["block"], "deny",
                   "The MCP tool is blocked by the mcp_tool guard.", "high", out)
    confirm = [n for n in mt["require_confirmation"] if n not in mt["block"]]
    if confirm:
        _mcp_rules("clawdstrike-mcp-confirm", confirm, "ask",
                   "The MCP tool requires confirmation.", "medium", out)
    if mt["allow"] or mt["default_action"] == "block":
        _mcp_rules("clawdstrike-mcp-default", [], "deny",
                   "The MCP tool is not in the mcp_tool allow list." if mt["allow"] else
                   "MCP tools are blocked by default (mcp_tool default_action: block).",
                   "high", out, excepts=[*mt["allow"], *confirm])
    out.done.append("mcp_tool")


# -- injection ------------------------------------------------------------------------------
#: prompt_injection levels as CODOR injection scores (CODOR's defaults, ask 0.4 / deny 0.7,
#: are Clawdstrike's defaults, warn at suspicious / block at high).
LEVEL_SCORES: Final = {"safe": 0.0, "suspicious": 0.4, "high": 0.7, "critical": 0.9}


def _injection(pi: Doc, jb: Doc, out: _Out) -> None:
    out.rule("clawdstrike-inbound", ["content.inbound"], "allow",
             "Inbound text is allowed once the injection guard finds nothing.", "info")
    asks: list[float] = []
    denies: list[float] = []
    sizes: list[int] = []
    if pi["enabled"]:
        asks.append(LEVEL_SCORES[pi["warn_at_or_above"]])
        denies.append(LEVEL_SCORES[pi["block_at_or_above"]])
        sizes.append(pi["max_scan_bytes"])
        out.done.append("prompt_injection")
    if jb["enabled"]:
        asks.append(min(max(jb["warn_threshold"], 0), 100) / 100)
        denies.append(min(max(jb["block_threshold"], 0), 100) / 100)
        sizes.append(jb["max_input_bytes"])
        out.done.append("jailbreak")
    if not denies:
        out.notes.append("prompt_injection and jailbreak are disabled: inbound text is not "
                         "scanned")
        return
    deny = min(denies)
    ask = min(*asks, deny)
    out.guards["injection"] = {"ask_threshold": round(ask, 2), "deny_threshold": round(deny, 2),
                               "max_scan_bytes": max(*sizes, 1)}
    out.notes.append(
        "prompt_injection / jailbreak: CODOR's injection guard scores all inbound text with "
        "its own detector (the stricter thresholds of the two guards apply to both "
        "untrusted_text and user_input); text over max_scan_bytes is asked about, not "
        "truncated")


# -- rendering ------------------------------------------------------------------------------
def _render(policy: ClawdstrikePolicy, doc: Doc, notes: list[str], done: list[str]) -> str:
    head = [
        f"# CODOR policy imported from the Clawdstrike policy {policy.name!r} "
        f"(version {policy.version}).",
        "# Generated by `codor policy import clawdstrike`; review before use.",
        f"# Sources: {', '.join(policy.sources)}",
        "# Clawdstrike allows what no guard blocks, so this policy allows file access, "
        "commands,",
        "# tool calls and inbound text explicitly; its 'warn' outcomes become 'ask'.",
        f"# Translated guards: {', '.join(done) or 'none'}",
    ]
    if notes:
        head.append("# Notes (what could not be translated exactly):")
        head.extend(f"#   - {n}" for n in notes)
    body = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=100,
                          default_flow_style=False)
    return "\n".join(head) + "\n" + body
