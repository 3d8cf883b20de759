"""The shared core of the framework integrations: settings, the per-request facts, the emitter.

The framework adapters (``asgi.py``, ``wsgi.py``, ``flask.py``, ``django.py``) only read the
request and response their own way; what is recorded, sampled, excluded and sent is decided here,
once, for all of them.

Request path (what a request pays): ``AuditSettings.wants(path)`` (exclusion, then sampling), the
adapter's timing and byte counts, and ``Emitter.submit(call)``: one bounded-deque append of a
``Call`` tuple. Building the ``AuditAPICallEvent`` and producing it happen on the emitter's one
daemon thread, so a slow or unreachable backend (a Kafka metadata wait, a full librdkafka queue, a
locked log file) never blocks or fails a request.

Invariants:
- ``submit`` never blocks and never raises: when the queue holds ``queue_size`` calls the new one is
  dropped and counted (``dropped_queue_full``); an event the producer refuses is counted
  (``dropped_error``). ``submitted == sent + dropped_error + queued`` once the thread is idle, and
  every request that passes ``wants`` is either submitted or ``dropped_queue_full``.
- The counts are plain integers on the request path and reach Prometheus only when scraped
  (``integrations/metrics.py``): see docs/metrics.md.
- A forked child (gunicorn, uwsgi) starts its own thread and producer on its first ``submit``,
  with fresh locks and counts; the parent's queue is not inherited. After ``close()`` a
  ``submit`` is dropped and counted (``dropped_error``) until a HEALTHY ``health()`` (the app
  starting again) reopens the emitter.
- Client IP: ``X-Forwarded-For`` is read only when the direct peer is in ``trusted_proxies``; the
  address kept is the right-most one that is not itself a trusted proxy (the left-most entries are
  whatever the client wrote).
- ``traceparent`` is carried (as the CloudEvents distributed-tracing extension) only when it is a
  valid W3C Trace Context version-00 header; ``tracestate`` only beside a valid ``traceparent``,
  when printable ASCII and at most 512 characters.

Specs: W3C Trace Context Level 1, section 3.2 (``traceparent``: version 00, lowercase hex, all-zero
ids invalid) and 3.3 (``tracestate``); CloudEvents 1.0 distributed-tracing extension;
``X-Forwarded-For`` is de facto (each proxy appends the address it saw; RFC 7239 section 5.2 keeps
the same order for ``Forwarded: for=``, which is not read here).
"""

from __future__ import annotations

import atexit
import ipaddress
import logging
import os
import random
import re
import threading
import weakref
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

from carbonplane.errors import ConfigError
from carbonplane.integrations.metrics import register

log = logging.getLogger("carbonplane.integrations")

MAX_FIELD = 256  # characters kept of an endpoint, method, user or address taken from a request
_TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}\Z")
_TRACESTATE_MAX = 512  # W3C: 32 list members of at most 256 characters; we keep a short one only


class Call(NamedTuple):
    """What one request leaves on the request path; the emitter's thread makes the event of it."""

    method: str
    endpoint: str
    status: int
    latency_ms: float
    request_bytes: int
    response_bytes: int
    user: str | None
    ip: str
    traceparent: str | None
    tracestate: str | None
    error: str | None


