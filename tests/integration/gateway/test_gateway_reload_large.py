"""Large configs reloaded repeatedly under load: no request fails and no worker restarts.

A thousand routes (half of them regex) and a thousand consumers with key-auth credentials are
650 kB of payload as the master sends it, against socket buffers of ~200 kB: it reaches a worker
in many pieces. Every request of a steady client load is counted; every reload must be live on
both workers when ``POST /config`` returns."""

from __future__ import annotations

import json
import time

from gwharness import GatewayProcess, LoadLoop, http, write_config
from tests.kits.net import wait_until
from tests.kits.standin import StandIn

ROUTES = 1000
CONSUMERS = 1000
RELOADS = 4


def large_config(
    up: StandIn, version: int, routes: int = ROUTES, consumers: int = CONSUMERS
) -> dict:
    """``routes`` routes in services of 100 (every other one a regex), ``consumers`` consumers
    with a key each, and ``/marker-{version}`` to tell which version answers."""
    services = [
        {
            "name": "api",
            "url": f"http://{up.address}/",
            "routes": [
                {"name": "api", "paths": ["/api"]},
                {"name": "marker", "paths": [f"/marker-{version}"]},
                {"name": "secure", "paths": ["/secure"], "plugins": [{"name": "key-auth"}]},
            ],
        }
    ]
    for s in range(0, routes, 100):
        services.append(
            {
                "name": f"svc-{s}",
                "url": f"http://{up.address}/",
                "routes": [
                    {"name": f"r{i}", "paths": [f"~/r{i}/(?<id>\\d+)$" if i % 2 else f"/p{i}/"]}
                    for i in range(s, min(s + 100, routes))
                ],
            }
        )
    return {
        "_format_version": "3.0",
        "services": services,
        "consumers": [
            {
                "username": f"user-{i}-v{version}",
                "keyauth_credentials": [{"key": f"key-{i}-{version}"}],
            }
            for i in range(consumers)
        ],
    }


def test_large_reloads_under_load_fail_no_request_and_restart_no_worker(tmp_path):
    a, b = StandIn("a").start(), StandIn("b").start()
    try:
        path = write_config(tmp_path / "kong.yml", large_config(a, 0))
        with GatewayProcess(path, workers=2) as gw:
            start = http(gw.admin_port, "GET", "/status")[2]
            before = start["server"]
            paths = ["/api/x", "/r7/123", "/p8/y", "/r999/42"]
            load = LoadLoop(gw.proxy_port, paths, connections=12, max_seconds=120).start()
            wait_until(lambda: load.ok >= 100, what="load flowing before the first reload")
            for version in range(1, RELOADS + 1):
                up = b if version % 2 else a
                body = json.dumps(large_config(up, version)).encode()
                t0 = time.monotonic()
                status, _, doc = http(
                    gw.admin_port,
                    "POST",
                    "/config",
                    body=body,
                    timeout=60,
                    headers={"content-type": "application/json"},
                )
                assert status == 201, doc
                print(f"reload {version}: {time.monotonic() - t0:.2f} s")
                for _ in range(8):  # fresh connections: both workers run it already
                    assert http(gw.proxy_port, "GET", f"/marker-{version}/x")[2]["name"] == up.name
                    assert http(gw.proxy_port, "GET", f"/marker-{version - 1}/x")[0] == 404
                    key = {"apikey": f"key-{CONSUMERS - 1}-{version}"}
                    assert http(gw.proxy_port, "GET", "/secure", headers=key)[0] == 200
                served = load.names.get(up.name, 0)
                wait_until(
                    lambda: load.names.get(up.name, 0) >= served + 50,
                    timeout=30,
                    what=f"load served by config version {version}",
                )
            load.stop()
            after = http(gw.admin_port, "GET", "/status")[2]
        assert load.failures == [], (len(load.failures), load.failures[:5])
        assert load.ok > 500
        assert after["server"]["worker_restarts"] == 0
        assert sorted(after["server"]["worker_pids"]) == sorted(before["worker_pids"])
        assert after["configuration_version"] == start["configuration_version"] + RELOADS
    finally:
        a.stop()
        b.stop()
