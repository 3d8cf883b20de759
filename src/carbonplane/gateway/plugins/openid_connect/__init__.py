"""The ``openid-connect`` plugin: validate access tokens issued by an OpenID provider (JWTs
with the provider's discovered, cached JWKS; opaque tokens by RFC 7662 introspection), a
documented subset of Kong Enterprise's plugin of that name (PRIORITY 1050)."""

from carbonplane.gateway.plugins.openid_connect.handler import Handler
from carbonplane.gateway.plugins.openid_connect.schema import CONFIG, NO_CONSUMER
from carbonplane.gateway.plugins.pdk.base import PluginDef, register

PLUGIN = register(
    PluginDef(
        name="openid-connect",
        config=CONFIG,
        handler=Handler,
        priority=Handler.PRIORITY,
        no_consumer=NO_CONSUMER,
        description="Validate access tokens of an OpenID provider: JWTs against its discovered "
        "JWKS (cached, rotation-aware), opaque tokens by introspection (RFC 7662).",
    )
)
