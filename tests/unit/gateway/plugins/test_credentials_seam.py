"""The auth plugins' one view of the config: ``PluginServices.credentials``, set by the runtime
per config version. A handler authenticates against the version it was built for, never a
newer or older one, and the services carry nothing else of the config."""

from __future__ import annotations

import dataclasses

from reqkit import refusal, request, upstream_headers
from tests.kits.plugins import gateway

from carbonplane.gateway.plugins import PluginServices
from carbonplane.gateway.plugins.pdk.credentials import CredentialIndex, hash_key
from carbonplane.gateway.runtime.app import GatewayApp

KEY_AUTH = {"name": "key-auth", "id": "00000000-0000-4000-8000-0000000000aa"}


def version(username: str, key: str):
    return gateway(
        [{"username": username, "keyauth_credentials": [{"key": key}]}],
        plugins=[KEY_AUTH],
    )


def key_auth_of(app: GatewayApp):
    return app.chains.handlers[KEY_AUTH["id"]]


def test_each_config_version_authenticates_against_its_own_credentials():
    old = GatewayApp(version("alice", "alice-key"))
    new = GatewayApp(version("bob", "bob-key"), previous=old)
    try:
        ctx = request(headers={"apikey": "alice-key"})
        assert key_auth_of(old).on_request(ctx) is None
        assert upstream_headers(ctx)["x-consumer-username"] == ["alice"]
        assert (
            refusal(key_auth_of(new).on_request(request(headers={"apikey": "alice-key"})))[0] == 401
        )
        ctx = request(headers={"apikey": "bob-key"})
        assert key_auth_of(new).on_request(ctx) is None
        assert upstream_headers(ctx)["x-consumer-username"] == ["bob"]
        assert old.services.credentials is not new.services.credentials
    finally:
        new.close()
        old.close()


def test_the_runtime_keeps_the_services_it_was_given_and_adds_the_credentials():
    base = PluginServices(worker_id=3, workers=4, runtime_dir="/run/gw")
    app = GatewayApp(version("carol", "carol-key"), base)
    try:
        assert base.credentials is None  # the process's services are not changed
        got = app.services
        assert (got.worker_id, got.workers, got.runtime_dir) == (3, 4, "/run/gw")
        assert got.credentials.consumer("carol")["username"] == "carol"
        assert hash_key("carol-key") in got.credentials.api_keys
    finally:
        app.close()


def test_plugin_services_carry_named_facilities_only():
    names = [f.name for f in dataclasses.fields(PluginServices)]
    assert names == [
        "worker_id",
        "workers",
        "registry",
        "counters",
        "redis",
        "producer",
        "credentials",
        "runtime_dir",
    ]


def test_the_index_is_read_from_the_config_alone():
    gw = gateway(
        [
            {"username": "dave", "custom_id": "d-1", "acls": [{"group": "ops"}]},
            {"username": "erin", "keyauth_credentials": [{"key": "erin-key"}]},
        ]
    )
    index = CredentialIndex(gw)
    dave = index.consumer("dave")
    assert index.consumer(dave["id"]) is dave  # by id or username, the config's own entity
    assert index.groups[dave["id"]] == ("ops",)
    assert index.consumer("nobody") is None and index.consumer(None) is None
    erin_key = index.api_keys[hash_key("erin-key")]
    assert index.owner(erin_key)["username"] == "erin"
    assert "erin-key" not in index.api_keys  # indexed by digest, never by the secret
