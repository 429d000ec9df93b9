"""Reading a Clawdstrike policy: validation with ``file:line``, ``extends``, merging, defaults.

The result is the *effective* Clawdstrike configuration: one plain mapping per guard, exactly
what Clawdstrike would run (a guard the YAML omits runs with its defaults), plus the list of
things CODOR cannot express (posture, origins, computer-use guards...), which the translator
writes into the imported policy as comments.

``extends`` names a file relative to the extending one (``base.yaml``, or a bare name ``NAME``
read as ``NAME.yaml`` beside it; ``clawdstrike:NAME`` and ``ruleset:NAME`` likewise); a name
found nowhere there is looked up among the rulesets of an installed ``clawdstrike`` Python
package (CODOR does not ship Clawdstrike's rulesets). ``merge_strategy``
``deep_merge`` (default) merges guard by guard as Clawdstrike does (``additional_*`` and
``remove_*`` lists, exceptions and skip paths added up); ``merge`` takes each guard from the
child if it has one; ``replace`` ignores the base.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from codor.errors import PolicyExtendsError, PolicySchemaError
from codor.policy.schema import Section
from codor.policy.source import load_yaml

__all__ = ["DEFAULTS", "GUARD_KEYS", "ClawdstrikePolicy", "bundled_ruleset", "load_clawdstrike"]

TOP_KEYS: Final = ("version", "name", "description", "extends", "merge_strategy", "guards",
                   "custom_guards", "settings", "posture", "origins", "broker")
UNSUPPORTED_TOP: Final = ("custom_guards", "posture", "origins", "broker")
MAX_DEPTH: Final = 32

Guards = dict[str, dict[str, Any]]

# -- what Clawdstrike (0.2.7) runs when a policy omits a guard or a field ---------------------
#: Each guard's keys (besides ``enabled``) as its YAML accepts them.
GUARD_KEYS: Final[dict[str, tuple[str, ...]]] = {
    "forbidden_path": ("enabled", "patterns", "exceptions", "additional_patterns",
                       "remove_patterns"),
    "path_allowlist": ("enabled", "file_access_allow", "file_write_allow", "patch_allow"),
    "egress_allowlist": ("enabled", "allow", "block", "default_action", "additional_allow",
                         "remove_allow", "additional_block", "remove_block"),
    "secret_leak": ("enabled", "redact", "severity_threshold", "patterns",
                    "additional_patterns", "remove_patterns", "skip_paths"),
    "patch_integrity": ("enabled", "max_additions", "max_deletions", "forbidden_patterns",
                        "require_balance", "max_imbalance_ratio"),
    "shell_command": ("enabled", "forbidden_patterns", "enforce_forbidden_paths"),
    "mcp_tool": ("enabled", "allow", "block", "deny", "require_confirmation", "default_action",
                 "max_args_size", "additional_allow", "remove_allow", "additional_block",
                 "remove_block"),
    "prompt_injection": ("enabled", "warn_at_or_above", "block_at_or_above", "max_scan_bytes"),
    "jailbreak": ("enabled", "detector"),
}
#: Guards CODOR has nothing for (remote desktop, computer use, embeddings, plugins).
UNSUPPORTED_GUARDS: Final = ("computer_use", "remote_desktop_side_channel",
                             "input_injection_capability", "spider_sense", "custom")


def _secret(name: str, pattern: str, severity: str = "critical") -> dict[str, Any]:
    return {"name": name, "pattern": pattern, "severity": severity, "luhn_check": False,
            "loc": None}


DEFAULTS: Final[Guards] = {
    "forbidden_path": {
        "enabled": True, "exceptions": [], "additional_patterns": [], "remove_patterns": [],
        "patterns": ["**/.ssh/**", "**/id_rsa*", "**/id_ed25519*", "**/id_ecdsa*",
                     "**/.aws/**", "**/.env", "**/.env.*", "**/.git-credentials",
                     "**/.gitconfig", "**/.gnupg/**", "**/.kube/**", "**/.docker/**",
                     "**/.npmrc", "**/.password-store/**", "**/pass/**", "**/.1password/**",
                     "/etc/shadow", "/etc/passwd", "/etc/sudoers",
                     "**/AppData/Roaming/Microsoft/Credentials/**",
                     "**/AppData/Local/Microsoft/Credentials/**",
                     "**/AppData/Roaming/Microsoft/Vault/**", "**/NTUSER.DAT",
                     "**/NTUSER.DAT.*", "**/Windows/System32/config/SAM",
                     "**/Windows/System32/config/SECURITY", "**/Windows/System32/config/SYSTEM",
                     "**/*.reg", "**/AppData/Roaming/Microsoft/SystemCertificates/**",
                     "**/WindowsPowerShell/profile.ps1", "**/PowerShell/profile.ps1"],
    },
    "path_allowlist": {"enabled": False, "file_access_allow": [], "file_write_allow": [],
                       "patch_allow": []},
    "egress_allowlist": {
        "enabled": True, "block": [], "default_action": "block",
        "additional_allow": [], "remove_allow": [], "additional_block": [], "remove_block": [],
        "allow": ["*.openai.com", "*.anthropic.com", "api.github.com", "*.npmjs.org",
                  "registry.npmjs.org", "pypi.org", "files.pythonhosted.org", "crates.io",
                  "static.crates.io"],
    },
    "secret_leak": {
        "enabled": True, "redact": True, "severity_threshold": "high",
        "additional_patterns": [], "remove_patterns": [],
        "skip_paths": ["**/test/**", "**/tests/**", "**/*_test.*", "**/*.test.*"],
        "patterns": [
            _secret("aws_access_key", r"AKIA[0-9A-Z]{16}"),
            _secret("aws_secret_key", r"(?i)aws[_\-]?secret[_\-]?access[_\-]?key['\"]?\s*"
                                      r"[:=]\s*['\"]?[A-Za-z0-9/+=]{40}"),
            _secret("github_token", r"gh[ps]_[A-Za-z0-9]{36}"),
            _secret("github_pat", r"github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59}"),
            _secret("openai_key", r"sk-[A-Za-z0-9]{48}"),
            _secret("anthropic_key", r"sk-ant-[A-Za-z0-9\-]{95}"),
            _secret("private_key", r"-----BEGIN\s+(RSA\s+)?PRIVATE\s+KEY-----"),
            _secret("npm_token", r"npm_[A-Za-z0-9]{36}"),
            _secret("slack_token", r"xox[baprs]-[0-9]{10,13}-[0-9]{10,13}[a-zA-Z0-9-]*"),
            _secret("generic_api_key", r"(?i)(api[_\-]?key|apikey)['\"]?\s*[:=]\s*['\"]?"
                                       r"[A-Za-z0-9]{32,}", "medium"),
            _secret("generic_secret", r"(?i)(secret|password|passwd|pwd)['\"]?\s*[:=]\s*"
                                      r"['\"]?[A-Za-z0-9!@#$%^&*]{8,}", "medium"),
        ],
    },
    "patch_integrity": {
        "enabled": True, "max_additions": 1000, "max_deletions": 500, "require_balance": False,
        "max_imbalance_ratio": 10.0,
        "forbidden_patterns": [r"(?i)disable[ _\-]?(security|auth|ssl|tls)",
                               r"(?i)skip[ _\-]?(verify|validation|check)",
                               r"(?i)rm\s+-rf\s+/", r"(?i)chmod\s+777", r"(?i)eval\s*\(",
                               r"(?i)exec\s*\(", r"(?i)reverse[_\-]?shell",
                               r"(?i)bind[_\-]?shell", r"base64[_\-]?decode.*exec"],
    },
    "shell_command": {
        "enabled": True, "enforce_forbidden_paths": True,
        "forbidden_patterns": [r"(?i)\brm\s+(-rf?|--recursive)\s+/\s*(?:$|\*)",
                               r"(?i)\bcurl\s+[^|]*\|\s*(bash|sh|zsh)\b",
                               r"(?i)\bwget\s+[^|]*\|\s*(bash|sh|zsh)\b",
                               r"(?i)\bnc\s+[^\n]*\s+-e\s+",
                               r"(?i)\bbash\s+-i\s+>&\s+/dev/tcp/",
                               r"(?i)\bbase64\s+[^|]*\|\s*(curl|wget|nc)\b"],
    },
    "mcp_tool": {
        "enabled": True, "allow": [], "default_action": "allow", "max_args_size": 1048576,
        "block": ["shell_exec", "run_command", "raw_file_write", "raw_file_delete"],
        "require_confirmation": ["file_write", "file_delete", "git_push"],
        "additional_allow": [], "remove_allow": [], "additional_block": [], "remove_block": [],
    },
    "prompt_injection": {"enabled": True, "warn_at_or_above": "suspicious",
                         "block_at_or_above": "high", "max_scan_bytes": 200000},
    "jailbreak": {"enabled": True, "block_threshold": 70, "warn_threshold": 30,
                  "max_input_bytes": 100000},
}


@dataclass(slots=True)
class ClawdstrikePolicy:
    """A resolved Clawdstrike policy: ``guards`` holds every guard's effective config."""

    name: str
    description: str
    version: str
    sources: list[str]
    guards: Guards
    settings: dict[str, Any] = field(default_factory=dict)
    untranslated: list[str] = field(default_factory=list)


