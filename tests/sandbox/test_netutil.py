"""Resolved-address checks built from the policy, and the system resolver."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from codor.sandbox.netutil import AddressCheck, forwarded_ports, system_resolver
from tests.sandbox.origins import compile_engine


def ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return ipaddress.ip_address(text)


@pytest.mark.parametrize("address", [
    "127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "169.254.1.1",
    "0.0.0.0", "224.0.0.1", "100.64.0.1", "::1", "fe80::1", "fc00::1", "::ffff:127.0.0.1",
    "::ffff:169.254.169.254", "64:ff9b::a9fe:a9fe", "2002:7f00:1::",
])
def test_special_ranges_are_refused_by_default(address: str) -> None:
    reason = AddressCheck()("allowed.test", ip(address))
    assert reason is not None and "allowed.test" in reason


def test_public_addresses_pass() -> None:
    check = AddressCheck()
    assert check("example.test", ip("93.184.215.14")) is None
    assert check("example.test", ip("2606:2800:21f:cb07:6820:80da:af6b:8b2c")) is None


def test_allow_cidrs_and_range_modes_exempt() -> None:
    check = AddressCheck((ipaddress.ip_network("127.0.0.0/8"),))
    assert check("a.test", ip("127.0.0.2")) is None
    assert check("a.test", ip("::ffff:127.0.0.2")) is None  # mapped form, same address
    assert check("a.test", ip("10.0.0.1")) is not None
    private_ok = AddressCheck(private_ranges="allow")
    assert private_ok("a.test", ip("10.0.0.1")) is None
    assert private_ok("a.test", ip("169.254.169.254")) is not None  # metadata is separate
    assert AddressCheck(private_ranges="ask")("a.test", ip("10.0.0.1")) is not None
    with pytest.raises(ValueError):
        AddressCheck(metadata="maybe")


def test_check_is_built_from_the_policy(tmp_path: Path) -> None:
    engine = compile_engine(tmp_path, """
        version: 1
        guards:
          egress:
            allow: [a.test]
            ports: [443, 8443]
            private_ranges: allow
            allow_cidrs: [169.254.169.254/32]
        """)
    check = AddressCheck.from_policy(engine.policy)
    assert check.private_ranges == "allow" and check.metadata == "deny"
    assert check("a.test", ip("169.254.169.254")) is None
    assert check("a.test", ip("169.254.170.2")) is not None
    assert forwarded_ports(engine.policy) == (443, 8443)
    assert forwarded_ports(engine.policy, [22]) == (22, 443, 8443)
    engine.close()
    bare = compile_engine(tmp_path, "version: 1\n")
    assert AddressCheck.from_policy(bare.policy) == AddressCheck()
    assert forwarded_ports(bare.policy) == (80, 443)
    bare.close()


def test_system_resolver_reads_the_hosts_file_for_localhost() -> None:
    found = system_resolver("localhost", 80)
    assert found and all(a.is_loopback for a in found)
    assert len(found) == len(set(found))
