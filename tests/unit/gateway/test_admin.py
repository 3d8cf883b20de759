"""The Admin API through its sans-IO ``handle``: Kong's CRUD semantics, bodies, status codes,
error bodies, pagination, nested paths, credentials, config replacement, hooks and auth."""

from __future__ import annotations

import hashlib
import itertools
import json

import pytest
import yaml
from gwtools import AdminClient

from carbonplane.errors import ConfigError
from carbonplane.gateway.admin import AdminAPI, check_admin_listen
from carbonplane.gateway.config import typedefs as t
from carbonplane.gateway.config.entities import register_plugin_schema, unregister_plugin_schema
from carbonplane.gateway.config.schema import record


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def changes():
    return []


@pytest.fixture
def admin(clock, changes):
    return AdminClient(AdminAPI(clock=clock, on_config_change=changes.append))


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


def make_service(admin, name="svc", **fields):
    status, body = admin.post(
        "/services", json_body={"name": name, "host": f"{name}.internal", **fields}
    )
    assert status == 201, body
    return body


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


# -- lists -------------------------------------------------------------------------------------


def test_pagination_with_opaque_offsets(admin):
    for i in range(25):
        make_service(admin, name=f"s{i:02d}", tags=["even" if i % 2 == 0 else "odd", "all"])
    status, page = admin.get("/services", query={"size": "10"})
    assert status == 200 and [s["name"] for s in page["data"]] == [f"s{i:02d}" for i in range(10)]
    assert page["next"] == f"/services?offset={page['offset']}&size=10"
    names = [s["name"] for s in page["data"]]
    nxt = page["next"]
    while nxt:
        status, page = admin.get(nxt)
        names += [s["name"] for s in page["data"]]
        nxt = page["next"]
    assert names == [f"s{i:02d}" for i in range(25)]
    first = admin.get("/services", query={"size": "10"})[1]
    admin.delete("/services/s10")
    resumed = admin.get("/services", query={"size": "3", "offset": first["offset"]})[1]
    assert [s["name"] for s in resumed["data"]] == ["s11", "s12", "s13"]


def test_default_page_is_100_and_max_is_1000(admin):
    for i in range(101):
        make_service(admin, name=f"s{i}")
    page = admin.get("/services")[1]
    assert len(page["data"]) == 100 and page["next"] is not None
    assert len(admin.get("/services", query={"size": "1000"})[1]["data"]) == 101
    for bad in ("0", "1001", "ten"):
        assert admin.get("/services", query={"size": bad}) == (
            400,
            {
                "code": 9,
                "name": "invalid size",
                "message": "size must be an integer between 1 and 1000",
            },
        )
    assert admin.get("/services", query={"offset": "!!"})[1]["name"] == "invalid offset"


def test_tag_filters(admin):
    make_service(admin, name="a", tags=["x", "y"])
    make_service(admin, name="b", tags=["x"])
    make_service(admin, name="c", tags=["z"])
    names = lambda q: [s["name"] for s in admin.get("/services", query={"tags": q})[1]["data"]]  # noqa: E731
    assert names("x,y") == ["a"]
    assert names("y/z") == ["a", "c"]
    assert admin.get("/services", query={"tags": "x,y/z"})[0] == 400
    assert {row["entity_name"] for row in admin.get("/tags/x")[1]["data"]} == {"services"}


# -- node, status, schemas, metrics -----------------------------------------------------------


def test_root_status_and_schemas(clock):
    api = AdminAPI(
        clock=clock,
        status=lambda: {"server": {"connections_active": 3, "total_requests": 9}},
        node_info={"proxy_listen": ["0.0.0.0:8000"]},
    )
    admin = AdminClient(api)
    status, root = admin.get("/")
    assert status == 200 and root["tagline"] == "Welcome to carbonplane"
    assert root["configuration"]["proxy_listen"] == ["0.0.0.0:8000"]
    assert root["configuration"]["database"] == "off"
    before = admin.get("/status")[1]
    assert before["server"] == {"connections_active": 3, "total_requests": 9}
    make_service(admin)
    after = admin.get("/status")[1]
    assert after["configuration_hash"] != before["configuration_hash"]
    fields = admin.get("/schemas/services")[1]["fields"]
    assert {
        "retries": {
            "type": "integer",
            "default": 5,
            "between": [0, 32767],
            "description": "Times to retry a request that failed to connect.",
        }
    } in fields
    assert admin.get("/schemas/key-auths")[0] == 200
    assert admin.post("/schemas/routes/validate", json_body={"paths": ["/ok"]}) == (
        200,
        {"message": "schema validation successful"},
    )
    assert admin.post("/schemas/routes/validate", json_body={"paths": ["bad"]})[0] == 400
    assert "/services/{services}/routes" in admin.get("/endpoints")[1]["data"]


