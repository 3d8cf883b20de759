"""The request-termination handler (Kong's ``request-termination``, PRIORITY 2): answer every
request (or those carrying the ``trigger`` header or query argument) with a fixed response.

- ``body`` set: that body with ``content_type``;
- ``echo``: a JSON description of the request (Kong's shape: ``message``, ``kong`` node fields,
  ``request`` scheme/host/port/headers/query/method/path, ``matched_route``, ``matched_service``);
  the body is not read (the engine streams it), so ``request.body``/``raw_body`` are null;
- otherwise ``{"message": ...}`` (JSON, whatever the request accepts, no request id: Kong's
  ``kong.response.exit`` with a table) with ``message`` or the plugin's default text of the
  status (503 "Service unavailable"); a status without a default and no ``message`` answers
  with an empty body.
"""

from __future__ import annotations

import json
import os
import socket
import uuid
from collections.abc import Mapping
from typing import Any

from carbonplane.gateway.config.schema import thaw
from carbonplane.gateway.plugins.pdk.base import PluginHandler, PluginServices
from carbonplane.gateway.plugins.pdk.log_serializer import header_map, query_map
from carbonplane.proxy.app import LocalResponse, RequestContext

# the plugin's own default messages (kong/plugins/request-termination/handler.lua): another
# status without ``message`` answers with an empty body
MESSAGES = {
    401: "Unauthorized",
    404: "Not found",
    405: "Method not allowed",
    500: "An unexpected error occurred",
    502: "Bad Gateway",
    503: "Service unavailable",
}
_NODE_ID = str(uuid.uuid4())  # this process's id in echoed bodies (Kong: kong_node_id)
_JSON = b"application/json; charset=utf-8"


class Handler(PluginHandler):
    NAME = "request-termination"
    PRIORITY = 2
    VERSION = "3.9.0"

    def __init__(
        self, config: Mapping[str, Any], plugin: Mapping[str, Any], services: PluginServices
    ) -> None:
        super().__init__(config, plugin, services)
        self.status = int(config["status_code"])
        self.message = config.get("message") or MESSAGES.get(self.status)
        self.trigger = config.get("trigger")
        self.trigger_header = self.trigger.lower().encode() if self.trigger else None
        self.echo = bool(config["echo"])
        self.node_id = _NODE_ID
        body = config.get("body")
        self.fixed = None
        if body:
            self.fixed = (
                body.encode(),
                [(b"content-type", (config.get("content_type") or "").encode())],
            )

    def on_request(self, ctx: RequestContext) -> LocalResponse | None:
        if self.trigger is not None and not self._triggered(ctx):
            return None
        if self.echo:
            return self._echo(ctx)
        if self.fixed is not None:
            body, headers = self.fixed
            return LocalResponse(self.status, body, list(headers))
        return self.terminated

    @property
    def terminated(self) -> LocalResponse:
        """Kong's ``kong.response.exit(status, {message = ...})``: JSON whatever the request
        accepts, no request id; no body when the status has no default message."""
        if self.message is None:
            return LocalResponse(self.status, b"")
        body = json.dumps({"message": self.message}, separators=(",", ":")).encode()
        return LocalResponse(self.status, body, [(b"content-type", _JSON)])

    def _triggered(self, ctx: RequestContext) -> bool:
        if ctx.request.get(self.trigger_header) is not None:
            return True
        return bool(ctx.request.query) and self.trigger in query_map(ctx.request.query)

    def _echo(self, ctx: RequestContext) -> LocalResponse:
        req = ctx.request
        host, _, port = req.host.decode("latin-1").partition(":")
        route, service = ctx.vars.get("route"), ctx.vars.get("service")
        doc = {
            "message": self.message,
            "kong": {
                "node_id": self.node_id,
                "worker_pid": os.getpid(),
                "hostname": socket.gethostname(),
            },
            "request": {
                "scheme": ctx.client.scheme.decode("ascii"),
                "host": host,
                "port": int(port) if port.isdigit() else ctx.client.server_port,
                "headers": header_map(req.headers),
                "query": query_map(req.query),
                "body": None,
                "raw_body": None,
                "method": req.method.decode("latin-1"),
                "path": req.path.decode("latin-1"),
            },
            "matched_route": thaw(route) if route is not None else None,
            "matched_service": thaw(service) if service is not None else None,
        }
        body = json.dumps(doc, separators=(",", ":")).encode()
        return LocalResponse(self.status, body, [(b"content-type", _JSON)])
