"""The policy's ``claims:`` section: defaults, validation with file:line, extends, the hash."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from codor.errors import PolicySchemaError
from codor.policy import compile_ref
from codor.policy.claims_section import ClaimsSettings
from codor.policy.compiler import CompiledPolicy

WritePolicy = Callable[..., Path]


def compiled(path: Path | str) -> CompiledPolicy:
    return compile_ref(path, workspace="/workspace", home="/home/user", env={})


def test_a_policy_without_the_section_gets_the_defaults() -> None:
    settings = compiled("codor:coding-assistant").claims
    assert settings == ClaimsSettings()
    assert settings.mode == "standard" and settings.fail_on == "high"
    assert settings.stop_enabled and settings.max_blocks == 2


def test_every_key_is_read(write_policy: WritePolicy) -> None:
    path = write_policy("""
        version: 1
        claims:
          mode: strict
          fail_on: medium
          patterns: {claim.vague: off, tests.no_assertion: high, claim.attribution: false}
          ignore_paths: ["generated/**", vendor/]
          stop: {enabled: false, max_blocks: 5}
    """)
    settings = compiled(path).claims
    assert settings == ClaimsSettings(
        mode="strict", fail_on="medium",
        patterns=(("claim.attribution", "off"), ("claim.vague", "off"),
                  ("tests.no_assertion", "high")),
        ignore_paths=("generated/**", "vendor/"), stop_enabled=False, max_blocks=5)
    assert settings.severity_of("tests.no_assertion", "medium") == "high"
    assert settings.severity_of("claim.vague", "low") == "off"
    assert settings.severity_of("tests.deleted", "high") == "high"


@pytest.mark.parametrize(("body", "message", "line"), [
    ("claims:\n  mood: strict\n", "claims.mood: unknown key (did you mean 'mode'?)", 3),
    ("claims:\n  mode: lenient\n", "claims.mode: must be one of standard, strict", 3),
    ("claims:\n  fail_on: severe\n", "claims.fail_on: must be one of info, low", 3),
    ("claims:\n  patterns: {tests.gone: high}\n", "unknown pattern 'tests.gone'", 3),
    ("claims:\n  patterns: {claim.vague: loud}\n", "expected one of info, low", 3),
    ("claims:\n  ignore_paths: ['  ']\n", "entry 0 is not a usable pattern", 3),
    ("claims:\n  stop:\n    max_blocks: -1\n", "claims.stop.max_blocks: must be >= 0", 4),
    ("claims:\n  stop:\n    blocks: 3\n", "claims.stop.blocks: unknown key", 4),
])
def test_bad_sections_fail_with_their_location(write_policy: WritePolicy, body: str,
                                               message: str, line: int) -> None:
    path = write_policy("version: 1\n" + body)
    with pytest.raises(PolicySchemaError) as caught:
        compiled(path)
    assert message in caught.value.message
    assert caught.value.location == f"{path}:{line}"


def test_extends_merges_patterns_and_replaces_scalars(write_policy: WritePolicy) -> None:
    write_policy("""
        version: 1
        claims:
          mode: strict
          patterns: {claim.vague: off}
    """, "base.yaml")
    child = write_policy("""
        version: 1
        extends: ["./base.yaml"]
        claims:
          fail_on: critical
          patterns: {tests.deleted: medium}
    """)
    settings = compiled(child).claims
    assert settings.mode == "strict" and settings.fail_on == "critical"
    assert settings.patterns == (("claim.vague", "off"), ("tests.deleted", "medium"))


def test_the_section_is_part_of_the_policy_hash(write_policy: WritePolicy) -> None:
    plain = write_policy("version: 1\n", "plain.yaml")
    strict = write_policy("version: 1\nclaims: {mode: strict}\n", "strict.yaml")
    empty = write_policy("version: 1\nclaims: {}\n", "empty.yaml")
    assert compiled(plain).sha256 != compiled(strict).sha256
    assert compiled(plain).sha256 == compiled(empty).sha256
    assert compiled(strict).document.to_json()["claims"] == {"mode": "strict"}
