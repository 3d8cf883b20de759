"""The balance layer: shares follow weights, least-connections follows load, consistent hashing
is sticky and moves few keys, unhealthy targets are skipped, and health survives a reload.

Upstreams and targets are written as Kong entities and translated by the gateway's
``balancer_for`` (the defaults of every field come from Kong's schema)."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from carbonplane.gateway.config.entities import validate_entity
from carbonplane.gateway.runtime.balancing import balancer_for as Balancer
from carbonplane.http.model import RequestHead
from carbonplane.proxy.app import Client, RequestContext
from carbonplane.proxy.layers import balance

UPSTREAM_ID = "4a2f0c63-3b5e-4f4e-9a43-6b7f4b2b9f10"


def upstream(**fields):
    up, problems = validate_entity("upstreams", {"name": "pool.internal", **fields})
    assert problems == []
    return up


def targets(*specs):
    out = []
    for i, (address, weight) in enumerate(specs):
        t, problems = validate_entity(
            "targets", {"target": address, "weight": weight, "upstream": {"id": UPSTREAM_ID}}
        )
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


PASSIVE_3_FAILURES = {
    "healthchecks": {
        "passive": {"unhealthy": {"http_failures": 3, "tcp_failures": 2, "timeouts": 1}}
    }
}


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
    b = Balancer(
        upstream(algorithm="least-connections"), targets(("a:1", 100), ("b:1", 100), ("c:1", 200))
    )
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
    b = Balancer(
        upstream(algorithm="latency"),
        targets(("fast:1", 100), ("slow:1", 100)),
        rng=random.Random(7),
    )
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
    assert plain.health_report() == [
        {
            "target": "a:1",
            "weight": 100,
            "health": "HEALTHCHECKS_OFF",
            "id": "00000000-0000-4000-8000-000000000000",
        }
    ]
    plain.report_passive(plain.by_address["a:1"], status=500)
    assert plain.select().address == "a:1"
    checked = Balancer(upstream(**PASSIVE_3_FAILURES), targets(("a:1", 100), ("b:1", 100)))
    checked.report_passive(checked.by_address["a:1"], timeout=True)
    reloaded = Balancer(
        upstream(**PASSIVE_3_FAILURES),
        targets(("a:1", 100), ("b:1", 100), ("c:1", 100)),
        previous=checked,
    )
    assert [r["health"] for r in reloaded.health_report()] == ["UNHEALTHY", "HEALTHY", "HEALTHY"]


@pytest.mark.parametrize(
    "scheme,host_header,address,expected",
    [
        ("http", None, "10.0.0.1:80", "10.0.0.1"),
        ("http", None, "10.0.0.1:8000", "10.0.0.1:8000"),
        ("https", None, "backend.internal:443", "backend.internal"),
        ("http", "api.internal", "10.0.0.1:8000", "api.internal:8000"),
        ("http", None, "[::1]:80", "[::1]"),
    ],
)
def test_host_header_for_targets(scheme, host_header, address, expected):
    fields = {"host_header": host_header} if host_header else {}
    b = Balancer(upstream(**fields), targets((address, 100)))
    assert b.host_header(b.targets[0], scheme) == expected


def test_ring_never_exceeds_slots():
    b = Balancer(
        upstream(hash_on="ip", slots=10), targets(("a:1", 100), ("b:1", 100), ("c:1", 100))
    )
    assert len(b._ring) <= 10
    assert {b.select(f"10.0.0.{i}").address for i in range(200)} == {"a:1", "b:1", "c:1"}


def test_unknown_algorithm_is_refused_naming_the_balancer():
    with pytest.raises(ValueError, match="'pool.internal': unknown algorithm 'random'"):
        balance.Balancer("pool.internal", "random", [], Balancer(upstream(), []).policy)


# -- the engine's picker over a balancer ------------------------------------------------------


def context():
    head = RequestHead(b"GET", b"/x", b"/x", b"", b"1.1", [], b"gw")
    return RequestContext(
        head, Client("10.0.0.9", 5000, False, b"http", 8000), "10.0.0.9", b"rid", 0.0, 0
    )


def test_picker_avoids_tried_targets_and_feeds_passive_health():
    b = Balancer(upstream(**PASSIVE_3_FAILURES), targets(("a:1", 100), ("b:1", 100)))
    flips = []
    picker = balance.BalancedPicker(b, "http", on_health_change=lambda bal, t: flips.append(t))
    ctx = context()
    first = picker.pick(ctx)
    picker.release(ctx, first, 0, "connect")  # a failed connect: a TCP failure, remembered
    assert ctx.vars[balance.TRIED] == {first.address}
    second = picker.pick(ctx)
    assert second.address != first.address  # the retry goes elsewhere
    picker.release(ctx, second, 200, None)
    picker.release(ctx, picker.pick(context()), 0, None)  # no answer: nothing learnt
    assert [t.active for t in b.targets] == [0, 0]
    assert flips == []
    third = picker.pick(ctx2 := context())
    picker.release(ctx2, third, 0, "connect" if third is first else "timeout")
    assert flips and not flips[0].health.healthy  # tcp_failures 2 or timeouts 1 reached
    assert picker.host_header(first) == first.address.encode()


def test_picker_asks_for_a_hash_key_only_when_hashing():
    asked = []

    def key(ctx):
        asked.append(ctx)
        return "k"

    hashing = Balancer(
        upstream(algorithm="consistent-hashing", hash_on="ip"), targets(("a:1", 100), ("b:1", 100))
    )
    plain = Balancer(upstream(), targets(("a:1", 100)))
    ctx = context()
    picks_of_key = {
        balance.BalancedPicker(hashing, "http", key).pick(ctx).address for _ in range(20)
    }
    assert len(picks_of_key) == 1 and len(asked) == 20
    balance.BalancedPicker(plain, "http", key).pick(ctx)
    assert len(asked) == 20