def load_clawdstrike(data: Mapping[str, Any], *, source: str,
                     base_dir: Path | None) -> ClawdstrikePolicy:
    """Resolve ``data`` (a parsed policy) with its ``extends`` chain and apply defaults."""
    notes: list[str] = []
    name, desc, version, guards, settings, sources = _resolve(data, source, base_dir, (), notes)
    effective: Guards = {}
    for guard, default in DEFAULTS.items():
        cfg = guards.get(guard)
        merged = dict(default)
        if cfg is not None:
            merged.update({k: v for k, v in cfg.items() if v is not None})
        effective[guard] = merged
    return ClawdstrikePolicy(name, desc, version, sources, _effective_lists(effective), settings,
                             notes)


def _resolve(data: Mapping[str, Any], source: str, base_dir: Path | None,
             stack: tuple[str, ...], notes: list[str],
             ) -> tuple[str, str, str, Guards, dict[str, Any], list[str]]:
    if not isinstance(data, Mapping):
        raise PolicySchemaError("a Clawdstrike policy must be a YAML mapping", location=source)
    top = Section(data, "").only(*TOP_KEYS)
    version = data.get("version", "1.1.0")
    if not isinstance(version, str) or not version.startswith("1."):
        raise top.fail("version", f"unsupported Clawdstrike policy version {version!r} "
                                  "(expected 1.x.y)")
    for key in UNSUPPORTED_TOP:
        if top.raw(key) not in (None, [], {}):
            notes.append(f"{key} ({source}): not translated; CODOR has no equivalent"
                         + _consequence(key, top.raw(key)))
    guards = _read_guards(top.section("guards"), notes, source)
    settings = dict(top.section("settings").raw_mapping())
    strategy = top.choice("merge_strategy", ("deep_merge", "merge", "replace"), "deep_merge")
    sources = [source]
    parent = top.string("extends")
    if parent and strategy != "replace":
        if len(stack) >= MAX_DEPTH:
            raise PolicyExtendsError("extends is nested too deeply", location=top.loc("extends"))
        path = _find_parent(parent, base_dir, top.loc("extends"))
        if str(path) in stack or str(path) == source:
            raise PolicyExtendsError(f"extends cycle through {path}", location=top.loc("extends"))
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise PolicyExtendsError(f"cannot read {path}: {exc.strerror or exc}",
                                     location=top.loc("extends")) from None
        pname, pdesc, _pv, pguards, psettings, psources = _resolve(
            load_yaml(text, str(path)), str(path), path.parent, (*stack, source), notes)
        guards = _merge(pguards, guards, strategy)
        settings = {**psettings, **settings}
        sources = psources + sources
        inherited = (pname, pdesc)
    else:
        inherited = (Path(source).stem, "")
    name = top.string("name") or inherited[0]
    return name, top.string("description") or inherited[1], version, guards, settings, sources


