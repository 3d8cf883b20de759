"""The master process: N worker processes on one port, and config changes that reach all of them.

Workers are spawned processes, each running one ``ProxyServer`` on uvloop with its own
``SO_REUSEPORT`` socket on the same address (the kernel balances connections). The master keeps
the port bound (not listening) so that port 0 picks one port for everyone and nobody else can
take it between restarts. With ``tls_listen`` (host, port[, handshake timeout s]) every worker
also serves HTTPS there (``ProxyServer.start_tls``), the port held the same way.

Config travels as *payload bytes* plus a *factory* named ``"module:function"``; the factory
turns ``(payload, version)`` into a ``ProxyConfig`` in each worker (compiled objects never
cross processes). A factory may carry a ``prepare(payload, version)`` attribute: a serving worker
then runs that in a thread (it must not touch loop or process state) and passes its result to
the factory on the loop, so a config that takes seconds to compile does not stop the worker
serving; configs are still applied one at a time, in order. ``publish(payload)`` first compiles
in the master - an invalid config raises ``ConfigError`` and reaches no worker - then sends
``("config", version, payload)`` to each worker. A worker (``proxy/worker.py``) compiles, swaps
atomically (in-flight requests finish on the old config) and acknowledges
``("applied", version, error)``. ``wait_applied(version)`` blocks until every live
worker has acknowledged. ``apply(payload)`` is the all-or-nothing form the gateway uses: publish,
wait, and on any failure (a worker rejects it, or does not answer in time) publish the previous
payload again, so that the workers end up where the caller's view of the config still is.

Delivery cannot be torn (``proxy/channel.py``): each worker has a Unix socket pair to the
master carrying length-framed messages; both sides buffer bytes until a frame is whole, so a
payload of any size arriving in any number of pieces is one message, and only end-of-file means
"the master is gone". Chosen over a shared file the workers map because the channel needs no
files to create, name, clean up or race on, keeps messages ordered per worker (a config can
never overtake the one before it) and applies back-pressure by itself; the cost, one copy of the
payload per worker through the kernel, is milliseconds for megabytes.

Invariants:
- ``self.payload`` / ``self.version`` are the latest published config. A worker that dies is
  restarted with them; a worker spawned during a publish starts on the new payload and counts
  as having applied it.
- Publishes are serialised (``_publish_lock``); sends to one worker are serialised with its
  replacement (``_Worker.lock``), so a publish never writes to a socket being closed.
- A worker that rejects, or does not apply, the rollback is stopped (it drains) and restarted
  with the latest payload: after ``apply`` returns or raises, every worker runs ``self.payload``,
  or is starting on it, or is draining to be replaced by one that does.
- Workers ignore SIGINT and SIGHUP (the master decides when workers stop or reload).
- ``stop()`` wakes a publish waiting for acknowledgements: it raises at once, retiring nobody.

Protocol (``channel.py`` frames): master -> worker ``("config", v, payload)``,
``("stop", drain_s)``; worker -> master ``("ready", pid, v)``, ``("applied", v, error|None)``.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import signal
import socket
import threading
from collections.abc import Callable
from multiprocessing.connection import wait

from carbonplane.errors import ConfigError
from carbonplane.proxy.channel import FrameBuffer, read_available, send_frame
from carbonplane.proxy.config import ProxyConfig
from carbonplane.proxy.worker import load_factory, worker_main

log = logging.getLogger("carbonplane.proxy")
_SPAWN = multiprocessing.get_context("spawn")
SEND_TIMEOUT = 60.0  # a worker that reads nothing of a frame for this long is taken as stuck


def _hold(host: str, port: int) -> socket.socket:
    """A bound, not listening socket keeping ``port`` for the workers (port 0 picks one)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    if port:
        _refuse_if_served(family, host, port)
    holder = socket.socket(family, socket.SOCK_STREAM)
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    holder.bind((host, port))
    return holder


