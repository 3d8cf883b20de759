"""Config schema of the prometheus plugin (Kong 3.x ``kong/plugins/prometheus/schema.lua``).

Every per-request family is opt-in, as in Kong 3.x (high-cardinality metrics cost memory and
scrape time): ``status_code_metrics`` (``kong_http_requests_total``), ``latency_metrics``
(``kong_kong_latency_ms``, ``kong_upstream_latency_ms``, ``kong_request_latency_ms``),
``bandwidth_metrics`` (``kong_bandwidth_bytes``), ``upstream_health_metrics``
(``kong_upstream_target_health``), ``per_consumer`` (the ``consumer`` label carries the consumer's
username instead of ""). ``ai_metrics`` is accepted for compatibility; no AI plugin exists here,
so it records nothing.
"""

from __future__ import annotations

from carbonplane.gateway.config import typedefs as t
from carbonplane.gateway.config.schema import record

CONFIG = record(
    (
        "per_consumer",
        t.boolean(
            "Label status and bandwidth metrics with the consumer's username.", default=False
        ),
    ),
    (
        "status_code_metrics",
        t.boolean("Count responses by status: kong_http_requests_total.", default=False),
    ),
    ("ai_metrics", t.boolean("AI proxy metrics (nothing to record here).", default=False)),
    (
        "latency_metrics",
        t.boolean(
            "Latency histograms: kong_kong_latency_ms, "
            "kong_upstream_latency_ms, kong_request_latency_ms.",
            default=False,
        ),
    ),
    ("bandwidth_metrics", t.boolean("Bytes in and out: kong_bandwidth_bytes.", default=False)),
    (
        "upstream_health_metrics",
        t.boolean("Target health: kong_upstream_target_health.", default=False),
    ),
)
