"""Per-worker Prometheus counts, and how a host adds them up.

Recording happens on every request, so it must cost far less than proxying: counts live in
plain dicts keyed by label tuples (a dict update, no per-sample objects, no lock - the event
loop is the only writer), histograms as bucket-count lists (``bisect`` finds the bucket; the
last two slots are +Inf and the sum).

Aggregation across workers: each worker process owns one ``WorkerMetrics``; when a directory
is configured it *publishes* a JSON snapshot there (``worker-<pid>.json``, written to a temporary
name and renamed, so a reader never sees half a file), at most once per ``PUBLISH_INTERVAL``
seconds after a change (an event-loop timer; ~0.1 ms per publish for a few hundred series) and
on ``publish()``. The scrape side (``exposition.render_host_metrics``, run by the Admin API's
``/metrics`` or a status listener in the master) reads every snapshot of the directory and adds
them: counters and histograms are sums, so host totals are exact up to the last publish. A
worker that exits leaves its last snapshot, so totals never go backwards when workers restart.
"""

from __future__ import annotations

import asyncio
import bisect
import json
import os
from collections.abc import Iterable
from typing import Any

KONG_LATENCY_BUCKETS = (1, 2, 5, 7, 10, 15, 20, 30, 50, 75, 100, 200, 500, 750, 1000, 3000, 6000)
UPSTREAM_LATENCY_BUCKETS = (25, 50, 80, 100, 250, 400, 700, 1000, 2000, 5000, 10000, 30000, 60000)
HISTOGRAMS = {
    "kong_latency": KONG_LATENCY_BUCKETS,
    "upstream_latency": UPSTREAM_LATENCY_BUCKETS,
    "request_latency": UPSTREAM_LATENCY_BUCKETS,
}
COUNTERS = ("requests", "bandwidth")
PUBLISH_INTERVAL = 1.0
EXTRA_HELP = {
    "carbonplane_event_log_produced_total": (
        "Audit events the event-log plugin handed to the producer."
    ),
    "carbonplane_event_log_dropped_total": (
        "Audit events the event-log plugin dropped: its queue was full."
    ),
    "carbonplane_event_log_failed_total": "Audit events the event-log plugin could not produce.",
}
SNAPSHOT_PREFIX = "worker-"


class WorkerMetrics:
    """The counts of one process (see the module docstring)."""

    def __init__(self, directory: str | None = None, name: str | None = None) -> None:
        self.directory = directory
        self.name = name or str(os.getpid())
        # (service, route, code, source, workspace, consumer) -> n
        self.requests: dict[tuple[str, ...], int] = {}
        # (service, route, direction, workspace, consumer) -> bytes
        self.bandwidth: dict[tuple[str, ...], int] = {}
        # (service, route, workspace) -> [bucket counts..., +Inf count, sum]
        self.kong_latency: dict[tuple[str, ...], list[float]] = {}
        self.upstream_latency: dict[tuple[str, ...], list[float]] = {}
        self.request_latency: dict[tuple[str, ...], list[float]] = {}
        self.total_requests = 0
        self.upstream_health = False
        # other plugins' process counters (name -> value), summed over workers (EXTRA_HELP)
        self.extra: dict[str, float] = {}
        self._scheduled = False

    def observe(self, family: dict, buckets: tuple, key: tuple, value: float) -> None:
        counts = family.get(key)
        if counts is None:
            counts = family[key] = [0] * (len(buckets) + 1) + [0.0]
        counts[bisect.bisect_left(buckets, value)] += 1
        counts[-1] += value

    def changed(self) -> None:
        """Note a change: publish within ``PUBLISH_INTERVAL`` (needs a running loop)."""
        if self._scheduled or self.directory is None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.publish()
            return
        self._scheduled = True
        loop.call_later(PUBLISH_INTERVAL, self.publish)

    def snapshot(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "total_requests": self.total_requests,
            "upstream_health": self.upstream_health,
            "extra": dict(self.extra),
            **{f: [[*k, v] for k, v in getattr(self, f).items()] for f in COUNTERS},
            **{f: [[*k, *v] for k, v in getattr(self, f).items()] for f in HISTOGRAMS},
        }

    def publish(self) -> None:
        """Write this worker's snapshot to the directory now."""
        self._scheduled = False
        if self.directory is None:
            return
        os.makedirs(self.directory, exist_ok=True)
        path = os.path.join(self.directory, f"{SNAPSHOT_PREFIX}{self.name}.json")
        tmp = f"{path}.tmp"
        with open(tmp, "w") as out:
            json.dump(self.snapshot(), out, separators=(",", ":"))
        os.replace(tmp, path)


def load_snapshots(directory: str) -> list[dict[str, Any]]:
    """Every worker snapshot in ``directory`` (unreadable ones are skipped)."""
    out = []
    try:
        names = sorted(os.listdir(directory))
    except FileNotFoundError:
        return out
    for name in names:
        if name.startswith(SNAPSHOT_PREFIX) and name.endswith(".json"):
            try:
                with open(os.path.join(directory, name)) as f:
                    out.append(json.load(f))
            except (OSError, ValueError):
                continue
    return out


def merge(snapshots: Iterable[dict[str, Any]]) -> WorkerMetrics:
    """The host's totals as one ``WorkerMetrics`` (sums of counters and histograms)."""
    total = WorkerMetrics(name="host")
    for snap in snapshots:
        total.total_requests += snap.get("total_requests", 0)
        total.upstream_health |= bool(snap.get("upstream_health"))
        for name, value in (snap.get("extra") or {}).items():
            total.extra[name] = total.extra.get(name, 0) + value
        for family, width in (("requests", 6), ("bandwidth", 5)):
            target = getattr(total, family)
            for row in snap.get(family, ()):
                key = tuple(row[:width])
                target[key] = target.get(key, 0) + row[width]
        for family, buckets in HISTOGRAMS.items():
            target = getattr(total, family)
            for row in snap.get(family, ()):
                key, values = tuple(row[:3]), row[3:]
                have = target.get(key)
                if have is None:
                    target[key] = list(values)
                else:
                    for i, v in enumerate(values):
                        have[i] += v
    return total
