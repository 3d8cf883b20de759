"""The ``basic-auth`` plugin: authenticate requests by HTTP Basic credentials stored as a
consumer's ``basicauth_credentials`` (Kong's basic-auth plugin; PRIORITY 1100)."""

from carbonplane.gateway.plugins.basic_auth.handler import Handler
from carbonplane.gateway.plugins.basic_auth.schema import CONFIG, NO_CONSUMER
from carbonplane.gateway.plugins.pdk.base import PluginDef, register

PLUGIN = register(
    PluginDef(
        name="basic-auth",
        config=CONFIG,
        handler=Handler,
        priority=Handler.PRIORITY,
        no_consumer=NO_CONSUMER,
        description="Authenticate by HTTP Basic username and password; optionally hide them "
        "from the upstream.",
    )
)
