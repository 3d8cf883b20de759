"""file-log and Kong's log record: the serializer's fields from a finished request, JSON lines
appended (batched, from the writer thread), reopen, unwritable paths, unsupported Lua fields."""

from __future__ import annotations

import asyncio
import json
import os

from reqkit import request, respond
from tests.kits.plugins import handler, problem_at

from carbonplane.gateway.config.schema import freeze
from carbonplane.gateway.plugins.file_log import writer as writer_module
from carbonplane.gateway.plugins.file_log.writer import AppendWriter
from carbonplane.gateway.plugins.pdk import log_serializer
from carbonplane.gateway.plugins.pdk.log_serializer import (
    LINE_IMPLS,
    encode,
    encode_line,
    query_map,
    serialize,
)
from carbonplane.proxy.app import FixedTarget, RouteDecision, Upstream

SERVICE = freeze(
    {
        "id": "5b1f0f4a-3c41-4b64-9d2a-8e2f0c0e8a11",
        "name": "trino",
        "host": "trino.local",
        "port": 8080,
    }
)
ROUTE = freeze(
    {"id": "9a3c6f1e-2b7d-4e55-a0f4-1c2d3e4f5a6b", "name": "trino-api", "paths": ["/api/trino"]}
)


def finished_request(**kw):
    """A request that went upstream and got a 200 with a 42-byte body."""
    ctx = request(
        "POST",
        "/api/trino/v1/statement?catalog=hive&x=1&x=2&flag",
        {"Authorization": "Bearer secret", "X-Trace": "a", "x-trace": "b", "Content-Length": "5"},
        **kw,
    )
    target = FixedTarget("127.0.0.1", 18080)
    ctx.decision = RouteDecision(
        Upstream("trino", target), b"/v1/statement?catalog=hive&x=1&x=2&flag"
    )
    ctx.upstream_target = ctx.decision.target
    ctx.vars.update(
        route=ROUTE,
        service=SERVICE,
        consumer=freeze({"id": "c-1", "username": "ana"}),
        credential=freeze({"id": "k-1", "consumer": {"id": "c-1"}}),
    )
    ctx.request_bytes = 5
    ctx.tries, ctx.target = 2, target
    ctx.upstream_started, ctx.upstream_answered = ctx.started + 0.003, ctx.started + 0.050
    ctx.finished = ctx.started + 0.060
    respond(
        ctx,
        200,
        [("Content-Type", "application/json"), ("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")],
        body_size=42,
    )
    return ctx


def test_record_has_kongs_fields():
    record = serialize(finished_request())
    assert set(record) >= {
        "request",
        "upstream_uri",
        "upstream_status",
        "response",
        "latencies",
        "tries",
        "authenticated_entity",
        "route",
        "service",
        "consumer",
        "client_ip",
        "started_at",
        "source",
        "workspace",
        "workspace_name",
    }
    req = record["request"]
    assert req["id"] == "req-1" and req["method"] == "POST"
    assert req["uri"] == "/api/trino/v1/statement?catalog=hive&x=1&x=2&flag"
    assert req["url"] == "http://gw.test:8000/api/trino/v1/statement?catalog=hive&x=1&x=2&flag"
    assert req["querystring"] == {"catalog": "hive", "x": ["1", "2"], "flag": True}
    assert req["headers"]["authorization"] == "REDACTED"
    assert req["headers"]["x-trace"] == ["a", "b"]
    assert req["size"] > 5
    assert record["upstream_uri"] == "/v1/statement?catalog=hive&x=1&x=2&flag"
    assert record["upstream_status"] == "200"
    assert record["response"]["status"] == 200 and record["response"]["size"] > 42
    assert record["response"]["headers"]["set-cookie"] == ["a=1", "b=2"]
    assert record["latencies"] == {"kong": 3, "proxy": 47, "request": 60, "receive": 0}
    assert record["tries"] == [
        {"state": "failed"},
        {"balancer_latency": 0, "ip": "127.0.0.1", "port": 18080},
    ]
    assert record["service"]["name"] == "trino" and record["route"]["name"] == "trino-api"
    assert record["consumer"] == {"id": "c-1", "username": "ana"}
    assert record["authenticated_entity"] == {"id": "k-1", "consumer_id": "c-1"}
    assert record["client_ip"] == "203.0.113.7" and record["source"] == "upstream"
    assert record["workspace_name"] == "default"


