"""``SpoolRoute``: the switch between Kafka, the spool and the hand-back hold.

The writer here is a list (what ``SpoolWriter.hand_over`` receives, in order); the switch itself is
the real one, driven from two real threads in the race test.
"""

from __future__ import annotations

import threading
import time

from carbonplane.events.backends.kafka_route import DIRECT, HOLD, RELEASE, SPOOL, SpoolRoute
from carbonplane.events.backends.spool import SpooledRecord


def _route(**kw) -> tuple[SpoolRoute, list[int]]:
    written: list[int] = []
    route = SpoolRoute(lambda record, cb, started: written.append(int(record.value)), **kw)
    return route, written


def _rec(seq: int) -> SpooledRecord:
    return SpooledRecord("t", b"%d" % seq)


def test_direct_takes_nothing_spool_hands_over_with_the_reason():
    route, written = _route()
    assert not route.divert(_rec(0), None, 0.0) and route.state == DIRECT
    assert route.to_spool("broker unreachable: x") and not route.to_spool("again")
    r = _rec(1)
    assert route.divert(r, None, 0.0) and written == [1] and r.reason == "broker unreachable: x"
    assert route.routing and len(route) == 0


def test_a_finished_hold_releases_in_order_and_goes_direct():
    route, written = _route()
    route.to_spool("down")
    route.divert(_rec(0), None, 0.0)
    assert route.begin_hold() and route.state == HOLD and not route.begin_hold()
    for seq in range(1, 6):
        assert route.divert(_rec(seq), None, 0.0)
    assert written == [0] and len(route) == 5  # held: neither written nor reported
    assert route.finish_hold() and route.state == RELEASE and route.handbacks == 1
    assert route.divert(
        _rec(6), None, 0.0
    )  # until the producer takes the released ones: behind them
    assert [int(r.value) for r, _, _ in route.take_released()] == [1, 2, 3, 4, 5, 6]
    assert route.state == DIRECT and route.take_released() == [] and len(route) == 0
    assert not route.divert(_rec(7), None, 0.0)


def test_an_aborted_hold_spools_the_held_records_before_newer_ones():
    route, written = _route()
    route.to_spool("down")
    route.begin_hold()
    for seq in range(3):
        route.divert(_rec(seq), None, 0.0)
    route.abort_hold("tail failed")
    assert route.state == SPOOL and written == [0, 1, 2] and not route.finish_hold()
    route.divert(_rec(3), None, 0.0)
    assert written == [0, 1, 2, 3] and route.take_released() == []


def test_a_full_hold_gives_up_into_the_spool_keeping_order():
    route, written = _route(max_held=3)
    route.to_spool("down")
    route.begin_hold()
    for seq in range(5):
        assert route.divert(_rec(seq), None, 0.0)
    assert route.state == SPOOL and written == [0, 1, 2, 3, 4]


def test_a_fatal_producer_is_never_handed_back():
    route, written = _route()
    route.to_spool("down")
    route.fatal = "fatal: open a new producer"
    assert not route.begin_hold()
    route.fatal = None
    route.begin_hold()
    route.divert(_rec(0), None, 0.0)
    route.fatal = "fatal"
    assert not route.finish_hold() and route.state == SPOOL and written == [0]


def test_close_spools_released_records_not_yet_sent():
    route, written = _route()
    route.to_spool("down")
    route.begin_hold()
    route.divert(_rec(0), None, 0.0)
    route.finish_hold()
    route.spool_released("closing")
    assert written == [0] and len(route) == 0 and route.state == SPOOL


def test_racing_switches_keep_every_record_once_and_in_order():
    """One thread produces 20,000 records (taking released ones first, as the producer does);
    another flips SPOOL -> HOLD -> DIRECT/SPOOL as fast as it can. The records must come out,
    across the spool and Kafka, exactly once each, and the spool's part in order before Kafka's
    part at every hand-back."""
    route, written = _route()
    sent: list[int] = []  # what the producer thread enqueued to "Kafka"
    stop = threading.Event()
    route.to_spool("down")

    def switcher() -> None:
        flip = 0
        while not stop.is_set():
            flip += 1
            time.sleep(0)  # let the producer thread in between any two switches
            if route.begin_hold():
                if flip % 3:
                    route.finish_hold()
                else:
                    route.abort_hold("tail failed")
            elif route.state == DIRECT:
                route.to_spool("down again")

    t = threading.Thread(target=switcher)
    t.start()
    try:
        for seq in range(20_000):
            sent.extend(int(r.value) for r, _, _ in route.take_released())
            if not route.divert(_rec(seq), None, 0.0):
                sent.append(seq)
            if seq % 20 == 0:
                time.sleep(0)
    finally:
        stop.set()
        t.join()
    route.abort_hold("end")
    sent.extend(int(r.value) for r, _, _ in route.take_released())
    assert sorted(written + sent) == list(range(20_000))
    assert written == sorted(written) and sent == sorted(sent)
    assert route.handbacks > 10  # the race was real: many hand-backs happened
