"""prometheus: Kong 3.x families and labels behind their flags, histogram buckets, host totals
added up from worker snapshots, and exposition text that Prometheus' own parser reads."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families
from reqkit import request, respond
from test_file_log import ROUTE, SERVICE, finished_request
from tests.kits.plugins import config, handler

from carbonplane.gateway.config.schema import freeze
from carbonplane.gateway.plugins import PluginServices
from carbonplane.gateway.plugins.prometheus import render_host_metrics
from carbonplane.gateway.plugins.prometheus.exposition import render_metrics
from carbonplane.gateway.plugins.prometheus.store import WorkerMetrics, load_snapshots, merge

ALL = {"status_code_metrics": True, "latency_metrics": True, "bandwidth_metrics": True}


def samples(text: str) -> dict[tuple, float]:
    """{(sample name, sorted labels): value} parsed by prometheus_client's parser."""
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def fresh(conf: dict, tmp_path=None):
    """A handler with its own WorkerMetrics (publishing under tmp_path when given)."""
    runtime_dir = str(tmp_path) if tmp_path is not None else None
    h = handler("prometheus", conf, services=PluginServices(runtime_dir=runtime_dir))
    h.metrics = WorkerMetrics(h.metrics.directory, name=f"t{id(h)}")
    h.metrics.upstream_health = bool(conf.get("upstream_health_metrics"))
    return h


def not_found():
    ctx = request("GET", "/nowhere")
    ctx.finished = ctx.started + 0.0004
    respond(ctx, 404)
    ctx.source = "proxy"
    return ctx


def test_every_family_is_off_by_default():
    conf = config("prometheus", {})
    assert not any(
        conf[k]
        for k in (
            "per_consumer",
            "status_code_metrics",
            "latency_metrics",
            "bandwidth_metrics",
            "upstream_health_metrics",
            "ai_metrics",
        )
    )
    h = fresh({})
    h.on_log(finished_request())
    m = h.metrics
    assert m.total_requests == 1 and not (m.requests or m.bandwidth or m.kong_latency)


def test_status_codes_with_kongs_labels():
    h = fresh({"status_code_metrics": True})
    h.on_log(finished_request())
    h.on_log(finished_request())
    h.on_log(not_found())
    got = samples(render_metrics(h.metrics))
    labels = (
        ("code", "200"),
        ("consumer", ""),
        ("route", "trino-api"),
        ("service", "trino"),
        ("source", "service"),
        ("workspace", "default"),
    )
    assert got[("kong_http_requests_total", labels)] == 2
    no_route = (
        ("code", "404"),
        ("consumer", ""),
        ("route", ""),
        ("service", ""),
        ("source", "kong"),
        ("workspace", "default"),
    )
    assert got[("kong_http_requests_total", no_route)] == 1


def test_per_consumer_labels_with_the_username():
    h = fresh({"status_code_metrics": True, "bandwidth_metrics": True, "per_consumer": True})
    h.on_log(finished_request())
    text = render_metrics(h.metrics)
    assert (
        'consumer="ana"' in text
        and 'kong_bandwidth_bytes{service="trino",route="trino-api",direction="ingress"' in text
    )


def test_service_and_route_fall_back_to_host_and_id():
    h = fresh({"status_code_metrics": True})
    ctx = finished_request()
    ctx.vars["service"] = freeze({"id": "s", "host": "trino.local"})
    ctx.vars["route"] = freeze({"id": "r-42"})
    h.on_log(ctx)
    assert ("trino.local", "r-42") == next(iter(h.metrics.requests))[:2]


def test_latency_histograms_use_kongs_buckets():
    h = fresh({"latency_metrics": True})
    h.on_log(finished_request())  # kong 3 ms, upstream 47 ms, request 60 ms
    got = samples(render_metrics(h.metrics))
    base = (("route", "trino-api"), ("service", "trino"), ("workspace", "default"))

    def bucket(name, le):
        found = [
            v
            for (n, labels), v in got.items()
            if n == f"{name}_bucket"
            and float(dict(labels)["le"]) == float(le)
            and set(base) <= set(labels)
        ]
        assert len(found) == 1
        return found[0]

    assert bucket("kong_kong_latency_ms", "2.0") == 0 and bucket("kong_kong_latency_ms", "5.0") == 1
    assert (
        bucket("kong_upstream_latency_ms", "25.0") == 0
        and bucket("kong_upstream_latency_ms", "50.0") == 1
    )
    assert (
        bucket("kong_request_latency_ms", "50.0") == 0
        and bucket("kong_request_latency_ms", "80.0") == 1
    )
    assert bucket("kong_request_latency_ms", "+Inf") == 1
    assert abs(got[("kong_request_latency_ms_sum", base)] - 60) < 1


