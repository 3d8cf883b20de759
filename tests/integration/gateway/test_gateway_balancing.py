"""Load balancing and health over real sockets: round-robin weights, least-connections,
consistent hashing, passive ejection, active probes, manual health, and no healthy target."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from gwharness import InProcessGateway, admin, http, write_config
from tests.kits.net import wait_until
from tests.kits.standin import StandIn


def balanced_config(tmp_path, stand_ins, *, weights=None, retries=0, **upstream):
    weights = weights or [100] * len(stand_ins)
    doc = {
        "_format_version": "3.0",
        "services": [
            {
                "name": "pool",
                "host": "pool.internal",
                "port": 80,
                "retries": retries,
                "routes": [{"name": "pool", "paths": ["/"]}],
            }
        ],
        "upstreams": [
            {
                "name": "pool.internal",
                **upstream,
                "targets": [{"target": s.address, "weight": w} for s, w in zip(stand_ins, weights)],
            }
        ],
    }
    return write_config(tmp_path / "balanced.yml", doc)


@pytest.fixture
def three():
    ins = [StandIn(n).start() for n in ("a", "b", "c")]
    yield ins
    for s in ins:
        s.stop()


def names(port: int, count: int, path: str = "/x", headers=None) -> list[str]:
    return [http(port, "GET", path, headers=headers)[2]["name"] for _ in range(count)]


def health_of(gw, address: str) -> str:
    _, _, doc = admin(gw.admin_port, "GET", "/upstreams/pool.internal/health")
    return next(row["health"] for row in doc["data"] if row["target"] == address)


def test_round_robin_honours_weights(tmp_path, three):
    config = balanced_config(tmp_path, three, weights=[100, 100, 200])
    with InProcessGateway(config) as gw:
        counts = Counter(names(gw.proxy_port, 40))
    assert counts == {"a": 10, "b": 10, "c": 20}


def test_least_connections_avoids_the_busy_target(tmp_path, three):
    a, b, _ = three
    config = balanced_config(tmp_path, [a, b], algorithm="least-connections")
    with InProcessGateway(config) as gw:
        slow = threading.Thread(target=http, args=(gw.proxy_port, "GET", "/__sleep/1.5"))
        slow.start()
        busy = wait_until(lambda: next((s for s in (a, b) if s.active), None), what="a busy target")
        idle = b if busy is a else a
        got = names(gw.proxy_port, 6)
        slow.join()
    assert got == [idle.name] * 6


def test_consistent_hashing_keeps_keys_on_targets_and_moves_few_on_removal(tmp_path, three):
    config = balanced_config(
        tmp_path, three, algorithm="consistent-hashing", hash_on="header", hash_on_header="x-user"
    )
    users = [
        f"user-{i}" for i in range(300)
    ]  # enough keys that every target owns some, whatever its ring share
    with InProcessGateway(config) as gw:
        placed = {u: names(gw.proxy_port, 1, headers={"X-User": u})[0] for u in users}
        for u in users[:10]:
            assert set(names(gw.proxy_port, 3, headers={"X-User": u})) == {placed[u]}
        assert len(set(placed.values())) == 3
        status, _, _ = admin(
            gw.admin_port, "DELETE", f"/upstreams/pool.internal/targets/{three[2].address}"
        )
        assert status == 204
        moved = {u: names(gw.proxy_port, 1, headers={"X-User": u})[0] for u in users}
    for u in users:
        if placed[u] != "c":
            assert moved[u] == placed[u], u  # keys of the remaining targets stay put
        else:
            assert moved[u] in ("a", "b")


def test_passive_health_ejects_a_failing_target(tmp_path, three):
    a, b, _ = three
    a.status = 500
    passive = {"unhealthy": {"http_failures": 2, "http_statuses": [500]}}
    config = balanced_config(tmp_path, [a, b], healthchecks={"passive": passive})
    with InProcessGateway(config) as gw:
        statuses = [http(gw.proxy_port, "GET", "/x")[0] for _ in range(4)]
        assert statuses.count(500) == 2  # a answered twice, then was ejected
        assert set(names(gw.proxy_port, 6)) == {"b"}
        wait_until(lambda: health_of(gw, a.address) == "UNHEALTHY", what="a reported UNHEALTHY")
        assert health_of(gw, b.address) == "HEALTHY"


def test_a_refused_connection_is_retried_on_another_target_and_counted(tmp_path, three):
    a, b, _ = three
    a.stop()  # nothing listens on a's port any more
    passive = {"unhealthy": {"tcp_failures": 1}}
    config = balanced_config(tmp_path, [a, b], retries=2, healthchecks={"passive": passive})
    with InProcessGateway(config) as gw:
        got = [http(gw.proxy_port, "GET", "/x") for _ in range(4)]
        assert [g[0] for g in got] == [200] * 4
        assert {g[2]["name"] for g in got} == {"b"}
        wait_until(lambda: health_of(gw, a.address) == "UNHEALTHY", what="a ejected")


def test_active_checks_take_a_target_out_and_bring_it_back(tmp_path, three):
    a, b, _ = three
    active = {
        "http_path": "/health",
        "timeout": 1,
        "healthy": {"interval": 0.05, "successes": 1},
        "unhealthy": {"interval": 0.05, "http_failures": 1},
    }
    config = balanced_config(tmp_path, [a, b], healthchecks={"active": active})
    with InProcessGateway(config) as gw:
        wait_until(lambda: a.health_probes and b.health_probes, what="probes of both targets")
        a.health_status = 500
        wait_until(lambda: health_of(gw, a.address) == "UNHEALTHY", what="a probed unhealthy")
        assert set(names(gw.proxy_port, 6)) == {"b"}
        a.health_status = 200
        wait_until(lambda: health_of(gw, a.address) == "HEALTHY", what="a probed healthy again")
        assert set(names(gw.proxy_port, 6)) == {"a", "b"}


def test_manual_health_through_the_admin_api(tmp_path, three):
    a, b, _ = three
    passive = {"unhealthy": {"http_failures": 5}}  # health checks on: manual state is kept
    config = balanced_config(tmp_path, [a, b], healthchecks={"passive": passive})
    with InProcessGateway(config) as gw:
        path = f"/upstreams/pool.internal/targets/{a.address}"
        assert admin(gw.admin_port, "PUT", path + "/unhealthy")[0] == 204
        assert set(names(gw.proxy_port, 6)) == {"b"}
        assert health_of(gw, a.address) == "UNHEALTHY"
        assert admin(gw.admin_port, "PUT", path + "/healthy")[0] == 204
        assert set(names(gw.proxy_port, 6)) == {"a", "b"}


def test_no_healthy_target_is_503(tmp_path, three):
    a, b, _ = three
    passive = {"unhealthy": {"http_failures": 1}}
    config = balanced_config(tmp_path, [a, b], healthchecks={"passive": passive})
    with InProcessGateway(config) as gw:
        for s in (a, b):
            assert (
                admin(
                    gw.admin_port, "PUT", f"/upstreams/pool.internal/targets/{s.address}/unhealthy"
                )[0]
                == 204
            )
        status, _, doc = http(gw.proxy_port, "GET", "/x")
    assert status == 503
    assert doc["message"] == "failure to get a peer from the ring-balancer"
