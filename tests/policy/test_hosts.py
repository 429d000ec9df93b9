"""Host/URL normalisation, IP classification and host-pattern tables (codor.policy.hosts)."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codor.errors import PolicyPatternError
from codor.policy.hosts import (
    HostTable,
    classify_ip,
    implied_ip,
    normalize_host,
    parse_target,
)

# -- normalize_host: names ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("example.com", "example.com"),
        ("EXAMPLE.COM", "example.com"),
        ("Api.GitHub.Com", "api.github.com"),
        ("example.com.", "example.com"),
        ("localhost", "localhost"),
        ("my_host.internal", "my_host.internal"),
        ("r3---sn-abc.googlevideo.com", "r3---sn-abc.googlevideo.com"),
        ("xn--bcher-kva.de", "xn--bcher-kva.de"),
        ("XN--BCHER-KVA.DE", "xn--bcher-kva.de"),
        ("a.b.c.d.e.f", "a.b.c.d.e.f"),
        ("0xg", "0xg"),
        ("1.2.3.4.example", "1.2.3.4.example"),
    ],
)
def test_plain_names_are_case_folded_and_lose_the_trailing_dot(raw: str, expected: str) -> None:
    assert normalize_host(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("bücher.de", "xn--bcher-kva.de"),
        ("BÜCHER.de", "xn--bcher-kva.de"),
        ("münchen.example", "xn--mnchen-3ya.example"),
        ("ß.de", "xn--zca.de"),  # non-transitional: ß is kept, not mapped to ss
        ("аpple.com", "xn--pple-43d.com"),  # Cyrillic а: a homograph is just another name
        ("ｅｘａｍｐｌｅ.com", "example.com"),  # fullwidth letters map to ASCII (UTS 46)
        ("example。com", "example.com"),  # ideographic full stop is a dot
        ("ａｐｉ．ｇｉｔｈｕｂ．ｃｏｍ", "api.github.com"),
    ],
)
def test_international_names_become_punycode(raw: str, expected: str) -> None:
    assert normalize_host(raw) == expected


def test_homograph_of_an_allowed_host_is_not_that_host() -> None:
    assert normalize_host("аpple.com") != normalize_host("apple.com")


def test_international_name_with_trailing_ideographic_dot_is_normalised() -> None:
    assert normalize_host("bücher.de。") == "xn--bcher-kva.de"


# -- normalize_host: IP spellings -----------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("0x7F000001", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("0177.0.0.01", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("127.0.1", "127.0.0.1"),
        ("127.0.0.1.", "127.0.0.1"),
        ("0", "0.0.0.0"),
        ("0x", "0.0.0.0"),
        ("169.254.43518", "169.254.169.254"),
        ("0xa9.0xfe.0xa9.0xfe", "169.254.169.254"),
        ("2852039166", "169.254.169.254"),
        ("１２７.０.０.１", "127.0.0.1"),  # fullwidth digits
    ],
)
def test_every_ipv4_spelling_becomes_the_dotted_quad(raw: str, expected: str) -> None:
    assert normalize_host(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("::1", "::1"),
        ("[::1]", "::1"),
        ("[0:0:0:0:0:0:0:1]", "::1"),
        ("[2001:DB8::1]", "2001:db8::1"),
        ("[::ffff:127.0.0.1]", "127.0.0.1"),
        ("::ffff:7f00:1", "127.0.0.1"),
        ("[::ffff:169.254.169.254]", "169.254.169.254"),
    ],
)
def test_ipv6_literals_are_canonical_and_mapped_ipv4_becomes_ipv4(raw: str, expected: str) -> None:
    assert normalize_host(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "1.2.3.4.5",
        "example.123",
        "example.0x10",
        "256.1.1.1",
        "1.2.3.256",
        "4294967296",
        "08.1.1.1",
        "1.2.3.09",
        "1..2",
        "0x1g.1",
    ],
)
def test_names_ending_in_a_number_must_be_valid_ipv4(raw: str) -> None:
    with pytest.raises(ValueError, match="IPv4"):
        normalize_host(raw)


# -- normalize_host: rejected input ---------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "",
        ".",
        "..",
        "example..com",
        ".example.com",
        "example.com..",
        "evil.com\x00.allowed.com",
        "allowed.com\x00",
        "exa mple.com",
        "example.com ",
        " example.com",
        "exa\tmple.com",
        "exa\nmple.com",
        "evil.com%2eallowed.com",
        "%65vil.com",
        "evil.com\\allowed.com",
        "allowed.com@evil.com",
        "evil.com/allowed.com",
        "evil.com?x",
        "evil.com#x",
        "-leading.com",
        "trailing-.com",
        "a" * 64 + ".com",
        ".".join(["a" * 63] * 4),
        "fe80::1%eth0",
        "[fe80::1%25eth0]",
        "[::1",
        "::1]",
        "[not-ipv6]",
        "1:2",
        "allo\u00adwed.com",  # soft hyphen
        "allowed\u200b.com",  # zero-width space
        "allowed\u202e.com",  # right-to-left override
        "ex／ample.com",  # fullwidth solidus maps to '/'
        "ａｌｌｏｗｅｄ＠evil.com",  # fullwidth at sign maps to '@'
        "i❤.ws",  # not valid in IDNA 2008
        "exa\u3000mple.com",  # ideographic space
        "x" * 2000,
    ],
)
def test_invalid_hosts_raise_value_error(raw: str) -> None:
    with pytest.raises(ValueError):
        normalize_host(raw)


def test_name_of_exactly_253_characters_is_accepted() -> None:
    name = ".".join(["a" * 63] * 3 + ["b" * 61])
    assert len(name) == 253
    assert normalize_host(name) == name


def test_name_longer_than_253_characters_is_rejected() -> None:
    name = ".".join(["a" * 63] * 3 + ["b" * 62])
    with pytest.raises(ValueError, match="253"):
        normalize_host(name)


def test_non_string_host_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        normalize_host(123)  # type: ignore[arg-type]


# -- parse_target ---------------------------------------------------------------------------


def test_userinfo_is_stripped_and_the_real_host_kept() -> None:
    t = parse_target("http://allowed.com@evil.com/")
    assert t.host == "evil.com"
    assert t.port == 80


def test_userinfo_with_password_and_port_lookalike_is_stripped() -> None:
    t = parse_target("https://allowed.com:443@evil.com/")
    assert (t.host, t.port) == ("evil.com", 443)


def test_backslash_before_at_is_never_read_as_the_host_after_it() -> None:
    with pytest.raises(ValueError, match="backslash"):
        parse_target("http://evil.com\\@allowed.com/")


def test_backslash_after_the_host_is_rejected() -> None:
    with pytest.raises(ValueError):
        parse_target("http://allowed.com\\@evil.com/")


def test_fragment_with_at_sign_does_not_change_the_host() -> None:
    assert parse_target("http://evil.com#@allowed.com").host == "evil.com"
    assert parse_target("http://evil.com?@allowed.com").host == "evil.com"
    assert parse_target("http://evil.com/@allowed.com").host == "evil.com"


def test_two_at_signs_in_the_authority_are_rejected() -> None:
    with pytest.raises(ValueError, match="@"):
        parse_target("http://a@allowed.com@evil.com/")


def test_scheme_and_host_are_lower_cased_and_default_port_applied() -> None:
    t = parse_target("HTTPS://Example.COM/path")
    assert (t.scheme, t.host, t.port, t.ip) == ("https", "example.com", 443, None)


@pytest.mark.parametrize(
    ("url", "port"),
    [
        ("http://x.com/", 80),
        ("https://x.com/", 443),
        ("ws://x.com/", 80),
        ("wss://x.com/", 443),
        ("ftp://x.com/", 21),
        ("ssh://x.com", 22),
        ("http://x.com:8080/", 8080),
        ("http://x.com:0080/", 80),
        ("http://x.com:/", 80),
        ("gopher://x.com/", None),
    ],
)
def test_ports_default_by_scheme(url: str, port: int | None) -> None:
    assert parse_target(url).port == port


def test_bracketed_ipv6_url_with_port() -> None:
    t = parse_target("http://[::1]:8080/x")
    assert (t.host, t.port, t.ip) == ("::1", 8080, ipaddress.IPv6Address("::1"))


def test_ipv4_mapped_ipv6_url_is_the_ipv4_address() -> None:
    t = parse_target("http://[::ffff:169.254.169.254]/latest/meta-data/")
    assert t.ip == ipaddress.IPv4Address("169.254.169.254")


def test_decimal_ip_url_is_an_ip_target() -> None:
    t = parse_target("http://2130706433/")
    assert t.host == "127.0.0.1"
    assert t.ip == ipaddress.IPv4Address("127.0.0.1")


def test_trailing_dot_url_is_the_same_host() -> None:
    assert parse_target("https://api.github.com./x").host == "api.github.com"


@pytest.mark.parametrize(
    "url",
    [
        "example.com",
        "example.com:443/path",
        "//example.com/",
        "http:/example.com",
        "http:\\\\example.com",
        "http:///example.com",
        "http://",
        "http://:80/",
        "http://example.com:99999/",
        "http://example.com:8o/",
        "http://example.com:-1/",
        "http://exa mple.com/",
        "http://example.com/\x00",
        "http://ex\tample.com/",
        "http://[::1/",
        "http://[::1]x/",
        "http://::1/",
        "http://[fe80::1%25eth0]/",
        "http://%65xample.com/",
    ],
)
def test_malformed_urls_are_rejected(url: str) -> None:
    with pytest.raises(ValueError):
        parse_target(url)


def test_host_field_with_port_and_scheme() -> None:
    t = parse_target(None, "Example.com", 8443, "HTTPS")
    assert (t.scheme, t.host, t.port) == ("https", "example.com", 8443)


def test_host_field_may_carry_a_port() -> None:
    assert parse_target(None, "example.com:8443").port == 8443
    assert parse_target(None, "[::1]:22").port == 22


def test_host_only_request_without_scheme_or_port_leaves_them_unknown() -> None:
    t = parse_target(None, "example.com")
    assert (t.scheme, t.port) == (None, None)


def test_host_field_scheme_gives_the_default_port() -> None:
    assert parse_target(None, "example.com", None, "https").port == 443


def test_host_field_that_disagrees_with_the_url_is_rejected() -> None:
    with pytest.raises(ValueError, match="disagrees"):
        parse_target("https://allowed.com/", "evil.com")


def test_host_field_that_agrees_with_the_url_is_accepted() -> None:
    assert parse_target("https://Allowed.com./", "allowed.com").host == "allowed.com"


def test_port_field_that_disagrees_with_the_url_is_rejected() -> None:
    with pytest.raises(ValueError, match="port"):
        parse_target("https://allowed.com/", None, 8443)
    with pytest.raises(ValueError, match="port"):
        parse_target("https://allowed.com:444/", None, 443)


def test_port_field_equal_to_the_url_default_is_accepted() -> None:
    assert parse_target("https://allowed.com/", None, 443).port == 443


def test_port_field_fills_in_for_a_scheme_without_default() -> None:
    assert parse_target("gopher://x.com/", None, 70).port == 70


def test_scheme_field_that_disagrees_with_the_url_is_rejected() -> None:
    with pytest.raises(ValueError, match="scheme"):
        parse_target("http://allowed.com/", None, None, "https")


def test_host_field_port_that_disagrees_with_port_field_is_rejected() -> None:
    with pytest.raises(ValueError, match="port"):
        parse_target(None, "example.com:80", 443)


def test_request_without_url_or_host_is_rejected() -> None:
    with pytest.raises(ValueError):
        parse_target(None, None)


def test_out_of_range_port_field_is_rejected() -> None:
    with pytest.raises(ValueError):
        parse_target(None, "example.com", 70000)


def test_invalid_scheme_field_is_rejected() -> None:
    with pytest.raises(ValueError):
        parse_target(None, "example.com", None, "ht tp")


def test_very_long_url_is_parsed_without_the_cache() -> None:
    url = "https://example.com/" + "a" * 5000
    assert parse_target(url).host == "example.com"


def test_parse_target_repeats_the_same_error_from_cache() -> None:
    for _ in range(2):
        with pytest.raises(ValueError, match="backslash"):
            parse_target("http://a.com\\@b.com/")


def test_target_display_brackets_ipv6() -> None:
    assert parse_target("http://[::1]:8080/").display == "[::1]:8080"
    assert parse_target(None, "example.com").display == "example.com"


# -- classify_ip ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "name"),
    [
        ("127.0.0.1", "loopback"),
        ("127.255.255.254", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("172.31.255.255", "private"),
        ("192.168.1.1", "private"),
        ("169.254.1.1", "link_local"),
        ("fe80::1", "link_local"),
        ("169.254.169.254", "metadata"),
        ("fd00:ec2::254", "metadata"),
        ("100.100.100.200", "metadata"),
        ("169.254.170.2", "metadata"),
        ("100.64.0.1", "cgnat"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("0.1.2.3", "this_network"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "broadcast"),
        ("fd12:3456::1", "unique_local"),
        ("fec0::1", "site_local"),
        ("192.0.2.1", "documentation"),
        ("2001:db8::1", "documentation"),
        ("198.18.0.1", "benchmarking"),
        ("64:ff9b::7f00:1", "loopback"),  # NAT64 of 127.0.0.1
        ("2002:a9fe:a9fe::", "metadata"),  # 6to4 of 169.254.169.254
        ("::7f00:1", "loopback"),  # IPv4-compatible 127.0.0.1
        ("::ffff:10.0.0.1", "private"),
    ],
)
def test_special_addresses_are_classified(address: str, name: str) -> None:
    assert name in classify_ip(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "address", ["8.8.8.8", "1.1.1.1", "140.82.112.3", "2606:4700:4700::1111", "172.32.0.1"]
)
def test_public_addresses_have_no_class(address: str) -> None:
    assert classify_ip(ipaddress.ip_address(address)) == frozenset()


def test_ipv6_loopback_is_not_also_ipv4_compatible() -> None:
    assert classify_ip(ipaddress.ip_address("::1")) == frozenset({"loopback"})


def test_localhost_names_imply_loopback() -> None:
    assert implied_ip("localhost") == ipaddress.IPv4Address("127.0.0.1")
    assert implied_ip("app.localhost") == ipaddress.IPv4Address("127.0.0.1")
    assert implied_ip("localhost.example.com") is None


def test_metadata_names_imply_the_metadata_address() -> None:
    assert implied_ip("metadata.google.internal") == ipaddress.IPv4Address("169.254.169.254")
    assert implied_ip("example.com") is None


# -- HostTable ------------------------------------------------------------------------------


def _m(patterns: list[str], url: str) -> str | None:
    t = parse_target(url)
    return HostTable(patterns).match(t.host, t.port, t.ip)


def test_exact_pattern_matches_only_that_host() -> None:
    assert _m(["example.com"], "https://example.com/") == "example.com"
    assert _m(["example.com"], "https://www.example.com/") is None
    assert _m(["example.com"], "https://example.com.evil.com/") is None
    assert _m(["example.com"], "https://notexample.com/") is None


def test_allowed_host_as_prefix_of_evil_host_does_not_match() -> None:
    assert _m(["allowed.com", "*.allowed.com"], "https://allowed.com.evil.com/") is None


def test_wildcard_matches_subdomains_at_any_depth_but_not_the_apex() -> None:
    assert _m(["*.example.com"], "https://a.example.com/") == "*.example.com"
    assert _m(["*.example.com"], "https://a.b.c.example.com/") == "*.example.com"
    assert _m(["*.example.com"], "https://example.com/") is None
    assert _m(["*.example.com"], "https://badexample.com/") is None


def test_star_matches_names_and_addresses() -> None:
    assert _m(["*"], "https://anything.example/") == "*"
    assert _m(["*"], "http://10.0.0.1/") == "*"


def test_port_suffix_limits_the_pattern_to_that_port() -> None:
    assert _m(["example.com:8443"], "https://example.com:8443/") == "example.com:8443"
    assert _m(["example.com:8443"], "https://example.com/") is None
    assert _m(["*.example.com:443"], "https://a.example.com/") == "*.example.com:443"
    assert _m(["*:8080"], "http://a.b:8080/") == "*:8080"
    assert _m(["*:8080"], "http://a.b/") is None


def test_port_specific_pattern_is_preferred_over_a_general_one() -> None:
    table = HostTable(["*.example.com", "*:8443"])
    rule = table.lookup("a.example.com", 8443)
    assert rule is not None
    assert rule.pattern == "*:8443"
    assert rule.port == 8443


def test_most_specific_pattern_is_reported() -> None:
    table = HostTable(["*", "*.com", "*.example.com", "api.example.com"])
    assert table.match("api.example.com", 443) == "api.example.com"
    assert table.match("www.example.com", 443) == "*.example.com"
    assert table.match("other.com", 443) == "*.com"
    assert table.match("other.org", 443) == "*"


def test_pattern_is_normalised_like_hosts() -> None:
    assert _m(["API.Example.COM."], "https://api.example.com/") == "API.Example.COM."
    assert _m(["bücher.de"], "https://xn--bcher-kva.de/") == "bücher.de"
    assert _m(["*.BÜCHER.de"], "https://www.bücher.de/") == "*.BÜCHER.de"


def test_ip_patterns_match_any_spelling_of_the_address() -> None:
    assert _m(["127.0.0.1"], "http://2130706433/") == "127.0.0.1"
    assert _m(["127.0.0.1:3000"], "http://0x7f.1:3000/") == "127.0.0.1:3000"
    assert _m(["[::1]:8080"], "http://[0:0::1]:8080/") == "[::1]:8080"
    assert _m(["0x7f.1"], "http://127.0.0.1/") == "0x7f.1"


def test_cidr_patterns_match_addresses_inside_them() -> None:
    patterns = ["10.1.0.0/16", "fd00::/8", "192.168.1.7/32"]
    assert _m(patterns, "http://10.1.200.3/") == "10.1.0.0/16"
    assert _m(patterns, "http://10.2.0.1/") is None
    assert _m(patterns, "http://[fd12::1]/") == "fd00::/8"
    assert _m(patterns, "http://192.168.1.7/") == "192.168.1.7/32"
    assert _m(patterns, "http://192.168.1.8/") is None


def test_cidr_patterns_do_not_match_names() -> None:
    assert _m(["0.0.0.0/0"], "https://example.com/") is None
    assert _m(["0.0.0.0/0"], "https://1.2.3.4/") == "0.0.0.0/0"


def test_name_patterns_do_not_match_ip_targets() -> None:
    assert _m(["*.example.com", "example.com"], "http://93.184.216.34/") is None


def test_empty_table_matches_nothing() -> None:
    table = HostTable([])
    assert not table
    assert table.match("example.com", 443) is None


@pytest.mark.parametrize(
    "pattern",
    [
        "",
        "api.*.com",
        "*example.com",
        "*.*.example.com",
        "ex*ample.com",
        "*.",
        "*.127.0.0.1",
        "example.com:",
        "example.com:0",
        "example.com:65536",
        "example.com:http",
        "10.0.0.1/8",
        "10.0.0.0/33",
        "not/a/cidr",
        "::ffff:0:0/96",
        "exa mple.com",
        "evil.com\x00",
        "[::1",
        "[::1]x",
    ],
)
def test_bad_patterns_raise_pattern_errors(pattern: str) -> None:
    with pytest.raises(PolicyPatternError):
        HostTable([pattern])


def test_bad_pattern_error_carries_its_location() -> None:
    with pytest.raises(PolicyPatternError) as info:
        HostTable(["ok.com", "api.*.com"], locations=["p.yaml:3", "p.yaml:4"])
    assert info.value.location == "p.yaml:4"


# -- properties -----------------------------------------------------------------------------

_LABEL = st.from_regex(r"[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,10}[a-zA-Z0-9])?", fullmatch=True)
_NAMES = st.lists(_LABEL, min_size=1, max_size=5).map(".".join)


@settings(max_examples=300)
@given(st.text(max_size=80))
def test_arbitrary_text_only_ever_raises_value_error(raw: str) -> None:
    try:
        host = normalize_host(raw)
    except ValueError as exc:
        assert str(exc)  # every rejection says why
    else:
        assert normalize_host(host) == host


@settings(max_examples=300)
@given(st.text(max_size=120))
def test_arbitrary_urls_only_ever_raise_value_error(raw: str) -> None:
    try:
        target = parse_target("http://" + raw)
    except ValueError as exc:
        assert str(exc)
    else:
        assert normalize_host(target.host) == target.host
        assert target.scheme == "http"


@settings(max_examples=300)
@given(st.one_of(st.text(max_size=60), _NAMES, _NAMES.map(lambda n: n + "."),
                 st.ip_addresses().map(str)))
def test_normalize_host_is_idempotent_and_canonical(raw: str) -> None:
    try:
        host = normalize_host(raw)
    except ValueError:
        return
    assert normalize_host(host) == host
    assert host.isascii()
    assert host == host.lower()
    assert not host.endswith(".")
    assert host


@settings(max_examples=200)
@given(_NAMES)
def test_wildcard_never_matches_its_own_apex(name: str) -> None:
    try:
        host = normalize_host(name)
    except ValueError:
        return
    try:
        table = HostTable([f"*.{host}"])
    except PolicyPatternError:
        return  # an IP address: wildcards over IPs are rejected
    assert table.match(host, 443) is None
    assert table.match(f"www.{host}", 443) == f"*.{host}"


@settings(max_examples=200)
@given(_NAMES, _NAMES)
def test_allowed_name_as_prefix_never_matches_a_longer_host(allowed: str, evil: str) -> None:
    try:
        a = normalize_host(allowed)
        target = normalize_host(f"{allowed}.{evil}")
    except ValueError:
        return
    try:
        table = HostTable([a, f"*.{a}"])
    except PolicyPatternError:
        return
    assert table.match(target, 443) is None or target.endswith("." + a)


@settings(max_examples=200)
@given(st.ip_addresses())
def test_every_ip_spelling_normalises_to_the_same_address(ip: ipaddress._BaseAddress) -> None:
    text = str(ip)
    host = normalize_host(f"[{text}]" if ip.version == 6 else text)
    assert ipaddress.ip_address(host) == (getattr(ip, "ipv4_mapped", None) or ip)
    if ip.version == 4:
        assert normalize_host(str(int(ip))) == text
        assert normalize_host(hex(int(ip))) == text