def _refuse_if_served(family: int, host: str, port: int) -> None:
    """SO_REUSEPORT would let this server join a port another server of the same user already
    listens on, and the kernel would split the traffic between the two. A probe bound without it
    (SO_REUSEADDR only: a previous run's TIME_WAIT connections do not count) fails when anything
    listens there, so a second server refuses to start instead (``ConfigError``)."""
    probe = socket.socket(family, socket.SOCK_STREAM)
    try:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))
    except OSError as exc:
        raise ConfigError(
            f"{host}:{port} is already in use ({exc.strerror}): another server listens there; "
            "stop it or choose another port",
            where="listen",
        ) from None
    finally:
        probe.close()


class _Worker:
    __slots__ = ("process", "sock", "frames", "lock", "pid", "applied", "error", "closed")

    def __init__(self, process, sock: socket.socket) -> None:
        self.process = process
        self.sock = sock
        self.frames = FrameBuffer()
        self.lock = threading.Lock()  # one writer at a time; never close while writing
        self.pid = 0
        self.applied = -1
        self.error: tuple[int, str] | None = None
        self.closed = False

    def send(self, message) -> bool:
        """Write one whole frame; False when the worker cannot take it (gone or stuck)."""
        with self.lock:
            if self.closed:
                return False
            try:
                send_frame(self.sock, message)
                return True
            except OSError:
                return False

    def close(self) -> None:
        with self.lock:
            if not self.closed:
                self.closed = True
                self.sock.close()


