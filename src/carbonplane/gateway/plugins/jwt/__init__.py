"""The ``jwt`` plugin: authenticate requests with JSON Web Tokens signed by a consumer's
``jwt_secrets`` credential (Kong's jwt plugin; PRIORITY 1450)."""

from carbonplane.gateway.plugins.jwt.handler import Handler
from carbonplane.gateway.plugins.jwt.schema import CONFIG, NO_CONSUMER
from carbonplane.gateway.plugins.pdk.base import PluginDef, register

PLUGIN = register(
    PluginDef(
        name="jwt",
        config=CONFIG,
        handler=Handler,
        priority=Handler.PRIORITY,
        no_consumer=NO_CONSUMER,
        description="Verify a JWT (HS256/384/512, RS*, ES*, PS*, EdDSA) against the consumer "
        "credential it names; the credential pins the algorithm.",
    )
)
