"""The ``ip-restriction`` plugin: allow or deny clients by IP address or CIDR range (Kong's
ip-restriction plugin; PRIORITY 990)."""

from carbonplane.gateway.plugins.ip_restriction.handler import Handler
from carbonplane.gateway.plugins.ip_restriction.schema import CONFIG
from carbonplane.gateway.plugins.pdk.base import PluginDef, register

PLUGIN = register(
    PluginDef(
        name="ip-restriction",
        config=CONFIG,
        handler=Handler,
        priority=Handler.PRIORITY,
        description="Refuse or admit clients by IPv4/IPv6 address or CIDR range, using the client "
        "IP the engine resolved through trusted proxies.",
    )
)
