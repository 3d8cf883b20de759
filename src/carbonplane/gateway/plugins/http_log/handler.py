"""The http-log handler (Kong's ``http-log``, PRIORITY 12): Kong's log record, sent in batches to
an HTTP endpoint, never on a request's critical path.

``on_log`` (after the response was written) serializes the request (``log_serializer``),
encodes it once and appends it to this plugin's ``LogQueue`` in the running event loop; the
queue's task sends batches through a ``LogSender`` (one JSON object per request when
``max_batch_size`` is 1, else a JSON array), retrying with backoff. Queues are keyed by plugin id
and config, so a reload that keeps the plugin keeps its queue and nothing queued is lost; a
changed config gets a new queue while the old one drains.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any

from carbonplane.gateway.config.schema import thaw
from carbonplane.gateway.plugins.http_log.queue import LogQueue
from carbonplane.gateway.plugins.http_log.schema import queue_settings
from carbonplane.gateway.plugins.http_log.sender import LogSender
from carbonplane.gateway.plugins.pdk.base import PluginHandler, PluginServices
from carbonplane.gateway.plugins.pdk.log_serializer import encode, serialize
from carbonplane.proxy.app import RequestContext

_queues: dict[tuple, tuple[asyncio.AbstractEventLoop, LogQueue]] = {}


class Handler(PluginHandler):
    NAME = "http-log"
    PRIORITY = 12
    VERSION = "3.9.0"

    def __init__(
        self, config: Mapping[str, Any], plugin: Mapping[str, Any], services: PluginServices
    ) -> None:
        super().__init__(config, plugin, services)
        self.settings = queue_settings(config)
        self.batched = int(self.settings["max_batch_size"]) > 1
        self.key = (plugin.get("id"), json.dumps(thaw(config), sort_keys=True, default=str))
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: LogQueue | None = None

    def on_log(self, ctx: RequestContext) -> None:
        queue = self._queue
        if queue is None or self._loop is not asyncio.get_running_loop():
            queue = self.queue()
        queue.add(encode(serialize(ctx)))

    def queue(self) -> LogQueue:
        """This plugin's queue in the running event loop (made on first use)."""
        loop = asyncio.get_running_loop()
        key = (id(loop), *self.key)
        found = _queues.get(key)
        if found is None or found[0] is not loop:
            conf = self.config
            sender = LogSender(
                conf["http_endpoint"],
                conf["method"],
                conf["content_type"],
                conf["timeout"],
                conf["keepalive"],
                conf.get("headers"),
            )

            async def send(batch: list[bytes]) -> None:
                await sender.send(b"[" + b",".join(batch) + b"]" if self.batched else batch[0])

            found = _queues[key] = (loop, LogQueue(str(self.plugin.get("id")), self.settings, send))
        self._loop, self._queue = loop, found[1]
        return found[1]
