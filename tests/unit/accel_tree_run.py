"""Run by ``test_accel.py`` in a subprocess, with ``PYTHONPATH`` set to a copy of the source tree
(compiled copies and build record included): imports every guarded module, instantiates the hot
classes, serves one request through a gateway (in-process, real loopback sockets, two plugins)
and prints what ran as one JSON line on stdout. Stderr is left to the guard's warning."""

from __future__ import annotations

import asyncio
import importlib
import json
import sys
import tempfile
from pathlib import Path

import uvloop

import carbonplane
from carbonplane import _accel

UPSTREAM_BODY = b"from the upstream"


async def upstream(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    writer.write(
        b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s"
        % (len(UPSTREAM_BODY), UPSTREAM_BODY)
    )
    await writer.drain()
    writer.close()


async def one_gateway_request(folder: Path) -> str:
    from carbonplane.gateway.config.loader import load_config_file
    from carbonplane.gateway.node import GatewayNode, NodeSettings
    from carbonplane.gateway.plugins import load_bundled

    server = await asyncio.start_server(upstream, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    config = folder / "kong.yml"
    config.write_text(
        json.dumps(
            {
                "_format_version": "3.0",
                "services": [
                    {
                        "name": "up",
                        "url": f"http://127.0.0.1:{port}",
                        "routes": [{"name": "all", "paths": ["/"]}],
                    }
                ],
                "plugins": [
                    {"name": "cors"},
                    {"name": "rate-limiting", "config": {"minute": 100, "policy": "local"}},
                ],
            }
        )
    )
    load_bundled()
    node = GatewayNode(load_config_file(config), NodeSettings("127.0.0.1", 0, "127.0.0.1", 0, 0))
    proxy_port, _ = await node.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy_port)
        writer.write(
            b"GET /hello HTTP/1.1\r\nHost: gw.test\r\nOrigin: http://a.test\r\n"
            b"Connection: close\r\n\r\n"
        )
        answer = await asyncio.wait_for(reader.read(), 10)
        writer.close()
        return answer.decode("latin-1")
    finally:
        await node.stop()
        server.close()


def main() -> None:
    modules = {name: importlib.import_module(name).__file__ for name in _accel.ACCELERATED}
    c_modules = {}
    for name in _accel.C_MODULES:
        try:
            c_modules[name] = importlib.import_module(name).__file__
        except ImportError as exc:
            c_modules[name] = f"refused: {exc}"
    from carbonplane.http.model import RequestHead
    from carbonplane.proxy.app import Client, RequestContext

    head = RequestHead(b"GET", b"/a?b", b"/a", b"b", b"1.1", [(b"host", b"x")], b"x")
    client = Client("127.0.0.1", 1, False, b"http", 8000)
    ctx = RequestContext(head, client, "127.0.0.1", b"id", 0.0, 0)
    ctx.vars["seen"] = True
    with tempfile.TemporaryDirectory() as folder:
        answer = uvloop.run(asyncio.wait_for(one_gateway_request(Path(folder)), 30))
    print(
        json.dumps(
            {
                "package": carbonplane.__file__,
                "compiled": _accel.compiled(),
                "modules": modules,
                "c_modules": c_modules,
                "answer": answer,
                "client_slots": list(getattr(Client, "__slots__", ())),
            }
        )
    )


if __name__ == "__main__":
    sys.exit(main())