def _consequence(key: str, value: Any) -> str:
    """What the missing feature changes, for the two that restrict actions."""
    if key == "posture" and isinstance(value, Mapping):
        initial = value.get("initial")
        states = value.get("states")
        caps = states.get(initial, {}).get("capabilities") if isinstance(states, Mapping) \
            and isinstance(states.get(initial), Mapping) else None
        return (f"; WARNING: Clawdstrike starts in posture {initial!r} (capabilities "
                f"{list(caps) if isinstance(caps, list) else '?'}) and blocks actions outside "
                "the current posture's capabilities and budgets; this policy does not")
    if key == "origins" and isinstance(value, Mapping) and \
            value.get("default_behavior") == "deny":
        return ("; WARNING: Clawdstrike denies actions whose origin matches no profile "
                "(default_behavior: deny); this policy does not")
    return ""


def _find_parent(ref: str, base_dir: Path | None, where: str | None) -> Path:
    name = ref
    for prefix in ("clawdstrike:", "ruleset:"):
        name = name.removeprefix(prefix)
    base = base_dir or Path.cwd()
    candidates = [base / name]
    if not name.endswith((".yaml", ".yml")):
        candidates += [base / f"{name}.yaml", base / f"{name}.yml"]
    for path in candidates:
        if path.is_file():
            return path.resolve()
    bundled = bundled_ruleset(name)
    if bundled is not None:
        return bundled
    raise PolicyExtendsError(
        f"extends {ref!r}: no file {name!r} (or {name}.yaml) beside the policy, and no "
        "installed clawdstrike package has that ruleset; CODOR does not ship Clawdstrike's "
        "rulesets, so put a copy of it beside the policy", location=where)


