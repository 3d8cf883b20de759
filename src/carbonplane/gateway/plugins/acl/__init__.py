"""The ``acl`` plugin: allow or deny consumers by their ACL groups (Kong's acl plugin;
PRIORITY 950, after the authentication plugins)."""

from carbonplane.gateway.plugins.acl.handler import Handler
from carbonplane.gateway.plugins.acl.schema import CONFIG, NO_CONSUMER
from carbonplane.gateway.plugins.pdk.base import PluginDef, register

PLUGIN = register(
    PluginDef(
        name="acl",
        config=CONFIG,
        handler=Handler,
        priority=Handler.PRIORITY,
        no_consumer=NO_CONSUMER,
        description="Allow or deny the authenticated consumer by ACL group; tells the upstream the "
        "groups in X-Consumer-Groups.",
    )
)
