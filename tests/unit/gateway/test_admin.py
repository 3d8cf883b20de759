"""The Admin API through its sans-IO ``handle``: Kong's CRUD semantics, bodies, status codes,
error bodies, pagination, nested paths, credentials, config replacement, hooks and auth."""

from __future__ import annotations

import hashlib

import pytest
from gwtools import AdminClient, make_service

from carbonplane.gateway.admin import AdminAPI
from carbonplane.gateway.config import typedefs as t
from carbonplane.gateway.config.entities import register_plugin_schema, unregister_plugin_schema
from carbonplane.gateway.config.schema import record


@pytest.fixture
def demo_plugin():
    register_plugin_schema(
        "demo-limit",
        record(
            ("minute", t.integer("Per minute.", between=(1, 10**6))),
            ("policy", t.string("Store.", default="local", one_of=("local", "redis"))),
            ("origins", t.array(t.string("Origin."))),
        ),
    )
    yield
    unregister_plugin_schema("demo-limit")


# -- services: the CRUD cycle -------------------------------------------------------------


def test_create_with_form_body_applies_kong_defaults(admin):
    status, svc = admin.post("/services", form="name=trino&url=http://trino:8080/v1&retries=3")
    assert status == 201
    assert (svc["protocol"], svc["host"], svc["port"], svc["path"], svc["retries"]) == (
        "http",
        "trino",
        8080,
        "/v1",
        3,
    )
    assert svc["connect_timeout"] == 60000 and svc["enabled"] is True
    assert svc["tags"] is None and "url" not in svc
    assert svc["created_at"] == svc["updated_at"] == 1_700_000_000


def test_read_by_name_or_id_and_404(admin):
    svc = make_service(admin)
    assert admin.get("/services/svc") == (200, svc)
    assert admin.get(f"/services/{svc['id']}") == (200, svc)
    assert admin.get("/services/svc/") == (200, svc)
    assert admin.get("/services/nope") == (404, {"message": "Not found"})
    assert admin.get("/nothing-here") == (404, {"message": "Not found"})


def test_patch_updates_fields_and_timestamp(admin, clock):
    svc = make_service(admin, retries=2)
    clock.now += 60
    status, patched = admin.patch("/services/svc", form="read_timeout=1000")
    assert status == 200
    assert (patched["read_timeout"], patched["retries"], patched["id"]) == (1000, 2, svc["id"])
    assert (patched["created_at"], patched["updated_at"]) == (1_700_000_000, 1_700_000_060)
    assert admin.patch("/services/nope", json_body={"retries": 1})[0] == 404


def test_put_is_an_upsert(admin):
    status, created = admin.put("/services/by-put", json_body={"host": "a.internal", "retries": 1})
    assert status == 200 and created["name"] == "by-put"
    status, replaced = admin.put("/services/by-put", json_body={"host": "b.internal"})
    assert status == 200
    assert (replaced["id"], replaced["host"], replaced["retries"]) == (
        created["id"],
        "b.internal",
        5,
    )
    uid = "0b0d8a4c-6c56-4c0c-9a43-2a1c3f0b7e11"
    status, by_id = admin.put(
        f"/services/{uid}", json_body={"name": "with-id", "host": "c.internal"}
    )
    assert (status, by_id["id"], by_id["name"]) == (200, uid, "with-id")


def test_delete_is_204_even_when_absent(admin):
    make_service(admin)
    assert admin.delete("/services/svc") == (204, b"")
    assert admin.delete("/services/svc") == (204, b"")
    assert admin.get("/services/svc")[0] == 404


def test_schema_violation_body_is_kongs(admin):
    assert admin.post("/services", json_body={"name": "x"}) == (
        400,
        {
            "code": 2,
            "name": "schema violation",
            "message": "schema violation (host: required field missing)",
            "fields": {"host": "required field missing"},
        },
    )
    status, body = admin.post("/services", form="host=h&retries=many&bogus=1")
    assert status == 400
    assert body["fields"] == {"retries": "expected an integer", "bogus": "unknown field"}
    assert (
        body["message"]
        == "2 schema violations (bogus: unknown field; retries: expected an integer)"
    )


def test_unique_violation_is_409(admin):
    make_service(admin)
    assert admin.post("/services", json_body={"name": "svc", "host": "x"}) == (
        409,
        {
            "code": 5,
            "name": "unique constraint violation",
            "message": "UNIQUE violation detected on '{name=\"svc\"}'",
            "fields": {"name": "svc"},
        },
    )


def test_primary_key_violation_is_400(admin):
    svc = make_service(admin)
    status, body = admin.post("/services", json_body={"id": svc["id"], "host": "x"})
    assert (status, body["code"], body["name"]) == (400, 3, "primary key violation")


