"""rate-limiting: Kong's request rate limits per second .. year, exact across workers and nodes."""

from carbonplane.gateway.plugins.pdk.base import PluginDef, register
from carbonplane.gateway.plugins.rate_limiting.handler import Handler
from carbonplane.gateway.plugins.rate_limiting.schema import CONFIG

PLUGIN = register(
    PluginDef(
        name="rate-limiting",
        config=CONFIG,
        handler=Handler,
        priority=Handler.PRIORITY,
        description="Limit how many HTTP requests can be made in a period of seconds, minutes, "
        "hours, days, months, or years.",
    )
)
