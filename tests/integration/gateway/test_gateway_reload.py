"""``POST /config`` while requests flow: every reload reaches every worker, no request fails,
and requests in flight during a reload finish on the config they started with."""

from __future__ import annotations

import json
import os
import signal

import pytest
from gwharness import GatewayProcess, LoadLoop, http, write_config
from tests.kits.net import wait_until
from tests.kits.standin import StandIn

RELOADS = 6


def config_for(up: StandIn, version: int) -> dict:
    return {
        "_format_version": "3.0",
        "_comment": f"version {version}",
        "services": [
            {
                "name": "api",
                "url": f"http://{up.address}/",
                "routes": [
                    {"name": "api", "paths": ["/api"]},
                    {"name": f"only-in-{version % 2}", "paths": [f"/only-{version % 2}"]},
                ],
            }
        ],
    }


@pytest.fixture
def pair():
    a, b = StandIn("a").start(), StandIn("b").start()
    yield a, b
    a.stop()
    b.stop()


def test_reloads_under_load_drop_nothing(tmp_path, pair):
    a, b = pair
    config = write_config(tmp_path / "kong.yml", config_for(a, 0))
    with GatewayProcess(config, workers=2) as gw:
        # one in ten requests takes 200 ms; each reload waits for one in flight, and for the
        # load to be served by the new version before the next reload
        paths = ["/api/x"] * 9 + ["/api/__sleep/0.2"]
        load = LoadLoop(gw.proxy_port, paths, connections=12, max_seconds=60).start()
        wait_until(lambda: load.ok >= 50, what="load flowing before the first reload")
        for version in range(1, RELOADS + 1):
            up = b if version % 2 else a
            wait_until(lambda: a.active + b.active > 0, what="a request in flight")
            body = json.dumps(config_for(up, version)).encode()
            status, _, doc = http(
                gw.admin_port,
                "POST",
                "/config",
                body=body,
                headers={"content-type": "application/json"},
            )
            assert status == 201, doc
            # POST /config returns once every worker runs the new config
            only = f"/only-{version % 2}/x"
            gone = f"/only-{(version + 1) % 2}/x"
            for _ in range(8):  # fresh connections: both workers
                assert http(gw.proxy_port, "GET", only)[2]["name"] == up.name
                assert http(gw.proxy_port, "GET", gone)[0] == 404
            served = load.names.get(up.name, 0)
            wait_until(
                lambda: load.names.get(up.name, 0) >= served + 30,
                what=f"load served by config version {version}",
            )
        load.stop()
    assert load.failures == [], load.failures[:5]
    assert load.names.get("a", 0) > 0 and load.names.get("b", 0) > 0


def test_a_restarted_worker_runs_the_latest_config(tmp_path, pair):
    a, b = pair
    config = write_config(tmp_path / "kong.yml", config_for(a, 0))
    with GatewayProcess(config, workers=2) as gw:
        body = json.dumps(config_for(b, 1)).encode()
        assert (
            http(
                gw.admin_port,
                "POST",
                "/config",
                body=body,
                headers={"content-type": "application/json"},
            )[0]
            == 201
        )
        _, _, status = http(gw.admin_port, "GET", "/status")
        victim = status["server"]["worker_pids"][0]
        os.kill(victim, signal.SIGKILL)  # a worker this test's gateway started

        def replaced():
            server = http(gw.admin_port, "GET", "/status")[2]["server"]
            pids = server["worker_pids"]
            return server["worker_restarts"] == 1 and len(pids) == 2 and victim not in pids

        wait_until(replaced, what="the killed worker to be replaced")
        seen = set()
        for _ in range(24):  # fresh connections reach both workers, the new one included
            status_code, headers, doc = http(gw.proxy_port, "GET", "/only-1/x")
            assert status_code == 200 and doc["name"] == "b"
            seen.add(headers["x-kong-request-id"][:16])
        assert len(seen) == 2
