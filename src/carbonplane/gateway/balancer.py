"""Target selection for an upstream entity (sans-IO): round-robin, least-connections,
consistent-hashing and latency, with health state (Kong's ``kong/runloop/balancer/``).

- round-robin: smooth weighted round-robin (each target's share equals its weight, picks are
  interleaved rather than bunched). Kong walks a pre-shuffled wheel; the shares are the same.
- least-connections: the target with the fewest in-flight requests per unit of weight
  (``(active + 1) / weight``); ties rotate.
- consistent-hashing: a ring where each target owns 160 points per 100 of weight (ketama's
  density), scaled down so that the ring never exceeds ``slots`` points; a point is the CRC32 of
  ``"host:port n"``, a key (CRC32 of the hash value) maps to the next point clockwise, skipping
  unhealthy or excluded targets. A target's points do not depend on the other targets (below the
  ``slots`` cap), so adding one moves only the keys it takes over. Kong hashes with other
  functions; placements differ from Kong's, the properties don't.
  With no hash value at all (``hash_on``/``hash_fallback`` yield nothing) it falls back to
  round-robin.
- latency: peak-EWMA of response times (decay 10 s) with power-of-two-choices (Kong's
  ``latency.lua``, a port of Finagle's PeakEwma).

Weight 0 targets never receive traffic. Unhealthy targets are skipped; when the healthy share of
weight falls below ``healthchecks.threshold`` percent, or no target is eligible, ``select``
returns None and the engine answers 503 (Kong: "failure to get a peer from the ring-balancer").
``hash_value`` computes Kong's ``hash_on``/``hash_fallback`` input for a request.
Health and in-flight counts survive a config reload when the new Balancer is built with
``previous=`` the old one.
"""

from __future__ import annotations

import bisect
import math
import random
import uuid
import zlib
from collections.abc import Callable, Container, Mapping, Sequence
from typing import Any

from carbonplane.gateway.health import HEALTHCHECKS_OFF, HEALTHY, UNHEALTHY, HealthPolicy, TargetHealth
from carbonplane.gateway.typedefs import split_host_port

NO_PEER_BODY = b'{"message":"failure to get a peer from the ring-balancer"}'
_DEFAULT_PORTS = {"http": 80, "https": 443}
_EWMA_DECAY_S = 10.0
_POINTS_PER_WEIGHT = 1.6  # ketama's 160 points per target of default weight 100


class TargetState:
    """A target as the balancer tracks it: address, weight, health and load."""

    __slots__ = ("address", "host", "port", "weight", "health", "active", "current", "ewma",
                 "ewma_at", "entity")

    def __init__(self, entity: Mapping[str, Any]) -> None:
        self.entity = entity
        self.address: str = entity["target"]
        host, port = split_host_port(self.address) or (self.address, 8000)
        self.host: str = host
        self.port: int = port if port is not None else 8000
        self.weight: int = entity["weight"]
        self.health = TargetHealth()
        self.active = 0          # in-flight requests (least-connections, latency)
        self.current = 0         # smooth weighted round-robin credit
        self.ewma = 0.0          # latency (ms)
        self.ewma_at = 0.0

    def __repr__(self) -> str:
        return f"TargetState({self.address}, w={self.weight}, {self.health!r}, active={self.active})"


class Balancer:
    """Selects targets of one upstream. Not thread-safe; one per worker (event loop)."""

    def __init__(self, upstream: Mapping[str, Any], targets: Sequence[Mapping[str, Any]], *,
                 previous: Balancer | None = None, rng: random.Random | None = None) -> None:
        self.upstream = upstream
        self.algorithm: str = upstream["algorithm"]
        self.policy = HealthPolicy(upstream["healthchecks"])
        self._rng = rng or random.Random()
        self.targets: list[TargetState] = [TargetState(t) for t in targets if t["weight"] > 0]
        self.by_address = {t.address: t for t in self.targets}
        if previous is not None:
            for t in self.targets:
                old = previous.by_address.get(t.address)
                if old is not None:
                    t.health, t.active, t.ewma, t.ewma_at = old.health, old.active, old.ewma, old.ewma_at
        self._rr_start = 0
        self._ring: list[int] = []
        self._ring_owner: list[TargetState] = []
        if self.algorithm == "consistent-hashing":
            self._build_ring(upstream["slots"])

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
        return [{"target": t.address, "weight": t.weight, "health": state(t),
                 "id": t.entity["id"]} for t in self.targets]

    # -- selection -----------------------------------------------------------------------
    def select(self, hash_key: str | None = None, *, exclude: Container[str] = (),
               now: float = 0.0) -> TargetState | None:
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

    def release(self, target: TargetState, *, latency_ms: float | None = None,
                now: float = 0.0) -> None:
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
        host = self.upstream.get("host_header") or target.host
        if ":" in host:
            host = f"[{host}]"
        return host if _DEFAULT_PORTS.get(scheme) == target.port else f"{host}:{target.port}"


def _latency_cost(t: TargetState) -> float:
    return (t.ewma or 1.0) * (t.active + 1) / t.weight


def hash_value(upstream: Mapping[str, Any], *, consumer_id: str | None = None,
               client_ip: str | None = None, headers: Mapping[str, str] | None = None,
               cookies: Mapping[str, str] | None = None, path: str | None = None,
               query: Mapping[str, Any] | None = None, uri_captures: Mapping[Any, Any] | None = None,
               new_cookie: Callable[[], str] = lambda: str(uuid.uuid4()),
               ) -> tuple[str | None, str | None]:
    """Kong's hash input for a request: (value or None, Set-Cookie header value or None).

    ``hash_on`` first, then ``hash_fallback`` when it yields nothing. With ``cookie`` and no such
    cookie in the request a fresh value is generated and returned as a cookie to set."""
    for which in ("hash_on", "hash_fallback"):
        kind = upstream[which]
        if kind == "none":
            return None, None
        if kind == "cookie":
            name = upstream["hash_on_cookie"]
            value = (cookies or {}).get(name)
            if value:
                return value, None
            value = new_cookie()
            return value, f"{name}={value}; Path={upstream.get('hash_on_cookie_path') or '/'}"
        value = _hash_source(upstream, which, kind, consumer_id, client_ip, headers, path, query,
                             uri_captures)
        if value:
            return value, None
    return None, None


def _hash_source(upstream: Mapping[str, Any], which: str, kind: str, consumer_id: str | None,
                 client_ip: str | None, headers: Mapping[str, str] | None, path: str | None,
                 query: Mapping[str, Any] | None, captures: Mapping[Any, Any] | None) -> str | None:
    if kind == "consumer":
        return consumer_id
    if kind == "ip":
        return client_ip
    if kind == "path":
        return path
    if kind == "header":
        name = upstream[f"{which}_header"].lower()
        value = {k.lower(): v for k, v in (headers or {}).items()}.get(name)
        return ",".join(value) if isinstance(value, (list, tuple)) else value
    if kind == "query_arg":
        value = (query or {}).get(upstream[f"{which}_query_arg"])
        return ",".join(value) if isinstance(value, (list, tuple)) else value
    if kind == "uri_capture":
        value = (captures or {}).get(upstream[f"{which}_uri_capture"])
        return value if isinstance(value, str) else None
    return None
