"""Kong edges over real sockets: ``GET /status`` counters from the workers, ``GET /``'s Kong
version, ``host:port`` route hosts, switched-off Kong plugins in declarative files, and
``curl -F config=@kong.yml`` against the Admin API."""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
from http import client as httpclient

import pytest
import yaml
from gwharness import CARBONPLANE, GatewayProcess, InProcessGateway, admin, http, write_config
from tests.kits.net import wait_until
from tests.kits.standin import StandIn

from carbonplane import __version__


@pytest.fixture(scope="module")
def upstream():
    up = StandIn("edges").start()
    yield up
    up.stop()


def service(up: StandIn, name: str = "api", **route) -> dict:
    route = {"name": name, "paths": ["/api"], **route}
    return {"name": name, "url": f"http://127.0.0.1:{up.port}", "routes": [route]}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- GET /status -----------------------------------------------------------------------------
def test_status_counts_every_workers_connections_and_requests(upstream, tmp_path):
    path = write_config(
        tmp_path / "kong.yml", {"_format_version": "3.0", "services": [service(upstream)]}
    )
    with GatewayProcess(path, workers=2) as gw:

        def server():
            status, _, doc = admin(gw.admin_port, "GET", "/status")
            assert status == 200
            return doc["server"]

        assert wait_until(lambda: server()["connections_accepted"] == 0 or None, what="a report")
        first = server()
        assert first["total_requests"] == 0 and first["connections_active"] == 0
        assert first["workers"] == 2

        clients, per_client = 10, 40
        conns = [
            httpclient.HTTPConnection("127.0.0.1", gw.proxy_port, timeout=10)
            for _ in range(clients)
        ]
        workers: set[str] = set()
        failures: list[str] = []

        def load(conn):
            for _ in range(per_client):
                status, headers, _ = http(gw.proxy_port, "GET", "/api/x", conn=conn)
                if status != 200:
                    failures.append(str(status))
                workers.add(headers["x-kong-request-id"][:16])

        threads = [threading.Thread(target=load, args=(c,)) for c in conns]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not failures
        sent = clients * per_client

        # the connections stay open, idle: waiting
        def settled():
            s = server()
            return (
                s if s["total_requests"] == sent and s["connections_waiting"] >= clients else None
            )

        s = wait_until(settled, what=f"total_requests == {sent}")
        assert s["connections_active"] == clients
        assert s["connections_accepted"] == s["connections_handled"] == clients
        assert s["connections_reading"] == s["connections_writing"] == 0
        assert len(workers) == 2  # both workers served, and the total is theirs added up

        # one request in flight (writing) and one half-sent head (reading)
        slow = threading.Thread(target=http, args=(gw.proxy_port, "GET", "/api/__sleep/2"))
        slow.start()
        half = socket.create_connection(("127.0.0.1", gw.proxy_port))
        half.sendall(b"GET /api/x HTTP/1.1\r\nHo")
        try:
            s = wait_until(
                lambda: (
                    lambda s: (
                        s
                        if s["connections_writing"] == 1 and s["connections_reading"] == 1
                        else None
                    )
                )(server()),
                what="one writing and one reading connection",
            )
            assert s["connections_active"] == clients + 2
            assert s["connections_accepted"] == clients + 2
        finally:
            half.close()
            slow.join(10)
            for conn in conns:
                conn.close()
        s = wait_until(
            lambda: (lambda s: s if s["connections_active"] == 0 else None)(server()),
            what="all closed",
        )
        assert s["total_requests"] == sent + 1


# -- GET / -------------------------------------------------------------------------------------
def test_root_names_the_kong_admin_api_version_it_matches(upstream, tmp_path):
    path = write_config(
        tmp_path / "kong.yml", {"_format_version": "3.0", "services": [service(upstream)]}
    )
    with InProcessGateway(path) as gw:
        status, _, doc = admin(gw.admin_port, "GET", "/")
    assert status == 200 and doc["version"] == "3.9.0"
    assert doc["carbonplane_version"] == __version__


# -- hosts with a port -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def host_port_gateway(upstream, tmp_path_factory):
    port = free_port()
    doc = {
        "_format_version": "3.0",
        "services": [
            service(upstream, "on-port", hosts=[f"example.com:{port}"]),
            service(upstream, "on-80", hosts=["port80.example:80"]),
            service(upstream, "any-port", hosts=["plain.example"]),
        ],
    }
    path = write_config(tmp_path_factory.mktemp("hp") / "kong.yml", doc)
    gw = InProcessGateway(path)
    gw.settings.proxy_port = port
    with gw:
        yield gw


