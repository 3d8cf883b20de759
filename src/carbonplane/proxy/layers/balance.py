"""The balance layer: picks a target per attempt and learns from each attempt's outcome (sans-IO
selection; ``BalancedPicker`` is the engine's picker over it).

Algorithms (Kong's ``kong/runloop/balancer/``; the gateway translates its upstream entities into
the arguments of ``Balancer``):
- round-robin: smooth weighted round-robin (each target's share equals its weight, picks are
  interleaved rather than bunched). Kong walks a pre-shuffled wheel; the shares are the same.
- least-connections: the target with the fewest in-flight requests per unit of weight
  (``(active + 1) / weight``); ties rotate.
- consistent-hashing: a ring where each target owns 160 points per 100 of weight (ketama's
  density), scaled down so that the ring never exceeds ``slots`` points; a point is the CRC32 of
  ``"host:port n"``, a key (CRC32 of the hash value) maps to the next point clockwise, skipping
  unhealthy or excluded targets. A target's points do not depend on the other targets (below the
  ``slots`` cap), so adding one moves only the keys it takes over. With no hash key it falls
  back to round-robin.
- latency: peak-EWMA of response times (decay 10 s) with power-of-two-choices (Kong's
  ``latency.lua``, a port of Finagle's PeakEwma).

Weight 0 targets never receive traffic. Unhealthy targets are skipped (``health.py``); when the
healthy share of weight falls below the policy's ``threshold`` percent, or no target is eligible,
``select`` returns None and the engine answers 503. Health and in-flight counts survive a config
reload when the new Balancer is built with ``previous=`` the old one.

``BalancedPicker`` keeps the engine's picker contract (``pick`` / exactly one ``release`` per
pick): a retry avoids the targets this request already tried while another one is eligible;
``release`` feeds passive health (connect failure or reset -> a TCP failure, timeout -> a
timeout, otherwise the HTTP status) and the latency EWMA, and reports health flips to
``on_health_change``. The hash key of a request comes from the personality (``hash_key(ctx)``).
"""

from __future__ import annotations

import bisect
import math
import random
import zlib
from collections.abc import Callable, Container, Sequence
from typing import Any, NamedTuple

from carbonplane.proxy.app import FAILURE_TIMEOUT, RequestContext
from carbonplane.proxy.layers.health import (
    HEALTHCHECKS_OFF,
    HEALTHY,
    UNHEALTHY,
    HealthPolicy,
    TargetHealth,
)

TRIED = "balancer_tried"  # ctx.vars key: addresses this request already failed on
ALGORITHMS = ("round-robin", "least-connections", "consistent-hashing", "latency")
_DEFAULT_PORTS = {"http": 80, "https": 443}
_EWMA_DECAY_S = 10.0
_POINTS_PER_WEIGHT = 1.6  # ketama's 160 points per target of default weight 100


class TargetSpec(NamedTuple):
    """A target as configured: ``host:port`` address, weight, and an id reported beside it."""

    address: str
    host: str
    port: int
    weight: int
    id: str | None = None


class TargetState:
    """A target as the balancer tracks it: address, weight, health and load."""

    __slots__ = (
        "address",
        "host",
        "port",
        "weight",
        "health",
        "active",
        "current",
        "ewma",
        "ewma_at",
        "id",
    )

    def __init__(self, spec: TargetSpec) -> None:
        self.address = spec.address
        self.host = spec.host
        self.port = spec.port
        self.weight = spec.weight
        self.id = spec.id
        self.health = TargetHealth()
        self.active = 0  # in-flight requests (least-connections, latency)
        self.current = 0  # smooth weighted round-robin credit
        self.ewma = 0.0  # latency (ms)
        self.ewma_at = 0.0

    def __repr__(self) -> str:
        return (
            f"TargetState({self.address}, w={self.weight}, {self.health!r}, active={self.active})"
        )


