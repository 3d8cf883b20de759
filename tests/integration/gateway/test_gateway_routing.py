"""Routing over real sockets: the 254Carbon routing table through the CLI-started gateway, Kong's
path and Host rules, the proxy's own answers (404, 426) and upstream failures (502, 504)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from gwharness import REPO, GatewayProcess, InProcessGateway, http, self_signed_tls, write_config
from tests.kits.standin import StandIn, header

PLATFORM = REPO / "platforms" / "254carbon" / "kong.yml"

# request -> (service that must receive it, upstream request-target)
PLATFORM_TABLE = [
    ("/api/datahub/openapi/v3?x=1", "datahub-gms", "/openapi/v3?x=1"),
    ("/datahub/browse", "datahub-frontend", "/browse"),
    ("/api/trino/v1/statement", "trino", "/v1/statement"),
    ("/trino-ui/ui/", "trino", "/ui/"),
    ("/api/superset/api/v1/chart/", "superset", "/api/v1/chart/"),
    ("/superset/welcome/", "superset", "/superset/welcome/"),
    ("/api/dolphinscheduler/projects", "dolphinscheduler", "/projects"),
    ("/api/s3/bucket/key.parquet", "minio-api", "/bucket/key.parquet"),
    ("/api/mlflow/api/2.0/mlflow/runs/search", "mlflow", "/api/2.0/mlflow/runs/search"),
    ("/api/iceberg/v1/config", "iceberg-rest", "/v1/config"),
    ("/api/services/catalog", "portal-services", "/api/services/catalog"),
    ("/api/grafana/api/health", "grafana", "/api/health"),
    ("/api/prometheus/api/v1/query?query=up", "prometheus", "/api/v1/query?query=up"),
    ("/api/schema/subjects", "schema-registry", "/subjects"),
    # normalised before routing and sent normalised
    ("/api/trino/./v1//statement/../info", "trino", "/v1/info"),
    ("/api/%74rino/v1/info", "trino", "/v1/info"),
]


def platform_with_stand_ins(tmp_path: Path, stand_ins: dict[str, StandIn]) -> Path:
    """A copy of the platform config whose services point at local stand-ins (plugins off:
    routing is what is tested here; test_gateway_platform.py covers the plugins)."""
    doc = yaml.safe_load(PLATFORM.read_text())
    doc = copy.deepcopy(doc)
    doc.pop("plugins", None)
    doc.pop("consumers", None)
    for service in doc["services"]:
        service.pop("plugins", None)
        for route in service.get("routes", ()):
            route.pop("plugins", None)
            route["protocols"] = ["http", "https"]
        path = "/" + service["url"].split("/", 3)[3] if service["url"].count("/") >= 3 else "/"
        service["url"] = f"http://{stand_ins[service['name']].address}{path}"
    return write_config(tmp_path / "kong.yml", doc)


@pytest.fixture
def platform_stand_ins():
    doc = yaml.safe_load(PLATFORM.read_text())
    ins = {s["name"]: StandIn(s["name"]).start() for s in doc["services"]}
    yield ins
    for s in ins.values():
        s.stop()


def test_platform_routing_table_through_cli_gateway(tmp_path, platform_stand_ins):
    config = platform_with_stand_ins(tmp_path, platform_stand_ins)
    with GatewayProcess(config, workers=2) as gw:
        for request, service, upstream_target in PLATFORM_TABLE:
            status, _, doc = http(gw.proxy_port, "GET", request)
            assert status == 200, (request, doc)
            assert doc["name"] == service, request
            assert doc["target"] == upstream_target, request
            assert header(doc, "host") == platform_stand_ins[service].address  # preserve_host off
        status, headers, doc = http(gw.proxy_port, "GET", "/api/unknown")
        assert status == 404
        assert doc["message"] == "no Route matched with those values"
        assert headers["content-type"].startswith("application/json")


PATHS = {
    "_format_version": "3.0",
    "services": [
        {
            "name": "svc",
            "url": "http://127.0.0.1:1/base",
            "routes": [
                {"name": "strip", "paths": ["/strip"]},
                {"name": "keep", "paths": ["/keep"], "strip_path": False},
                {"name": "host", "paths": ["/host"], "preserve_host": True},
                {"name": "users", "paths": ["~/users/(?<id>\\d+)$"]},
                {"name": "secure", "paths": ["/secure"], "protocols": ["https"]},
                {"name": "by-header", "paths": ["/h"], "headers": {"x-tenant": ["blue"]}},
            ],
        },
        {
            "name": "slow",
            "url": "http://127.0.0.1:1/",
            "read_timeout": 300,
            "retries": 0,
            "routes": [{"name": "slow", "paths": ["/slow"]}],
        },
        {
            "name": "down",
            "url": "http://127.0.0.1:1/",
            "retries": 2,
            "routes": [{"name": "down", "paths": ["/down"]}],
        },
    ],
}


@pytest.fixture
def paths_gateway(tmp_path):
    up = StandIn("svc").start()
    doc = copy.deepcopy(PATHS)
    doc["services"][0]["url"] = f"http://{up.address}/base"
    doc["services"][1]["url"] = f"http://{up.address}/"
    with InProcessGateway(write_config(tmp_path / "paths.yml", doc)) as gw:
        yield gw, up
    up.stop()


def test_strip_path_and_service_path_join(paths_gateway):
    gw, up = paths_gateway
    assert http(gw.proxy_port, "GET", "/strip/a/b?q=1")[2]["target"] == "/base/a/b?q=1"
    assert http(gw.proxy_port, "GET", "/strip")[2]["target"] == "/base"
    assert http(gw.proxy_port, "GET", "/keep/a")[2]["target"] == "/base/keep/a"
    _, _, doc = http(gw.proxy_port, "GET", "/strip/x")
    assert header(doc, "x-forwarded-prefix") == "/strip"
    assert header(doc, "x-forwarded-path") == "/strip/x"


def test_preserve_host_forwards_the_clients_host(paths_gateway):
    gw, up = paths_gateway
    _, _, doc = http(gw.proxy_port, "GET", "/host/x", headers={"Host": "api.254carbon.com"})
    assert header(doc, "host") == "api.254carbon.com"
    _, _, doc = http(gw.proxy_port, "GET", "/strip/x", headers={"Host": "api.254carbon.com"})
    assert header(doc, "host") == up.address


def test_regex_route_strips_the_matched_part(paths_gateway):
    gw, _ = paths_gateway
    status, _, doc = http(gw.proxy_port, "GET", "/users/42")
    assert status == 200 and doc["target"] == "/base"
    assert http(gw.proxy_port, "GET", "/users/abc")[0] == 404


def test_header_route_needs_its_header(paths_gateway):
    gw, _ = paths_gateway
    assert http(gw.proxy_port, "GET", "/h/x", headers={"X-Tenant": "Blue"})[0] == 200
    assert http(gw.proxy_port, "GET", "/h/x", headers={"X-Tenant": "red"})[0] == 404


def test_https_only_route_answers_426_over_http(paths_gateway):
    gw, up = paths_gateway
    before = len(up.requests)
    status, headers, doc = http(gw.proxy_port, "GET", "/secure/x")
    assert status == 426
    # Kong's kong.response.error: the request id in the body, the format by Accept
    assert doc == {
        "message": "Please use HTTPS protocol",
        "request_id": headers["x-kong-request-id"],
    }
    assert headers["upgrade"] == "TLS/1.2, HTTP/1.1"
    status, headers, body = http(
        gw.proxy_port, "GET", "/secure/x", headers={"Accept": "text/plain"}
    )
    assert status == 426 and body.startswith(b"Please use HTTPS protocol\nrequest_id: ")
    assert len(up.requests) == before


def test_no_route_is_kongs_404(paths_gateway):
    gw, _ = paths_gateway
    status, headers, doc = http(gw.proxy_port, "GET", "/nothing/here")
    assert status == 404
    assert doc["message"] == "no Route matched with those values"
    assert doc["request_id"] == headers["x-kong-request-id"]


def test_upstream_down_is_502_after_the_retries(paths_gateway):
    gw, _ = paths_gateway
    status, headers, doc = http(gw.proxy_port, "GET", "/down/x")
    assert status == 502  # no Accept, no Content-Type: Kong's error_default_type, text/plain
    assert headers["content-type"] == "text/plain; charset=utf-8"
    rid = headers["x-kong-request-id"].encode()
    assert (
        doc == b"An invalid response was received from the upstream server\nrequest_id: %s\n" % rid
    )
    status, _, doc = http(gw.proxy_port, "GET", "/down/x", headers={"Accept": "application/json"})
    assert doc["message"] == "An invalid response was received from the upstream server"


def test_read_timeout_is_504(paths_gateway):
    gw, up = paths_gateway
    status, _, doc = http(gw.proxy_port, "GET", "/slow/__sleep/2", headers={"Accept": "*/*"})
    assert status == 504
    assert doc["message"] == "The upstream server is timing out"
    assert http(gw.proxy_port, "GET", "/slow/__sleep/0.05")[0] == 200


def test_a_client_closing_its_connection_does_not_affect_the_next_client(paths_gateway):
    gw, _ = paths_gateway
    assert http(gw.proxy_port, "GET", "/strip/a", headers={"Connection": "close"})[0] == 200
    assert http(gw.proxy_port, "GET", "/strip/b")[0] == 200


def test_upstream_errors_are_relayed_not_replaced(paths_gateway):
    gw, _ = paths_gateway
    status, _, doc = http(gw.proxy_port, "GET", "/strip/__status/503")
    assert status == 503
    assert doc["name"] == "svc"


def test_https_only_route_trusts_forwarded_proto_only_from_trusted_peers(tmp_path):
    up = StandIn("svc").start()
    doc = {
        "_format_version": "3.0",
        "services": [
            {
                "name": "svc",
                "url": f"http://{up.address}/",
                "routes": [{"name": "secure", "paths": ["/secure"], "protocols": ["https"]}],
            }
        ],
    }
    config = write_config(tmp_path / "secure.yml", doc)
    try:
        with InProcessGateway(config, proxy={"trusted_ips": ["127.0.0.1/32"]}) as gw:
            forwarded = {"X-Forwarded-Proto": "https"}
            assert http(gw.proxy_port, "GET", "/secure/x", headers=forwarded)[0] == 200
            # the same request without the header must not ride on the first one's decision
            assert http(gw.proxy_port, "GET", "/secure/x")[0] == 426
        with InProcessGateway(config) as gw:  # no trusted peers: the header is ignored
            assert (
                http(gw.proxy_port, "GET", "/secure/x", headers={"X-Forwarded-Proto": "https"})[0]
                == 426
            )
    finally:
        up.stop()


def test_https_upstream_with_and_without_certificate_verification(tmp_path):
    up = StandIn("tls", tls=self_signed_tls(tmp_path)).start()
    doc = {
        "_format_version": "3.0",
        "services": [
            {"name": "plain", "url": f"https://{up.address}/", "routes": [{"paths": ["/tls"]}]},
            {
                "name": "verified",
                "url": f"https://{up.address}/",
                "tls_verify": True,
                "retries": 0,
                "routes": [{"paths": ["/verified"]}],
            },
        ],
    }
    try:
        with InProcessGateway(write_config(tmp_path / "tls.yml", doc)) as gw:
            status, _, body = http(gw.proxy_port, "GET", "/tls/x")
            assert status == 200 and body["target"] == "/x"  # Kong's default: not verified
            status, _, body = http(gw.proxy_port, "GET", "/verified/x")
            assert status == 502  # a self-signed certificate is refused when verification is on
    finally:
        up.stop()
