"""The active half of the health layer: probing balanced targets from a worker's event loop.

Kong's ``healthchecks.active`` (lua-resty-healthcheck): every ``healthy.interval`` seconds a
healthy target is probed, every ``unhealthy.interval`` seconds an unhealthy one (0: never). A
probe of ``type: http``/``https`` sends ``GET <http_path>`` with the configured ``headers`` and
``Host`` of the target (or the upstream's ``host_header``) and reads the status line within
``timeout`` seconds; ``type: tcp`` only connects. The result goes to the target's health state
machine (``health.py``): a status, a TCP failure, or a timeout. At most ``concurrency`` probes
of one upstream run at once.

Each worker probes for itself and keeps its own state (as each worker also learns passively
from its own traffic); the Admin API merges the workers' reports. Probes run on the worker's
loop, never on a request's path. ``update(balancers)`` follows a config reload: schedules are
rebuilt, the health state itself lives in the (carried-over) balancers.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping

from carbonplane.proxy.layers.balance import Balancer, TargetState
from carbonplane.proxy.layers.health import ActiveSchedule
from carbonplane.proxy.stack import tls_context

log = logging.getLogger("carbonplane.proxy.health")
MAX_IDLE_S = 1.0  # re-check the schedule at least this often (a reload may add probes)


class ActiveHealthChecker:
    """Runs the probes of every balancer with active checks; one per worker."""

    def __init__(self, on_change: Callable[[Balancer, TargetState], None] | None = None) -> None:
        self.on_change = on_change
        self._plans: list[tuple[Balancer, ActiveSchedule, asyncio.Semaphore]] = []
        self._task: asyncio.Task | None = None
        self._wake = asyncio.Event()
        self.probes = 0

    def update(self, balancers: Mapping[str, Balancer]) -> None:
        """Probe these balancers from now on (after a reload)."""
        plans = []
        for balancer in balancers.values():
            policy = balancer.policy
            if policy.healthy_interval or policy.unhealthy_interval:
                limit = max(1, int(policy.probe.get("concurrency") or 10))
                plans.append((balancer, ActiveSchedule(policy), asyncio.Semaphore(limit)))
        self._plans = plans
        if plans and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())
        self._wake.set()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            now = loop.time()
            waits = []
            for balancer, schedule, limit in self._plans:
                states = {t.address: t.health for t in balancer.targets}
                for address in schedule.due(states, now):
                    target = balancer.by_address[address]
                    loop.create_task(self._probe(balancer, target, limit))
                wait = schedule.next_due(states, now)
                if wait is not None:
                    waits.append(wait)
            self._wake.clear()
            timeout = min([MAX_IDLE_S, *waits])
            try:
                await asyncio.wait_for(self._wake.wait(), max(timeout, 0.01))
            except asyncio.TimeoutError:
                pass

    async def _probe(
        self, balancer: Balancer, target: TargetState, limit: asyncio.Semaphore
    ) -> None:
        probe = balancer.policy.probe
        async with limit:
            self.probes += 1
            try:
                result = await asyncio.wait_for(
                    _probe_once(balancer, target, probe), float(probe.get("timeout") or 1)
                )
            except asyncio.TimeoutError:
                result = {"timeout": True}
            except OSError:
                result = {"tcp_failure": True}
        if balancer.report_active(target, **result) and self.on_change is not None:
            self.on_change(balancer, target)

    def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None


async def _probe_once(balancer: Balancer, target: TargetState, probe: Mapping) -> dict:
    kind = probe.get("type") or "http"
    tls = None
    if kind == "https":
        tls = tls_context(bool(probe.get("https_verify_certificate", True)))
    server_hostname = (probe.get("https_sni") or target.host) if tls else None
    reader, writer = await asyncio.open_connection(
        target.host, target.port, ssl=tls, server_hostname=server_hostname
    )
    try:
        if kind == "tcp":  # connected: count as the first status the policy calls healthy
            return {"status": min(balancer.policy.active.ok_statuses, default=200)}
        writer.write(_probe_request(balancer, target, probe))
        await writer.drain()
        line = await reader.readline()
        parts = line.split(None, 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit():
            return {"tcp_failure": True}  # not HTTP: as good as unreachable
        return {"status": int(parts[1])}
    finally:
        writer.close()


def _probe_request(balancer: Balancer, target: TargetState, probe: Mapping) -> bytes:
    path = probe.get("http_path") or "/"
    host = balancer.host_header(target, "https" if probe.get("type") == "https" else "http")
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: {host}",
        "Connection: close",
        "User-Agent: carbonplane-healthcheck",
    ]
    for name, values in (probe.get("headers") or {}).items():
        for value in values if isinstance(values, (list, tuple)) else (values,):
            lines.append(f"{name}: {value}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
