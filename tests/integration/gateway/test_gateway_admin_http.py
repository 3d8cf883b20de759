"""The Admin API over HTTP against a CLI-started gateway with two workers: Kong's shapes and status
codes, pagination, and changes that reach every worker's proxy."""

from __future__ import annotations

import urllib.parse

import pytest
import yaml
from gwharness import GatewayProcess, admin, http, write_config
from tests.kits.net import wait_until
from tests.kits.standin import StandIn


@pytest.fixture(scope="module")
def upstream():
    up = StandIn("svc").start()
    yield up
    up.stop()


@pytest.fixture(scope="module")
def gw(tmp_path_factory, upstream):
    doc = {
        "_format_version": "3.0",
        "services": [
            {
                "name": "svc",
                "url": f"http://{upstream.address}/",
                "routes": [{"name": "first", "paths": ["/first"]}],
            }
        ],
    }
    config = write_config(tmp_path_factory.mktemp("admin") / "kong.yml", doc)
    with GatewayProcess(config, workers=2) as process:
        yield process


def workers_serving(port: int, path: str, want: int = 200, tries: int = 24) -> set[bytes]:
    """Fresh connections (spread over the workers by the kernel); every answer must be ``want``.
    Returns the workers seen (the request id prefix is per process)."""
    seen = set()
    for _ in range(tries):
        status, headers, _ = http(port, "GET", path)
        assert status == want, (path, status)
        seen.add(headers["x-kong-request-id"][:16])
    return seen


def test_collections_have_kongs_shape(gw):
    status, headers, doc = admin(gw.admin_port, "GET", "/services")
    assert status == 200 and headers["content-type"].startswith("application/json")
    assert doc["next"] is None
    (svc,) = doc["data"]
    for field in (
        "id",
        "name",
        "host",
        "port",
        "protocol",
        "path",
        "retries",
        "connect_timeout",
        "read_timeout",
        "write_timeout",
        "created_at",
        "updated_at",
        "enabled",
    ):
        assert field in svc, field
    assert svc["retries"] == 5 and svc["read_timeout"] == 60000
    _, _, routes = admin(gw.admin_port, "GET", "/routes")
    (route,) = routes["data"]
    assert route["service"] == {"id": svc["id"]}
    assert route["strip_path"] is True and route["preserve_host"] is False
    assert route["protocols"] == ["http", "https"]
    _, _, plugins = admin(gw.admin_port, "GET", "/plugins")
    assert plugins == {"data": [], "next": None}


def test_crud_status_codes(gw):
    port = gw.admin_port
    status, _, created = admin(
        port, "POST", "/services", {"name": "crud", "url": "http://127.0.0.1:9/"}
    )
    assert status == 201 and created["name"] == "crud" and created["port"] == 9
    assert (
        admin(port, "POST", "/services", {"name": "crud", "url": "http://127.0.0.1:9/"})[0] == 409
    )
    status, _, err = admin(port, "POST", "/services", {"name": "bad", "host": "x", "portz": 1})
    assert status == 400 and err["name"] == "schema violation" and "portz" in err["fields"]
    assert admin(port, "GET", "/services/nope")[0] == 404
    status, _, patched = admin(port, "PATCH", "/services/crud", {"retries": 1})
    assert status == 200 and patched["retries"] == 1 and patched["id"] == created["id"]
    assert admin(port, "PUT", "/services/crud", {"url": "http://127.0.0.1:10/"})[0] == 200
    assert admin(port, "DELETE", "/services/crud")[0] == 204
    assert admin(port, "DELETE", "/services/crud")[0] == 204  # absent: still 204, as Kong
    assert admin(port, "GET", "/services/crud")[0] == 404


