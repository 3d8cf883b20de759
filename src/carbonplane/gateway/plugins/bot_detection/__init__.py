"""The ``bot-detection`` plugin: refuse requests whose ``User-Agent`` is a known bot or matches
a ``deny`` regex, unless it matches an ``allow`` regex (Kong's bot-detection plugin;
PRIORITY 2500)."""

from carbonplane.gateway.plugins.bot_detection.handler import Handler
from carbonplane.gateway.plugins.bot_detection.schema import CONFIG, NO_CONSUMER
from carbonplane.gateway.plugins.pdk.base import PluginDef, register

PLUGIN = register(
    PluginDef(
        name="bot-detection",
        config=CONFIG,
        handler=Handler,
        priority=Handler.PRIORITY,
        no_consumer=NO_CONSUMER,
        description="Refuse (403) requests from known bots and User-Agents matching deny "
        "regexes, unless they match an allow regex.",
    )
)
