"""file-log: Kong's request/response log record appended to a file as JSON lines."""

from carbonplane.gateway.plugins.file_log.handler import Handler
from carbonplane.gateway.plugins.file_log.schema import CONFIG
from carbonplane.gateway.plugins.pdk.base import PluginDef, register

PLUGIN = register(
    PluginDef(
        name="file-log",
        config=CONFIG,
        handler=Handler,
        priority=Handler.PRIORITY,
        description="Append request and response data as JSON lines to a log file.",
    )
)
