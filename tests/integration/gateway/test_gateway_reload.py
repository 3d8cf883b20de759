"""``POST /config`` while requests flow: every reload reaches every worker, no request fails,
and requests in flight during a reload finish on the config they started with."""

from __future__ import annotations

import json

import pytest
from gwharness import GatewayProcess, LoadLoop, StandIn, http, wait_until, write_config

RELOADS = 6


def config_for(up: StandIn, version: int) -> dict:
    return {"_format_version": "3.0", "_comment": f"version {version}", "services": [
        {"name": "api", "url": f"http://{up.address}/", "routes": [
            {"name": "api", "paths": ["/api"]},
            {"name": f"only-in-{version % 2}", "paths": [f"/only-{version % 2}"]}]}]}


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
            status, _, doc = http(gw.admin_port, "POST", "/config", body=body,
                                  headers={"content-type": "application/json"})
            assert status == 201, doc
            # POST /config returns once every worker runs the new config
            only = f"/only-{version % 2}/x"
            gone = f"/only-{(version + 1) % 2}/x"
            for _ in range(8):  # fresh connections: both workers
                assert http(gw.proxy_port, "GET", only)[2]["name"] == up.name
                assert http(gw.proxy_port, "GET", gone)[0] == 404
            served = load.names.get(up.name, 0)
            wait_until(lambda: load.names.get(up.name, 0) >= served + 30,
                       what=f"load served by config version {version}")
        load.stop()
    assert load.failures == [], load.failures[:5]
    assert load.names.get("a", 0) > 0 and load.names.get("b", 0) > 0
