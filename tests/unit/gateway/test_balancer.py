"""Target selection and health: shares follow weights, least-connections follows load,
consistent hashing is sticky and moves few keys, unhealthy targets are skipped, and the health
state machines flip exactly at their thresholds."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from carbonplane.gateway.balancer import Balancer, hash_value
from carbonplane.gateway.entities import validate_entity
from carbonplane.gateway.health import ActiveSchedule, HealthPolicy, TargetHealth

UPSTREAM_ID = "4a2f0c63-3b5e-4f4e-9a43-6b7f4b2b9f10"


def upstream(**fields):
    up, problems = validate_entity("upstreams", {"name": "pool.internal", **fields})
    assert problems == []
    return up


def targets(*specs):
    out = []
    for i, (address, weight) in enumerate(specs):
        t, problems = validate_entity("targets", {"target": address, "weight": weight,
                                                  "upstream": {"id": UPSTREAM_ID}})
        assert problems == []
        out.append({**t, "id": f"00000000-0000-4000-8000-{i:012d}"})
    return out


def picks(balancer, n, **kw):
    out = Counter()
    for _ in range(n):
        t = balancer.select(**kw)
        out[t.address] += 1
        balancer.release(t)
    return out


PASSIVE_3_FAILURES = {"healthchecks": {"passive": {"unhealthy": {"http_failures": 3, "tcp_failures": 2,
                                                                  "timeouts": 1}}}}


def test_round_robin_shares_follow_weights_and_interleave():
    b = Balancer(upstream(), targets(("a:1", 100), ("b:1", 50), ("c:1", 50), ("z:1", 0)))
    assert picks(b, 400) == {"a:1": 200, "b:1": 100, "c:1": 100}
    sequence = [b.select().address for _ in range(4)]
    assert sequence.count("a:1") == 2 and sequence[0] != sequence[1]


def test_retry_excludes_tried_targets():
    b = Balancer(upstream(), targets(("a:1", 100), ("b:1", 100)))
    first = b.select()
    second = b.select(exclude={first.address})
    assert second.address != first.address
    assert b.select(exclude={"a:1", "b:1"}) is None


def test_least_connections_prefers_idle_targets_per_weight():
    b = Balancer(upstream(algorithm="least-connections"), targets(("a:1", 100), ("b:1", 100), ("c:1", 200)))
    held = [b.select() for _ in range(4)]
    assert Counter(t.address for t in held) == {"a:1": 1, "b:1": 1, "c:1": 2}
    for t in held:
        if t.address != "a:1":
            b.release(t)
    assert b.select().address in ("b:1", "c:1")


def test_consistent_hashing_is_sticky_and_moves_few_keys():
    up = upstream(hash_on="header", hash_on_header="x-user", slots=1000)
    three = Balancer(up, targets(("a:1", 100), ("b:1", 100), ("c:1", 100)))
    keys = [f"user-{i}" for i in range(3000)]
    before = {k: three.select(k).address for k in keys}
    assert all(three.select(k).address == before[k] for k in keys[:200])
    shares = Counter(before.values())
    assert all(700 < n < 1300 for n in shares.values()), shares
    four = Balancer(up, targets(("a:1", 100), ("b:1", 100), ("c:1", 100), ("d:1", 100)))
    after = {k: four.select(k).address for k in keys}
    moved = [k for k in keys if before[k] != after[k]]
    assert all(after[k] == "d:1" for k in moved)
    assert 0.15 < len(moved) / len(keys) < 0.35


def test_consistent_hashing_skips_unhealthy_targets_and_falls_back_without_key():
    up = upstream(hash_on="ip", **PASSIVE_3_FAILURES)
    b = Balancer(up, targets(("a:1", 100), ("b:1", 100)))
    key = next(f"10.0.0.{i}" for i in range(256) if b.select(f"10.0.0.{i}").address == "a:1")
    b.report_passive(b.by_address["a:1"], timeout=True)
    assert b.select(key).address == "b:1"
    assert {b.select(None).address for _ in range(4)} == {"b:1"}


def test_latency_picks_the_faster_of_two():
    b = Balancer(upstream(algorithm="latency"), targets(("fast:1", 100), ("slow:1", 100)),
                 rng=random.Random(7))
    b.release(b.by_address["fast:1"], latency_ms=5, now=1.0)
    b.release(b.by_address["slow:1"], latency_ms=500, now=1.0)
    assert picks(b, 50) == {"fast:1": 50}


def test_passive_failures_take_a_target_out_until_active_or_manual_recovery():
    b = Balancer(upstream(**PASSIVE_3_FAILURES), targets(("a:1", 100), ("b:1", 100)))
    a = b.by_address["a:1"]
    for status in (500, 503):
        assert b.report_passive(a, status=status) is False
    assert b.report_passive(a, status=500) is True
    assert picks(b, 10) == {"b:1": 10}
    assert b.health_report()[0]["health"] == "UNHEALTHY"
    a.health.set_manual(True)
    assert picks(b, 10) == {"a:1": 5, "b:1": 5}


def test_no_eligible_target_or_below_threshold_means_no_peer():
    up = upstream(healthchecks={"threshold": 60, **PASSIVE_3_FAILURES["healthchecks"]})
    b = Balancer(up, targets(("a:1", 100), ("b:1", 100)))
    assert b.is_healthy()
    b.report_passive(b.by_address["a:1"], timeout=True)
    assert not b.is_healthy()
    assert b.select() is None


def test_health_is_off_without_checks_and_survives_reload():
    plain = Balancer(upstream(), targets(("a:1", 100)))
    assert plain.health_report() == [{"target": "a:1", "weight": 100, "health": "HEALTHCHECKS_OFF",
                                      "id": "00000000-0000-4000-8000-000000000000"}]
    plain.report_passive(plain.by_address["a:1"], status=500)
    assert plain.select().address == "a:1"
    checked = Balancer(upstream(**PASSIVE_3_FAILURES), targets(("a:1", 100), ("b:1", 100)))
    checked.report_passive(checked.by_address["a:1"], timeout=True)
    reloaded = Balancer(upstream(**PASSIVE_3_FAILURES), targets(("a:1", 100), ("b:1", 100), ("c:1", 100)),
                        previous=checked)
    assert [r["health"] for r in reloaded.health_report()] == ["UNHEALTHY", "HEALTHY", "HEALTHY"]


@pytest.mark.parametrize("scheme,host_header,address,expected", [
    ("http", None, "10.0.0.1:80", "10.0.0.1"),
    ("http", None, "10.0.0.1:8000", "10.0.0.1:8000"),
    ("https", None, "backend.internal:443", "backend.internal"),
    ("http", "api.internal", "10.0.0.1:8000", "api.internal:8000"),
    ("http", None, "[::1]:80", "[::1]"),
])
def test_host_header_for_targets(scheme, host_header, address, expected):
    fields = {"host_header": host_header} if host_header else {}
    b = Balancer(upstream(**fields), targets((address, 100)))
    assert b.host_header(b.targets[0], scheme) == expected


HASH_CASES = [
    ({"hash_on": "consumer"}, {"consumer_id": "c1"}, ("c1", None)),
    ({"hash_on": "ip"}, {"client_ip": "10.1.1.1"}, ("10.1.1.1", None)),
    ({"hash_on": "path"}, {"path": "/a/b"}, ("/a/b", None)),
    ({"hash_on": "header", "hash_on_header": "X-User"}, {"headers": {"x-user": "bob"}}, ("bob", None)),
    ({"hash_on": "query_arg", "hash_on_query_arg": "tenant"}, {"query": {"tenant": ["t1", "t2"]}},
     ("t1,t2", None)),
    ({"hash_on": "uri_capture", "hash_on_uri_capture": "id"}, {"uri_captures": {"id": "42"}}, ("42", None)),
    ({"hash_on": "consumer", "hash_fallback": "ip"}, {"client_ip": "10.2.2.2"}, ("10.2.2.2", None)),
    ({"hash_on": "header", "hash_on_header": "x-a", "hash_fallback": "header",
      "hash_fallback_header": "x-b"}, {"headers": {"X-B": "fb"}}, ("fb", None)),
    ({"hash_on": "cookie", "hash_on_cookie": "sticky"}, {"cookies": {"sticky": "s1"}}, ("s1", None)),
    ({"hash_on": "cookie", "hash_on_cookie": "sticky", "hash_on_cookie_path": "/app"}, {},
     ("new", "sticky=new; Path=/app")),
    ({}, {"client_ip": "10.0.0.1"}, (None, None)),
]


@pytest.mark.parametrize("fields,request_info,expected", HASH_CASES)
def test_hash_value_follows_hash_on_and_fallback(fields, request_info, expected):
    assert hash_value(upstream(**fields), new_cookie=lambda: "new", **request_info) == expected


# -- the health state machine ----------------------------------------------------------------

def policy(**hc):
    return HealthPolicy(upstream(healthchecks=hc)["healthchecks"])


ACTIVE = {"active": {"healthy": {"interval": 5, "successes": 2},
                     "unhealthy": {"interval": 1, "http_failures": 2, "tcp_failures": 1, "timeouts": 3}}}


@pytest.mark.parametrize("results,expected_states", [
    # (kind, value) steps -> health after each step
    ([("status", 500), ("status", 500)], [True, False]),
    ([("status", 500), ("status", 200), ("status", 500)], [True, True, True]),  # success resets
    ([("status", 418), ("status", 418)], [True, True]),                          # neither list
    ([("tcp", True)], [False]),
    ([("timeout", True), ("timeout", True), ("status", 500), ("timeout", True)], [True, True, True, False]),
    ([("tcp", True), ("status", 200), ("status", 302)], [False, False, True]),
    ([("tcp", True), ("status", 200), ("status", 500), ("status", 200)], [False, False, False, False]),
])
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


def test_ring_never_exceeds_slots():
    b = Balancer(upstream(hash_on="ip", slots=10), targets(("a:1", 100), ("b:1", 100), ("c:1", 100)))
    assert len(b._ring) <= 10
    assert {b.select(f"10.0.0.{i}").address for i in range(200)} == {"a:1", "b:1", "c:1"}