def test_record_of_a_gateway_made_response():
    ctx = request("GET", "/nowhere")
    ctx.finished = ctx.started + 0.002
    respond(ctx, 404)
    ctx.source = "proxy"
    record = serialize(ctx)
    assert (
        record["source"] == "kong"
        and record["upstream_status"] == ""
        and record["upstream_uri"] == ""
    )
    assert record["latencies"] == {"kong": 2, "proxy": -1, "request": 2, "receive": 0}
    assert record["tries"] == [] and record["route"] is None and "consumer" not in record


def test_each_line_impl_writes_the_bytes_of_the_serialized_record(impl):
    gateway_made = request("GET", "/nowhere?a=1", {"Authorization": "Basic x"})
    respond(gateway_made, 404)
    no_response = request("GET", "/p")
    tagged = finished_request()
    tagged.vars["correlation_id"] = "abc"
    tagged.response.headers.append([b"x-listed", b"1"])  # an unhashable pair is still encoded
    for ctx in (finished_request(), finished_request(), gateway_made, no_response, tagged):
        out = bytearray()
        LINE_IMPLS[impl](out, ctx)
        assert bytes(out) == encode(serialize(ctx)) + b"\n"
    for i in range(600):  # responses that never repeat (per-request header values)
        ctx = finished_request()
        ctx.response.headers.append((b"x-ratelimit-remaining-second", b"%d" % i))
        out = bytearray()
        LINE_IMPLS[impl](out, ctx)
        assert bytes(out) == encode(serialize(ctx)) + b"\n"


def _single_valued(**kw):
    """A finished request whose header names do not repeat (what the C writer takes)."""
    ctx = finished_request(**kw)
    ctx.request.headers = [(n, v) for n, v in ctx.request.headers if n != b"x-trace"]
    ctx.response.headers = [(n, v) for n, v in ctx.response.headers if n != b"set-cookie"]
    return ctx


def _line_cases():
    plain = _single_valued()
    gateway_made = request("GET", "/nowhere?a=1", {"Authorization": "Basic x"})
    respond(gateway_made, 404)
    no_response = request("GET", "/p")
    tagged = _single_valued()
    tagged.vars["correlation_id"] = 'abc\u00e9"\n'
    odd = _single_valued()
    odd.request.headers.append((b"x-\xe9\x01", b'"quoted" \\ \xff\t'))
    odd.request.target = b'/api/trino/caf\xe9?q="1"'
    odd.response.headers.append((b"x-ratelimit-remaining-second", b"41"))
    one_try = _single_valued()
    one_try.tries = 1
    no_consumer = _single_valued()
    del no_consumer.vars["consumer"]
    anonymous = _single_valued()
    del anonymous.vars["credential"]
    return [plain, gateway_made, no_response, tagged, odd, one_try, no_consumer, anonymous]


def test_lines_are_the_record_and_a_newline_appended_in_place(impl):
    append_line = LINE_IMPLS[impl]
    batch = bytearray(b"before\n")
    for ctx in [*_line_cases(), finished_request()]:
        line = encode(serialize(ctx)) + b"\n"
        assert encode_line(ctx) == line
        assert append_line(batch, ctx) == len(line) and batch.endswith(line)
    assert batch.startswith(b"before\n")
    wide = _single_valued()
    wide.vars["correlation_id"] = "\u20ac"  # not latin-1: the native version declines it
    as_bytes = _single_valued()
    as_bytes.vars["correlation_id"] = b"abc"  # msgspec writes bytes as base64
    for ctx in (wide, as_bytes):
        assert append_line(batch, ctx) == len(encode(serialize(ctx))) + 1
        assert batch.endswith(encode(serialize(ctx)) + b"\n")


