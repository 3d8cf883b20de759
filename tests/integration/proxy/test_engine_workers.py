"""Worker processes share one port (SO_REUSEPORT) and every config change reaches all of them."""

from __future__ import annotations

import asyncio
import json
import os
import signal

import pytest
from enginekit import exchange, get, run, stand_in

from carbonplane.errors import ConfigError
from carbonplane.proxy.supervisor import Supervisor

FACTORY = "carbonplane.proxy.static:config_from_json"


def payload(port: int) -> bytes:
    return json.dumps(
        {"routes": {"/": f"127.0.0.1:{port}"}, "upstream": {"read_timeout": 10}}
    ).encode()


def worker_of(response) -> bytes:
    """The 16-hex prefix of X-Request-Id is per process (random + pid)."""
    return response.get(b"x-carbonplane-request-id")[:16]


async def spread(port: int, n: int = 40) -> list:
    return await asyncio.gather(*(exchange(port, get(b"/echo?n=%d" % i)) for i in range(n)))


@pytest.fixture
def supervisor_factory():
    started = []

    def make(upstream_port: int, workers: int = 2) -> Supervisor:
        sup = Supervisor("127.0.0.1", 0, FACTORY, payload(upstream_port), workers=workers, drain=2)
        started.append(sup)
        return sup

    yield make
    for sup in started:
        sup.stop(drain=1)


def test_workers_share_the_port(supervisor_factory):
    async def scenario():
        async with stand_in() as up:
            sup = supervisor_factory(up.port)
            loop = asyncio.get_running_loop()
            port = await loop.run_in_executor(None, sup.start)
            assert len(set(sup.pids)) == 2 and os.getpid() not in sup.pids
            responses = await spread(port)
            assert all(r.status == 200 for r in responses)
            assert len({worker_of(r) for r in responses}) == 2  # both workers answered

    run(scenario())


def test_config_change_reaches_every_worker_without_dropping_in_flight_requests(supervisor_factory):
    async def scenario():
        async with stand_in() as old, stand_in() as new:
            sup = supervisor_factory(old.port)
            loop = asyncio.get_running_loop()
            port = await loop.run_in_executor(None, sup.start)
            in_flight = [
                asyncio.ensure_future(exchange(port, get(b"/slow/400?i=%d" % i))) for i in range(6)
            ]
            await old.wait_requests(6)  # all six are at the upstream, waiting for their answers
            version = await loop.run_in_executor(None, sup.publish, payload(new.port))
            await loop.run_in_executor(None, sup.wait_applied, version)
            assert all(r.status == 200 for r in await asyncio.gather(*in_flight))
            responses = await spread(port)
            assert all(r.status == 200 for r in responses)
            assert len(new.requests) == 40 and len(old.requests) == 6
            assert len({worker_of(r) for r in responses}) == 2

    run(scenario())


def test_invalid_config_is_refused_before_any_worker_sees_it(supervisor_factory):
    async def scenario():
        async with stand_in() as up:
            sup = supervisor_factory(up.port)
            loop = asyncio.get_running_loop()
            port = await loop.run_in_executor(None, sup.start)
            with pytest.raises(ConfigError):
                sup.publish(b'{"routes": {"nope": "127.0.0.1:1"}}')
            assert sup.version == 0
            assert all(r.status == 200 for r in await spread(port, 10))

    run(scenario())


def test_a_killed_worker_is_replaced_with_the_latest_config(supervisor_factory):
    async def scenario():
        async with stand_in() as old, stand_in() as new:
            sup = supervisor_factory(old.port)
            loop = asyncio.get_running_loop()
            port = await loop.run_in_executor(None, sup.start)
            version = sup.publish(payload(new.port))
            await loop.run_in_executor(None, sup.wait_applied, version)
            victim = sup.pids[0]
            os.kill(victim, signal.SIGKILL)
            replaced = await loop.run_in_executor(
                None,
                sup.wait_until,
                lambda s: s.restarts == 1 and len(s.pids) == 2 and victim not in s.pids,
            )
            assert replaced and sup.restarts == 1 and victim not in sup.pids and len(sup.pids) == 2
            old.requests.clear()
            responses = await spread(port)
            assert all(r.status == 200 for r in responses) and old.requests == []

    run(scenario())


def test_a_second_server_on_a_served_port_refuses_to_start(supervisor_factory):
    """SO_REUSEPORT would let a second server join the port and take part of its traffic."""

    async def scenario():
        async with stand_in() as up:
            first = supervisor_factory(up.port, workers=1)
            loop = asyncio.get_running_loop()
            port = await loop.run_in_executor(None, first.start)
            with pytest.raises(ConfigError, match=f"127.0.0.1:{port} is already in use"):
                Supervisor("127.0.0.1", port, FACTORY, payload(up.port), workers=1)
            assert (await exchange(port, get(b"/echo"))).status == 200  # the first still serves
            first.stop(drain=1)
            # once it stopped, the port is free again (its connections' TIME_WAIT do not count)
            second = Supervisor("127.0.0.1", port, FACTORY, payload(up.port), workers=1)
            try:
                assert await loop.run_in_executor(None, second.start) == port
                assert (await exchange(port, get(b"/echo"))).status == 200
            finally:
                second.stop(drain=1)

    run(scenario())
