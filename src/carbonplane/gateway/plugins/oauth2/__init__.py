"""The ``oauth2`` plugin: OAuth 2.0 authorization server endpoints and access-token
authentication (Kong's oauth2 plugin; PRIORITY 1400)."""

from carbonplane.gateway.plugins.oauth2.handler import Handler
from carbonplane.gateway.plugins.oauth2.schema import CONFIG, NO_CONSUMER
from carbonplane.gateway.plugins.pdk.base import PluginDef, register

PLUGIN = register(
    PluginDef(
        name="oauth2",
        config=CONFIG,
        handler=Handler,
        priority=Handler.PRIORITY,
        no_consumer=NO_CONSUMER,
        description="OAuth 2.0 token and authorization endpoints (authorization code with "
        "PKCE, client credentials, password, implicit, refresh) and bearer-token "
        "authentication.",
    )
)