@pytest.mark.parametrize(
    ("host", "route"),
    [
        ("example.com", "on-port"),  # no port in Host: the port the request arrived on
        ("example.com:{port}", "on-port"),
        ("EXAMPLE.com", "on-port"),
        ("example.com:9999", None),  # the Host's port decides when it has one
        ("port80.example:80", "on-80"),
        ("port80.example", None),  # arrived on another port; no default-port guess
        ("plain.example", "any-port"),
        ("plain.example:1234", "any-port"),  # a plain host matches any port
    ],
)
def test_a_route_host_with_a_port_follows_kongs_rule(host_port_gateway, host, route):
    port = host_port_gateway.proxy_port
    status, _, doc = http(port, "GET", "/api/x", headers={"Host": host.format(port=port)})
    if route is None:
        assert status == 404
    else:
        assert status == 200 and doc["name"] == "edges"
        routed = http(port, "GET", "/api/x", headers={"Host": host.format(port=port)})
        assert routed[0] == 200


# -- declarative files: Kong plugins we do not implement -----------------------------------------
def kong_file(tmp_path, up, plugin: dict):
    doc = {"_format_version": "3.0", "services": [service(up)], "plugins": [plugin]}
    path = tmp_path / "kong.yml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def validate(path):
    return subprocess.run(
        [CARBONPLANE, "gateway", "validate", str(path)], capture_output=True, text=True, timeout=60
    )


def test_a_disabled_kong_plugin_is_kept_with_a_warning_naming_the_line(upstream, tmp_path):
    plugin = {
        "name": "session",
        "enabled": False,
        "config": {"scopes": ["email"], "mandatory_scope": True},
    }
    path = kong_file(tmp_path, upstream, plugin)
    line = path.read_text().splitlines().index("plugins:") + 2
    done = validate(path)
    assert done.returncode == 0, done.stderr
    assert f"kong.yml:{line}: plugins[0]" in done.stderr and "'session'" in done.stderr
    with InProcessGateway(path) as gw:
        status, _, doc = admin(gw.admin_port, "GET", "/plugins")
        assert status == 200
        (row,) = doc["data"]
        assert row["name"] == "session" and row["enabled"] is False
        assert row["config"] == {"scopes": ["email"], "mandatory_scope": True}
        assert http(gw.proxy_port, "GET", "/api/x")[0] == 200  # never runs
        # the Admin API accepts one switched off, and refuses to switch it on
        status, _, created = admin(
            gw.admin_port, "POST", "/plugins", {"name": "zipkin", "enabled": False}
        )
        assert status == 201, created
        status, _, doc = admin(
            gw.admin_port, "PATCH", f"/plugins/{created['id']}", {"enabled": True}
        )
        assert status == 400 and "does not implement" in str(doc)


@pytest.mark.parametrize(
    ("plugin", "says"),
    [
        (
            {"name": "session"},
            "plugin 'session' is a Kong bundled plugin this gateway does not implement",
        ),
        ({"name": "not-a-kong-plugin", "enabled": False}, "plugin 'not-a-kong-plugin' not enabled"),
        ({"name": "session", "enabled": False, "config": "x"}, "expected a record"),
    ],
)
def test_enabled_or_unknown_plugins_are_refused(upstream, tmp_path, plugin, says):
    done = validate(kong_file(tmp_path, upstream, plugin))
    assert done.returncode == 2 and says in done.stderr and "kong.yml:" in done.stderr


# -- curl -F config=@kong.yml -------------------------------------------------------------------
def test_curl_form_upload_replaces_the_config(upstream, tmp_path):
    curl = shutil.which("curl")
    if curl is None:
        pytest.skip("curl is not installed (apt-get install curl)")
    start = write_config(
        tmp_path / "start.yml", {"_format_version": "3.0", "services": [service(upstream)]}
    )
    new = write_config(
        tmp_path / "kong.yml",
        {"_format_version": "3.0", "services": [service(upstream, "uploaded")]},
    )
    with InProcessGateway(start) as gw:
        done = subprocess.run(
            [
                curl,
                "-sS",
                "-o",
                "-",
                "-w",
                "\n%{http_code}",
                "-F",
                f"config=@{new}",
                f"http://127.0.0.1:{gw.admin_port}/config",
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert done.stdout.rsplit("\n", 1)[1] == "201", done.stdout + done.stderr
        _, _, doc = admin(gw.admin_port, "GET", "/services")
        assert [s["name"] for s in doc["data"]] == ["uploaded"]
        deadline = time.monotonic() + 10
        while http(gw.proxy_port, "GET", "/api/x")[0] != 200 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert http(gw.proxy_port, "GET", "/api/x")[0] == 200
