"""Over-broad egress allow lists (sandbox-threats.md class 11): warned at load, located at the
pattern; and the built-in policies let no data out to the open hosts."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from codor.model import Action
from codor.policy import compile_ref, load_engine
from codor.policy.lint import lint_policy
from codor.policy.openhosts import DROP_HOSTS, OPEN_DOMAINS, broad_allow_warnings


def warned(patterns: list[str]) -> list[str]:
    return [w.text for w in broad_allow_warnings("allow", patterns, [None] * len(patterns))]


@pytest.mark.parametrize("pattern", ["*.github.com", "*.s3.amazonaws.com", "*.amazonaws.com:443",
                                     "*.core.windows.net", "*.ngrok.io", "*.slack.com", "*",
                                     "*.com", "*.co.uk", "*.dev", "pastebin.com",
                                     "gist.github.com", "webhook.site", "*.webhook.site"])
def test_patterns_that_let_data_out_are_warned(pattern: str) -> None:
    texts = warned([pattern])
    assert len(texts) == 1 and repr(pattern) in texts[0]


@pytest.mark.parametrize("pattern", ["api.github.com", "github.com", "codeload.github.com",
                                     "*.githubusercontent.com", "pypi.org", "*.npmjs.org",
                                     "files.pythonhosted.org", "*.example.co.uk", "10.0.0.0/8",
                                     "mybucket.s3.amazonaws.com"])
def test_exact_and_download_hosts_are_not_warned(pattern: str) -> None:
    assert warned([pattern]) == []


def test_the_message_says_how_data_leaves() -> None:
    (text,) = warned(["*.github.com"])
    assert "gist.github.com" in text and "name the exact hosts" in text


def test_lint_reports_w_broad_egress_at_the_line_of_the_pattern(
        write_policy: Callable[..., Path]) -> None:
    path = write_policy("version: 1\nguards:\n  egress:\n    allow:\n"
                        "      - api.github.com\n      - '*.github.com'\n")
    problems = lint_policy(lambda: compile_ref(path, workspace="/w", home="/h", env={}))
    assert [(p.code, p.level) for p in problems] == [("W_BROAD_EGRESS", "warning")]
    assert problems[0].location is not None and problems[0].location.endswith(":6")


@pytest.mark.parametrize("ref", ["codor:default", "codor:coding-assistant", "codor:ci",
                                 "codor:strict"])
def test_built_in_policies_allow_no_open_host(ref: str, tmp_path: Path) -> None:
    engine = load_engine(ref, workspace=str(tmp_path))
    try:
        problems = lint_policy(lambda: compile_ref(ref, workspace=str(tmp_path), env={}))
        assert [p for p in problems if p.code == "W_BROAD_EGRESS"] == []
        hosts = [*DROP_HOSTS, *(f"someone.{d}" for d in OPEN_DOMAINS)]
        for host in hosts:
            decision = engine.decide(Action.create("network.request",
                                                   url=f"https://{host}/upload"))
            assert decision.decision != "allow", (ref, host)
    finally:
        engine.close()
