"""event-log: one AuditAPICallEvent per proxied request, produced through the event library
without ever blocking a request."""

from carbonplane.gateway.plugins.event_log.handler import Handler
from carbonplane.gateway.plugins.event_log.schema import CONFIG
from carbonplane.gateway.plugins.pdk.base import PluginDef, register

PLUGIN = register(
    PluginDef(
        name="event-log",
        config=CONFIG,
        handler=Handler,
        priority=Handler.PRIORITY,
        description="Produce an AuditAPICallEvent (topic audit-api-calls) for every request.",
    )
)
