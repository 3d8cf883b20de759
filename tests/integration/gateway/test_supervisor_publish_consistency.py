"""``Supervisor.apply`` with real worker processes: payloads of any size arrive whole, and a
failed publish leaves every worker on the config the caller still has.

Cases: a 24 MB payload published repeatedly; workers that reject a config; a config that kills
every worker that takes it (at start too); a worker killed while a payload is being sent to it;
two publishes racing. After each, ``sup.payload`` is what every worker runs (checked over HTTP
through both workers)."""

from __future__ import annotations

import os
import signal
import threading

import pytest
from gwharness import http
from publishkit import FACTORY, payload
from tests.kits.net import wait_until
from tests.kits.standin import StandIn

from carbonplane.errors import ConfigError
from carbonplane.proxy.supervisor import Supervisor


@pytest.fixture
def up():
    stand_in = StandIn("up").start()
    yield stand_in
    stand_in.stop()


@pytest.fixture
def sup(up):
    supervisor = Supervisor(
        "127.0.0.1", 0, FACTORY, payload({"/v0": up.address}), workers=2, drain=1
    )
    supervisor.start()
    yield supervisor
    supervisor.stop(drain=1)


def runs(sup: Supervisor, prefix: str, absent: tuple[str, ...] = ()) -> None:
    """Every worker serves ``prefix`` and none of ``absent`` (fresh connections reach both)."""
    for _ in range(10):
        assert http(sup.port, "GET", f"{prefix}/x")[0] == 200, prefix
        for gone in absent:
            assert http(sup.port, "GET", f"{gone}/x")[0] == 404, gone


def settled(sup: Supervisor) -> bool:
    return len(sup.pids) == sup.count and all(w.applied >= sup.version for w in sup._workers)


def test_a_24_mb_payload_arrives_whole_every_time(sup, up):
    for n in range(1, 4):
        sup.apply(payload({f"/v{n}": up.address}, pad=24_000_000), timeout=60)
        runs(sup, f"/v{n}", (f"/v{n - 1}",))
    assert sup.restarts == 0


def test_workers_rejecting_a_config_are_put_back_on_the_previous_one(sup, up):
    sup.apply(payload({"/v1": up.address}))
    before = sup.pids
    with pytest.raises(ConfigError, match="rejected"):
        sup.apply(payload({"/v2": up.address}, reject=True))
    assert b"/v1" in sup.payload
    assert wait_until(lambda: settled(sup))
    runs(sup, "/v1", ("/v2",))
    assert sup.pids == before and sup.restarts == 0


def test_a_config_that_kills_workers_is_rolled_back_and_they_come_back(sup, up):
    sup.apply(payload({"/v1": up.address}))
    with pytest.raises(ConfigError):
        sup.apply(payload({"/v2": up.address}, die=True), timeout=5)
    assert b"/v1" in sup.payload and b'die": false' in sup.payload
    wait_until(lambda: settled(sup), timeout=60, what="workers back on the previous config")
    assert sup.restarts >= 2
    runs(sup, "/v1", ("/v2",))


def test_a_worker_killed_during_a_publish_is_replaced_on_the_new_config(sup, up):
    for n in range(1, 4):
        victim = sup.pids[0]
        timer = threading.Timer(0.05, os.kill, (victim, signal.SIGKILL))  # our own worker
        timer.start()
        sup.apply(payload({f"/v{n}": up.address}, pad=8_000_000), timeout=60)
        timer.join()
        wait_until(
            lambda: victim not in sup.pids and settled(sup),
            timeout=60,
            what="the killed worker replaced",
        )
        runs(sup, f"/v{n}", (f"/v{n - 1}",))
    assert sup.restarts == 3


def test_racing_publishes_end_on_the_last_one_everywhere(sup, up):
    errors: list[BaseException] = []

    def publish(n: int) -> None:
        try:
            sup.apply(payload({f"/v{n}": up.address}, pad=2_000_000), timeout=60)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=publish, args=(n,)) for n in range(1, 7)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    assert sup.version == 6 and settled(sup)
    last = next(n for n in range(1, 7) if f'"/v{n}"'.encode() in sup.payload)
    runs(sup, f"/v{last}", tuple(f"/v{n}" for n in range(1, 7) if n != last))
    assert sup.restarts == 0


def test_frames_written_a_byte_at_a_time_arrive_whole_and_in_order():
    """The channel on its own: a reader that sees every possible split of the frames."""
    import select
    import socket as sockets
    import time

    from carbonplane.proxy.channel import FrameBuffer, encode, read_available

    left, right = sockets.socketpair()
    right.setblocking(False)
    messages = [("config", n, b"p" * (n * 997)) for n in range(1, 8)]
    data = b"".join(encode(m) for m in messages)

    def trickle() -> None:
        i = 0
        while i < len(data):
            step = 1 + i % 7  # pieces of 1-7 bytes: every header and body split
            left.sendall(data[i : i + step])
            i += step
        left.close()

    writer = threading.Thread(target=trickle)
    writer.start()
    frames, got, closed = FrameBuffer(), [], False
    deadline = time.monotonic() + 30
    while not closed and time.monotonic() < deadline:
        select.select([right], [], [], 1.0)
        batch, closed = read_available(right, frames)
        got += batch
    writer.join()
    right.close()
    assert got == messages and closed and frames.pending == 0
