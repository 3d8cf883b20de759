"""The bot-detection plugin's handler (``kong/plugins/bot-detection/handler.lua``, Kong 3).

Access phase:
1. no ``User-Agent``: the request goes on; more than one: 400 "Only one User-Agent header
   allowed";
2. the value, stripped of surrounding whitespace, is searched with the ``allow`` rules (a match
   lets it through), then the ``deny`` rules, then Kong's built-in list (``rules.py``); a deny
   or built-in match is 403 "Forbidden".

Rules are compiled once per config (at handler construction). Verdicts are remembered per
User-Agent in an LRU of ``CACHE_SIZE`` entries per handler, as Kong keeps one per config: the
typical request costs one dict lookup; only a User-Agent not seen recently runs the regexes.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from carbonplane.gateway.plugins.bot_detection.rules import is_bot
from carbonplane.gateway.plugins.bot_detection.schema import compile_rule
from carbonplane.gateway.plugins.pdk.base import PluginHandler
from carbonplane.proxy.app import LocalResponse

USER_AGENT = b"user-agent"
CACHE_SIZE = 10_000
ALLOWED, DENIED = False, True
_SPACE = " \t\r\n\v\f"  # ASCII whitespace only, as Kong's strip (not U+0085 / U+00A0)


class Handler(PluginHandler):
    NAME = "bot-detection"
    PRIORITY = 2500
    VERSION = "1.0.0"

    def __init__(self, config: Any, plugin: Any, services: Any) -> None:
        super().__init__(config, plugin, services)
        self.allow = tuple(compile_rule(p) for p in config["allow"])
        self.deny = tuple(compile_rule(p) for p in config["deny"])
        self.verdicts: OrderedDict[bytes, bool] = OrderedDict()

    def on_request(self, ctx: Any) -> LocalResponse | None:
        agent = None
        for name, value in ctx.request.headers:
            if name == USER_AGENT:
                if agent is not None:
                    return LocalResponse.error(400, "Only one User-Agent header allowed")
                agent = value
        if agent is None:
            return None
        verdicts = self.verdicts
        denied = verdicts.get(agent)
        if denied is None:
            denied = verdicts[agent] = self.examine(agent.decode("latin-1").strip(_SPACE))
            if len(verdicts) > CACHE_SIZE:
                verdicts.popitem(last=False)
        else:
            verdicts.move_to_end(agent)
        return LocalResponse.error(403, "Forbidden") if denied else None

    def examine(self, agent: str) -> bool:
        """DENIED when ``agent`` is refused (see module doc), else ALLOWED."""
        for rule in self.allow:
            if rule.search(agent) is not None:
                return ALLOWED
        for rule in self.deny:
            if rule.search(agent) is not None:
                return DENIED
        return DENIED if is_bot(agent) else ALLOWED
