"""The egress guard: host lists, ports, schemes, private ranges, invalid targets."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from codor.errors import PolicyPatternError, PolicySchemaError
from codor.policy.guards import egress
from codor.policy.guards.base import Finding
from codor.policy.guards.egress import EgressGuard
from tests.policy.guards.helpers import build, for_each_guard_case, judge, outcome, rules


def make(text: str = "{}", warnings: list[str] | None = None) -> EgressGuard:
    return build(egress, text, warnings=warnings)


def run(guard: EgressGuard, **fields: Any) -> Sequence[Finding]:
    return judge(guard, "network.request", **fields)


GITHUB = """
allow: [api.github.com, "*.pypi.org", "example.com:8443", 10.1.0.0/16]
ports: [80, 443]
"""


# -- lists ----------------------------------------------------------------------------------


def test_guard_name_and_kinds() -> None:
    g = make()
    assert g.name == "egress"
    assert g.kinds == frozenset({"network.request"})


def test_allowed_host_is_allowed_with_pattern_in_message() -> None:
    found = run(make(GITHUB), url="https://api.github.com/repos/x")
    assert outcome(found) == "allow"
    assert rules(found) == {"egress.allow"}
    assert "api.github.com" in found[0].message
    assert "'api.github.com'" in found[0].message
    assert all(f.guard == "egress" for f in found)


def test_host_in_no_list_is_denied_by_default() -> None:
    found = run(make(GITHUB), url="https://evil.com/")
    assert outcome(found) == "deny"
    assert rules(found) == {"egress.default"}
    assert "evil.com" in found[0].message


def test_allowed_host_as_prefix_of_another_domain_is_not_allowed() -> None:
    found = run(make(GITHUB), url="https://api.github.com.evil.com/")
    assert outcome(found) == "deny"
    assert rules(found) == {"egress.default"}


def test_userinfo_naming_an_allowed_host_does_not_allow_the_real_host() -> None:
    found = run(make(GITHUB), url="https://api.github.com@evil.com/")
    assert outcome(found) == "deny"
    assert "evil.com" in found[0].message


def test_wildcard_allows_subdomains_but_not_the_apex() -> None:
    g = make(GITHUB)
    assert outcome(run(g, url="https://files.pythonhosted.pypi.org/x")) == "allow"
    assert outcome(run(g, url="https://pypi.org/")) == "deny"


def test_trailing_dot_and_case_do_not_change_the_host() -> None:
    assert outcome(run(make(GITHUB), url="HTTPS://API.GitHub.COM./x")) == "allow"


def test_deny_beats_allow_whatever_the_order() -> None:
    for text in ("{allow: ['*'], deny: [evil.com]}", "{deny: [evil.com], allow: ['*']}"):
        found = run(make(text), url="https://evil.com/")
        assert outcome(found) == "deny"
        assert "egress.deny" in rules(found)


def test_deny_wildcard_beats_exact_allow() -> None:
    found = run(make("{allow: [gist.github.com], deny: ['*.github.com']}"),
                url="https://gist.github.com/")
    assert outcome(found) == "deny"


def test_ask_list_asks() -> None:
    found = run(make("{ask: ['*.example.com']}"), url="https://www.example.com/")
    assert outcome(found) == "ask"
    assert rules(found) == {"egress.ask"}


def test_ask_beats_allow() -> None:
    found = run(make("{allow: ['*'], ask: [upload.example.com]}"),
                url="https://upload.example.com/")
    assert outcome(found) == "ask"
    assert rules(found) == {"egress.ask", "egress.allow"}


def test_default_ask_asks_for_unlisted_hosts() -> None:
    found = run(make("{default: ask}"), url="https://example.com/")
    assert outcome(found) == "ask"
    assert rules(found) == {"egress.default"}


def test_default_pass_says_nothing() -> None:
    assert run(make("{default: pass}"), url="https://example.com/") == ()


def test_default_does_not_apply_to_listed_hosts() -> None:
    found = run(make("{ask: [example.com], default: deny}"), url="https://example.com/")
    assert rules(found) == {"egress.ask"}


def test_idn_pattern_matches_unicode_and_punycode_spellings() -> None:
    g = make("{allow: [bücher.de]}")
    assert outcome(run(g, url="https://BÜCHER.de/")) == "allow"
    assert outcome(run(g, url="https://xn--bcher-kva.de/")) == "allow"


def test_homograph_of_an_allowed_host_is_not_allowed() -> None:
    found = run(make("{allow: [apple.com]}"), url="https://аpple.com/")  # Cyrillic а
    assert outcome(found) == "deny"
    assert "xn--pple-43d.com" in found[0].message


def test_cidr_allow_matches_ip_targets() -> None:
    g = make("{allow: [8.8.0.0/16]}")
    assert outcome(run(g, url="https://8.8.8.8/")) == "allow"
    assert outcome(run(g, url="https://8.9.8.8/")) == "deny"


# -- ports and schemes ----------------------------------------------------------------------


def test_port_outside_the_allowed_ports_is_denied() -> None:
    found = run(make("{allow: [example.com], ports: [443]}"), url="https://example.com:8443/")
    assert outcome(found) == "deny"
    assert "egress.port" in rules(found)
    assert "8443" in next(f.message for f in found if f.rule == "egress.port")


def test_allowed_port_passes() -> None:
    assert outcome(run(make("{allow: [example.com], ports: [443]}"),
                       url="https://example.com/")) == "allow"


def test_absent_or_empty_ports_allow_any_port() -> None:
    for text in ("{allow: [example.com]}", "{allow: [example.com], ports: []}"):
        assert outcome(run(make(text), url="https://example.com:9999/")) == "allow"


def test_pattern_naming_the_port_overrides_the_ports_list() -> None:
    found = run(make(GITHUB), url="https://example.com:8443/")
    assert outcome(found) == "allow"
    assert rules(found) == {"egress.allow"}


def test_port_pinned_pattern_does_not_match_other_ports() -> None:
    found = run(make(GITHUB), url="https://example.com/")
    assert outcome(found) == "deny"
    assert rules(found) == {"egress.default"}


def test_port_pinned_ask_pattern_overrides_the_ports_list() -> None:
    found = run(make("{ask: ['db.example.com:5432'], ports: [443]}"),
                host="db.example.com", port=5432)
    assert outcome(found) == "ask"


def test_port_field_is_checked_for_host_requests() -> None:
    found = run(make("{allow: [example.com], ports: [443]}"), host="example.com", port=22)
    assert "egress.port" in rules(found)


def test_scheme_outside_the_default_schemes_is_denied() -> None:
    found = run(make("{allow: [example.com]}"), url="ftp://example.com/file")
    assert outcome(found) == "deny"
    assert "egress.scheme" in rules(found)


def test_configured_schemes_replace_the_default() -> None:
    g = make("{allow: [example.com], schemes: [WSS]}")
    assert outcome(run(g, url="wss://example.com/socket")) == "allow"
    assert "egress.scheme" in rules(run(g, url="https://example.com/"))


def test_host_request_without_scheme_skips_the_scheme_check() -> None:
    assert outcome(run(make("{allow: [example.com]}"), host="example.com")) == "allow"


def test_scheme_field_is_checked_for_host_requests() -> None:
    found = run(make("{allow: [example.com]}"), host="example.com", scheme="gopher")
    assert "egress.scheme" in rules(found)


# -- private ranges and metadata -------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://2130706433/",
        "http://0x7f.1/",
        "http://0177.0.0.1/",
        "http://127.1/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://0.0.0.0:6379/",
        "http://10.0.0.5/",
        "http://192.168.1.1/",
        "http://[fd12::1]/",
        "http://[fe80::1]/",
        "http://localhost:3000/",
        "http://api.localhost/",
        "http://[64:ff9b::a00:1]/",
    ],
)
def test_private_and_loopback_targets_are_denied_even_under_allow_star(url: str) -> None:
    found = run(make("{allow: ['*']}"), url=url)
    assert outcome(found) == "deny"
    assert "egress.private_range" in rules(found)


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:a9fe:a9fe]/",
        "http://2852039166/",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://[fd00:ec2::254]/",
        "http://100.100.100.200/",
    ],
)
def test_cloud_metadata_endpoints_are_denied_as_critical(url: str) -> None:
    found = run(make("{allow: ['*'], private_ranges: allow}"), url=url)
    assert outcome(found) == "deny"
    hit = next(f for f in found if f.rule == "egress.private_range")
    assert hit.severity == "critical"
    assert "metadata" in hit.message


def test_metadata_effect_can_be_relaxed_explicitly() -> None:
    found = run(make("{metadata: ask}"), url="http://169.254.169.254/")
    assert outcome(found) == "ask"


def test_private_ranges_ask_asks() -> None:
    found = run(make("{allow: ['*'], private_ranges: ask}"), url="http://10.0.0.5/")
    assert outcome(found) == "ask"


def test_private_ranges_ask_asks_even_for_hosts_in_no_list() -> None:
    found = run(make("{private_ranges: ask, default: deny}"), url="http://192.168.0.10/")
    assert outcome(found) == "ask"
    assert rules(found) == {"egress.private_range"}


def test_private_ranges_allow_allows_private_targets() -> None:
    found = run(make("{private_ranges: allow}"), url="http://10.0.0.5/")
    assert outcome(found) == "allow"
    assert rules(found) == {"egress.private_range"}


def test_deny_list_still_beats_private_ranges_allow() -> None:
    found = run(make("{private_ranges: allow, deny: [10.0.0.0/8]}"), url="http://10.0.0.5/")
    assert outcome(found) == "deny"


def test_allow_cidrs_exempt_and_allow_a_dev_server() -> None:
    g = make("{allow_cidrs: [127.0.0.1/32], ports: [443, 3000]}")
    found = run(g, url="http://127.0.0.1:3000/")
    assert outcome(found) == "allow"
    assert rules(found) == {"egress.allow"}
    assert "allow_cidrs" in found[0].message


def test_allow_cidrs_cover_the_localhost_name() -> None:
    assert outcome(run(make("{allow_cidrs: [127.0.0.0/8]}"), url="http://localhost:8000/")) \
        == "allow"


def test_allow_cidrs_do_not_cover_other_addresses() -> None:
    found = run(make("{allow_cidrs: [127.0.0.1/32]}"), url="http://127.0.0.2/")
    assert outcome(found) == "deny"
    assert "egress.private_range" in rules(found)


def test_allow_cidrs_do_not_override_the_deny_list() -> None:
    found = run(make("{allow_cidrs: [127.0.0.1/32], deny: ['127.0.0.1']}"), url="http://127.1/")
    assert outcome(found) == "deny"


def test_public_ip_is_judged_by_the_lists_only() -> None:
    found = run(make("{allow: ['*']}"), url="https://140.82.112.3/")
    assert outcome(found) == "allow"
    assert rules(found) == {"egress.allow"}


# -- invalid targets ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fields",
    [
        {"url": "http://evil.com\\@allowed.com/"},
        {"url": "http://a@allowed.com@evil.com/"},
        {"url": "http://exa mple.com/"},
        {"url": "example.com/no-scheme"},
        {"url": "http://[fe80::1%25eth0]/"},
        {"url": "http://1.2.3.4.5/"},
        {"url": "http://allowed.com/", "host": "evil.com"},
        {"url": "https://allowed.com/", "port": 8443},
        {"host": "allowed.com\u00ad"},
        {"host": ""},
    ],
)
def test_invalid_targets_are_denied(fields: dict[str, Any]) -> None:
    found = run(make("{allow: ['*'], private_ranges: allow}"), **fields)
    assert outcome(found) == "deny"
    assert rules(found) == {"egress.invalid_host"}
    assert found[0].severity == "high"


def test_invalid_target_message_is_clipped() -> None:
    found = run(make(), url="http://" + "a" * 500 + "\\@x/")
    assert len(found[0].message) < 400


def test_repeated_checks_give_the_same_findings() -> None:
    g = make(GITHUB)
    first = run(g, url="https://api.github.com/")
    assert run(g, url="https://api.github.com/") == first


# -- configuration --------------------------------------------------------------------------


def test_unknown_key_is_a_located_schema_error() -> None:
    with pytest.raises(PolicySchemaError) as info:
        make("allow: [a.com]\nalow: [b.com]\n")
    assert info.value.location == "policy.yaml:2"
    assert "did you mean 'allow'" in info.value.message


def test_bad_host_pattern_is_a_located_pattern_error() -> None:
    with pytest.raises(PolicyPatternError) as info:
        make("allow:\n  - a.com\n  - 'api.*.com'\n")
    assert info.value.location == "policy.yaml:3"


@pytest.mark.parametrize(
    "text",
    [
        "{ports: [0]}",
        "{ports: [70000]}",
        "{schemes: ['ht tp']}",
        "{allow_cidrs: [10.0.0.1/8]}",
        "{allow_cidrs: [not-a-cidr]}",
    ],
)
def test_bad_values_are_pattern_errors(text: str) -> None:
    with pytest.raises(PolicyPatternError):
        make(text)


@pytest.mark.parametrize(
    "text",
    [
        "{default: allow}",
        "{private_ranges: maybe}",
        "{metadata: pass}",
        "{ports: [http]}",
        "{allow: {a: b}}",
    ],
)
def test_bad_choices_and_types_are_schema_errors(text: str) -> None:
    with pytest.raises(PolicySchemaError):
        make(text)


def test_empty_host_list_is_silent_but_empty_schemes_warn() -> None:
    warnings: list[str] = []
    make("{allow: [], deny: []}", warnings)
    assert warnings == []
    make("{schemes: []}", warnings)
    assert any("guards.egress.schemes" in w for w in warnings)


def test_empty_schemes_list_denies_every_scheme() -> None:
    found = run(make("{allow: ['*'], schemes: []}"), url="https://example.com/")
    assert "egress.scheme" in rules(found)


def test_inherit_key_is_accepted_and_type_checked() -> None:
    assert outcome(run(make("{inherit: false, allow: [a.com]}"), url="https://a.com/")) \
        == "allow"
    with pytest.raises(PolicySchemaError):
        make("{inherit: nope}")


# -- conformance cases, judged by this guard alone -------------------------------------------


@for_each_guard_case("egress")
def test_conformance_case_holds_for_the_guard_alone(
    name: str, config: str, action: dict[str, Any], expect: str, rule: str | None
) -> None:
    fields = {k: v for k, v in action.items() if k != "kind"}
    found = run(make(config), **fields)
    assert outcome(found) == expect, found
    if rule is not None:
        assert rule in rules(found), found
