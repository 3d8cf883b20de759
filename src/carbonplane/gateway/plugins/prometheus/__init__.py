"""prometheus: Kong 3.x metrics (status codes, latencies, bandwidth, upstream health), counted
per worker and rendered as host totals (``exposition.render_host_metrics``)."""

from carbonplane.gateway.plugins.pdk.base import PluginDef, register
from carbonplane.gateway.plugins.prometheus.exposition import (
    CONTENT_TYPE,
    metrics_directory,
    metrics_hook,
    render_host_metrics,
)
from carbonplane.gateway.plugins.prometheus.handler import Handler, worker_metrics
from carbonplane.gateway.plugins.prometheus.schema import CONFIG

PLUGIN = register(
    PluginDef(
        name="prometheus",
        config=CONFIG,
        handler=Handler,
        priority=Handler.PRIORITY,
        description="Expose Kong-compatible Prometheus metrics for the proxied traffic.",
    )
)

__all__ = [
    "CONTENT_TYPE",
    "PLUGIN",
    "metrics_directory",
    "metrics_hook",
    "render_host_metrics",
    "worker_metrics",
]
