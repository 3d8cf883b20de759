"""Health of upstream targets as pure state machines (no sockets, no clocks of their own).

Model (Kong's ``healthchecks`` record, behaviour of lua-resty-healthcheck):
- Each target is HEALTHY or UNHEALTHY and keeps four consecutive counters: successes, HTTP
  failures, TCP failures, timeouts. A success clears the failure counters; a failure clears the
  success counter. A counter reaching its non-zero threshold flips the state, and a flip clears
  every counter. A threshold of 0 disables that transition.
- Results come from active probes (``on_active``) or from proxied traffic (``on_passive``), each
  with its own status lists and thresholds. Statuses in neither list are ignored. Passive checks
  in practice cannot bring a target back: an unhealthy target receives no traffic, so only active
  probes or an explicit ``PUT /upstreams/{u}/targets/{t}/healthy`` (``set_manual``) can.
- ``ActiveSchedule`` says which targets are due for a probe at a given time: healthy ones every
  ``active.healthy.interval`` seconds, unhealthy ones every ``active.unhealthy.interval`` (0 =
  never).
- Health is "HEALTHCHECKS_OFF" for Admin API reports when neither active intervals nor passive
  thresholds are configured (Kong's wording); the target is then always eligible.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

HEALTHY, UNHEALTHY, HEALTHCHECKS_OFF = "HEALTHY", "UNHEALTHY", "HEALTHCHECKS_OFF"


class _Rules:
    """Thresholds and status sets for one source of results (active or passive)."""

    __slots__ = (
        "ok_statuses",
        "bad_statuses",
        "successes",
        "http_failures",
        "tcp_failures",
        "timeouts",
    )

    def __init__(self, conf: Mapping[str, Any]) -> None:
        healthy, unhealthy = conf["healthy"], conf["unhealthy"]
        self.ok_statuses = frozenset(healthy["http_statuses"] or ())
        self.bad_statuses = frozenset(unhealthy["http_statuses"] or ())
        self.successes = healthy["successes"] or 0
        self.http_failures = unhealthy["http_failures"] or 0
        self.tcp_failures = unhealthy["tcp_failures"] or 0
        self.timeouts = unhealthy["timeouts"] or 0

    @property
    def enabled(self) -> bool:
        return bool(self.successes or self.http_failures or self.tcp_failures or self.timeouts)


class HealthPolicy:
    """The compiled ``healthchecks`` record of an upstream."""

    __slots__ = (
        "active",
        "passive",
        "threshold",
        "healthy_interval",
        "unhealthy_interval",
        "probe",
    )

    def __init__(self, healthchecks: Mapping[str, Any]) -> None:
        active = healthchecks["active"]
        self.active = _Rules(active)
        self.passive = _Rules(healthchecks["passive"])
        self.threshold = healthchecks.get("threshold") or 0
        self.healthy_interval = active["healthy"]["interval"] or 0
        self.unhealthy_interval = active["unhealthy"]["interval"] or 0
        self.probe = {
            k: active.get(k)
            for k in (
                "type",
                "timeout",
                "http_path",
                "headers",
                "https_sni",
                "https_verify_certificate",
                "concurrency",
            )
        }

    @property
    def enabled(self) -> bool:
        return bool(
            self.healthy_interval
            or self.unhealthy_interval
            or self.passive.enabled
            or self.active.enabled
        )


class TargetHealth:
    """One target's health state and counters."""

    __slots__ = ("healthy", "successes", "http_failures", "tcp_failures", "timeouts")

    def __init__(self, healthy: bool = True) -> None:
        self.healthy = healthy
        self.successes = self.http_failures = self.tcp_failures = self.timeouts = 0

    def _flip(self, healthy: bool) -> bool:
        changed = healthy != self.healthy
        self.healthy = healthy
        self.successes = self.http_failures = self.tcp_failures = self.timeouts = 0
        return changed

    def record(
        self,
        rules: _Rules,
        *,
        status: int | None = None,
        tcp_failure: bool = False,
        timeout: bool = False,
    ) -> bool:
        """Count one result; return True when the state flipped."""
        if tcp_failure:
            return self._failure(rules, "tcp_failures", rules.tcp_failures)
        if timeout:
            return self._failure(rules, "timeouts", rules.timeouts)
        if status is None:
            return False
        if status in rules.ok_statuses:
            self.http_failures = self.tcp_failures = self.timeouts = 0
            self.successes += 1
            if rules.successes and self.successes >= rules.successes and not self.healthy:
                return self._flip(True)
            return False
        if status in rules.bad_statuses:
            return self._failure(rules, "http_failures", rules.http_failures)
        return False

    def _failure(self, rules: _Rules, counter: str, threshold: int) -> bool:
        self.successes = 0
        setattr(self, counter, getattr(self, counter) + 1)
        if threshold and getattr(self, counter) >= threshold and self.healthy:
            return self._flip(False)
        return False

    def on_active(self, policy: HealthPolicy, **result: Any) -> bool:
        return self.record(policy.active, **result)

    def on_passive(self, policy: HealthPolicy, **result: Any) -> bool:
        return self.record(policy.passive, **result)

    def set_manual(self, healthy: bool) -> bool:
        """``PUT .../healthy`` or ``.../unhealthy``: set the state and clear counters."""
        return self._flip(healthy)

    def __repr__(self) -> str:
        return (
            f"TargetHealth({HEALTHY if self.healthy else UNHEALTHY}, s={self.successes}, "
            f"http={self.http_failures}, tcp={self.tcp_failures}, to={self.timeouts})"
        )


class ActiveSchedule:
    """When each target is next due for an active probe."""

    __slots__ = ("policy", "_last")

    def __init__(self, policy: HealthPolicy) -> None:
        self.policy = policy
        self._last: dict[str, float] = {}

    def interval_for(self, health: TargetHealth) -> float:
        return self.policy.healthy_interval if health.healthy else self.policy.unhealthy_interval

    def due(self, targets: Mapping[str, TargetHealth], now: float) -> list[str]:
        """Targets to probe now (and mark as probed at ``now``)."""
        out = []
        for address, health in targets.items():
            interval = self.interval_for(health)
            if interval and now - self._last.get(address, float("-inf")) >= interval:
                self._last[address] = now
                out.append(address)
        return out

    def next_due(self, targets: Mapping[str, TargetHealth], now: float) -> float | None:
        """Seconds until the next probe is due, or None when no probe is scheduled."""
        waits = [
            max(0.0, self._last.get(a, float("-inf")) + self.interval_for(h) - now)
            for a, h in targets.items()
            if self.interval_for(h)
        ]
        return min(waits) if waits else None
