"""correlation-id: Kong's per-request correlation id header, to the upstream and optionally back."""

from carbonplane.gateway.plugins.correlation_id.handler import Handler
from carbonplane.gateway.plugins.correlation_id.schema import CONFIG
from carbonplane.gateway.plugins.pdk.base import PluginDef, register

PLUGIN = register(
    PluginDef(
        name="correlation-id",
        config=CONFIG,
        handler=Handler,
        priority=Handler.PRIORITY,
        description="Correlate requests and responses with a unique id in a header.",
    )
)