def test_metrics_are_delegated(clock):
    assert AdminClient(AdminAPI(clock=clock)).get("/metrics")[0] == 404
    api = AdminAPI(clock=clock, metrics=lambda: ("text/plain; version=0.0.4", b"kong_up 1\n"))
    status, body, headers = AdminClient(api).call("GET", "/metrics")
    assert (status, body, headers["content-type"]) == (
        200,
        b"kong_up 1\n",
        "text/plain; version=0.0.4",
    )


# -- declarative config over the API ----------------------------------------------------------

CONFIG = """\
_format_version: "3.0"
services:
  - name: a
    url: http://a.internal
    routes: [{name: ra, paths: [/a]}]
"""


def test_post_config_replaces_everything_and_get_config_returns_it(admin, changes):
    make_service(admin, name="old")
    status, body, _ = admin.call(
        "POST", "/config", raw=CONFIG.encode(), headers={"content-type": "text/yaml"}
    )
    assert status == 201
    assert [s["name"] for s in body["services"]] == ["a"]
    assert changes[-1] is admin.api.config and admin.api.config.version == 3
    assert admin.get("/services/old")[0] == 404
    exported = yaml.safe_load(admin.get("/config")[1]["config"])
    assert exported["_format_version"] == "3.0" and exported["routes"][0]["name"] == "ra"
    status, _, _ = admin.call(
        "POST",
        "/config",
        query={"check_hash": "1"},
        raw=json.dumps({"config": CONFIG}).encode(),
        headers={"content-type": "application/json"},
    )
    assert status == 304
    status, _ = admin.post(
        "/config", form="config=" + CONFIG.replace("/a]", "/b]").replace("\n", "%0A")
    )
    assert status == 201 and admin.api.config.router.match("GET", "h", "/b") is not None
    status, _ = admin.post("/config", json_body=yaml.safe_load(CONFIG))
    assert status == 201


def test_post_config_errors_leave_the_config_alone(admin, changes):
    make_service(admin, name="keep")
    before = admin.api.config
    bad = CONFIG.replace("paths: [/a]", "pathz: [/a]")
    status, body, _ = admin.call("POST", "/config", raw=bad.encode(), query={"flatten_errors": "1"})
    assert status == 400
    assert (body["code"], body["name"]) == (14, "invalid declarative configuration")
    assert body["flattened_errors"] == [
        {
            "where": "POST /config:5: services[0].routes[0].pathz",
            "message": "unknown field (route 'ra')",
        }
    ]
    assert body["fields"] == {
        "POST /config:5: services[0].routes[0].pathz": "unknown field (route 'ra')"
    }
    assert admin.api.config is before and len(changes) == 1


# -- auth -----------------------------------------------------------------------------------


def test_admin_token_is_required_when_configured(clock):
    admin = AdminClient(AdminAPI(clock=clock, token="s3cret-token-0123456789"))
    assert admin.get("/services")[0] == 401
    assert admin.call("GET", "/services", headers={"Kong-Admin-Token": "wrong"})[0] == 401
    assert admin.call("GET", "/", headers={"Kong-Admin-Token": "s3cret-token-0123456789"})[0] == 200
    assert admin.call("GET", "/nope", headers={})[0] == 401


@pytest.mark.parametrize(
    "host,token,ok",
    [
        ("127.0.0.1", None, True),
        ("127.0.0.2", None, True),
        ("localhost", None, True),
        ("::1", None, True),
        ("unix:/run/admin.sock", None, True),
        ("0.0.0.0", None, False),
        ("", None, False),
        ("::", None, False),
        ("10.0.0.5", None, False),
        ("0.0.0.0", "short", False),
        ("0.0.0.0", "a-long-enough-admin-token", True),
    ],
)
def test_check_admin_listen(host, token, ok):
    if ok:
        check_admin_listen(host, token)
    else:
        with pytest.raises(ConfigError, match="admin"):
            check_admin_listen(host, token)


def test_versions_increase_with_every_mutation(admin, changes):
    for name in itertools.islice((f"s{i}" for i in itertools.count()), 3):
        make_service(admin, name=name)
    admin.delete("/services/s1")
    assert [c.version for c in changes] == [2, 3, 4, 5]
