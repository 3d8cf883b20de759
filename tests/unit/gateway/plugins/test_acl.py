"""The acl plugin's handler on hand-built request contexts: allow and deny lists, Kong's 401/403,
the groups header, authenticated groups, spoofed group headers, and ordering after auth."""

from __future__ import annotations

from reqkit import refusal, request, upstream_headers
from tests.kits.plugins import gateway, handler, problems

from carbonplane.gateway.plugins import plugin_def

GW = gateway(
    [
        {
            "username": "alice",
            "acls": [{"group": "analysts"}, {"group": "admins"}],
            "keyauth_credentials": [{"key": "alice-key"}],
        },
        {
            "username": "bob",
            "acls": [{"group": "interns"}],
            "keyauth_credentials": [{"key": "bob-key"}],
        },
        {"username": "carol", "keyauth_credentials": [{"key": "carol-key"}]},
        {"username": "guest"},
    ]
)


def acl(**config):
    return handler("acl", config, GW)


def authenticated(key: str, **headers):
    ctx = request(headers={"apikey": key, **headers})
    assert handler("key-auth", {}, GW).on_request(ctx) is None
    return ctx


def test_allow_list():
    h = acl(allow=["admins", "ops"])
    ctx = authenticated("alice-key")
    assert h.on_request(ctx) is None
    assert upstream_headers(ctx)["x-consumer-groups"] == ["analysts, admins"]
    status, body, _ = refusal(h.on_request(authenticated("bob-key")))
    assert (status, body["message"]) == (403, "You cannot consume this service")
    assert refusal(h.on_request(authenticated("carol-key")))[0] == 403  # no groups at all


def test_deny_list():
    h = acl(deny=["interns"])
    assert h.on_request(authenticated("alice-key")) is None
    assert refusal(h.on_request(authenticated("bob-key")))[0] == 403
    ctx = authenticated("carol-key")
    assert h.on_request(ctx) is None
    assert upstream_headers(ctx)["x-consumer-groups"] == [""]


def test_no_consumer_is_unauthorized():
    status, body, _ = refusal(acl(allow=["admins"]).on_request(request()))
    assert (status, body["message"]) == (401, "Unauthorized")


def test_hide_groups_header_and_spoofed_group_headers():
    spoof = {"X-Consumer-Groups": "admins", "X_Authenticated_Groups": "admins"}
    ctx = authenticated("alice-key", **spoof)
    assert acl(allow=["analysts"], hide_groups_header=True).on_request(ctx) is None
    up = upstream_headers(ctx)
    assert "x-consumer-groups" not in up and "x_authenticated_groups" not in up
    ctx = authenticated("carol-key", **spoof)
    assert acl(deny=["interns"]).on_request(ctx) is None
    assert upstream_headers(ctx)["x-consumer-groups"] == [""]


def test_authenticated_groups_without_and_with_consumer():
    ctx = request()
    ctx.vars["authenticated_groups"] = ["ldap-admins"]
    assert acl(allow=["ldap-admins"]).on_request(ctx) is None
    assert upstream_headers(ctx)["x-authenticated-groups"] == ["ldap-admins"]
    # anonymous consumer: asserted groups win over the consumer's
    anon = request()
    assert handler("key-auth", {"anonymous": "guest"}, GW).on_request(anon) is None
    anon.vars["authenticated_groups"] = ["ldap-admins"]
    assert acl(allow=["ldap-admins"]).on_request(anon) is None
    # authenticated consumer: its own groups, unless always_use_authenticated_groups
    real = authenticated("bob-key")
    real.vars["authenticated_groups"] = ["ldap-admins"]
    assert refusal(acl(allow=["ldap-admins"]).on_request(real))[0] == 403
    assert acl(allow=["ldap-admins"], always_use_authenticated_groups=True).on_request(real) is None


def test_verdict_is_remembered_per_consumer():
    h = acl(allow=["admins"])
    for _ in range(3):
        assert h.on_request(authenticated("alice-key")) is None
    assert list(h.verdicts) == [GW.get("consumers", "alice")["id"]]


def test_runs_after_authentication_plugins():
    assert plugin_def("acl").priority < plugin_def("key-auth").priority < plugin_def("jwt").priority


def test_config_schema():
    assert problems("acl", {}) == [
        "config.@entity: at least one of these fields must be non-empty: "
        "'config.allow', 'config.deny'"
    ]
    assert problems("acl", {"allow": ["a"], "deny": ["b"]}) == [
        "config.@entity: only one of these fields must be non-empty: 'config.allow', 'config.deny'"
    ]
    assert problems("acl", {"allow": []}) != []
    assert problems("acl", {"whitelist": ["a"]})[0] == "config.whitelist: unknown field"
