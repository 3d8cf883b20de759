"""The ``response-transformer`` plugin: rewrite response headers and top-level JSON body
properties before the response reaches the client (Kong's response-transformer; PRIORITY 800).
The usual security headers (X-Content-Type-Options, X-Frame-Options, Strict-Transport-Security,
no Server / X-Powered-By) are one ``add`` and one ``remove`` list."""

from carbonplane.gateway.plugins.pdk.base import PluginDef, register
from carbonplane.gateway.plugins.response_transformer.handler import Handler
from carbonplane.gateway.plugins.response_transformer.schema import CONFIG

PLUGIN = register(
    PluginDef(
        name="response-transformer",
        config=CONFIG,
        handler=Handler,
        priority=Handler.PRIORITY,
        description="Rewrite response headers and top-level JSON body properties.",
    )
)
