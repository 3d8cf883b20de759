"""correlation-id: ids generated only when missing, sent upstream, echoed downstream on demand,
Kong's three generators, and the id in the log record."""

from __future__ import annotations

import os
import re
import uuid

from reqkit import request, respond
from tests.kits.plugins import config, handler

from carbonplane.gateway.plugins.pdk.log_serializer import serialize


def through(h, headers: dict | None = None):
    ctx = request("GET", "/", headers or {})
    assert h.on_request(ctx) is None
    respond(ctx, 200, [("Kong-Request-ID", "from-upstream")])
    h.on_response_head(ctx)
    return ctx


def upstream_value(ctx, name: bytes = b"kong-request-id") -> list[bytes]:
    return [v for n, v in ctx.request.headers if n == name]


def response_value(ctx, name: bytes = b"kong-request-id") -> list[bytes]:
    return [v for n, v in ctx.response.headers if n == name]


def test_defaults_are_kongs():
    conf = config("correlation-id", {})
    assert conf == {
        "header_name": "Kong-Request-ID",
        "generator": "uuid#counter",
        "echo_downstream": False,
    }


def test_uuid_counter_counts_per_worker():
    h = handler("correlation-id", {})
    first, second = (upstream_value(through(h))[0].decode() for _ in range(2))
    base1, n1 = first.split("#")
    base2, n2 = second.split("#")
    assert base1 == base2 and uuid.UUID(base1) and int(n2) == int(n1) + 1


def test_uuid_generator():
    value = upstream_value(through(handler("correlation-id", {"generator": "uuid"})))[0].decode()
    assert uuid.UUID(value).version == 4


def test_tracker_generator():
    # Kong's: server_addr-server_port-worker pid-connection serial-connection requests-now
    ctx = request()
    ctx.client.server_ip, ctx.client.serial, ctx.client.requests = "10.0.0.5", 17, 3
    plugin = handler("correlation-id", {"generator": "tracker"})
    assert plugin.on_request(ctx) is None
    value = upstream_value(ctx)[0].decode()
    assert re.fullmatch(rf"10\.0\.0\.5-8000-{os.getpid()}-17-3-\d+\.\d{{3}}", value)


def test_existing_id_is_kept_and_logged():
    ctx = through(
        handler("correlation-id", {"header_name": "X-Correlation"}), {"X-Correlation": "abc"}
    )
    assert upstream_value(ctx, b"x-correlation") == [b"abc"]
    assert serialize(ctx)["correlation_id"] == "abc"


def test_empty_id_is_replaced():
    ctx = through(handler("correlation-id", {"generator": "uuid"}), {"Kong-Request-ID": ""})
    values = upstream_value(ctx)
    assert len(values) == 1 and uuid.UUID(values[0].decode())


def test_echo_downstream_replaces_the_upstream_value():
    ctx = through(handler("correlation-id", {"echo_downstream": True}))
    assert response_value(ctx) == upstream_value(ctx)
    quiet = through(handler("correlation-id", {}))
    assert response_value(quiet) == [b"from-upstream"]


def test_echo_when_the_access_phase_did_not_run():
    h = handler("correlation-id", {"echo_downstream": True, "generator": "uuid"})
    ctx = request("GET", "/")
    respond(ctx, 404)
    h.on_response_head(ctx)
    assert uuid.UUID(response_value(ctx)[0].decode())
