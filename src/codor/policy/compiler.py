"""Compiling a merged policy document into dispatch tables: once, at load.

After compilation, deciding an action is a dictionary lookup by kind and a short list of
precompiled checks; nothing is parsed again and nothing touches the disk except symlink
resolution.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from codor.canonical import canonical_sha256
from codor.errors import PolicySchemaError
from codor.model import ACTION_KINDS, Action
from codor.policy.claims_section import ClaimsSettings, parse_claims_section
from codor.policy.guards.base import CompileContext, EvalContext, Finding, Guard
from codor.policy.loader import PolicyDocument
from codor.policy.rules import CompiledRule, compile_rule, expand_kinds
from codor.policy.sandbox_section import SandboxSettings, parse_sandbox_section
from codor.policy.schema import Section
from codor.policy.source import LocDict

if TYPE_CHECKING:  # the extension layer (subprocess, threads) loads only when a policy has one
    from codor.policy.extensions import ExtensionRunner, ExtensionSpec

__all__ = ["GUARD_NAMES", "CompiledPolicy", "Settings", "compile_policy"]

#: Guards in compile order: later guards may use earlier ones (commands uses paths).
GUARD_NAMES = ("paths", "secrets", "egress", "tools", "patch", "commands", "injection")
SETTINGS_KEYS = ("unattended", "case_insensitive_paths", "extension_timeout_ms")

Check = Callable[[Action, EvalContext], Sequence[Finding]]


@dataclass(frozen=True, slots=True)
class Settings:
    unattended: bool = False  # no person to ask: every ask becomes a deny
    case_insensitive_paths: bool = False


@dataclass(slots=True)
class CompiledPolicy:
    """Everything the engine needs, precompiled. ``sha256`` identifies it in every decision."""

    name: str
    sha256: str
    source: str
    files: tuple[str, ...]
    workspace: str
    home: str
    codor_home: str
    settings: Settings
    dispatch: dict[str, tuple[Check, ...]]
    guards: dict[str, Guard]
    rules: dict[str, CompiledRule]
    extensions: ExtensionRunner | None
    document: PolicyDocument
    warnings: list[str] = field(default_factory=list)
    sandbox: SandboxSettings = field(default_factory=SandboxSettings)  # ``sandbox:`` section
    claims: ClaimsSettings = field(default_factory=ClaimsSettings)     # ``claims:`` section

    def close(self) -> None:
        if self.extensions is not None:
            self.extensions.close()


def _case_insensitive(value: str) -> bool:
    if value == "auto":
        return sys.platform in ("darwin", "win32")
    return value == "true"


def compile_policy(doc: PolicyDocument, *, workspace: str, home: str,
                   codor_home: str | None = None) -> CompiledPolicy:
    """Compile a loaded document. Raises located :class:`~codor.errors.PolicyError` subclasses."""
    warnings = list(doc.warnings)
    sset = Section(doc.settings, "settings", warnings).only(*SETTINGS_KEYS)
    raw_ci = sset.raw("case_insensitive_paths", "auto")
    ci_value = {True: "true", False: "false"}.get(raw_ci, raw_ci)
    if ci_value not in ("auto", "true", "false"):
        raise sset.fail("case_insensitive_paths", "must be auto, true or false")
    settings = Settings(
        unattended=sset.boolean("unattended", False),
        case_insensitive_paths=_case_insensitive(str(ci_value)),
    )
    default_ext_timeout = sset.integer("extension_timeout_ms", 1000, minimum=1)
    sandbox = parse_sandbox_section(Section(doc.sandbox, "sandbox", warnings))
    claims = parse_claims_section(Section(doc.claims, "claims", warnings))
    cc = CompileContext(workspace=workspace, home=home,
                        case_insensitive=settings.case_insensitive_paths, warnings=warnings)

    unknown = sorted(set(doc.guards) - set(GUARD_NAMES))
    if unknown:
        cfg = doc.guards[unknown[0]]
        raise PolicySchemaError(
            f"guards: unknown guard {unknown[0]!r}; known: {', '.join(GUARD_NAMES)}",
            location=cfg.loc() if isinstance(cfg, LocDict) else None,
        )
    for name in GUARD_NAMES:
        if name not in doc.guards:
            continue
        cfg = doc.guards[name]
        module: Any = importlib.import_module(f"codor.policy.guards.{name}")
        guard: Guard = module.compile_guard(Section(cfg, f"guards.{name}", warnings), cc)
        cc.guards[name] = guard

    rules: dict[str, CompiledRule] = {}
    for rid, raw in doc.rules.items():
        rules[rid] = compile_rule(Section(raw, f"rules[{rid}]", warnings), cc)

    specs: list[ExtensionSpec] = []
    if doc.extensions:
        from codor.policy.extensions import ExtensionRunner, compile_extension
    for ename, raw in doc.extensions.items():
        esec = Section(raw, f"extensions[{ename}]", warnings)
        kinds = expand_kinds(esec.strings("on") or ["*"], esec, "on")
        if "timeout_ms" not in esec and default_ext_timeout is not None:
            with_default = LocDict(raw, source=raw.source, line=raw.line)
            with_default["timeout_ms"] = default_ext_timeout
            esec = Section(with_default, f"extensions[{ename}]", warnings)
        base = None if raw.source.startswith("codor:") else Path(raw.source).parent
        specs.append(compile_extension(esec, kinds, base))

    dispatch: dict[str, tuple[Check, ...]] = {}
    for kind in sorted(ACTION_KINDS):
        checks: list[Check] = [g.check for g in cc.guards.values() if kind in g.kinds]
        checks += [r.check for r in rules.values() if kind in r.kinds]
        dispatch[kind] = tuple(checks)

    # The hash identifies what is enforced, not what the file is called.
    body: Mapping[str, Any] = {k: v for k, v in doc.to_json().items() if k != "name"}
    return CompiledPolicy(
        name=doc.name,
        sha256=canonical_sha256(body),
        source=doc.source,
        files=doc.files,
        workspace=workspace,
        home=home,
        codor_home=codor_home or str(Path(workspace) / ".codor"),
        settings=settings,
        dispatch=dispatch,
        guards=dict(cc.guards),
        rules=rules,
        extensions=ExtensionRunner(specs) if specs else None,
        document=doc,
        warnings=warnings,
        sandbox=sandbox,
        claims=claims,
    )