def test_a_route_added_over_http_is_served_by_every_worker(gw, upstream):
    port = gw.admin_port
    form = urllib.parse.urlencode([("name", "added"), ("paths[]", "/added")]).encode()
    status, _, route = http(
        port,
        "POST",
        "/services/svc/routes",
        body=form,
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert status == 201 and route["paths"] == ["/added"]
    assert len(workers_serving(gw.proxy_port, "/added/x")) == 2
    assert admin(port, "DELETE", "/routes/added")[0] == 204
    workers_serving(gw.proxy_port, "/added/x", want=404)


def test_a_plugin_added_over_http_applies_on_every_worker(gw):
    port = gw.admin_port
    status, _, plugin = admin(port, "POST", "/services/svc/plugins", {"name": "key-auth"})
    assert status == 201
    assert plugin["config"]["key_names"] == ["apikey"] and plugin["service"]
    try:
        workers_serving(gw.proxy_port, "/first/x", want=401)
        assert admin(port, "POST", "/consumers", {"username": "alice"})[0] == 201
        assert (
            admin(port, "POST", "/consumers/alice/key-auth", {"key": "alice-secret-key"})[0] == 201
        )
        for _ in range(8):
            status, _, doc = http(
                gw.proxy_port, "GET", "/first/x", headers={"apikey": "alice-secret-key"}
            )
            assert status == 200
            assert ["x-consumer-username", "alice"] in doc["headers"]
        _, _, plugins = admin(port, "GET", "/plugins")
        assert [p["name"] for p in plugins["data"]] == ["key-auth"]
    finally:
        assert admin(port, "DELETE", f"/plugins/{plugin['id']}")[0] == 204
        admin(port, "DELETE", "/consumers/alice")
    workers_serving(gw.proxy_port, "/first/x")


def test_pagination_with_size_offset_and_next(gw):
    port = gw.admin_port
    for i in range(25):
        assert admin(port, "POST", "/consumers", {"username": f"page-{i:02d}"})[0] == 201
    try:
        seen, path, pages = [], "/consumers?size=10", 0
        while path:
            status, _, doc = admin(port, "GET", path)
            assert status == 200
            seen += [c["username"] for c in doc["data"]]
            path, pages = doc["next"], pages + 1
            if path:
                assert "offset" in doc and len(doc["data"]) == 10
        assert pages == 3 and seen == [f"page-{i:02d}" for i in range(25)]
        assert admin(port, "GET", "/consumers?size=0")[0] == 400
        assert admin(port, "GET", "/consumers?offset=%%%")[0] == 400
    finally:
        for i in range(25):
            admin(port, "DELETE", f"/consumers/page-{i:02d}")


def test_config_endpoints_and_status(gw):
    port = gw.admin_port
    _, _, before = admin(port, "GET", "/status")
    assert before["server"]["workers"] == 2 and len(before["server"]["worker_pids"]) == 2
    status, _, doc = admin(port, "GET", "/config")
    assert status == 200
    current = yaml.safe_load(doc["config"])
    assert current["_format_version"] == "3.0" and current["services"][0]["name"] == "svc"
    unchanged = http(
        port,
        "POST",
        "/config?check_hash=1",
        body=doc["config"].encode(),
        headers={"content-type": "text/yaml"},
    )
    assert unchanged[0] == 304
    bad = http(
        port,
        "POST",
        "/config",
        body=b'_format_version: "3.0"\nservices: [{name: x}]\n',
        headers={"content-type": "text/yaml"},
    )
    assert bad[0] == 400 and bad[2]["name"] == "invalid declarative configuration"
    _, _, after = admin(port, "GET", "/status")
    assert after["configuration_hash"] == before["configuration_hash"]
    workers_serving(gw.proxy_port, "/first/x")


def test_manual_health_reaches_every_worker(tmp_path):
    a, b = StandIn("a").start(), StandIn("b").start()
    doc = {
        "_format_version": "3.0",
        "services": [{"name": "pool", "host": "pool.internal", "routes": [{"paths": ["/"]}]}],
        "upstreams": [
            {
                "name": "pool.internal",
                "healthchecks": {"passive": {"unhealthy": {"http_failures": 3}}},
                "targets": [{"target": a.address}, {"target": b.address}],
            }
        ],
    }
    try:
        with GatewayProcess(write_config(tmp_path / "pool.yml", doc), workers=2) as gw:
            path = f"/upstreams/pool.internal/targets/{a.address}/unhealthy"
            assert admin(gw.admin_port, "PUT", path)[0] == 204
            served = {http(gw.proxy_port, "GET", "/x")[2]["name"] for _ in range(24)}
            assert served == {"b"}

            def a_unhealthy_everywhere():
                _, _, health = admin(gw.admin_port, "GET", "/upstreams/pool.internal/health")
                row = next(r for r in health["data"] if r["target"] == a.address)
                return (
                    row["health"] == "UNHEALTHY"
                    and len(row["workers"]) == 2
                    and set(row["workers"].values()) == {"UNHEALTHY"}
                )

            wait_until(a_unhealthy_everywhere, what="both workers reporting a UNHEALTHY")
    finally:
        a.stop()
        b.stop()
