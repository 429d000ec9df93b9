"""The policy's ``claims:`` section: how an agent's report is judged against the evidence.

Parsed and validated at load like every other section (unknown keys and wrong types fail with
``file:line``). It lives in :mod:`codor.policy` so the policy never imports :mod:`codor.claims`;
:mod:`codor.claims` re-exports :class:`ClaimsSettings`.

```yaml
claims:
  mode: standard          # standard | strict (strict: an unsupported claim fails the report)
  fail_on: high           # a finding at or above this severity fails the report
  patterns:               # per pattern id: a severity, or off
    tests.no_assertion: high
    claim.vague: off
  ignore_paths: ["generated/**"]   # changes here never make tests stale nor count as weakening
  stop:
    enabled: true         # the Stop hook verifies the agent's final message
    max_blocks: 2         # after this many blocks in a session, escalate to a person instead
```
"""

from __future__ import annotations

from dataclasses import dataclass

from codor.model import SEVERITIES
from codor.policy.schema import Section

__all__ = ["CLAIMS_MODES", "ClaimsSettings", "parse_claims_section"]

CLAIMS_MODES = ("standard", "strict")
SECTION_KEYS = ("mode", "fail_on", "patterns", "ignore_paths", "stop")


@dataclass(frozen=True, slots=True)
class ClaimsSettings:
    """The ``claims:`` section with defaults applied (frozen; hashable)."""

    mode: str = "standard"
    fail_on: str = "high"
    patterns: tuple[tuple[str, str], ...] = ()   # (pattern id, severity | "off"), sorted
    ignore_paths: tuple[str, ...] = ()
    stop_enabled: bool = True
    max_blocks: int = 2

    def severity_of(self, pattern_id: str, default: str) -> str:
        """The severity policy gives ``pattern_id`` (``off``: not reported)."""
        for pid, severity in self.patterns:
            if pid == pattern_id:
                return severity
        return default


def parse_claims_section(sec: Section) -> ClaimsSettings:
    """Validate a merged ``claims:`` mapping; raises a located PolicySchemaError."""
    from codor.claims.patterns import PATTERNS

    sec.only(*SECTION_KEYS)
    psec = sec.section("patterns")
    overrides: list[tuple[str, str]] = []
    for pid in psec:
        if pid not in PATTERNS:
            raise psec.fail(pid, f"unknown pattern {pid!r}; see `codor claims patterns`")
        value = psec.raw(pid)
        if value is False:
            value = "off"
        if value not in (*SEVERITIES, "off"):
            raise psec.fail(pid, f"expected one of {', '.join(SEVERITIES)} or off")
        overrides.append((pid, str(value)))
    ignore = sec.strings("ignore_paths")
    for i, value in enumerate(ignore):
        if not value.strip() or "\0" in value:
            raise sec.fail("ignore_paths", f"entry {i} is not a usable pattern")
    stop = sec.section("stop").only("enabled", "max_blocks")
    max_blocks = stop.integer("max_blocks", 2, minimum=0)
    assert max_blocks is not None
    return ClaimsSettings(
        mode=sec.choice("mode", CLAIMS_MODES, "standard"),
        fail_on=sec.severity("fail_on", "high"),
        patterns=tuple(sorted(overrides)),
        ignore_paths=tuple(ignore),
        stop_enabled=stop.boolean("enabled", True),
        max_blocks=max_blocks,
    )
