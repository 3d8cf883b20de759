"""platforms/254carbon/kong.yml: the original platform's 12 services and 14 routes load, and
each route sends its traffic where the original script meant (with the documented fixes)."""

from __future__ import annotations

from pathlib import Path

import pytest

from carbonplane.gateway.config.loader import load_config_file

KONG_YML = Path(__file__).resolve().parents[3] / "platforms" / "254carbon" / "kong.yml"

# request path -> (route, service, upstream host, upstream path)
EXPECTED = {
    "/api/datahub/entities/v1": (
        "datahub-api",
        "datahub-gms",
        "datahub-gms.data-platform.svc.cluster.local:8080",
        "/entities/v1",
    ),
    "/datahub/search": (
        "datahub-ui",
        "datahub-frontend",
        "datahub-frontend.data-platform.svc.cluster.local:9002",
        "/search",
    ),
    "/api/trino/v1/statement": (
        "trino-api",
        "trino",
        "trino-coordinator.data-platform.svc.cluster.local:8080",
        "/v1/statement",
    ),
    "/trino-ui/ui/": (
        "trino-ui",
        "trino",
        "trino-coordinator.data-platform.svc.cluster.local:8080",
        "/ui/",
    ),
    "/api/superset/v1/chart/": (
        "superset-api",
        "superset",
        "superset-web.data-platform.svc.cluster.local:8088",
        "/v1/chart/",
    ),
    "/superset/welcome/": (
        "superset-ui",
        "superset",
        "superset-web.data-platform.svc.cluster.local:8088",
        "/superset/welcome/",
    ),
    "/api/dolphinscheduler/projects": (
        "dolphinscheduler-api",
        "dolphinscheduler",
        "dolphinscheduler-api-service.data-platform.svc.cluster.local:12345",
        "/projects",
    ),
    "/api/s3/bucket/key": (
        "minio-s3",
        "minio-api",
        "minio.data-platform.svc.cluster.local:9000",
        "/bucket/key",
    ),
    "/api/mlflow/api/2.0/mlflow/runs/get": (
        "mlflow-api",
        "mlflow",
        "mlflow-service.data-platform.svc.cluster.local:5000",
        "/api/2.0/mlflow/runs/get",
    ),
    "/api/iceberg/v1/config": (
        "iceberg-api",
        "iceberg-rest",
        "iceberg-rest-catalog.data-platform.svc.cluster.local:8181",
        "/v1/config",
    ),
    "/api/services/health": (
        "portal-api",
        "portal-services",
        "portal-services.data-platform.svc.cluster.local:8080",
        "/api/services/health",
    ),
    "/api/grafana/api/health": (
        "grafana-api",
        "grafana",
        "kube-prometheus-stack-grafana.monitoring.svc.cluster.local",
        "/api/health",
    ),
    "/api/prometheus/api/v1/query": (
        "prometheus-api",
        "prometheus",
        "kube-prometheus-stack-prometheus.monitoring.svc.cluster.local:9090",
        "/api/v1/query",
    ),
    "/api/schema/subjects": (
        "schema-registry-api",
        "schema-registry",
        "schema-registry.data-platform.svc.cluster.local:8081",
        "/subjects",
    ),
}


@pytest.fixture(scope="module")
def platform():
    return load_config_file(KONG_YML)


def test_loads_12_services_and_14_routes(platform):
    assert len(platform.services) == 12
    assert len(platform.routes) == 14
    assert {r["name"] for r in platform.routes} == {v[0] for v in EXPECTED.values()}


@pytest.mark.parametrize("path", sorted(EXPECTED))
def test_route_targets(platform, path):
    route, service, host, upstream_path = EXPECTED[path]
    m = platform.router.match("GET", "gateway.254carbon.com", path)
    assert m is not None, path
    assert (m.route["name"], m.service["name"], m.upstream_host, m.upstream_path) == (
        route,
        service,
        host,
        upstream_path,
    )


def test_script_timeouts_and_retries_are_kept(platform):
    trino = platform.get("services", "trino")
    assert (trino["retries"], trino["read_timeout"], trino["write_timeout"]) == (
        0,
        3600000,
        3600000,
    )
    assert platform.get("services", "dolphinscheduler")["retries"] == 2
    assert platform.get("services", "iceberg-rest")["path"] == "/"


def test_unknown_paths_get_no_route(platform):
    assert platform.router.match("GET", "gateway.254carbon.com", "/api/unknown") is None
    assert platform.router.match("GET", "gateway.254carbon.com", "/") is None
