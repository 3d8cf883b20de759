"""``carbonplane gateway start|validate`` as a user runs them: refusals before anything listens,
validation output, and Admin API exposure rules (loopback only without a token; the token
required once configured)."""

from __future__ import annotations

import json
import socket
import subprocess
import time

import pytest
from gwharness import CARBONPLANE, REPO, GatewayProcess, admin, http, write_config
from tests.kits.net import free_port
from tests.kits.standin import StandIn

BAD = """_format_version: "3.0"
services:
  - name: api
    url: http://127.0.0.1:9/
    routes:
      - name: r
        pathz: [/api]
  - name: other
    url: http://127.0.0.1:9/
    retries: many
"""


def run(*args: str, timeout: float = 60.0) -> subprocess.CompletedProcess:
    return subprocess.run(
        [CARBONPLANE, "gateway", *args], capture_output=True, text=True, timeout=timeout, cwd=REPO
    )


def refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


def test_start_with_a_bad_config_exits_at_once_naming_file_line_and_field(tmp_path):
    bad = tmp_path / "kong.yml"
    bad.write_text(BAD)
    proxy, adm = free_port(), free_port()
    started = time.monotonic()
    result = run(
        "start",
        "--config",
        str(bad),
        "--proxy-listen",
        f"127.0.0.1:{proxy}",
        "--admin-listen",
        f"127.0.0.1:{adm}",
    )
    assert result.returncode == 2
    assert time.monotonic() - started < 20
    assert "kong.yml:7: services[0].routes[0].pathz: unknown field (route 'r')" in result.stderr
    assert "kong.yml:10: services[1].retries" in result.stderr
    assert result.stdout == ""
    assert refused(proxy) and refused(adm)


def test_validate_reports_problems_and_counts(tmp_path):
    bad = tmp_path / "kong.yml"
    bad.write_text(BAD)
    result = run("validate", str(bad), "--json")
    assert result.returncode == 2
    doc = json.loads(result.stdout)
    assert doc["valid"] is False
    assert {p["where"] for p in doc["problems"]} >= {"kong.yml:7: services[0].routes[0].pathz"}
    good = run("validate", str(REPO / "platforms/254carbon/kong.yml"), "--json")
    assert good.returncode == 0, good.stderr
    counts = json.loads(good.stdout)["entities"]
    assert counts["services"] == 12 and counts["routes"] == 14
    human = run("validate", str(REPO / "platforms/254carbon/kong.yml"))
    assert human.returncode == 0 and "valid (12 services, 14 routes" in human.stdout


def test_non_loopback_admin_without_token_is_refused(tmp_path):
    config = write_config(tmp_path / "kong.yml", {"_format_version": "3.0"})
    proxy = free_port()
    result = run(
        "start",
        "--config",
        str(config),
        "--proxy-listen",
        f"127.0.0.1:{proxy}",
        "--admin-listen",
        "0.0.0.0:0",
    )
    assert result.returncode == 2
    assert "refusing to serve the Admin API on 0.0.0.0 without an admin token" in result.stderr
    assert refused(proxy)


def test_a_short_token_is_refused_beyond_loopback(tmp_path):
    config = write_config(tmp_path / "kong.yml", {"_format_version": "3.0"})
    token = tmp_path / "token"
    token.write_text("short\n")
    result = run(
        "start",
        "--config",
        str(config),
        "--admin-listen",
        "0.0.0.0:0",
        "--admin-token-file",
        str(token),
    )
    assert result.returncode == 2 and "at least 16 characters" in result.stderr


@pytest.mark.parametrize("how", ["env", "file"])
def test_with_a_token_every_admin_request_needs_it(tmp_path, how):
    up = StandIn("svc").start()
    token = "s3cret-admin-token-0123456789"
    doc = {
        "_format_version": "3.0",
        "services": [
            {"name": "svc", "url": f"http://{up.address}/", "routes": [{"paths": ["/svc"]}]}
        ],
    }
    config = write_config(tmp_path / "kong.yml", doc)
    if how == "env":
        extra, env = ["--admin-token-env", "GW_ADMIN_TOKEN"], {"GW_ADMIN_TOKEN": token}
    else:
        (tmp_path / "token").write_text(token + "\n")
        extra, env = ["--admin-token-file", str(tmp_path / "token")], {}
    try:
        with GatewayProcess(config, workers=1, extra=extra, env=env) as gw:
            status, _, body = admin(gw.admin_port, "GET", "/services")
            assert status == 401 and "Kong-Admin-Token" in body["message"]
            assert (
                admin(gw.admin_port, "GET", "/services", token="wrong-token-wrong-token")[0] == 401
            )
            assert admin(gw.admin_port, "POST", "/services", {"name": "x", "host": "h"})[0] == 401
            assert admin(gw.admin_port, "GET", "/services", token=token)[0] == 200
            assert http(gw.proxy_port, "GET", "/svc/x")[0] == 200  # the proxy needs no token
    finally:
        up.stop()


def test_the_admin_api_is_not_reachable_through_the_proxy(tmp_path):
    config = write_config(tmp_path / "kong.yml", {"_format_version": "3.0"})
    with GatewayProcess(config, workers=1) as gw:
        for path in ("/services", "/config", "/status", "/"):
            status, _, body = http(gw.proxy_port, "GET", path)
            assert status == 404 and body["message"] == "no Route matched with those values"


def test_sigterm_stops_the_gateway_cleanly(tmp_path):
    config = write_config(tmp_path / "kong.yml", {"_format_version": "3.0"})
    gw = GatewayProcess(config, workers=2).start()
    proxy, adm = gw.proxy_port, gw.admin_port
    assert gw.stop() == 0
    assert refused(proxy) and refused(adm)


def test_in_process_mode_serves_and_stops(tmp_path):
    up = StandIn("svc").start()
    doc = {
        "_format_version": "3.0",
        "services": [
            {"name": "svc", "url": f"http://{up.address}/", "routes": [{"paths": ["/svc"]}]}
        ],
    }
    try:
        gw = GatewayProcess(
            write_config(tmp_path / "kong.yml", doc), extra=["--in-process"]
        ).start()
        assert http(gw.proxy_port, "GET", "/svc/x")[2]["target"] == "/x"
        assert admin(gw.admin_port, "GET", "/status")[2]["server"]["total_requests"] == 1
        assert gw.stop() == 0
    finally:
        up.stop()
