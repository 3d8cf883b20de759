"""proxy-cache: Kong's reverse-proxy cache, memory strategy (per worker process)."""

from carbonplane.gateway.plugins.pdk.base import PluginDef, register
from carbonplane.gateway.plugins.proxy_cache.handler import Handler
from carbonplane.gateway.plugins.proxy_cache.schema import CONFIG

PLUGIN = register(
    PluginDef(
        name="proxy-cache",
        config=CONFIG,
        handler=Handler,
        priority=Handler.PRIORITY,
        description="Cache and serve commonly requested responses in the gateway's memory.",
    )
)