class Balancer:
    """Selects targets of one upstream. Not thread-safe; one per worker (event loop)."""

    def __init__(
        self,
        name: str,
        algorithm: str,
        targets: Sequence[TargetSpec],
        policy: HealthPolicy,
        *,
        slots: int = 10000,
        host_header: str | None = None,
        previous: Balancer | None = None,
        rng: random.Random | None = None,
    ) -> None:
        if algorithm not in ALGORITHMS:
            raise ValueError(
                f"balancer {name!r}: unknown algorithm {algorithm!r}, "
                f"expected one of {', '.join(ALGORITHMS)}"
            )
        self.name = name
        self.algorithm = algorithm
        self.policy = policy
        self.host_header_override = host_header
        self._rng = rng or random.Random()
        self.targets: list[TargetState] = [TargetState(t) for t in targets if t.weight > 0]
        self.by_address = {t.address: t for t in self.targets}
        if previous is not None:
            for t in self.targets:
                old = previous.by_address.get(t.address)
                if old is not None:
                    t.health, t.active, t.ewma, t.ewma_at = (
                        old.health,
                        old.active,
                        old.ewma,
                        old.ewma_at,
                    )
        self._rr_start = 0
        self._ring: list[int] = []
        self._ring_owner: list[TargetState] = []
        if self.algorithm == "consistent-hashing":
            self._build_ring(slots)

    # -- health --------------------------------------------------------------------------
    def eligible(self, t: TargetState) -> bool:
        return t.health.healthy or not self.policy.enabled

    def is_healthy(self) -> bool:
        """False when the healthy weight share is below the upstream's threshold (or none left)."""
        total = sum(t.weight for t in self.targets)
        healthy = sum(t.weight for t in self.targets if self.eligible(t))
        if not total or not healthy:
            return False
        return healthy * 100 / total >= self.policy.threshold

    def report_passive(self, target: TargetState, **result: Any) -> bool:
        """A proxied request's outcome (``status=``, ``tcp_failure=``, ``timeout=``)."""
        return target.health.on_passive(self.policy, **result)

    def report_active(self, target: TargetState, **result: Any) -> bool:
        return target.health.on_active(self.policy, **result)

    def health_report(self) -> list[dict[str, Any]]:
        """Per target, Kong's ``GET /upstreams/{u}/health`` row."""

        def state(t: TargetState) -> str:
            if not self.policy.enabled:
                return HEALTHCHECKS_OFF
            return HEALTHY if t.health.healthy else UNHEALTHY

        return [
            {"target": t.address, "weight": t.weight, "health": state(t), "id": t.id}
            for t in self.targets
        ]

    # -- selection -----------------------------------------------------------------------
    def select(
        self, hash_key: str | None = None, *, exclude: Container[str] = (), now: float = 0.0
    ) -> TargetState | None:
        """Pick a target (``exclude`` holds addresses already tried for this request).

        Call ``release`` when the request to the returned target ends."""
        if not self.is_healthy():
            return None
        if self.algorithm == "consistent-hashing" and hash_key is not None:
            picked = self._by_hash(hash_key, exclude)
        elif self.algorithm == "least-connections":
            picked = self._least_connections(exclude)
        elif self.algorithm == "latency":
            picked = self._latency(exclude, now)
        else:
            picked = self._round_robin(exclude)
        if picked is not None:
            picked.active += 1
        return picked

    def release(
        self, target: TargetState, *, latency_ms: float | None = None, now: float = 0.0
    ) -> None:
        target.active = max(0, target.active - 1)
        if latency_ms is not None:
            if target.ewma_at == 0.0 or latency_ms > target.ewma:
                target.ewma = latency_ms  # peak sensitivity: jump up at once
            else:
                w = math.exp(-max(0.0, now - target.ewma_at) / _EWMA_DECAY_S)
                target.ewma = target.ewma * w + latency_ms * (1 - w)
            target.ewma_at = now

    def _candidates(self, exclude: Container[str]) -> list[TargetState]:
        return [t for t in self.targets if self.eligible(t) and t.address not in exclude]

    def _round_robin(self, exclude: Container[str]) -> TargetState | None:
        candidates = self._candidates(exclude)
        if not candidates:
            return None
        total = 0
        best = None
        for t in candidates:
            t.current += t.weight
            total += t.weight
            if best is None or t.current > best.current:
                best = t
        best.current -= total
        return best

    def _least_connections(self, exclude: Container[str]) -> TargetState | None:
        candidates = self._candidates(exclude)
        if not candidates:
            return None
        n = len(candidates)
        start = self._rr_start % n
        self._rr_start += 1
        rotated = candidates[start:] + candidates[:start]
        return min(rotated, key=lambda t: (t.active + 1) / t.weight)

    def _latency(self, exclude: Container[str], now: float) -> TargetState | None:
        candidates = self._candidates(exclude)
        if len(candidates) < 2:
            return candidates[0] if candidates else None
        a, b = self._rng.sample(candidates, 2)
        return a if _latency_cost(a) <= _latency_cost(b) else b

    def _build_ring(self, slots: int) -> None:
        total = sum(t.weight for t in self.targets)
        per_weight = min(_POINTS_PER_WEIGHT, slots / total) if total else 0.0
        points: list[tuple[int, int]] = []
        for i, t in enumerate(self.targets):
            for j in range(max(1, int(t.weight * per_weight))):
                points.append((zlib.crc32(f"{t.address} {j}".encode()), i))
        points.sort()
        self._ring = [p for p, _ in points]
        self._ring_owner = [self.targets[i] for _, i in points]

    def _by_hash(self, key: str, exclude: Container[str]) -> TargetState | None:
        if not self._ring:
            return None
        n = len(self._ring)
        start = bisect.bisect_left(self._ring, zlib.crc32(key.encode()))
        seen: set[str] = set()
        for step in range(n):
            t = self._ring_owner[(start + step) % n]
            if t.address in seen:
                continue
            seen.add(t.address)
            if self.eligible(t) and t.address not in exclude:
                return t
            if len(seen) == len(self.targets):
                break
        return None

    def host_header(self, target: TargetState, scheme: str = "http") -> str:
        """Host header for a request to ``target``: the upstream's ``host_header`` or the
        target's host, with the port unless it is the scheme's default (Kong's rule)."""
        host = self.host_header_override or target.host
        if ":" in host:
            host = f"[{host}]"
        return host if _DEFAULT_PORTS.get(scheme) == target.port else f"{host}:{target.port}"


