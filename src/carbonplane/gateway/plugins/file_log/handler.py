"""The file-log handler (Kong's ``file-log``, PRIORITY 9): Kong's log record, one JSON line per
request, appended to ``path``.

Log phase only: the record (``log_serializer.append_line``: the bytes of
``encode(serialize(ctx))`` and a newline, without the intermediate dict, written in C where the
``_records`` module is built) is appended in ``on_log``, after the response went out, to the
batch of the path's ``AppendWriter``, which writes batches from its own thread (see
``writer.py``). Nothing touches the disk on the event loop.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from carbonplane.gateway.plugins.file_log.writer import writer_for
from carbonplane.gateway.plugins.pdk.base import PluginHandler, PluginServices
from carbonplane.gateway.plugins.pdk.log_serializer import append_line
from carbonplane.proxy.app import RequestContext


class Handler(PluginHandler):
    NAME = "file-log"
    PRIORITY = 9
    VERSION = "3.9.0"

    def __init__(
        self, config: Mapping[str, Any], plugin: Mapping[str, Any], services: PluginServices
    ) -> None:
        super().__init__(config, plugin, services)
        self.writer = writer_for(config["path"], bool(config["reopen"]))

    def on_log(self, ctx: RequestContext) -> None:
        writer = self.writer
        append_line(writer.batch, ctx)  # in place: no bytes object per line
        writer.added()

    def close(self) -> None:
        self.writer.hand_off()  # the shared writer lives on and writes it from its thread