def test_the_native_line_writes_the_single_valued_cases_itself(native_plugins):
    for ctx in _line_cases():
        line = encode(serialize(ctx)) + b"\n"
        assert log_serializer._native_line(ctx, None) == line
        batch = bytearray(b"x")
        assert log_serializer._native_line(ctx, batch) == len(line) and batch == b"x" + line
    assert log_serializer._native_line(finished_request(), None) is None  # repeated names


def test_query_map_decodes_like_kong():
    assert query_map(b"?a=%20b&c=d+e&&f=") == {"a": " b", "c": "d e", "f": ""}


def test_lines_are_appended_as_json(tmp_path):
    path = tmp_path / "access.log"
    h = handler("file-log", {"path": str(path)})
    for _ in range(3):
        h.on_log(finished_request())
    assert h.writer.flush(5.0)
    lines = path.read_text().splitlines()
    assert len(lines) == 3
    assert json.loads(lines[0])["request"]["headers"]["authorization"] == "REDACTED"
    assert oct(os.stat(path).st_mode & 0o777) == oct(0o644 & ~_umask())


def test_a_batch_is_written_whole_and_in_order_even_when_the_kernel_writes_short(
    tmp_path, monkeypatch
):
    """Lines added inside a loop wait for one batch (one write); a short write (the kernel took
    part of the batch) is completed before the batch counts as written."""
    real_write, calls = os.write, []

    def short_write(fd, data):
        calls.append(len(data))
        return real_write(fd, bytes(data)[: max(1, len(data) // 3)])

    monkeypatch.setattr(writer_module.os, "write", short_write)
    writer = AppendWriter(str(tmp_path / "big.log"), reopen=False)

    async def burst():
        for i in range(100):
            writer.add(b'{"n": %d, "pad": "%s"}\n' % (i, b"x" * i))
        line = b'{"n": 100}\n'
        writer.batch += line  # in place, as file-log's C writer appends
        writer.added()

    asyncio.run(burst())
    assert writer.flush(5.0)
    lines = (tmp_path / "big.log").read_text().splitlines()
    assert [json.loads(line)["n"] for line in lines] == list(range(101))
    assert len(calls) > 3 and calls[0] == sum(len(line) + 1 for line in lines)
    assert writer.written == 101 and writer.dropped == 0


def test_reopen_follows_a_rotated_file(tmp_path):
    path = tmp_path / "access.log"
    h = handler("file-log", {"path": str(path), "reopen": True})
    h.on_log(finished_request())
    assert h.writer.flush(5.0)
    os.rename(path, tmp_path / "access.log.1")
    h.on_log(finished_request())
    assert h.writer.flush(5.0)
    assert len(path.read_text().splitlines()) == 1
    assert len((tmp_path / "access.log.1").read_text().splitlines()) == 1


def test_without_reopen_the_open_file_keeps_receiving(tmp_path):
    path = tmp_path / "kept.log"
    h = handler("file-log", {"path": str(path)})
    h.on_log(finished_request())
    assert h.writer.flush(5.0)
    os.rename(path, tmp_path / "kept.log.1")
    h.on_log(finished_request())
    assert h.writer.flush(5.0)
    assert not path.exists()
    assert len((tmp_path / "kept.log.1").read_text().splitlines()) == 2


def test_unwritable_path_drops_and_counts(tmp_path):
    writer = AppendWriter(str(tmp_path / "missing-dir" / "x.log"), reopen=False)
    writer.add(b"{}\n")
    assert writer.flush(5.0)
    assert writer.dropped == 1 and writer.written == 0


def test_invalid_configs():
    assert problem_at("file-log", {}, "config.path") == "required field missing"
    assert problem_at("file-log", {"path": "/tmp/a*b"}, "config.path") == "not a valid filename"
    lua = {"path": "/tmp/x", "custom_fields_by_lua": {"a": "return 1"}}
    assert "is not supported" in problem_at("file-log", lua, "config.custom_fields_by_lua")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