def bundled_ruleset(name: str) -> Path | None:
    """``rulesets/<name>.yaml`` of an installed ``clawdstrike`` Python package, if any
    (found without importing the package)."""
    if not _RULESET_NAME.fullmatch(name):
        return None
    try:
        spec = importlib.util.find_spec("clawdstrike")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        path = Path(location) / "rulesets" / f"{name}.yaml"
        if path.is_file():
            return path.resolve()
    return None


_RULESET_NAME: Final = re.compile(r"[a-z0-9][a-z0-9_\-]*")


# -- reading one file's guards ---------------------------------------------------------------
def _read_guards(sec: Section, notes: list[str], source: str) -> Guards:
    sec.only(*GUARD_KEYS, *UNSUPPORTED_GUARDS)
    out: Guards = {}
    for name in sec:
        raw = sec.raw(name)
        if name in UNSUPPORTED_GUARDS:
            if raw not in (None, [], {}):
                notes.append(f"guards.{name} ({source}): not translated; CODOR has no "
                             "equivalent guard")
            continue
        if raw is None:
            continue
        out[name] = _READERS[name](sec.section(name).only(*GUARD_KEYS[name]))
    return out


def _opt_strings(sec: Section, key: str) -> list[str] | None:
    return sec.strings(key) if key in sec else None


def _common(sec: Section, lists: tuple[str, ...], opt_lists: tuple[str, ...] = ()) -> \
        dict[str, Any]:
    out: dict[str, Any] = {"enabled": sec.boolean("enabled", True)}
    for key in lists:
        out[key] = sec.strings(key)
    for key in opt_lists:
        out[key] = _opt_strings(sec, key)
    return out


def _forbidden_path(sec: Section) -> dict[str, Any]:
    return _common(sec, ("exceptions", "additional_patterns", "remove_patterns"), ("patterns",))


def _path_allowlist(sec: Section) -> dict[str, Any]:
    return _common(sec, ("file_access_allow", "file_write_allow", "patch_allow"))


def _egress(sec: Section) -> dict[str, Any]:
    out = _common(sec, ("allow", "block", "additional_allow", "remove_allow",
                        "additional_block", "remove_block"))
    out["default_action"] = (sec.choice("default_action", ("allow", "block", "log"), "block")
                             if "default_action" in sec else None)
    return out