class Supervisor:
    """Run ``workers`` worker processes on ``host:port``; see the module docstring."""

    def __init__(
        self,
        host: str,
        port: int,
        factory: str,
        payload: bytes,
        *,
        workers: int | None = None,
        drain: float = 10.0,
        tls_listen: tuple | None = None,
    ) -> None:
        self.host = host
        self.factory = factory
        self.payload = payload
        self.version = 0
        self.count = workers or os.cpu_count() or 1
        self.drain = drain
        load_factory(factory)(payload, 0)  # validate before anything starts
        self._holder = _hold(host, port)
        self.port = self._holder.getsockname()[1]
        self._tls_holder = _hold(*tls_listen[:2]) if tls_listen is not None else None
        self.tls_listen = (
            (tls_listen[0], self._tls_holder.getsockname()[1], *tls_listen[2:])
            if tls_listen is not None
            else None
        )
        self.tls_port = self.tls_listen[1] if self.tls_listen else None
        self._workers: list[_Worker] = []
        self._changed = threading.Condition()
        self._publish_lock = threading.RLock()
        self._stopping = False
        self._wake_r, self._wake_w = _SPAWN.Pipe(duplex=False)
        self._monitor: threading.Thread | None = None
        self.restarts = 0

    # -- lifecycle ----------------------------------------------------------------------
    def start(self, timeout: float = 30.0) -> int:
        """Start the workers and wait until each one listens; returns the port."""
        with self._changed:
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
        """A new worker on the latest payload (call with ``_changed`` held)."""
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        process = _SPAWN.Process(
            target=worker_main,
            name="carbonplane-proxy-worker",
            daemon=True,
            args=(
                self.host,
                self.port,
                self.factory,
                self.payload,
                self.version,
                child,
                self.tls_listen,
            ),
        )
        process.start()
        child.close()
        parent.settimeout(SEND_TIMEOUT)
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
        with self._changed:
            self._stopping = True
            self._changed.notify_all()  # a publish waiting for acknowledgements gives up
            workers = list(self._workers)
        for w in workers:
            w.send(("stop", drain))
        for w in workers:
            w.process.join(drain + 5)
            if w.process.is_alive():
                w.process.kill()
                w.process.join(5)
            w.close()
        self._wake_w.send(b"x")
        if self._monitor is not None:
            self._monitor.join(5)
        self._holder.close()
        if self._tls_holder is not None:
            self._tls_holder.close()

    # -- config fan-out -----------------------------------------------------------------
    def publish(self, payload: bytes, *, validate: bool = True) -> int:
        """Validate ``payload`` here, then send it to every worker; returns its version."""
        with self._publish_lock:
            version = self.version + 1
            if validate:
                load_factory(self.factory)(payload, version)  # raises ConfigError when bad
            with self._changed:
                self.version = version
                self.payload = payload
                workers = list(self._workers)
            for w in workers:
                # False: the worker is gone (restarted on the latest payload) or stuck
                if not w.send(("config", version, payload)) and w.process.is_alive():
                    self._retire(w, f"did not take config {version}")
            return version

    def apply(self, payload: bytes, timeout: float = 30.0, *, validate: bool = True) -> int:
        """Publish ``payload`` and wait until every worker runs it; on failure, put every worker
        back on the previous payload and raise ``ConfigError`` (see the module docstring).
        ``validate=False``: the caller checked it (a worker rejecting it is still rolled back)."""
        with self._publish_lock:
            previous = self.payload
            version = self.publish(payload, validate=validate)
            try:
                self.wait_applied(version, timeout)
            except ConfigError:
                self._restore(previous, timeout)
                raise
            return version

    def _restore(self, payload: bytes, timeout: float) -> None:
        version = self.publish(payload, validate=False)  # it ran before
        try:
            self.wait_applied(version, timeout)
        except ConfigError:
            with self._changed:
                behind = [] if self._stopping else [w for w in self._workers if w.applied < version]
            for w in behind:
                self._retire(w, f"did not return to config {version}")

    def _retire(self, worker: _Worker, why: str) -> None:
        """Stop a worker that cannot follow; the monitor restarts it on the latest payload."""
        if self._stopping:
            return
        log.error("worker %s %s; replacing it", worker.pid, why)
        if not worker.send(("stop", self.drain)):
            worker.process.terminate()

    def wait_applied(self, version: int, timeout: float = 10.0) -> None:
        """Block until every live worker runs ``version`` (or raise ConfigError)."""

        def settled() -> bool:
            return self._stopping or all(
                w.applied >= version or (w.error and w.error[0] == version) for w in self._workers
            )

        with self._changed:
            if not self._changed.wait_for(settled, timeout):
                raise ConfigError(
                    f"config version {version} not applied by every worker within {timeout} s",
                    where="supervisor",
                )
            if self._stopping:
                raise ConfigError(
                    f"config version {version}: the workers are stopping", where="supervisor"
                )
            errors = [w.error[1] for w in self._workers if w.error and w.error[0] == version]
        if errors:
            raise ConfigError(
                f"workers rejected config version {version}: {errors[0]}", where="supervisor"
            )

    # -- monitor thread -----------------------------------------------------------------
    def _watch(self) -> None:
        while not self._stopping:
            by_handle = {}
            with self._changed:
                for w in self._workers:
                    by_handle[w.sock] = w
                    by_handle[w.process.sentinel] = w
            try:
                ready = wait([self._wake_r, *by_handle], timeout=None)
            except (OSError, ValueError):  # stop() closed a socket meanwhile
                continue
            for handle in ready:
                if handle is self._wake_r or self._stopping:
                    continue
                worker = by_handle[handle]
                if handle is worker.sock:
                    self._receive(worker)
                elif not worker.process.is_alive():
                    self._replace(worker)

    def _receive(self, worker: _Worker) -> None:
        if worker.closed:
            return
        messages, _ = read_available(worker.sock, worker.frames)  # end-of-file: the sentinel
        with self._changed:
            for message in messages:
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
        worker.close()  # waits for a publish writing to it to give up
        with self._changed:
            if self._stopping or worker not in self._workers:
                return
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
    # no config file to re-read here: a hangup must not end the proxy
    signal.signal(signal.SIGHUP, lambda *_: log.warning("SIGHUP ignored: nothing to reload"))
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
    loop.add_signal_handler(signal.SIGHUP, lambda: log.warning("SIGHUP ignored: nothing to reload"))
    print(f"listening on {bound}", flush=True)
    await stop.wait()
    await server.close(5.0)
    return 0
