"""The ``PluginServices`` of a gateway process: the shared facilities plugin handlers may use.

One set per process, reused by every config version (handlers are rebuilt per version; what they
borrow from here is not):

- ``counters``: the host-wide rate-limit counter store (``counters.HostCounters``), one
  memory-mapped file per gateway node, named by the master in the runtime settings
  (``runtime["counters"]``), so that policy ``local`` is exact across all workers of the host;
  with a single worker a process-local ``LocalCounters`` (~0.3 us per take in C instead of ~1 us
  with the host lock; the counts restart if that worker is ever restarted);
- ``producer()``: the process's ``EventProducer`` (the configured event backend, events with
  source ``api-gateway``), made on first use and closed (queued events delivered, 5 s at most)
  when the process exits;
- ``registry``: a Prometheus ``CollectorRegistry`` private to this process;
- ``redis``: left None: plugins use their own shared per-loop clients
  (``rate_limiting.redis_policy.client_for``), which fail fast as Kong does;
- ``workers``: how many workers serve the host.

In the master (``live=False``: validating a payload, no event loop) handlers get a private
in-process counter store and a producer that refuses to be made: building a handler must not
open connections or touch the node's shared files.
"""

from __future__ import annotations

import atexit
from collections.abc import Mapping
from typing import Any

from carbonplane.errors import ConfigError
from carbonplane.gateway.plugins.pdk.base import PluginServices
from carbonplane.gateway.plugins.pdk.counters import HostCounters, LocalCounters

EVENT_SOURCE = "api-gateway"  # the ``source`` of the events the gateway's plugins produce


def _no_producer_while_validating() -> Any:
    raise ConfigError(
        "plugin handlers must not open the event producer while they are built; "
        "open it on first use",
        where="plugin services",
    )


def process_services(runtime: Mapping[str, Any], *, live: bool) -> PluginServices:
    """The ``PluginServices`` of this process (see the module docstring)."""
    from prometheus_client import CollectorRegistry

    workers = int(runtime.get("workers") or 1)
    runtime_dir = runtime.get("dir")
    if not live:
        return PluginServices(
            worker_id=0,
            workers=workers,
            registry=CollectorRegistry(),
            counters=LocalCounters(),
            producer=_no_producer_while_validating,
            runtime_dir=runtime_dir,
        )
    path = runtime.get("counters")
    # one worker: a process-local table is just as exact and ~10x cheaper than the shared one
    counters = HostCounters.open(path) if path and workers > 1 else LocalCounters()
    producer_box: list[Any] = []

    def producer() -> Any:
        if not producer_box:
            from carbonplane.events.producer import get_event_producer

            made = get_event_producer(EVENT_SOURCE)
            atexit.register(made.close, 5.0)  # deliver what is queued when the worker stops
            producer_box.append(made)
        return producer_box[0]

    return PluginServices(
        worker_id=0,
        workers=workers,
        registry=CollectorRegistry(),
        counters=counters,
        producer=producer,
        runtime_dir=runtime_dir,
    )