def _secret_leak(sec: Section) -> dict[str, Any]:
    out = _common(sec, ("remove_patterns", "skip_paths"))
    out["redact"] = sec.boolean("redact", True)
    out["severity_threshold"] = (_severity(sec, "severity_threshold", "error")
                                 if "severity_threshold" in sec else None)
    for key in ("patterns", "additional_patterns"):
        if key not in sec:
            out[key] = None if key == "patterns" else []
            continue
        items = []
        for p in sec.sections(key):
            p.only("name", "pattern", "severity", "description", "luhn_check", "masking")
            items.append({"name": p.req_string("name"), "pattern": p.req_string("pattern"),
                          "severity": _severity(p, "severity", "critical"),
                          "luhn_check": p.boolean("luhn_check", False),
                          "loc": p.loc("pattern")})
        out[key] = items
    return out


def _patch_integrity(sec: Section) -> dict[str, Any]:
    out = _common(sec, (), ("forbidden_patterns",))
    out["max_additions"] = sec.integer("max_additions")
    out["max_deletions"] = sec.integer("max_deletions")
    out["require_balance"] = sec.boolean("require_balance", False)
    out["max_imbalance_ratio"] = sec.number("max_imbalance_ratio")
    return out


def _shell_command(sec: Section) -> dict[str, Any]:
    out = _common(sec, (), ("forbidden_patterns",))
    out["enforce_forbidden_paths"] = sec.boolean("enforce_forbidden_paths", True)
    return out


def _mcp_tool(sec: Section) -> dict[str, Any]:
    if "deny" in sec and "block" in sec:
        raise sec.fail("deny", "give either block or its alias deny, not both")
    out = _common(sec, ("allow", "require_confirmation", "additional_allow", "remove_allow",
                        "additional_block", "remove_block"))
    out["block"] = sec.strings("block" if "block" in sec else "deny")
    out["default_action"] = (sec.choice("default_action", ("allow", "block", "deny"), "block")
                             if "default_action" in sec else None)
    if out["default_action"] == "deny":
        out["default_action"] = "block"
    out["max_args_size"] = sec.integer("max_args_size")
    return out


_LEVELS: Final = ("safe", "suspicious", "high", "critical")


def _prompt_injection(sec: Section) -> dict[str, Any]:
    out = _common(sec, ())
    for key in ("warn_at_or_above", "block_at_or_above"):
        out[key] = (sec.choice(key, _LEVELS, "suspicious").lower() if key in sec else None)
    out["max_scan_bytes"] = sec.integer("max_scan_bytes")
    return out


def _jailbreak(sec: Section) -> dict[str, Any]:
    out = _common(sec, ())
    det = sec.section("detector").only(
        "layers", "linear_model", "block_threshold", "warn_threshold", "max_input_bytes",
        "session_aggregation", "session_max_entries", "session_ttl_seconds",
        "session_half_life_seconds")
    out["block_threshold"] = det.integer("block_threshold")
    out["warn_threshold"] = det.integer("warn_threshold")
    out["max_input_bytes"] = det.integer("max_input_bytes")
    return out


_SEVERITIES: Final = {"info": "low", "warning": "medium", "error": "high", "critical": "critical",
                      "low": "low", "medium": "medium", "high": "high"}


def _severity(sec: Section, key: str, default: str) -> str:
    """Clawdstrike severity (info/warning/error/critical, or canonical low..critical) mapped
    to CODOR's vocabulary."""
    value = sec.choice(key, tuple(_SEVERITIES), default)
    return _SEVERITIES[value]


_READERS: Final[dict[str, Callable[[Section], dict[str, Any]]]] = {
    "forbidden_path": _forbidden_path,
    "path_allowlist": _path_allowlist,
    "egress_allowlist": _egress,
    "secret_leak": _secret_leak,
    "patch_integrity": _patch_integrity,
    "shell_command": _shell_command,
    "mcp_tool": _mcp_tool,
    "prompt_injection": _prompt_injection,
    "jailbreak": _jailbreak,
}


# -- merging (Clawdstrike's deep_merge, guard by guard) --------------------------------------
def _add_remove(base: list[Any], add: list[Any], remove: list[Any]) -> list[Any]:
    out = list(base)
    out.extend(x for x in add if x not in out)
    return [x for x in out if x not in remove]


