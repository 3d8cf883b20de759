"""The Admin API beyond entity CRUD: lists and tags, node status, schemas and metrics, declarative
config over the API, and its auth."""

from __future__ import annotations

import itertools
import json

import pytest
import yaml
from gwtools import AdminClient, make_service

from carbonplane.errors import ConfigError
from carbonplane.gateway.admin import AdminAPI, check_admin_listen

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