def test_bad_bodies(admin):
    status, body, _ = admin.call(
        "POST", "/services", raw=b"{nope", headers={"content-type": "application/json"}
    )
    assert (status, body) == (400, {"message": "Cannot parse JSON body"})
    status, body, _ = admin.call(
        "POST", "/services", raw=b"--x", headers={"content-type": "multipart/form-data; boundary=x"}
    )
    assert status == 415
    assert admin.call("DELETE", "/services")[0] == 405
    assert admin.call("POST", "/services/svc")[:2] == (405, {"message": "Method not allowed"})


# -- routes, references, nested paths -----------------------------------------------------


def test_nested_route_creation_with_kong_form_arrays(admin):
    svc = make_service(admin)
    status, route = admin.post(
        "/services/svc/routes",
        form="name=r1&paths[]=/a&paths[]=/b&methods=GET&strip_path=false"
        "&headers.x-version=v1&hosts[1]=b.test&hosts[0]=a.test",
    )
    assert status == 201, route
    assert (
        route["paths"],
        route["methods"],
        route["strip_path"],
        route["headers"],
        route["hosts"],
    ) == (["/a", "/b"], ["GET"], False, {"x-version": ["v1"]}, ["a.test", "b.test"])
    assert route["service"] == {"id": svc["id"]}
    assert admin.get("/routes/r1/service") == (200, svc)
    assert [r["name"] for r in admin.get("/services/svc/routes")[1]["data"]] == ["r1"]
    assert admin.get("/services/nope/routes") == (404, {"message": "Not found"})


def test_route_references_by_name_id_and_form(admin):
    svc = make_service(admin)
    status, r1 = admin.post(
        "/routes", json_body={"name": "a", "paths": ["/a"], "service": {"name": "svc"}}
    )
    assert status == 201 and r1["service"] == {"id": svc["id"]}
    status, r2 = admin.post("/routes", form=f"name=b&paths=/b&service.id={svc['id']}")
    assert status == 201 and r2["service"] == {"id": svc["id"]}
    status, body = admin.post(
        "/routes",
        json_body={"paths": ["/c"], "service": {"id": "0b0d8a4c-6c56-4c0c-9a43-2a1c3f0b7e11"}},
    )
    assert (status, body) == (
        400,
        {
            "code": 4,
            "name": "foreign key violation",
            "message": "the foreign key '{id=\"0b0d8a4c-6c56-4c0c-9a43-2a1c3f0b7e11\"}' "
            "does not reference an existing 'services' entity.",
            "fields": {"service": {"id": "0b0d8a4c-6c56-4c0c-9a43-2a1c3f0b7e11"}},
        },
    )


def test_service_with_routes_cannot_be_deleted(admin):
    make_service(admin)
    admin.post("/services/svc/routes", json_body={"name": "r", "paths": ["/r"]})
    assert admin.delete("/services/svc") == (
        400,
        {
            "code": 4,
            "name": "foreign key violation",
            "message": "an existing 'routes' entity references this 'services' entity",
            "fields": {"@referenced_by": "routes"},
        },
    )
    assert admin.delete("/routes/r")[0] == 204
    assert admin.delete("/services/svc")[0] == 204


def test_mutations_reach_the_router_and_the_hook(admin, changes):
    make_service(admin, path="/base")
    admin.post("/services/svc/routes", json_body={"name": "r", "paths": ["/r"]})
    config = admin.api.config
    assert config.router.match("GET", "h", "/r/x").upstream_path == "/base/x"
    assert [c.version for c in changes] == [2, 3] and changes[-1] is config
    admin.patch("/routes/r", json_body={"paths": ["/s"]})
    assert config.router.match("GET", "h", "/r/x") is not None  # old snapshot unchanged
    assert admin.api.config.router.match("GET", "h", "/r/x") is None  # new one serves /s
    assert admin.api.config.get("routes", "r")["paths"] == ("/s",)


# -- plugins ---------------------------------------------------------------------------------


def test_plugin_config_from_form_is_coerced_and_patched_by_merge(admin, demo_plugin):
    make_service(admin)
    status, plugin = admin.post(
        "/services/svc/plugins",
        form="name=demo-limit&config.minute=5&config.origins[]=https://a.test",
    )
    assert status == 201, plugin
    assert plugin["config"] == {"minute": 5, "policy": "local", "origins": ["https://a.test"]}
    assert plugin["service"] == {"id": admin.get("/services/svc")[1]["id"]}
    assert admin.post("/services/svc/plugins", form="name=demo-limit")[0] == 409
    status, patched = admin.patch(
        f"/plugins/{plugin['id']}", json_body={"config": {"policy": "redis"}}
    )
    assert status == 200 and patched["config"] == {
        "minute": 5,
        "policy": "redis",
        "origins": ["https://a.test"],
    }
    assert [p["id"] for p in admin.get("/services/svc/plugins")[1]["data"]] == [plugin["id"]]
    status, enabled = admin.get("/plugins/enabled")
    assert (
        status == 200 and "demo-limit" in enabled["enabled_plugins"]
    )  # bundled plugins may be loaded too
    assert admin.get("/plugins/schema/demo-limit")[1]["fields"][0]["config"]["fields"][0] == {
        "minute": {"type": "integer", "between": [1, 1000000], "description": "Per minute."}
    }
    assert admin.get("/schemas/plugins/demo-limit")[0] == 200
    assert admin.get("/schemas/plugins/nope") == (404, {"message": "No plugin named 'nope'"})