def _merge(base: Guards, child: Guards, strategy: str) -> Guards:
    if strategy == "merge":
        return {**base, **child}
    out: Guards = dict(base)
    for name, cfg in child.items():
        if name not in base:
            # Clawdstrike merges a child-only config with the guard's defaults for the guards
            # that have merge lists, so additional_*/remove_* apply to the defaults.
            seed = DEFAULTS[name]
            out[name] = _merge_one(name, dict(seed), cfg) if name in _LIST_MERGED else cfg
        else:
            out[name] = _merge_one(name, base[name], cfg)
    return out


_LIST_MERGED: Final = frozenset({"forbidden_path", "egress_allowlist", "secret_leak",
                                 "mcp_tool", "path_allowlist"})


def _merge_one(name: str, base: dict[str, Any], child: dict[str, Any]) -> dict[str, Any]:
    if name not in _LIST_MERGED:
        return child
    out = dict(base)
    out["enabled"] = child["enabled"]
    if name == "forbidden_path":
        pats = child["patterns"] if child["patterns"] is not None else _fp_effective(base)
        out["patterns"] = _add_remove(pats, child["additional_patterns"],
                                      child["remove_patterns"])
        out["exceptions"] = _add_remove(base.get("exceptions") or [], child["exceptions"], [])
        out["additional_patterns"] = out["remove_patterns"] = []
    elif name == "path_allowlist":
        for key in ("file_access_allow", "file_write_allow", "patch_allow"):
            out[key] = child[key] or base.get(key) or []
    elif name in ("egress_allowlist", "mcp_tool"):
        for lst in ("allow", "block"):
            merged = _add_remove(base.get(lst) or [], child[f"additional_{lst}"],
                                 child[f"remove_{lst}"])
            out[lst] = child[lst] or merged
            out[f"additional_{lst}"] = out[f"remove_{lst}"] = []
        if child.get("default_action") is not None:
            out["default_action"] = child["default_action"]
        if name == "mcp_tool":
            if child["require_confirmation"]:
                out["require_confirmation"] = child["require_confirmation"]
            if child.get("max_args_size") is not None:
                out["max_args_size"] = child["max_args_size"]
    else:  # secret_leak
        secrets: list[dict[str, Any]] = (child["patterns"] if child["patterns"] is not None
                                         else _sl_effective(base))
        names = {p["name"] for p in secrets}
        secrets = secrets + [p for p in child["additional_patterns"] if p["name"] not in names]
        out["patterns"] = [p for p in secrets if p["name"] not in child["remove_patterns"]]
        out["additional_patterns"], out["remove_patterns"] = [], []
        out["skip_paths"] = _add_remove(base.get("skip_paths") or [],
                                        child.get("skip_paths") or [], [])
        for key in ("severity_threshold", "redact"):
            if child.get(key) is not None:
                out[key] = child[key]
    return out


def _fp_effective(cfg: Mapping[str, Any]) -> list[str]:
    pats = cfg.get("patterns")
    base = list(pats) if pats is not None else list(DEFAULTS["forbidden_path"]["patterns"])
    return _add_remove(base, cfg.get("additional_patterns") or [],
                       cfg.get("remove_patterns") or [])


def _sl_effective(cfg: Mapping[str, Any]) -> list[dict[str, Any]]:
    pats = cfg.get("patterns")
    out = list(pats) if pats is not None else list(DEFAULTS["secret_leak"]["patterns"])
    names = {p["name"] for p in out}
    out += [p for p in cfg.get("additional_patterns") or [] if p["name"] not in names]
    remove = cfg.get("remove_patterns") or []
    return [p for p in out if p["name"] not in remove]


def _effective_lists(guards: Guards) -> Guards:
    """Apply a lone file's own ``additional_*``/``remove_*`` lists (Clawdstrike does this
    when it builds a guard)."""
    out = dict(guards)
    fp = dict(out["forbidden_path"])
    fp["patterns"] = _fp_effective(fp)
    out["forbidden_path"] = fp
    sl = dict(out["secret_leak"])
    sl["patterns"] = _sl_effective(sl)
    out["secret_leak"] = sl
    for name in ("egress_allowlist", "mcp_tool"):
        cfg = dict(out[name])
        for lst in ("allow", "block"):
            cfg[lst] = cfg[lst] or _add_remove([], cfg.get(f"additional_{lst}") or [],
                                               cfg.get(f"remove_{lst}") or [])
        out[name] = cfg
    return out