class AuditSettings:
    """What the integrations record. ``service`` names the service in every event.

    ``sample_rate`` (0..1) is the share of requests recorded; ``exclude`` lists paths never
    recorded (an entry ending in ``*`` is a prefix); ``trusted_proxies`` lists the addresses or
    networks whose ``X-Forwarded-For`` is believed; ``queue_size`` bounds the calls waiting for the
    emitter's thread; ``namespace`` goes into the ServiceHealthEvents; ``audit_topic`` and
    ``health_topic`` replace the catalog topics (``audit-api-calls``, ``system-health``).
    """

    __slots__ = (
        "service",
        "namespace",
        "sample_rate",
        "queue_size",
        "audit_topic",
        "health_topic",
        "_exact",
        "_prefixes",
        "_proxies",
    )

    def __init__(
        self,
        service: str,
        *,
        namespace: str = "default",
        sample_rate: float = 1.0,
        exclude: Iterable[str] = ("/health", "/healthz", "/ready", "/readyz", "/livez"),
        trusted_proxies: Iterable[str] = (),
        queue_size: int = 10_000,
        audit_topic: str | None = None,
        health_topic: str | None = None,
    ) -> None:
        if not isinstance(service, str) or not service.strip():
            raise ConfigError(f"{service!r}: a non-empty service name", where="service")
        if not isinstance(namespace, str) or not namespace.strip():
            raise ConfigError(f"{namespace!r}: a non-empty namespace", where="namespace")
        if isinstance(sample_rate, bool) or not isinstance(sample_rate, int | float):
            raise ConfigError(f"{sample_rate!r}: a number from 0 to 1", where="sample_rate")
        if not 0.0 <= sample_rate <= 1.0:
            raise ConfigError(f"{sample_rate!r} is outside 0..1", where="sample_rate")
        if isinstance(exclude, str):
            raise ConfigError(f"{exclude!r}: a list of paths, not one string", where="exclude")
        exact, prefixes = set(), []
        for i, path in enumerate(exclude):
            if not isinstance(path, str) or not path.startswith("/"):
                raise ConfigError(f"{path!r}: a path starting with '/'", where=f"exclude[{i}]")
            if path.endswith("*"):
                prefixes.append(path[:-1])
            else:
                exact.add(path)
        if isinstance(trusted_proxies, str):
            trusted_proxies = [p.strip() for p in trusted_proxies.split(",") if p.strip()]
        proxies = []
        for i, net in enumerate(trusted_proxies):
            try:
                proxies.append(ipaddress.ip_network(net, strict=False))
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"{net!r}: {exc}", where=f"trusted_proxies[{i}]") from None
        if isinstance(queue_size, bool) or not isinstance(queue_size, int) or queue_size < 1:
            raise ConfigError(f"{queue_size!r}: a positive integer", where="queue_size")
        self.service, self.namespace, self.sample_rate = service, namespace, float(sample_rate)
        self._exact, self._prefixes = frozenset(exact), tuple(prefixes)
        self._proxies = tuple(proxies)
        self.queue_size = queue_size
        for where, topic in (("audit_topic", audit_topic), ("health_topic", health_topic)):
            if topic is not None and (not isinstance(topic, str) or not topic.strip()):
                raise ConfigError(f"{topic!r}: a topic name or None", where=where)
        self.audit_topic, self.health_topic = audit_topic, health_topic

    def wants(self, path: str) -> bool:
        """Whether a request for ``path`` is recorded: not excluded, and sampled in."""
        if path in self._exact or (self._prefixes and path.startswith(self._prefixes)):
            return False
        rate = self.sample_rate
        return rate >= 1.0 or (rate > 0.0 and random.random() < rate)

    def client_ip(self, peer: str | None, forwarded_for: str | None) -> str:
        """The client's address: ``peer`` unless it is a trusted proxy that sent
        ``X-Forwarded-For``; then the right-most forwarded address that is not a trusted proxy."""
        if not peer:
            return "unknown"
        if not forwarded_for or not self._proxies or not self._trusted(peer):
            return peer[:MAX_FIELD]
        hops = [h.strip() for h in forwarded_for.split(",")]
        for hop in reversed(hops):
            try:
                ipaddress.ip_address(hop)
            except ValueError:
                return peer[:MAX_FIELD]  # a malformed hop: believe no hop left of it
            if not self._trusted(hop):
                return hop
        return hops[0] if hops and hops[0] else peer[:MAX_FIELD]

    def _trusted(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in net for net in self._proxies)


