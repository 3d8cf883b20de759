"""Plugin resolution by the running gateway: Kong's precedence and consumer timing seen on the
wire, global plugins on a 404, and a reload retiring (closing) the previous version's handlers."""

from __future__ import annotations

import gc
import socket
import weakref

import pytest
from gwharness import InProcessGateway, admin, http, write_config
from tests.kits.net import wait_until
from tests.kits.standin import StandIn, header

from carbonplane.gateway.runtime.worker import WorkerState


def add_header(name: str, value: str) -> dict:
    return {"add": {"headers": [f"{name}:{value}"]}}


def resolution_config(up: StandIn) -> dict:
    return {
        "_format_version": "3.0",
        "services": [
            {
                "name": "svc",
                "url": f"http://{up.address}/",
                "routes": [
                    {"name": "open", "paths": ["/open"]},
                    {
                        "name": "locked",
                        "paths": ["/locked"],
                        "plugins": [
                            {"name": "key-auth"},
                            {
                                "name": "request-transformer",
                                "config": add_header("x-tier", "route"),
                            },
                        ],
                    },
                ],
            }
        ],
        "consumers": [
            {"username": "alice", "keyauth_credentials": [{"key": "alice-key-0123456789"}]},
            {"username": "bob", "keyauth_credentials": [{"key": "bob-key-0123456789"}]},
        ],
        "plugins": [
            {"name": "request-transformer", "config": add_header("x-tier", "global")},
            {"name": "response-transformer", "config": add_header("x-gateway", "carbonplane")},
            # consumer-scoped, with a route: level 2 beats the route-level instance (level 6)
            {
                "name": "request-transformer",
                "consumer": "alice",
                "route": "locked",
                "config": add_header("x-tier", "alice-on-locked"),
            },
            # consumer-only (level 5): beats route (6) and global (8)
            {
                "name": "request-transformer",
                "consumer": "bob",
                "config": add_header("x-tier", "bob"),
            },
            # a body hook (on_request_body) chosen per consumer: alice may send 1 KiB at most
            {
                "name": "request-size-limiting",
                "consumer": "alice",
                "config": {"allowed_payload_size": 1, "size_unit": "kilobytes"},
            },
            # runs before any auth plugin (priority 100001): a consumer is never known yet
            {
                "name": "correlation-id",
                "consumer": "alice",
                "config": {"header_name": "x-alice-correlation"},
            },
        ],
    }


@pytest.fixture
def gw(tmp_path):
    up = StandIn("svc").start()
    with InProcessGateway(write_config(tmp_path / "kong.yml", resolution_config(up))) as gateway:
        yield gateway
    up.stop()


def tier(gw, path: str, key: str | None = None) -> tuple[int, str | None, dict]:
    status, headers, doc = http(
        gw.proxy_port, "GET", path, headers={"apikey": key} if key else None
    )
    return status, header(doc, "x-tier") if status == 200 else None, doc


def test_most_specific_instance_wins_per_request(gw):
    assert tier(gw, "/open/x")[:2] == (200, "global")
    assert tier(gw, "/locked/x")[0] == 401
    assert tier(gw, "/locked/x", "alice-key-0123456789")[:2] == (200, "alice-on-locked")
    assert tier(gw, "/locked/x", "bob-key-0123456789")[:2] == (200, "bob")


def test_consumer_scoped_plugins_above_the_auth_priority_never_apply(gw):
    _, _, doc = tier(gw, "/locked/x", "alice-key-0123456789")
    assert header(doc, "x-alice-correlation") is None


def test_global_plugins_run_on_the_404(gw):
    status, headers, doc = http(gw.proxy_port, "GET", "/missing")
    assert status == 404 and doc["message"] == "no Route matched with those values"
    assert headers["x-gateway"] == "carbonplane"


def test_a_reload_closes_the_previous_versions_handlers_once_unused(gw):
    old = gw.call(lambda: WorkerState._instance.app)
    closed = []
    for handler in old.chains.handlers.values():
        handler.close = lambda h=handler: closed.append(h.NAME)  # observe the retirement
    old_ref = weakref.ref(old)
    del old
    status, _, _ = admin(gw.admin_port, "POST", "/consumers", {"username": "carol"})
    assert status == 201
    http(gw.proxy_port, "GET", "/open/x")  # a request on the new version; its connection closes
    gw.call(gc.collect)
    wait_until(lambda: old_ref() is None, what="the previous app to be released")
    assert sorted(closed) == sorted(
        [
            "correlation-id",
            "key-auth",
            "request-size-limiting",
            "request-transformer",
            "request-transformer",
            "request-transformer",
            "request-transformer",
            "response-transformer",
        ]
    )
    assert tier(gw, "/open/x")[:2] == (200, "global")  # the new version's handlers serve


def post_chunked(port: int, path: str, key: str, size: int) -> int:
    """POST ``size`` bytes in 512-byte chunks (Transfer-Encoding: chunked); the status."""
    head = (
        f"POST {path} HTTP/1.1\r\nHost: gw\r\napikey: {key}\r\n"
        "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    ).encode()
    body = b"".join(b"200\r\n" + b"x" * 512 + b"\r\n" for _ in range(size // 512)) + b"0\r\n\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head)
        try:
            sock.sendall(body)
        except OSError:  # the gateway answered and closed before reading everything
            pass
        reply = b""
        while b"\r\n" not in reply:
            chunk = sock.recv(4096)
            if not chunk:
                break
            reply += chunk
    return int(reply.split(b" ", 2)[1])


def test_a_consumer_scoped_body_hook_applies_to_that_consumer_only(gw):
    assert post_chunked(gw.proxy_port, "/locked/upload", "alice-key-0123456789", 4096) == 413
    assert post_chunked(gw.proxy_port, "/locked/upload", "alice-key-0123456789", 512) == 200
    assert post_chunked(gw.proxy_port, "/locked/upload", "bob-key-0123456789", 4096) == 200
