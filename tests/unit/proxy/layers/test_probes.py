"""The active health checker over real loopback sockets: an answering target that turns to 500
is taken out after the unhealthy threshold and brought back after the healthy one; a refused
connection counts as a TCP failure; a target that never answers counts as a timeout; probes
carry the configured path, Host and headers."""

from __future__ import annotations

import asyncio
import socket

from carbonplane.proxy.layers.balance import Balancer, TargetSpec
from carbonplane.proxy.layers.health import HealthPolicy
from carbonplane.proxy.layers.probes import ActiveHealthChecker


def policy(interval=0.05, timeout=0.5, **unhealthy):
    rules = {"http_failures": 2, "tcp_failures": 1, "timeouts": 1, **unhealthy}
    return HealthPolicy(
        {
            "active": {
                "type": "http",
                "timeout": timeout,
                "http_path": "/healthz",
                "headers": {"x-probe": ["yes"]},
                "concurrency": 2,
                "healthy": {"interval": interval, "successes": 2, "http_statuses": [200]},
                "unhealthy": {"interval": interval, "http_statuses": [500], **rules},
            },
            "passive": {
                "healthy": {"successes": 0, "http_statuses": []},
                "unhealthy": {
                    "http_failures": 0,
                    "tcp_failures": 0,
                    "timeouts": 0,
                    "http_statuses": [],
                },
            },
            "threshold": 0,
        }
    )


def balancer(port, pol):
    spec = TargetSpec(f"127.0.0.1:{port}", "127.0.0.1", port, 100, "t1")
    return Balancer("pool", "round-robin", [spec], pol, host_header="svc.internal")


async def wait_for(predicate, seconds=5.0):
    deadline = asyncio.get_running_loop().time() + seconds
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


def test_http_probes_take_a_failing_target_out_and_bring_it_back():
    async def scenario():
        state = {"status": 200, "requests": []}

        async def handle(reader, writer):
            head = await reader.readuntil(b"\r\n\r\n")
            state["requests"].append(head)
            code = state["status"]
            writer.write(b"HTTP/1.1 %d X\r\ncontent-length: 0\r\n\r\n" % code)
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        b = balancer(port, policy())
        flips = []
        checker = ActiveHealthChecker(lambda bal, t: flips.append(t.health.healthy))
        checker.update({"pool": b})
        target = b.targets[0]
        try:
            await wait_for(lambda: len(state["requests"]) >= 2)
            assert target.health.healthy and flips == []
            state["status"] = 500
            await wait_for(lambda: not target.health.healthy)
            assert b.select() is None  # out of rotation
            state["status"] = 200
            await wait_for(lambda: target.health.healthy)
            assert flips == [False, True]
            head = state["requests"][0]
            assert head.startswith(b"GET /healthz HTTP/1.1\r\n")
            assert b"Host: svc.internal:%d\r\n" % port in head
            assert b"x-probe: yes\r\n" in head
        finally:
            checker.close()
            server.close()
            await server.wait_closed()

    asyncio.run(scenario())


def test_a_refused_connection_is_a_tcp_failure():
    async def scenario():
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]  # closed again: nothing listens
        b = balancer(port, policy())
        checker = ActiveHealthChecker()
        checker.update({"pool": b})
        try:
            await wait_for(lambda: not b.targets[0].health.healthy)
        finally:
            checker.close()

    asyncio.run(scenario())


def test_a_silent_target_is_a_timeout():
    async def scenario():
        hold = asyncio.Event()

        async def handle(reader, writer):
            await hold.wait()  # accept, never answer
            writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        b = balancer(port, policy(timeout=0.1, tcp_failures=0, http_failures=0))
        checker = ActiveHealthChecker()
        checker.update({"pool": b})
        try:
            await wait_for(lambda: not b.targets[0].health.healthy)
            assert checker.probes >= 1
        finally:
            hold.set()
            checker.close()
            server.close()
            await server.wait_closed()

    asyncio.run(scenario())
