"""The health layer's state machines flip exactly at their thresholds, and the active schedule
follows the interval of each target's current state."""

from __future__ import annotations

import pytest

from carbonplane.gateway.config.entities import validate_entity
from carbonplane.proxy.layers.health import ActiveSchedule, HealthPolicy, TargetHealth


def upstream(**fields):
    up, problems = validate_entity("upstreams", {"name": "pool.internal", **fields})
    assert problems == []
    return up


def policy(**hc):
    return HealthPolicy(upstream(healthchecks=hc)["healthchecks"])


ACTIVE = {
    "active": {
        "healthy": {"interval": 5, "successes": 2},
        "unhealthy": {"interval": 1, "http_failures": 2, "tcp_failures": 1, "timeouts": 3},
    }
}


@pytest.mark.parametrize(
    "results,expected_states",
    [
        # (kind, value) steps -> health after each step
        ([("status", 500), ("status", 500)], [True, False]),
        ([("status", 500), ("status", 200), ("status", 500)], [True, True, True]),  # success resets
        ([("status", 418), ("status", 418)], [True, True]),  # neither list
        ([("tcp", True)], [False]),
        (
            [("timeout", True), ("timeout", True), ("status", 500), ("timeout", True)],
            [True, True, True, False],
        ),
        ([("tcp", True), ("status", 200), ("status", 302)], [False, False, True]),
        (
            [("tcp", True), ("status", 200), ("status", 500), ("status", 200)],
            [False, False, False, False],
        ),
    ],
)
def test_active_transitions(results, expected_states):
    p = policy(**ACTIVE)
    h = TargetHealth()
    states = []
    for kind, value in results:
        if kind == "status":
            h.on_active(p, status=value)
        elif kind == "tcp":
            h.on_active(p, tcp_failure=True)
        else:
            h.on_active(p, timeout=True)
        states.append(h.healthy)
    assert states == expected_states


def test_zero_thresholds_never_flip():
    p = policy()
    h = TargetHealth()
    for _ in range(100):
        h.on_passive(p, status=500)
        h.on_active(p, tcp_failure=True)
    assert h.healthy and not p.enabled


def test_active_schedule_uses_the_interval_of_the_current_state():
    p = policy(**ACTIVE)
    health = {"a:1": TargetHealth(), "b:1": TargetHealth(healthy=False)}
    s = ActiveSchedule(p)
    assert s.due(health, 100.0) == ["a:1", "b:1"]
    assert s.due(health, 100.5) == []
    assert s.next_due(health, 100.5) == pytest.approx(0.5)
    assert s.due(health, 101.0) == ["b:1"]
    assert s.due(health, 105.0) == ["a:1", "b:1"]
    assert ActiveSchedule(policy()).next_due(health, 0.0) is None
