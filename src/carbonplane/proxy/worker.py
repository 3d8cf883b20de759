"""A proxy worker process: one ``ProxyServer`` on uvloop, driven by its master's channel.

``worker_main`` is the entry point of each process ``proxy/supervisor.py`` spawns. It builds the
first ``ProxyConfig`` with the factory named ``"module:function"`` (``load_factory``), listens on
its own ``SO_REUSEPORT`` socket, says ``("ready", pid, version)``, then applies the configs its
master sends and answers each with ``("applied", version, error|None)``. A factory's optional
``prepare(payload, version)`` runs in a thread (it must not touch loop or process state), so a
config that takes seconds to compile does not stop the worker serving.

Invariants:
- Configs are applied one at a time, in the order they were sent; a config that fails is
  reported and the worker keeps serving the old one.
- The worker ignores SIGINT and SIGHUP (the master decides when workers stop or reload); SIGTERM,
  ``("stop", drain_s)`` or the end of the channel (the master is gone) stop it, draining
  in-flight requests.
- Once ready, the startup heap is frozen out of garbage collection (``tune_gc``).

Protocol (``channel.py`` frames): master -> worker ``("config", v, payload)``,
``("stop", drain_s)``; worker -> master ``("ready", pid, v)``, ``("applied", v, error|None)``.
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import os
import signal
import socket
from collections.abc import Callable

from carbonplane.errors import ConfigError
from carbonplane.proxy.channel import FrameBuffer, LoopSender, read_available
from carbonplane.proxy.config import ProxyConfig


def load_factory(path: str) -> Callable[[bytes, int], ProxyConfig]:
    module, _, attr = path.partition(":")
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"cannot load config factory {path!r}: {exc}", where="factory") from None


def worker_main(
    host: str,
    port: int,
    factory: str,
    payload: bytes,
    version: int,
    sock: socket.socket,
    tls_listen: tuple | None = None,
) -> None:
    """Entry point of a worker process."""
    import uvloop

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the master decides when workers stop
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # ... and when they reload
    uvloop.run(_serve(host, port, load_factory(factory), payload, version, sock, tls_listen))


async def _serve(host, port, factory, payload, version, sock: socket.socket, tls_listen) -> None:
    from carbonplane.proxy.server import ProxyServer

    loop = asyncio.get_running_loop()
    server = ProxyServer(factory(payload, version))
    await server.start(host, port)
    if tls_listen is not None:  # the HTTPS listener: certificates from the config (tls_server)
        await server.start_tls(*tls_listen)
    stop = asyncio.Event()
    drain = [10.0]
    sock.setblocking(False)
    frames = FrameBuffer()
    out = LoopSender(loop, sock)

    def on_readable() -> None:
        messages, closed = read_available(sock, frames)
        for message in messages:
            handle(message)
        if closed:  # end-of-file: the master is gone
            stop.set()

    pending: asyncio.Queue = asyncio.Queue()
    prepare = getattr(factory, "prepare", None)

    async def apply_configs() -> None:  # one at a time, in the order they were sent
        while True:
            new_version, new_payload = await pending.get()
            try:
                made = new_payload
                if prepare is not None:  # the heavy part off the loop: requests keep flowing
                    made = await loop.run_in_executor(None, prepare, new_payload, new_version)
                server.swap(factory(made, new_version))
                out.send(("applied", new_version, None))
            except Exception as exc:  # report, keep serving the old config
                out.send(("applied", new_version, f"{type(exc).__name__}: {exc}"))

    def handle(message) -> None:
        if message[0] == "config":
            pending.put_nowait(message[1:])
        elif message[0] == "stop":
            drain[0] = message[1]
            stop.set()

    loop.add_reader(sock.fileno(), on_readable)
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    applier = loop.create_task(apply_configs())
    tune_gc()
    out.send(("ready", os.getpid(), version))
    await stop.wait()
    applier.cancel()
    loop.remove_reader(sock.fileno())
    out.close()
    await server.close(drain[0])


# A worker allocates a few dozen short-lived objects per request and almost none of them form
# cycles; the default gen0 threshold (700) ran a collection every ~15 requests, each walking the
# young objects (~5% of the bare gateway's CPU in `hotpath.py`). Everything alive once the worker
# is ready (modules, config, plugins) is frozen out of collections; gen0 runs every 50,000 net
# allocations - a few hundred requests, a few MB of young objects at most.
GC_THRESHOLDS = (50_000, 20, 20)


def tune_gc() -> None:
    """Freeze the startup heap and raise the gen0 threshold (worker processes only)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
