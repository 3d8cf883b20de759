"""The correlation-id handler (Kong's ``correlation-id``, PRIORITY 100001: runs first).

Access: when the request has no (or an empty) ``header_name`` header, an id is generated and
added to the request sent upstream; either way the id goes to ``ctx.vars["correlation_id"]``,
which the log record carries (Kong's ``set_serialize_value("correlation_id")``). Header filter,
with ``echo_downstream``: the id is set on the response (generated if the access phase did not
run, e.g. the request was answered before this plugin).

Generators (Kong's formats): ``uuid`` a random UUID (36 characters, lower case);
``uuid#counter`` ``<worker uuid>#<n>`` with a uuid made once per worker process and a counter;
``tracker`` ``<server address>-<server port>-<worker pid>-<connection serial>-<requests on the
connection>-<epoch s.ms>`` (nginx's ``$server_addr``, ``$server_port``, ``$connection``,
``$connection_requests``, ``ngx.now()``).
"""

from __future__ import annotations

import itertools
import os
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from carbonplane.gateway.plugins.pdk.base import PluginHandler, PluginServices
from carbonplane.proxy.app import RequestContext

VAR = "correlation_id"


class _WorkerIds:
    """Per-process generator state (Kong's ``init_worker``), renewed after a fork."""

    def __init__(self) -> None:
        self.pid = -1
        self.uuid = ""
        self.counter = itertools.count(1)

    def current(self) -> _WorkerIds:
        if self.pid != os.getpid():
            self.pid = os.getpid()
            self.uuid = str(uuid.uuid4())
            self.counter = itertools.count(1)
        return self


_WORKER = _WorkerIds()


def _uuid(ctx: RequestContext) -> str:
    return str(uuid.uuid4())


def _uuid_counter(ctx: RequestContext) -> str:
    worker = _WORKER.current()
    return f"{worker.uuid}#{next(worker.counter)}"


def _tracker(ctx: RequestContext) -> str:
    client = ctx.client
    return (
        f"{client.server_ip}-{client.server_port}-{_WORKER.current().pid}-{client.serial}-"
        f"{client.requests}-{time.time():.3f}"
    )


GENERATE: dict[str, Callable[[RequestContext], str]] = {
    "uuid": _uuid,
    "uuid#counter": _uuid_counter,
    "tracker": _tracker,
}


class Handler(PluginHandler):
    NAME = "correlation-id"
    PRIORITY = 100001
    VERSION = "3.9.0"

    def __init__(
        self, config: Mapping[str, Any], plugin: Mapping[str, Any], services: PluginServices
    ) -> None:
        super().__init__(config, plugin, services)
        self.header = config["header_name"].lower().encode()
        self.generate = GENERATE[config["generator"]]
        self.echo = bool(config["echo_downstream"])

    def on_request(self, ctx: RequestContext) -> None:
        value = ctx.request.get(self.header)
        if value:
            ctx.vars[VAR] = value.decode("latin-1")
            return None
        generated = self.generate(ctx)
        headers = ctx.request.headers
        if value is not None:  # present but empty: replace it
            headers[:] = [h for h in headers if h[0] != self.header]
        headers.append((self.header, generated.encode("latin-1")))
        ctx.vars[VAR] = generated
        return None

    def on_response_head(self, ctx: RequestContext) -> None:
        if not self.echo or ctx.response is None:
            return
        value = ctx.vars.get(VAR)
        if value is None:
            found = ctx.request.get(self.header)
            value = found.decode("latin-1") if found else self.generate(ctx)
        headers = ctx.response.headers
        if any(n == self.header for n, _ in headers):
            headers[:] = [h for h in headers if h[0] != self.header]
        headers.append((self.header, value.encode("latin-1")))
