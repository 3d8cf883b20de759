"""http-log: Kong's request/response log record sent in batches to an HTTP endpoint."""

from carbonplane.gateway.plugins.http_log.handler import Handler
from carbonplane.gateway.plugins.http_log.schema import CONFIG
from carbonplane.gateway.plugins.pdk.base import PluginDef, register

PLUGIN = register(
    PluginDef(
        name="http-log",
        config=CONFIG,
        handler=Handler,
        priority=Handler.PRIORITY,
        description="Send request and response logs to an HTTP server, batched and retried.",
    )
)