def test_gateway_made_responses_have_no_upstream_latency():
    h = fresh({"latency_metrics": True})
    h.on_log(not_found())
    assert h.metrics.kong_latency and h.metrics.request_latency and not h.metrics.upstream_latency


def test_bandwidth_counts_head_and_body_bytes():
    h = fresh({"bandwidth_metrics": True})
    h.on_log(finished_request())
    ingress = h.metrics.bandwidth[("trino", "trino-api", "ingress", "default", "")]
    egress = h.metrics.bandwidth[("trino", "trino-api", "egress", "default", "")]
    assert ingress > 5 + 100 and egress > 42 + 50


def test_host_totals_add_up_worker_snapshots(tmp_path):
    workers = [fresh(ALL, tmp_path) for _ in range(3)]
    for i, h in enumerate(workers):
        for _ in range(i + 1):
            h.on_log(finished_request())
        h.metrics.publish()
    assert len(load_snapshots(str(tmp_path / "prometheus"))) == 3
    _, body = render_host_metrics(str(tmp_path / "prometheus"), node_id="n1")
    got = samples(body.decode())
    labels = (
        ("code", "200"),
        ("consumer", ""),
        ("route", "trino-api"),
        ("service", "trino"),
        ("source", "service"),
        ("workspace", "default"),
    )
    assert got[("kong_http_requests_total", labels)] == 6
    assert got[("kong_nginx_requests_total", (("node_id", "n1"), ("subsystem", "http")))] == 6
    assert (
        got[
            (
                "kong_request_latency_ms_count",
                (("route", "trino-api"), ("service", "trino"), ("workspace", "default")),
            )
        ]
        == 6
    )
    assert got[("kong_datastore_reachable", ())] == 1


def test_upstream_health_only_when_enabled():
    rows = lambda: [("trino-up", "10.0.0.1:8080", "10.0.0.1:8080", "healthy")]  # noqa: E731
    off = fresh({})
    assert "kong_upstream_target_health" not in render_metrics(off.metrics, upstream_health=rows)
    on = fresh({"upstream_health_metrics": True})
    got = samples(render_metrics(merge([on.metrics.snapshot()]), upstream_health=rows))
    base = (
        ("address", "10.0.0.1:8080"),
        ("subsystem", "http"),
        ("target", "10.0.0.1:8080"),
        ("upstream", "trino-up"),
    )
    assert got[("kong_upstream_target_health", tuple(sorted((*base, ("state", "healthy")))))] == 1
    assert got[("kong_upstream_target_health", tuple(sorted((*base, ("state", "unhealthy")))))] == 0


def test_label_values_are_escaped():
    m = WorkerMetrics()
    m.requests[('we"ird\nsvc', "r\\1", "200", "kong", "default", "")] = 1
    got = samples(render_metrics(m))
    assert any(dict(labels).get("service") == 'we"ird\nsvc' for _, labels in got)


def test_services_share_one_store_per_process(tmp_path):
    services = PluginServices(runtime_dir=str(tmp_path))
    a = handler("prometheus", {}, services=services)
    b = handler("prometheus", {"status_code_metrics": True}, services=services)
    assert a.metrics is b.metrics and a.metrics.directory == str(tmp_path / "prometheus")


def test_le_labels_use_kongs_padding():
    from carbonplane.gateway.plugins.prometheus.exposition import bucket_format
    from carbonplane.gateway.plugins.prometheus.store import (
        KONG_LATENCY_BUCKETS,
        UPSTREAM_LATENCY_BUCKETS,
    )

    assert bucket_format(KONG_LATENCY_BUCKETS) % 1 == "0001.0"
    assert bucket_format(UPSTREAM_LATENCY_BUCKETS) % 25 == "00025.0"
    h = fresh({"latency_metrics": True})
    h.on_log(finished_request())
    text = render_metrics(h.metrics)
    assert (
        f'kong_upstream_latency_ms_bucket{{service="{SERVICE["name"]}",route="{ROUTE["name"]}",'
        'workspace="default",le="00025.0"} 0' in text
    )
