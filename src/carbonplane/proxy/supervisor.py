"""The master process: N worker processes on one port, and config changes that reach all of them.

Workers are spawned processes, each running one ``ProxyServer`` on uvloop with its own
``SO_REUSEPORT`` socket on the same address (the kernel balances connections). The master keeps
the port bound (not listening) so that port 0 picks one port for everyone and nobody else can
take it between restarts.

Config travels as *payload bytes* plus a *factory* named ``"module:function"``; the factory
turns ``(payload, version)`` into a ``ProxyConfig`` in each worker (compiled objects never
cross processes). ``publish(payload)`` first compiles in the master - an invalid config raises
``ConfigError`` and reaches no worker - then sends ``("config", version, payload)`` down each
worker's pipe. A worker compiles, swaps atomically (in-flight requests finish on the old config)
and acknowledges ``("applied", version, error)``. ``wait_applied(version)`` blocks until every
live worker has acknowledged. A worker that dies is restarted with the latest config.

Protocol on the pipe (pickled tuples): master -> worker ``("config", v, payload)``,
``("stop", drain_s)``; worker -> master ``("ready", pid, v)``, ``("applied", v, error|None)``.
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import logging
import multiprocessing
import os
import signal
import socket
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection, wait

from carbonplane.errors import ConfigError
from carbonplane.proxy.config import ProxyConfig

log = logging.getLogger("carbonplane.proxy")
_SPAWN = multiprocessing.get_context("spawn")


def load_factory(path: str) -> Callable[[bytes, int], ProxyConfig]:
    module, _, attr = path.partition(":")
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"cannot load config factory {path!r}: {exc}", where="factory") from None


def worker_main(host: str, port: int, factory: str, payload: bytes, version: int,
                conn: Connection) -> None:  # fmt: skip
    """Entry point of a worker process."""
    import uvloop

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the master decides when workers stop
    uvloop.run(_serve(host, port, load_factory(factory), payload, version, conn))


async def _serve(host, port, factory, payload, version, conn: Connection) -> None:
    from carbonplane.proxy.server import ProxyServer

    loop = asyncio.get_running_loop()
    server = ProxyServer(factory(payload, version))
    await server.start(host, port)
    stop = asyncio.Event()
    drain = [10.0]

    def on_message() -> None:
        try:
            message = conn.recv()
        except (EOFError, OSError):  # the master is gone
            stop.set()
            return
        if message[0] == "config":
            _, new_version, new_payload = message
            try:
                server.swap(factory(new_payload, new_version))
                conn.send(("applied", new_version, None))
            except Exception as exc:  # report, keep serving the old config
                conn.send(("applied", new_version, f"{type(exc).__name__}: {exc}"))
        elif message[0] == "stop":
            drain[0] = message[1]
            stop.set()

    loop.add_reader(conn.fileno(), on_message)
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    tune_gc()
    conn.send(("ready", os.getpid(), version))
    await stop.wait()
    loop.remove_reader(conn.fileno())
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


class _Worker:
    __slots__ = ("process", "conn", "pid", "applied", "error")

    def __init__(self, process, conn: Connection) -> None:
        self.process = process
        self.conn = conn
        self.pid = 0
        self.applied = -1
        self.error: tuple[int, str] | None = None


class Supervisor:
    """Run ``workers`` worker processes on ``host:port``; see the module docstring."""

    def __init__(self, host: str, port: int, factory: str, payload: bytes, *,
                 workers: int | None = None, drain: float = 10.0) -> None:  # fmt: skip
        self.host = host
        self.factory = factory
        self.payload = payload
        self.version = 0
        self.count = workers or os.cpu_count() or 1
        self.drain = drain
        load_factory(factory)(payload, 0)  # validate before anything starts
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._holder = socket.socket(family, socket.SOCK_STREAM)
        self._holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        self._holder.bind((host, port))
        self.port = self._holder.getsockname()[1]
        self._workers: list[_Worker] = []
        self._changed = threading.Condition()
        self._stopping = False
        self._wake_r, self._wake_w = _SPAWN.Pipe(duplex=False)
        self._monitor: threading.Thread | None = None
        self.restarts = 0

    # -- lifecycle ----------------------------------------------------------------------
    def start(self, timeout: float = 30.0) -> int:
        """Start the workers and wait until each one listens; returns the port."""
        for _ in range(self.count):
            self._workers.append(self._spawn())
        self._monitor = threading.Thread(target=self._watch, name="proxy-supervisor", daemon=True)
        self._monitor.start()
        with self._changed:
            if not self._changed.wait_for(lambda: all(w.pid for w in self._workers), timeout):
                self.stop()
                raise ConfigError(f"workers did not start within {timeout} s", where="supervisor")
        return self.port

    def _spawn(self) -> _Worker:
        parent, child = _SPAWN.Pipe()
        process = _SPAWN.Process(
            target=worker_main, name="carbonplane-proxy-worker", daemon=True,
            args=(self.host, self.port, self.factory, self.payload, self.version, child),
        )  # fmt: skip
        process.start()
        child.close()
        return _Worker(process, parent)

    @property
    def pids(self) -> list[int]:
        return [w.pid for w in self._workers if w.pid]

    def wait_until(self, predicate: Callable[[Supervisor], bool], timeout: float = 30.0) -> bool:
        """Block until ``predicate(self)`` holds (re-checked on every worker event)."""
        with self._changed:
            return self._changed.wait_for(lambda: predicate(self), timeout)

    def stop(self, drain: float | None = None) -> None:
        """Ask every worker to drain and exit; kill those that do not within drain + 5 s."""
        drain = self.drain if drain is None else drain
        self._stopping = True
        for w in self._workers:
            try:
                w.conn.send(("stop", drain))
            except OSError:
                pass
        for w in self._workers:
            w.process.join(drain + 5)
            if w.process.is_alive():
                w.process.kill()
                w.process.join(5)
        self._wake_w.send(b"x")
        if self._monitor is not None:
            self._monitor.join(5)
        self._holder.close()

    # -- config fan-out -----------------------------------------------------------------
    def publish(self, payload: bytes) -> int:
        """Validate ``payload`` here, then send it to every worker; returns its version."""
        version = self.version + 1
        load_factory(self.factory)(payload, version)  # raises ConfigError on a bad config
        with self._changed:
            self.version = version
            self.payload = payload
            for w in self._workers:
                try:
                    w.conn.send(("config", version, payload))
                except OSError:
                    pass  # a dead worker is restarted with the latest payload
        return version

    def wait_applied(self, version: int, timeout: float = 10.0) -> None:
        """Block until every live worker runs ``version`` (or raise ConfigError)."""
        def settled() -> bool:
            return all(w.applied >= version or (w.error and w.error[0] == version)
                       for w in self._workers)  # fmt: skip
        with self._changed:
            if not self._changed.wait_for(settled, timeout):
                raise ConfigError(f"config version {version} not applied by every worker "
                                  f"within {timeout} s", where="supervisor")  # fmt: skip
            errors = [w.error[1] for w in self._workers if w.error and w.error[0] == version]
        if errors:
            raise ConfigError(f"workers rejected config version {version}: {errors[0]}",
                              where="supervisor")  # fmt: skip

    # -- monitor thread -----------------------------------------------------------------
    def _watch(self) -> None:
        while not self._stopping:
            by_handle = {}
            for w in list(self._workers):
                by_handle[w.conn] = w
                by_handle[w.process.sentinel] = w
            ready = wait([self._wake_r, *by_handle], timeout=None)
            for handle in ready:
                if handle is self._wake_r or self._stopping:
                    continue
                worker = by_handle[handle]
                if handle is worker.conn:
                    self._receive(worker)
                elif not worker.process.is_alive():
                    self._replace(worker)

    def _receive(self, worker: _Worker) -> None:
        try:
            message = worker.conn.recv()
        except (EOFError, OSError):
            return  # the sentinel will report the death
        with self._changed:
            if message[0] == "ready":
                worker.pid, worker.applied = message[1], message[2]
            elif message[0] == "applied":
                _, version, error = message
                if error is None:
                    worker.applied = max(worker.applied, version)
                else:
                    worker.error = (version, error)
                    log.error("worker %s rejected config %s: %s", worker.pid, version, error)
            self._changed.notify_all()

    def _replace(self, worker: _Worker) -> None:
        log.warning("worker %s exited with %s; restarting", worker.pid, worker.process.exitcode)
        worker.conn.close()
        with self._changed:
            index = self._workers.index(worker)
            self._workers[index] = self._spawn()
            self.restarts += 1
            self._changed.notify_all()


def run_forever(host: str, port: int, factory: str, payload: bytes, *, workers: int = 1) -> int:
    """Serve until SIGINT/SIGTERM: in this process (``workers`` 0) or with a Supervisor."""
    if workers <= 0:
        import uvloop

        return uvloop.run(_run_in_process(host, port, load_factory(factory)(payload, 0)))
    supervisor = Supervisor(host, port, factory, payload, workers=workers)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    supervisor.start()
    print(f"listening on {supervisor.port} with {workers} workers", flush=True)
    stop.wait()
    supervisor.stop()
    return 0


async def _run_in_process(host: str, port: int, config: ProxyConfig) -> int:
    from carbonplane.proxy.server import ProxyServer

    loop = asyncio.get_running_loop()
    server = ProxyServer(config)
    bound = await server.start(host, port)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(f"listening on {bound}", flush=True)
    await stop.wait()
    await server.close(5.0)
    return 0
