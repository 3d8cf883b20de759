"""The ``request-transformer`` plugin: rewrite the request before it goes upstream - method,
path, headers, query string, JSON and form bodies - with Kong's remove/rename/replace/add/append
operations and ``$(...)`` templates (Kong's request-transformer; PRIORITY 801)."""

from carbonplane.gateway.plugins.pdk.base import PluginDef, register
from carbonplane.gateway.plugins.request_transformer.handler import Handler
from carbonplane.gateway.plugins.request_transformer.schema import CONFIG

PLUGIN = register(
    PluginDef(
        name="request-transformer",
        config=CONFIG,
        handler=Handler,
        priority=Handler.PRIORITY,
        description="Rewrite method, path, headers, query string and JSON/form bodies of requests "
        "before they are proxied.",
    )
)
