"""response-ratelimiting: Kong's per-name limits whose units the upstream reports per response."""

from carbonplane.gateway.plugins.pdk.base import PluginDef, register
from carbonplane.gateway.plugins.response_ratelimiting.handler import Handler
from carbonplane.gateway.plugins.response_ratelimiting.schema import CONFIG

PLUGIN = register(
    PluginDef(
        name="response-ratelimiting",
        config=CONFIG,
        handler=Handler,
        priority=Handler.PRIORITY,
        description="Rate-limit the usage the upstream reports in each response "
        "(X-Kong-Limit), per named limit and period.",
    )
)
