"""The ``request-size-limiting`` plugin: refuse request bodies over a size (Kong's
request-size-limiting plugin; PRIORITY 951)."""

from carbonplane.gateway.plugins.pdk.base import PluginDef, register
from carbonplane.gateway.plugins.request_size_limiting.handler import Handler
from carbonplane.gateway.plugins.request_size_limiting.schema import CONFIG

PLUGIN = register(
    PluginDef(
        name="request-size-limiting",
        config=CONFIG,
        handler=Handler,
        priority=Handler.PRIORITY,
        description="Refuse request bodies larger than allowed_payload_size (413), by declared "
        "Content-Length or by counting chunked bodies while they stream.",
    )
)
