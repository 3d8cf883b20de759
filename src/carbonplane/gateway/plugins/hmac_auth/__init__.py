"""The ``hmac-auth`` plugin: authenticate requests by an HMAC signature over chosen request
headers, made with a consumer's ``hmacauth_credentials`` secret (Kong's hmac-auth plugin;
PRIORITY 1030)."""

from carbonplane.gateway.plugins.hmac_auth.handler import Handler
from carbonplane.gateway.plugins.hmac_auth.schema import CONFIG, NO_CONSUMER
from carbonplane.gateway.plugins.pdk.base import PluginDef, register

PLUGIN = register(
    PluginDef(
        name="hmac-auth",
        config=CONFIG,
        handler=Handler,
        priority=Handler.PRIORITY,
        no_consumer=NO_CONSUMER,
        description="Authenticate by an HMAC signature of request headers (and optionally a "
        "SHA-256 Digest of the body), within a clock skew.",
    )
)
