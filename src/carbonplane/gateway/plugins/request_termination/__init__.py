"""request-termination: Kong's plugin answering requests with a fixed status and body."""

from carbonplane.gateway.plugins.pdk.base import PluginDef, register
from carbonplane.gateway.plugins.request_termination.handler import Handler
from carbonplane.gateway.plugins.request_termination.schema import CONFIG

PLUGIN = register(
    PluginDef(
        name="request-termination",
        config=CONFIG,
        handler=Handler,
        priority=Handler.PRIORITY,
        description="Terminate requests with a given status and message or body (maintenance, "
        "blocking, testing).",
    )
)
