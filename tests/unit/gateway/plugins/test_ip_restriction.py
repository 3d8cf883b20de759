"""The ip-restriction plugin's handler on hand-built request contexts: IPv4/IPv6 addresses and
CIDRs, deny before allow, Kong's refusal body, custom status/message, and the client IP the
engine resolved (never a client-sent header)."""

from __future__ import annotations

import pytest
from reqkit import refusal, request
from tests.kits.plugins import handler, problems

RFC1918 = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]


def ipr(**config):
    return handler("ip-restriction", config)


@pytest.mark.parametrize(
    "ip,admitted",
    [
        ("10.1.2.3", True),
        ("172.31.255.255", True),
        ("172.32.0.1", False),
        ("192.168.0.1", True),
        ("8.8.8.8", False),
        ("::ffff:10.9.9.9", True),
        ("::ffff:8.8.8.8", False),
        ("2001:db8::1", True),
        ("2001:db8:ffff::1", True),
        ("2001:db9::1", False),
        ("fe80::1%eth0", False),
    ],
)
def test_allow_list_ipv4_ipv6_and_mapped(ip, admitted):
    h = ipr(allow=RFC1918 + ["2001:db8::/32"])
    verdict = h.on_request(request(client_ip=ip))
    assert (verdict is None) is admitted
    if not admitted:
        status, body, _ = refusal(verdict)
        assert (status, body["message"]) == (403, f"IP address not allowed: {ip}")


def test_deny_wins_over_allow_and_single_addresses():
    h = ipr(allow=["10.0.0.0/8"], deny=["10.0.0.66", "10.1.0.0/16"])
    assert h.on_request(request(client_ip="10.0.0.65")) is None
    assert refusal(h.on_request(request(client_ip="10.0.0.66")))[0] == 403
    assert refusal(h.on_request(request(client_ip="10.1.200.1")))[0] == 403
    only_deny = ipr(deny=["203.0.113.0/24", "::1"])
    assert only_deny.on_request(request(client_ip="198.51.100.1")) is None
    assert refusal(only_deny.on_request(request(client_ip="203.0.113.9")))[0] == 403
    assert refusal(only_deny.on_request(request(client_ip="::1")))[0] == 403


def test_non_strict_cidr_and_whole_space():
    h = ipr(allow=["10.0.0.5/8"])  # host bits set: the network is 10.0.0.0/8
    assert h.on_request(request(client_ip="10.200.0.1")) is None
    everyone = ipr(deny=["0.0.0.0/0", "::/0"])
    assert refusal(everyone.on_request(request(client_ip="1.2.3.4")))[0] == 403
    assert refusal(everyone.on_request(request(client_ip="2001:db8::1")))[0] == 403


def test_custom_status_and_message():
    status, body, _ = refusal(
        ipr(deny=["0.0.0.0/0"], status=451, message="Go away").on_request(
            request(client_ip="1.1.1.1")
        )
    )
    assert (status, body["message"]) == (451, "Go away")


def test_checks_the_resolved_client_ip_not_forwarded_headers():
    h = ipr(allow=["10.0.0.0/8"])
    ctx = request(
        client_ip="8.8.8.8", headers={"X-Forwarded-For": "10.0.0.1", "X-Real-IP": "10.0.0.1"}
    )
    assert refusal(h.on_request(ctx))[0] == 403


def test_unparseable_client_address():
    status, body, _ = refusal(ipr(allow=["10.0.0.0/8"]).on_request(request(client_ip="unix:")))
    assert status == 403 and body["message"].startswith("Cannot identify the client IP address")


def test_verdicts_are_remembered_and_bounded():
    h = ipr(deny=["10.0.0.0/8"])
    for i in range(300):
        h.on_request(request(client_ip=f"10.0.{i // 256}.{i % 256}"))
    assert len(h.verdicts) == 300 and not any(h.verdicts.values())


def test_config_schema():
    assert problems("ip-restriction", {}) == [
        "config.@entity: at least one of these fields must be non-empty: "
        "'config.allow', 'config.deny'"
    ]
    assert problems("ip-restriction", {"allow": ["10.0.0.0/33", "abc"]}) == [
        "config.allow.0: invalid ip or cidr range: '10.0.0.0/33'",
        "config.allow.1: invalid ip or cidr range: 'abc'",
    ]
    assert problems("ip-restriction", {"deny": ["1.2.3.4"], "status": 99}) == [
        "config.status: value should be between 100 and 599"
    ]
