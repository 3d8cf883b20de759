"""Per-request CPU cost of each traffic/observability plugin's hooks, measured in-process.

For every plugin a handler is built from a typical config and driven through its hooks
(``on_request``, ``on_response_head``, ``on_log``) on realistic request contexts (a parsed
request head, an upstream response with a few headers, the gateway's route/service entities).
Work a plugin hands to a background thread (file-log's writer, event-log's producer) is
included: the clock stops only when that work is done, and process CPU time is reported beside
wall time. Bounded: ``--requests`` per plugin (default 20000); http-log needs a receiver and
runs against a local one; rate-limiting uses a host-wide shared-memory store.

Run: ``.venv/bin/python -m bench.plugins.hook_cost [--requests N] [--json]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from typing import Any

from carbonplane.gateway.config.entities import validate_plugin
from carbonplane.gateway.config.schema import freeze
from carbonplane.gateway.plugins import PluginServices, plugin_def
from carbonplane.http import Limits, RequestHeadParser
from carbonplane.http.model import ResponseHead
from carbonplane.proxy.app import Client, RequestContext

SERVICE = freeze(
    {"id": "0f6c1ad2-6d7e-4b36-9a43-1d7f4e0b9c01", "name": "datahub-gms", "host": "datahub"}
)
ROUTE = freeze(
    {"id": "7c2b8e4a-5f1d-4c3e-8a9b-2e6f0d1c3b42", "name": "datahub-api", "paths": ["/api/datahub"]}
)
HEAD = (
    b"GET /api/datahub/entities?urn=abc HTTP/1.1\r\nHost: gw.254carbon.com\r\n"
    b"User-Agent: bench\r\nAccept: application/json\r\nOrigin: https://portal.254carbon.com\r\n"
    b"Authorization: Bearer x\r\n\r\n"
)
_PARSER = RequestHeadParser(Limits())


def _context(i: int) -> RequestContext:
    head = _PARSER.parse(HEAD)
    ip = f"10.0.{i % 250}.{i % 200}"
    ctx = RequestContext(
        head,
        Client(ip, 40000 + i % 1000, False, b"http", 8000),
        ip,
        b"bench-%d" % i,
        time.monotonic(),
        int(time.time() * 1000),
    )
    ctx.vars["service"], ctx.vars["route"] = SERVICE, ROUTE
    ctx.upstream_target = head.path + head.query
    return ctx


def _respond(ctx: RequestContext) -> None:
    ctx.response = ResponseHead(
        200,
        b"OK",
        b"1.1",
        [(b"content-type", b"application/json"), (b"content-length", b"120"), (b"server", b"x")],
    )
    ctx.source = "upstream"
    ctx.response_bytes = 120
    ctx.upstream_started = ctx.started + 0.0002
    ctx.upstream_answered = ctx.started + 0.001
    ctx.finished = ctx.started + 0.0012


def _handler(name: str, conf: dict, services: PluginServices) -> Any:
    import importlib

    importlib.import_module(f"carbonplane.gateway.plugins.{name.replace('-', '_')}")
    row, problems = validate_plugin({"name": name, "config": conf})
    assert not problems, problems
    return plugin_def(name).handler(row["config"], freeze({**row, "id": "b" * 8}), services)


async def _drive(h: Any, n: int, settle) -> tuple[float, float]:
    contexts = [_context(i) for i in range(n)]
    for ctx in contexts:
        _respond(ctx)
    cpu0, t0 = time.process_time(), time.perf_counter()
    for ctx in contexts:
        verdict = h.on_request(ctx)
        if verdict is not None and hasattr(verdict, "__await__"):
            await verdict
        h.on_response_head(ctx)
        h.on_log(ctx)
    await settle(h)
    return (time.perf_counter() - t0) / n * 1e6, (time.process_time() - cpu0) / n * 1e6


async def _nothing(h: Any) -> None:
    return None


def cases(tmp: str, receiver_port: int) -> list[tuple[str, dict, PluginServices, Any]]:
    from carbonplane.events.backends.memory import MemoryLog
    from carbonplane.events.catalog import TOPICS
    from carbonplane.events.producer import EventProducer
    from carbonplane.gateway.plugins.pdk.counters import HostCounters

    log = MemoryLog()
    log.apply_topics(TOPICS)
    producer = EventProducer(source_service="bench", backend=log)
    runtime = PluginServices(runtime_dir=tmp)

    async def file_settle(h):
        h.writer.flush(30.0)

    async def http_settle(h):
        await h.queue().drained(60.0)

    async def event_settle(h):
        h.drain.flush(60.0)
        producer.flush()

    return [
        (
            "rate-limiting (local)",
            {"second": 10**9, "minute": 10**9, "limit_by": "ip"},
            PluginServices(counters=HostCounters.open(os.path.join(tmp, "c"))),
            _nothing,
        ),
        (
            "cors",
            {
                "origins": ["https://254carbon.com", r"https://.*\.254carbon\.com"],
                "credentials": True,
                "exposed_headers": ["X-Request-Id"],
            },
            PluginServices(),
            _nothing,
        ),
        (
            "prometheus",
            {"status_code_metrics": True, "latency_metrics": True, "bandwidth_metrics": True},
            runtime,
            _nothing,
        ),
        ("file-log", {"path": os.path.join(tmp, "access.log")}, PluginServices(), file_settle),
        (
            "http-log",
            {
                "http_endpoint": f"http://127.0.0.1:{receiver_port}/",
                "queue": {
                    "max_batch_size": 100,
                    "max_coalescing_delay": 0.05,
                    "max_entries": 100000,
                },
            },
            PluginServices(),
            http_settle,
        ),
        ("event-log", {}, PluginServices(producer=lambda: producer), event_settle),
        ("correlation-id", {}, PluginServices(), _nothing),
        ("request-termination", {"trigger": "X-Never"}, PluginServices(), _nothing),
    ]


async def _receiver() -> tuple[Any, int]:
    async def serve(reader, writer):
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
                await reader.readexactly(length)
                writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def main_async(n: int) -> dict[str, dict[str, float]]:
    server, port = await _receiver()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, conf, services, settle in cases(tmp, port):
            name = label.split(" ")[0]
            h = _handler(name, conf, services)
            await _drive(h, min(n, 2000), settle)  # warm up (caches, files, connections)
            wall, cpu = await _drive(h, n, settle)
            results[label] = {"wall_us": round(wall, 2), "cpu_us": round(cpu, 2)}
    server.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = asyncio.run(main_async(args.requests))
    if args.json:
        print(json.dumps(results))
        return
    print(f"{'plugin':24} {'wall us/req':>12} {'cpu us/req':>12}")
    for label, r in results.items():
        print(f"{label:24} {r['wall_us']:12.2f} {r['cpu_us']:12.2f}")


if __name__ == "__main__":
    main()
