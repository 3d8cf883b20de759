"""Kong's trusted-IPs rule for the client address and X-Forwarded-* (anchors §6.5)."""

from __future__ import annotations

import pytest
from rawhttp import read_requests

from carbonplane.errors import ConfigError
from carbonplane.http import Forwarding

RAW = (
    b"GET /p HTTP/1.1\r\nHost: api.example:8000\r\nX-Forwarded-For: 1.1.1.1, 10.0.0.7\r\n"
    b"X-Forwarded-Proto: https\r\nX-Forwarded-Host: public.example\r\nX-Forwarded-Port: 443\r\n"
    b"X-Real-IP: 9.9.9.9\r\n\r\n"
)


def fields(fw: Forwarding, peer: str, prefix: bytes | None = None) -> dict[bytes, bytes]:
    head = read_requests(RAW)[0]
    trusted = fw.trusts(peer)
    client = fw.client_ip(peer, trusted, head)
    out = fw.fields(head, peer, client, trusted, b"http", b"8000", prefix)
    return dict(line.split(b": ", 1) for line in out.split(b"\r\n") if line)


def test_untrusted_peer_gets_everything_overwritten():
    f = fields(Forwarding(), "203.0.113.5")
    assert f == {
        b"x-forwarded-for": b"203.0.113.5",
        b"x-forwarded-proto": b"http",
        b"x-forwarded-host": b"api.example",
        b"x-forwarded-port": b"8000",
        b"x-forwarded-path": b"/p",
        b"x-real-ip": b"203.0.113.5",
    }


def test_trusted_peer_values_are_kept_and_xff_appended():
    f = fields(Forwarding(["10.0.0.0/8"]), "10.1.2.3", prefix=b"/api")
    assert f[b"x-forwarded-for"] == b"1.1.1.1, 10.0.0.7, 10.1.2.3"
    assert f[b"x-forwarded-proto"] == b"https" and f[b"x-forwarded-host"] == b"public.example"
    assert f[b"x-forwarded-port"] == b"443" and f[b"x-real-ip"] == b"9.9.9.9"
    assert f[b"x-forwarded-prefix"] == b"/api"


def test_real_ip_from_xff_non_recursive_takes_last():
    fw = Forwarding(["10.0.0.0/8"], real_ip_header="X-Forwarded-For")
    assert fields(fw, "10.1.2.3")[b"x-real-ip"] == b"10.0.0.7"


def test_real_ip_from_xff_recursive_skips_trusted_hops():
    fw = Forwarding(["10.0.0.0/8"], real_ip_header="X-Forwarded-For", real_ip_recursive=True)
    assert fields(fw, "10.1.2.3")[b"x-real-ip"] == b"1.1.1.1"


def test_invalid_real_ip_value_is_ignored():
    head = read_requests(b"GET / HTTP/1.1\r\nHost: a\r\nX-Real-IP: not-an-ip\r\n\r\n")[0]
    fw = Forwarding(["127.0.0.1"])
    assert fw.client_ip("127.0.0.1", True, head) == "127.0.0.1"


def test_trust_checks_ipv6_and_invalid():
    fw = Forwarding(["::1", "192.168.0.0/16"])
    assert fw.trusts("::1") and fw.trusts("192.168.3.4")
    assert not fw.trusts("192.169.0.1") and not fw.trusts("garbage")


def test_bad_cidr_is_a_config_error_naming_the_field():
    with pytest.raises(ConfigError) as info:
        Forwarding(["10.0.0.0/33"])
    assert "trusted_ips" in str(info.value)
