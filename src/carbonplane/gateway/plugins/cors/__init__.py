"""cors: Kong's Cross-Origin Resource Sharing plugin (preflights and CORS response headers)."""

from carbonplane.gateway.plugins.cors.handler import Handler
from carbonplane.gateway.plugins.cors.schema import CONFIG
from carbonplane.gateway.plugins.pdk.base import PluginDef, register

PLUGIN = register(
    PluginDef(
        name="cors",
        config=CONFIG,
        handler=Handler,
        priority=Handler.PRIORITY,
        no_consumer=True,
        description="Allow browsers on other origins to call the API (CORS), answering preflights.",
    )
)
