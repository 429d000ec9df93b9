"""Loading a policy: YAML files and built-in rulesets, ``extends`` chains, variables, merging.

The result, :class:`PolicyDocument`, is the merged, variable-expanded policy that
:mod:`codor.policy.compiler` turns into an engine. Every error names ``file:line``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codor.errors import PolicyExtendsError, PolicySchemaError, PolicyVariableError
from codor.model import thaw
from codor.policy.schema import PolicyWarning, Section
from codor.policy.source import LocDict, LocList, from_located_json, load_yaml, read_yaml_file

__all__ = [
    "BUILTIN_RULESETS",
    "MAX_EXTENDS_DEPTH",
    "PolicyDocument",
    "builtin_ruleset_text",
    "load_policy",
]

BUILTIN_RULESETS = ("default", "coding-assistant", "strict", "ci", "permissive")
MAX_EXTENDS_DEPTH = 16
TOP_KEYS = ("version", "name", "description", "extends", "variables", "rules", "disable_rules",
            "guards", "extensions", "settings", "sandbox", "claims", "tests")
_VAR = re.compile(r"\$(\$?)\{([^}]*)\}")
_VAR_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(slots=True)
class PolicyDocument:
    """A merged policy, ready to compile."""

    name: str
    files: tuple[str, ...]                 # every policy file read
    rules: dict[str, LocDict]              # by id, after overrides and disable_rules
    guards: dict[str, LocDict]
    extensions: dict[str, LocDict]
    settings: LocDict
    tests: list[LocDict]                   # the top file's own tests
    variables: dict[str, str]
    source: str                            # the top file ("codor:default" for built-ins)
    warnings: list[str] = field(default_factory=list)
    overrides: list[str] = field(default_factory=list)  # rule X overrides Y (PolicyWarning)
    sandbox: LocDict = field(default_factory=LocDict)   # the merged ``sandbox:`` section
    claims: LocDict = field(default_factory=LocDict)    # the merged ``claims:`` section

    def to_json(self) -> dict[str, Any]:
        """The merged policy as plain JSON (``codor policy show`` prints it; the hash covers it)."""
        body: dict[str, Any] = thaw({
            "version": 1,
            "name": self.name,
            "rules": list(self.rules.values()),
            "guards": self.guards,
            "extensions": list(self.extensions.values()),
            "settings": self.settings,
        })
        if self.sandbox:  # absent: the hash of a policy without the section is unchanged
            body["sandbox"] = thaw(self.sandbox)
        if self.claims:
            body["claims"] = thaw(self.claims)
        return body


_RULESETS_DIR = Path(__file__).parent / "rulesets"


def builtin_ruleset_text(name: str) -> str:
    """The YAML text of a built-in ruleset (``default``, ``strict``...)."""
    if name not in BUILTIN_RULESETS:
        raise PolicyExtendsError(
            f"unknown built-in ruleset 'codor:{name}'; known: "
            + ", ".join(f"codor:{n}" for n in BUILTIN_RULESETS)
        )
    return (_RULESETS_DIR / f"{name}.yaml").read_text("utf-8")


def prebuilt_ruleset(name: str, text: str) -> dict[str, Any] | None:
    """The shipped pre-parsed form of built-in ruleset ``name`` (``rulesets/<name>.json``,
    written by ``scripts/prebuild_rulesets.py``) if it was made from exactly ``text``; else
    ``None`` and the YAML is parsed. It spares a cold ``codor check`` importing the YAML
    parser when no policy file is involved."""
    try:
        with (_RULESETS_DIR / f"{name}.json").open("rb") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("yaml_sha256") != hashlib.sha256(
            text.encode("utf-8")).hexdigest():
        return None
    return data


def render_prebuilt_ruleset(name: str) -> str:
    """The text ``rulesets/<name>.json`` should hold (what :func:`prebuilt_ruleset` reads)."""
    from codor.policy.source import to_located_json

    text = builtin_ruleset_text(name)
    body = {"yaml_sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
            "generated_by": "scripts/prebuild_rulesets.py",
            "document": to_located_json(load_yaml(text, f"codor:{name}"))}
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")) + "\n"


def parse_builtin_ruleset(name: str) -> Any:
    """A built-in ruleset, parsed with locations (``codor:<name>:<line>``)."""
    text = builtin_ruleset_text(name)
    ref = f"codor:{name}"
    pre = prebuilt_ruleset(name, text)
    if pre is not None:
        return from_located_json(pre["document"], ref)
    return load_yaml(text, ref)


def _read(ref: str, base_dir: Path | None, where: str | None) -> tuple[str, Any]:
    """Read one policy by reference; returns (canonical id, parsed YAML)."""
    if ref.startswith("codor:"):
        name = ref.removeprefix("codor:")
        try:
            return ref, parse_builtin_ruleset(name)
        except PolicyExtendsError as exc:
            raise PolicyExtendsError(exc.message, location=where) from None
    path = Path(os.path.expanduser(ref))
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    path = path.resolve()
    if not path.is_file():
        raise PolicyExtendsError(f"policy file not found: {ref}", location=where)
    return str(path), read_yaml_file(path)


def load_policy(
    ref: str | Path,
    *,
    workspace: str,
    home: str | None = None,
    env: Mapping[str, str] | None = None,
    codor_home: str | None = None,
) -> PolicyDocument:
    """Load ``ref`` (a file path or ``codor:<name>``) with its whole ``extends`` chain."""
    env = os.environ if env is None else env
    home = home or env.get("HOME") or str(Path.home())
    ref_s = str(ref)
    warnings: list[str] = []
    overrides: list[str] = []
    files: list[str] = []
    chain: list[tuple[str, LocDict]] = []  # parents first

    def visit(ref_s: str, base: Path | None, stack: tuple[str, ...], where: str | None) -> None:
        if len(stack) > MAX_EXTENDS_DEPTH:
            raise PolicyExtendsError(
                f"extends is nested deeper than {MAX_EXTENDS_DEPTH} levels", location=where
            )
        ident, data = _read(ref_s, base, where)
        if ident in stack:
            cycle = " -> ".join((*stack[stack.index(ident):], ident))
            raise PolicyExtendsError(f"extends cycle: {cycle}", location=where)
        if not isinstance(data, LocDict):
            raise PolicySchemaError("a policy must be a YAML mapping", location=ident)
        doc = Section(data, "", warnings).only(*TOP_KEYS)
        version = data.get("version")
        if version is None:
            raise PolicySchemaError("missing 'version: 1'", location=data.loc())
        if version not in (1, "1"):
            raise doc.fail("version", f"unsupported policy version {version!r} (expected 1)")
        next_base = None if ident.startswith("codor:") else Path(ident).parent
        for i, parent in enumerate(doc.strings("extends")):
            visit(parent, next_base, (*stack, ident), doc.item_loc("extends", i))
        if ident not in files:
            files.append(ident)
        chain.append((ident, data))

    visit(ref_s, Path.cwd(), (), None)
    top_ident, top = chain[-1]

    # -- variables: built-ins, then each file's in chain order (children win) -------------
    variables: dict[str, str] = {
        "WORKSPACE": workspace.rstrip("/") or "/",
        "HOME": home.rstrip("/") or "/",
        "TMPDIR": (env.get("TMPDIR") or "/tmp").rstrip("/") or "/",  # noqa: S108
        "CODOR_HOME": codor_home or str(Path(workspace) / ".codor"),
    }
    builtin_names = set(variables)
    for _ident, data in chain:
        sec = Section(data, "", warnings).section("variables")
        for key in sec:
            if not _VAR_NAME.fullmatch(key):
                raise sec.fail(key, "variable names are letters, digits and _")
            if key in builtin_names:
                raise sec.fail(key, f"{key} is built in and cannot be redefined")
            value = sec.raw(key)
            if not isinstance(value, str | int | float) or isinstance(value, bool):
                raise sec.fail(key, "a variable must be a string or a number")
            variables[key] = _expand(str(value), variables, env, sec.loc(key))

    # -- merge ------------------------------------------------------------------------------
    rules: dict[str, LocDict] = {}
    rule_origin: dict[str, str] = {}
    guards: dict[str, LocDict] = {}
    extensions: dict[str, LocDict] = {}
    settings = LocDict(source=top_ident)
    sandbox = LocDict(source=top_ident)
    claims = LocDict(source=top_ident)
    for ident, data in chain:
        doc = Section(data, "", warnings)
        for rule in doc.sections("rules"):
            rid = rule.req_string("id")
            raw = rule.raw_mapping()
            if rid in rules:
                overrides.append(PolicyWarning(rule.loc("id"), f"rule {rid!r} overrides the "
                                               f"one at {rule_origin[rid]}", "I_OVERRIDE"))
            rules[rid] = raw
            rule_origin[rid] = rule.loc("id") or ident
        for i, rid in enumerate(doc.strings("disable_rules")):
            if rules.pop(rid, None) is None:
                warnings.append(PolicyWarning(doc.item_loc("disable_rules", i),
                                              f"disable_rules: no rule {rid!r} to disable",
                                              "W_UNKNOWN_RULE"))
        gsec = doc.section("guards")
        for gname in gsec:
            cfg = gsec.raw(gname)
            if cfg is None:
                continue
            if not isinstance(cfg, LocDict):
                raise gsec.fail(gname, "expected a mapping")
            if cfg.get("inherit", True) is False or gname not in guards:
                guards[gname] = cfg
            else:
                guards[gname] = _merge(guards[gname], cfg)
        for ext in doc.sections("extensions"):
            ename = ext.req_string("name")
            extensions[ename] = ext.raw_mapping()
        sset = doc.section("settings")
        if sset.keys():
            settings = _merge(settings, sset.raw_mapping())
        sbox = doc.section("sandbox")
        if sbox.keys():
            sandbox = _merge(sandbox, sbox.raw_mapping())
        csec = doc.section("claims")
        if csec.keys():
            claims = _merge(claims, csec.raw_mapping())

    tests_sec = Section(top, "", warnings)
    tests = [_expand_tree(t.raw_mapping(), variables, env) for t in tests_sec.sections("tests")]
    name = top.get("name") if isinstance(top.get("name"), str) else top_ident

    expanded_rules = {k: _expand_tree(v, variables, env) for k, v in rules.items()}
    expanded_guards = {k: _expand_tree(v, variables, env) for k, v in guards.items()}
    expanded_ext = {k: _expand_tree(v, variables, env) for k, v in extensions.items()}
    return PolicyDocument(
        name=str(name),
        files=tuple(files),
        rules=expanded_rules,
        guards=expanded_guards,
        extensions=expanded_ext,
        settings=_expand_tree(settings, variables, env),
        tests=tests,
        variables=variables,
        source=top_ident,
        warnings=warnings,
        overrides=overrides,
        sandbox=_expand_tree(sandbox, variables, env),
        claims=_expand_tree(claims, variables, env),
    )


def _merge(base: LocDict, over: LocDict) -> LocDict:
    """Deep merge: mappings recursively, lists concatenated (no duplicates), scalars replaced."""
    out = LocDict(base, source=over.source, line=over.line)
    out.key_lines = dict(base.key_lines)
    for key, value in over.items():
        if key == "inherit":
            continue
        old = out.get(key)
        if isinstance(old, LocDict) and isinstance(value, LocDict):
            out[key] = _merge(old, value)
        elif isinstance(old, list) and isinstance(value, list):
            merged = LocList(old, source=value.source if isinstance(value, LocList) else "",
                             line=getattr(value, "line", 0))
            merged.item_lines = list(getattr(old, "item_lines", [0] * len(old)))
            lines = getattr(value, "item_lines", [0] * len(value))
            for item, line in zip(value, lines, strict=False):
                if item not in merged:
                    merged.append(item)
                    merged.item_lines.append(line)
            out[key] = merged
        else:
            out[key] = value
        if key in over.key_lines:
            out.key_lines[key] = over.key_lines[key]
    return out


def _expand(text: str, variables: Mapping[str, str], env: Mapping[str, str],
            where: str | None) -> str:
    if "$" not in text:
        return text

    def sub(m: re.Match[str]) -> str:
        if m.group(1):  # $${...} is a literal ${...}
            return "${" + m.group(2) + "}"
        name = m.group(2)
        if name.startswith("env:"):
            var, sep, default = name[4:].partition(":-")
            if var in env:
                return env[var]
            if sep:
                return default
            raise PolicyVariableError(f"environment variable {var!r} is not set "
                                      f"(write ${{env:{var}:-default}} for a default)",
                                      location=where)
        if name in variables:
            return variables[name]
        raise PolicyVariableError(f"undefined variable ${{{name}}}", location=where)

    return _VAR.sub(sub, text)


def _expand_tree(value: Any, variables: Mapping[str, str], env: Mapping[str, str],
                 where: str | None = None) -> Any:
    if isinstance(value, LocDict):
        out = LocDict(source=value.source, line=value.line)
        out.key_lines = value.key_lines
        for k, v in value.items():
            out[k] = _expand_tree(v, variables, env, value.loc(k))
        return out
    if isinstance(value, LocList):
        lst = LocList(source=value.source, line=value.line)
        lst.item_lines = value.item_lines
        for i, v in enumerate(value):
            lst.append(_expand_tree(v, variables, env, value.loc(i)))
        return lst
    if isinstance(value, str):
        return _expand(value, variables, env, where)
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return [_expand_tree(v, variables, env, where) for v in value]
    return value