def _latency_cost(t: TargetState) -> float:
    return (t.ewma or 1.0) * (t.active + 1) / t.weight


class BalancedPicker:
    """The engine's ``TargetPicker`` over a ``Balancer``; see the module docstring."""

    __slots__ = ("balancer", "scheme", "hash_key", "on_health_change")

    def __init__(
        self,
        balancer: Balancer,
        scheme: str,
        hash_key: Callable[[RequestContext], str | None] | None = None,
        on_health_change: Callable[[Balancer, TargetState], None] | None = None,
    ) -> None:
        self.balancer = balancer
        self.scheme = scheme
        self.hash_key = hash_key if balancer.algorithm == "consistent-hashing" else None
        self.on_health_change = on_health_change

    def pick(self, ctx: RequestContext) -> TargetState | None:
        key = self.hash_key(ctx) if self.hash_key is not None else None
        tried = ctx.vars.get(TRIED)
        balancer = self.balancer
        if tried:
            target = balancer.select(key, exclude=tried)
            if target is not None:
                return target
        return balancer.select(key)

    def release(
        self, ctx: RequestContext, target: TargetState, status: int, failure: str | None
    ) -> None:
        balancer = self.balancer
        latency = None
        if balancer.algorithm == "latency" and ctx.upstream_answered:
            latency = (ctx.upstream_answered - ctx.upstream_started) * 1000.0
        balancer.release(target, latency_ms=latency, now=ctx.upstream_answered)
        if failure is not None:
            ctx.vars.setdefault(TRIED, set()).add(target.address)
            if failure == FAILURE_TIMEOUT:
                flipped = balancer.report_passive(target, timeout=True)
            else:
                flipped = balancer.report_passive(target, tcp_failure=True)
        elif status:
            flipped = balancer.report_passive(target, status=status)
        else:
            return  # the request ended without an answer from this target: nothing learnt
        if flipped and self.on_health_change is not None:
            self.on_health_change(balancer, target)

    def host_header(self, target: TargetState) -> bytes:
        return self.balancer.host_header(target, self.scheme).encode("idna")

    def __repr__(self) -> str:
        return f"BalancedPicker({self.balancer.name!r}, {self.balancer.algorithm})"
