"""The acl plugin over real sockets, behind key-auth as Kong orders them: allowed and denied
groups, X-Consumer-Groups upstream, a client cannot claim groups, hide_groups_header."""

from __future__ import annotations

from gwharness import http
from tests.kits.plugins import gateway, handler
from tests.kits.standin import seen

from .proxykit import ChainProxy

GW = gateway(
    [
        {
            "username": "ops",
            "acls": [{"group": "ops"}, {"group": "oncall"}],
            "keyauth_credentials": [{"key": "ops-key"}],
        },
        {
            "username": "dev",
            "acls": [{"group": "dev"}],
            "keyauth_credentials": [{"key": "dev-key"}],
        },
    ]
)


def chain(**acl):
    handlers = [handler("key-auth", {}, GW), handler("acl", acl, GW)]
    return sorted(handlers, key=lambda h: -h.PRIORITY)


def test_allow_list_and_groups_header(upstream):
    with ChainProxy(upstream.port, chain(allow=["ops"])) as proxy:
        status, _, doc = http(
            proxy.port, "GET", "/", headers={"apikey": "ops-key", "X-Consumer-Groups": "admins"}
        )
        assert status == 200
        assert seen(doc, "x-consumer-groups") == ["ops, oncall"]
        before = len(upstream.requests)
        status, _, body = http(
            proxy.port, "GET", "/", headers={"apikey": "dev-key", "X-Consumer-Groups": "ops"}
        )
        assert (status, body["message"]) == (403, "You cannot consume this service")
        assert len(upstream.requests) == before


def test_deny_list_hidden_groups_and_spoofing(upstream):
    with ChainProxy(upstream.port, chain(deny=["dev"], hide_groups_header=True)) as proxy:
        status, _, doc = http(
            proxy.port, "GET", "/", headers={"apikey": "ops-key", "x_consumer_groups": "admins"}
        )
        assert status == 200
        assert seen(doc, "x-consumer-groups") == [] and seen(doc, "x_consumer_groups") == []
        assert http(proxy.port, "GET", "/", headers={"apikey": "dev-key"})[0] == 403


def test_without_authentication_plugin_acl_is_401(upstream):
    with ChainProxy(upstream.port, [handler("acl", {"allow": ["ops"]}, GW)]) as proxy:
        status, _, body = http(proxy.port, "GET", "/", headers={"X-Consumer-Username": "ops"})
        assert (status, body["message"]) == (401, "Unauthorized")