def trace_context(traceparent: str | None, tracestate: str | None) -> tuple[str | None, str | None]:
    """``(traceparent, tracestate)`` to carry: a valid version-00 traceparent (not all-zero ids),
    and tracestate only beside it and when short; anything malformed is dropped, not repaired."""
    if not traceparent or len(traceparent) != 55:
        return None, None
    m = _TRACEPARENT.match(traceparent)
    if m is None or m.group(1) == "0" * 32 or m.group(2) == "0" * 16:
        return None, None
    # W3C Trace Context 3.3: printable ASCII only, as the Node twin checks (isprintable alone
    # would let 'café' through)
    printable = tracestate is None or (tracestate.isascii() and tracestate.isprintable())
    if tracestate and (len(tracestate) > _TRACESTATE_MAX or not printable):
        tracestate = None
    return traceparent, tracestate or None


def clip(text: str) -> str:
    """``text`` cut to ``MAX_FIELD`` characters (a huge path must not make a huge event)."""
    return text if len(text) <= MAX_FIELD else text[: MAX_FIELD - 3] + "..."


class Emitter:
    """A bounded queue of ``Call``s and the one daemon thread that turns them into events.

    ``producer_factory`` makes the ``EventProducer`` on that thread (default:
    ``get_event_producer(settings.service)``, so the backend comes from the environment)."""

    def __init__(
        self,
        settings: AuditSettings,
        producer_factory: Callable[[], Any] | None = None,
    ) -> None:
        self.settings = settings
        self._factory = producer_factory or _default_factory(settings.service)
        self._queue: deque[Call | tuple[str, str]] = deque()
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._counts = threading.Lock()
        self._pid = -1
        self._thread: threading.Thread | None = None
        self._producer: Any = None
        self._stopping = False
        self._closed = False
        self._exit_hook = False
        self._owner = -1  # the process that started the thread
        self.submitted = self.dropped_queue_full = self.dropped_error = self.sent = 0
        register(self)
        _EMITTERS.add(self)

    # -- the request path ------------------------------------------------------------------------

    def submit(self, call: Call) -> None:
        """Queue ``call`` for the emitter's thread; never blocks, never raises."""
        if self._pid != os.getpid() and not self._start():
            self.count_error()  # closed: nobody would send it
            return
        queue = self._queue
        with self._counts:  # uncontended; keeps the bound and the counts exact
            if len(queue) >= self.settings.queue_size:
                self.dropped_queue_full += 1
                return
            queue.append(call)
            self.submitted += 1
            first = len(queue) == 1
        if first:
            self._wake.set()

    def count_error(self) -> None:
        """Count one call lost to an error (an adapter that could not build its ``Call``)."""
        with self._counts:
            self.dropped_error += 1

    # -- lifecycle -------------------------------------------------------------------------------

    def health(self, status: str, message: str) -> None:
        """Queue a ServiceHealthEvent (``status`` HEALTHY/DEGRADED/UNHEALTHY/UNKNOWN)."""
        if self._pid != os.getpid() and not self._start(reopen=status == "HEALTHY"):
            self.count_error()
            return
        self._queue.append((status, message))
        self._wake.set()

    def close(self, timeout: float = 10.0) -> None:
        """Send what is queued, flush the producer and stop the thread (at most ``timeout`` s)."""
        thread = self._thread
        if thread is None or self._pid != os.getpid():
            return
        self._closed = True
        self._stopping = True
        self._wake.set()
        thread.join(timeout)
        self._pid = -1  # a later submit is dropped and counted (``_start``)

    def close_at_exit(self) -> None:
        """At interpreter exit, queue a ServiceHealthEvent UNKNOWN ("stopping") and ``close()``,
        unless closed before. ``atexit`` runs the last registered hook first, and the event
        backend registers its own closing hook when the producer is made: so the hook is
        registered again right after that (it must run before the backend's), and now, for a
        process that exits before its producer exists (the second run finds it closed)."""
        self._exit_hook = True
        atexit.register(self._at_exit)

    def _at_exit(self) -> None:
        if not self._closed:
            self.health("UNKNOWN", "stopping")
            self.close()

    def stats(self) -> dict[str, int]:
        return {
            "submitted": self.submitted,
            "sent": self.sent,
            "dropped_queue_full": self.dropped_queue_full,
            "dropped_error": self.dropped_error,
            "queued": len(self._queue),
        }

    def _start(self, reopen: bool = False) -> bool:
        """Start the thread in this process; False once closed, unless ``reopen`` (a HEALTHY
        "started" event: the app starts again, as a test client's second lifespan does)."""
        with self._lock:
            if self._pid == os.getpid():
                return True
            if self._closed and self._owner == os.getpid() and not reopen:
                return False
            self._owner = os.getpid()
            self._closed = False
            self._queue.clear()  # a forked child does not resend its parent's calls
            self._stopping = False
            self._pid = os.getpid()
            self._thread = threading.Thread(
                target=self._run, name=f"carbonplane-audit-{self.settings.service}", daemon=True
            )
            self._thread.start()
            return True

    # -- the emitter's thread --------------------------------------------------------------------

    def _run(self) -> None:
        from carbonplane.events.types import AuditAPICallEvent, ServiceHealthEvent

        try:
            producer = self._producer = self._factory()
        except Exception as exc:  # no producer: every call is dropped and counted
            log.error("carbonplane integration: no event producer (%s); events dropped", exc)
            producer = None
        if producer is not None and self._exit_hook:
            atexit.register(self._at_exit)
        queue, service = self._queue, self.settings.service
        audit_topic, health_topic = self.settings.audit_topic, self.settings.health_topic
        while True:
            while queue:
                item = queue.popleft()
                if producer is None:
                    self.count_error()
                    continue
                try:
                    if isinstance(item, Call):
                        event = AuditAPICallEvent(
                            service=service,
                            endpoint=item.endpoint or "/",
                            method=item.method or "UNKNOWN",
                            status_code=item.status,
                            latency_ms=item.latency_ms,
                            request_size_bytes=item.request_bytes,
                            response_size_bytes=item.response_bytes,
                            ip_address=item.ip or "unknown",
                        )
                        if item.user:
                            event.user_id = item.user
                        if item.error:
                            event.error_message = item.error
                        ext = None
                        if item.traceparent:
                            ext = {"traceparent": item.traceparent}
                            if item.tracestate:
                                ext["tracestate"] = item.tracestate
                        producer.produce(event, extensions=ext, topic=audit_topic)
                    else:
                        producer.produce(
                            ServiceHealthEvent(
                                service_name=service,
                                namespace=self.settings.namespace,
                                health_status=item[0],
                                latency_ms=0.0,
                                error_rate=0.0,
                                message=item[1],
                            ),
                            topic=health_topic,
                        )
                    self.sent += 1  # only this thread writes ``sent``
                except Exception as exc:
                    self.count_error()
                    log.warning("carbonplane integration: event dropped: %s", exc)
            if self._stopping:
                break
            if producer is not None:
                producer.poll(0)
            self._wake.wait(0.5)
            self._wake.clear()
        if producer is not None:
            producer.close(5.0)


_EMITTERS: weakref.WeakSet[Emitter] = weakref.WeakSet()


def _fresh_locks_in_child() -> None:
    """A forked child gets new locks (a thread of the parent may have held one at the fork) and
    counts of its own (the parent's are the parent's to export)."""
    for emitter in list(_EMITTERS):
        emitter._lock = threading.Lock()
        emitter._counts = threading.Lock()
        emitter.submitted = emitter.dropped_queue_full = emitter.dropped_error = emitter.sent = 0


os.register_at_fork(after_in_child=_fresh_locks_in_child)


def _default_factory(service: str) -> Callable[[], Any]:
    def make() -> Any:
        from carbonplane.events.producer import get_event_producer

        return get_event_producer(service)

    return make
