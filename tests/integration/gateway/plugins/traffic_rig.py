"""Real-socket rig for the traffic and observability plugins: the proxy engine on a background
event loop routing every request to a local stand-in upstream through a ``FilterChain`` of
plugin handlers, with the gateway's request-scoped keys set (``ctx.vars["service"]`` and
``["route"]``) as the gateway sets them.

- ``build(name, config, services=..., plugin=...)``: a handler from a validated, frozen config;
- ``RigProxy(upstream_port, handlers)``: start/stop (context manager); ``run(coro)`` runs a
  coroutine on its loop (e.g. waiting for an http-log queue to drain);
- ``LogReceiver``: an HTTP endpoint on its own loop that keeps every request body it receives.
"""

from __future__ import annotations

import asyncio
import importlib
import threading
from typing import Any

from carbonplane.gateway.config.entities import validate_plugin
from carbonplane.gateway.config.schema import freeze, violation_message
from carbonplane.gateway.plugins import PluginServices, plugin_def
from carbonplane.proxy.app import FilterChain, FixedTarget, RouteDecision, Upstream
from carbonplane.proxy.config import ProxyConfig
from carbonplane.proxy.server import ProxyServer

SERVICE = freeze(
    {
        "id": "0f6c1ad2-6d7e-4b36-9a43-1d7f4e0b9c01",
        "name": "datahub-gms",
        "host": "127.0.0.1",
        "port": 0,
        "protocol": "http",
    }
)
ROUTE = freeze(
    {
        "id": "7c2b8e4a-5f1d-4c3e-8a9b-2e6f0d1c3b42",
        "name": "datahub-api",
        "paths": ["/api/datahub"],
        "service": {"id": SERVICE["id"]},
    }
)


def build(
    name: str,
    config: dict | None = None,
    *,
    services: PluginServices | None = None,
    plugin: dict | None = None,
) -> Any:
    """A handler of plugin ``name`` from its validated config, as the gateway builds it."""
    importlib.import_module(f"carbonplane.gateway.plugins.{name.replace('-', '_')}")
    row, problems = validate_plugin({"name": name, "config": config or {}})
    assert not problems, violation_message(problems)
    entity = freeze({**row, "id": "3e9d6c1b-0a4f-4e2d-9b7c-5a1f8e2d6c30", **(plugin or {})})
    return plugin_def(name).handler(entity["config"], entity, services or PluginServices())


class RigApp:
    """Every request goes to ``upstream`` through ``chain``, as if route ``ROUTE`` matched."""

    def __init__(self, upstream: Upstream, chain: FilterChain) -> None:
        self.upstream = upstream
        self.chain = chain

    def route(self, ctx: Any) -> RouteDecision:
        ctx.vars["service"] = SERVICE
        ctx.vars["route"] = ROUTE
        request = ctx.request
        return RouteDecision(self.upstream, request.path + request.query, None, self.chain)


class RigProxy:
    """The engine on a background loop; see the module docstring."""

    def __init__(self, upstream_port: int, handlers: list, **settings: Any) -> None:
        self.upstream = Upstream(
            "stand-in",
            FixedTarget("127.0.0.1", upstream_port),
            connect_timeout=5,
            read_timeout=10,
            write_timeout=10,
            retries=0,
        )
        chain = FilterChain(sorted(handlers, key=lambda h: (-h.PRIORITY, h.NAME)))
        self.config = ProxyConfig(app=RigApp(self.upstream, chain), **settings)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="rig-proxy", daemon=True)
        self.server: ProxyServer | None = None
        self.port = 0

    def start(self) -> RigProxy:
        self.thread.start()

        async def boot() -> int:
            self.server = ProxyServer(self.config, self.loop)
            return await self.server.start("127.0.0.1", 0)

        self.port = self.run(boot(), 10)
        return self

    def run(self, coro: Any, timeout: float = 30.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        if self.server is not None:
            self.run(self.server.close(1.0), 10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()

    def __enter__(self) -> RigProxy:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


class LogReceiver:
    """An HTTP log endpoint on 127.0.0.1 keeping each request's head line, headers and body."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        self.changed = threading.Condition()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(
            target=self.loop.run_forever, name="log-receiver", daemon=True
        )
        self.port = 0

    def start(self) -> LogReceiver:
        self.thread.start()

        async def boot() -> int:
            self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
            return self.server.sockets[0].getsockname()[1]

        self.port = asyncio.run_coroutine_threadsafe(boot(), self.loop).result(10)
        return self

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                headers = {k.lower(): v for k, v in (ln.split(": ", 1) for ln in lines[1:] if ln)}
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
                await writer.drain()
                with self.changed:
                    self.requests.append((lines[0], headers, body))
                    self.changed.notify_all()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    def wait_for(self, n: int, timeout: float = 15.0) -> list[tuple[str, dict[str, str], bytes]]:
        with self.changed:
            if not self.changed.wait_for(lambda: len(self.requests) >= n, timeout):
                raise AssertionError(
                    f"the log receiver got {len(self.requests)} of {n} requests within {timeout} s"
                )
            return list(self.requests)

    def stop(self) -> None:
        async def shutdown() -> None:
            self.server.close()

        asyncio.run_coroutine_threadsafe(shutdown(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    def __enter__(self) -> LogReceiver:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