def test_unknown_plugin_is_a_schema_violation(admin):
    status, body = admin.post("/plugins", json_body={"name": "nope"})
    assert status == 400
    assert body["fields"] == {
        "name": "plugin 'nope' not enabled; add it to the 'plugins' configuration property"
    }


# -- consumers and credentials ---------------------------------------------------------------


def test_credentials_live_under_their_consumer(admin, demo_plugin):
    status, alice = admin.post("/consumers", form="username=alice")
    assert status == 201
    status, key = admin.post("/consumers/alice/key-auth", form="")
    assert status == 201 and len(key["key"]) == 32 and key["consumer"] == {"id": alice["id"]}
    assert admin.get(f"/consumers/alice/key-auth/{key['key']}") == (200, key)
    assert admin.get("/key-auths")[1]["data"] == [key]
    status, jwt = admin.post("/consumers/alice/jwt", json_body={"key": "alice-iss"})
    assert status == 201 and jwt["algorithm"] == "HS256" and len(jwt["secret"]) == 32
    assert admin.post("/consumers/alice/acls", form="group=admins")[0] == 201
    assert admin.get("/consumers/alice/acls/admins")[1]["group"] == "admins"
    status, ops = admin.put("/consumers/alice/acls/ops", json_body={})
    assert (status, ops["group"], ops["consumer"]) == (200, "ops", {"id": alice["id"]})
    status, basic = admin.post("/consumers/alice/basic-auth", form="username=alice&password=pw")
    assert basic["password"] == hashlib.sha1(f"pw{alice['id']}".encode()).hexdigest()
    assert admin.post("/consumers/alice/plugins", json_body={"name": "demo-limit"})[0] == 201
    admin.post("/consumers", form="username=bob")
    assert admin.get(f"/consumers/bob/key-auth/{key['key']}")[0] == 404
    assert admin.delete("/consumers/alice")[0] == 204
    for path in ("/key-auths", "/jwts", "/acls", "/basic-auths", "/plugins"):
        assert admin.get(path)[1]["data"] == [], path


def test_consumer_lookup_by_custom_id(admin):
    _, c = admin.post("/consumers", json_body={"custom_id": "ext-7"})
    assert admin.get("/consumers/ext-7") == (200, c)


# -- upstreams, targets, health ----------------------------------------------------------------


def test_targets_and_health(clock, changes):
    calls = []
    api = AdminAPI(
        clock=clock, set_target_health=lambda u, t, h: calls.append((u["name"], t["target"], h))
    )
    admin = AdminClient(api)
    admin.post("/upstreams", json_body={"name": "pool.internal"})
    status, tgt = admin.post("/upstreams/pool.internal/targets", form="target=10.0.0.1&weight=5")
    assert (status, tgt["target"], tgt["weight"], tgt["created_at"]) == (
        201,
        "10.0.0.1:8000",
        5,
        1_700_000_000.0,
    )
    assert admin.get("/upstreams/pool.internal/targets/10.0.0.1:8000") == (200, tgt)
    assert admin.get("/upstreams/pool.internal/targets/10.0.0.1")[1] == tgt
    assert admin.get("/upstreams/pool.internal/targets/all")[1]["data"] == [tgt]
    assert admin.get("/upstreams/pool.internal/health")[1]["data"] == [
        {"target": "10.0.0.1:8000", "weight": 5, "health": "HEALTHCHECKS_OFF", "id": tgt["id"]}
    ]
    assert admin.put("/upstreams/pool.internal/targets/10.0.0.1:8000/unhealthy")[0] == 204
    assert calls == [("pool.internal", "10.0.0.1:8000", False)]
    assert admin.put("/upstreams/pool.internal/targets/10.9.9.9:1/healthy")[0] == 404
    assert admin.post("/upstreams/pool.internal/targets", form="target=10.0.0.1:8000")[0] == 409
    assert admin.delete("/upstreams/pool.internal")[0] == 204
    assert api.config.targets == ()


def test_health_change_without_workers_is_503(admin):
    admin.post("/upstreams", json_body={"name": "pool.internal"})
    admin.post("/upstreams/pool.internal/targets", form="target=10.0.0.1:80")
    status, _ = admin.put("/upstreams/pool.internal/targets/10.0.0.1:80/healthy")
    assert status == 503
