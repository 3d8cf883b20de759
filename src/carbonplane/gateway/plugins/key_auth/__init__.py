"""The ``key-auth`` plugin: authenticate requests by an API key stored as a consumer's
``keyauth_credentials`` (Kong's key-auth plugin; PRIORITY 1250)."""

from carbonplane.gateway.plugins.key_auth.handler import Handler
from carbonplane.gateway.plugins.key_auth.schema import CONFIG, NO_CONSUMER
from carbonplane.gateway.plugins.pdk.base import PluginDef, register

PLUGIN = register(
    PluginDef(
        name="key-auth",
        config=CONFIG,
        handler=Handler,
        priority=Handler.PRIORITY,
        no_consumer=NO_CONSUMER,
        description="Authenticate by API key in a header or query parameter; optionally hide it "
        "from the upstream.",
    )
)
