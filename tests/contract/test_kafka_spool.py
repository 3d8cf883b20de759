"""The disk spool on a real file system, with real processes.

FIFO order and never-reused ids, the dead table, durability (a process SIGKILLed right after
``append`` returned loses nothing), atomicity (a writer SIGKILLed mid-stream leaves whole batches
and an intact file), several processes appending at once, and the drain lock's exclusivity across
processes (released by the kernel when the holder dies).
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap

from carbonplane.events.backends.spool import DrainLock, Spool, SpooledRecord


def _records(n: int, start: int = 0, topic: str = "data-ingestion") -> list[SpooledRecord]:
    return [
        SpooledRecord(
            topic,
            b'{"n": %d}' % i,
            b"k%d" % i,
            [("ce_id", b"%d" % i), ("empty", b"")],
            1_700_000_000_000 + i,
            reason="test",
        )
        for i in range(start, start + n)
    ]


def _python(script: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


def test_fifo_with_every_field_kept(tmp_path):
    spool = Spool(tmp_path / "s")
    spool.append(_records(5))
    spool.append(_records(5, start=5))
    got = spool.peek(100)
    assert [r.value for r in got] == [r.value for r in _records(10)]
    first = got[0]
    assert (first.topic, first.key, first.headers, first.timestamp_ms, first.reason) == (
        "data-ingestion",
        b"k0",
        [("ce_id", b"0"), ("empty", b"")],
        1_700_000_000_000,
        "test",
    )
    assert first.spooled_at_ms > 0 and len(spool) == 10
    assert spool.remove([r.id for r in got[:4]]) == 4
    assert spool.remove([got[0].id]) == 0  # already gone
    assert [r.value for r in spool.peek(3)] == [b'{"n": 4}', b'{"n": 5}', b'{"n": 6}']
    assert [r.value for r in spool.peek(2, after_id=got[8].id)] == [b'{"n": 9}']


def test_ids_are_never_reused(tmp_path):
    spool = Spool(tmp_path / "s")
    spool.append(_records(3))
    ids = [r.id for r in spool.peek()]
    spool.remove(ids)
    assert spool.is_empty()
    spool.close()
    spool = Spool(tmp_path / "s")
    spool.append(_records(1, start=3))
    assert spool.peek()[0].id > max(ids)


def test_refused_records_are_kept_aside_and_can_be_requeued(tmp_path):
    spool = Spool(tmp_path / "s")
    spool.append(_records(3))
    victim = spool.peek()[1]
    spool.bury(victim.id, "UNKNOWN_TOPIC_OR_PART: create it")
    assert len(spool) == 2 and spool.dead_count() == 1
    [(dead, error)] = spool.dead()
    assert (
        dead.value == victim.value
        and dead.headers == victim.headers
        and error.startswith("UNKNOWN_TOPIC")
    )
    assert spool.requeue_dead() == 1
    assert spool.dead_count() == 0
    assert [r.value for r in spool.peek()][-1] == victim.value
    assert spool.peek()[-1].reason.startswith("requeued: UNKNOWN_TOPIC")


def test_append_is_durable_when_it_returns(tmp_path):
    directory = tmp_path / "s"
    child = _python(f"""
        import os, signal
        from carbonplane.events.backends.spool import Spool, SpooledRecord
        spool = Spool({str(directory)!r})
        spool.append([SpooledRecord("t", b"v%d" % i, b"k", [], i) for i in range(1000)])
        os.kill(os.getpid(), signal.SIGKILL)  # no close, no atexit: only what append made durable
    """)
    child.communicate(timeout=60)
    assert child.returncode == -signal.SIGKILL
    assert [r.value for r in Spool(directory).peek(2000)] == [b"v%d" % i for i in range(1000)]


def test_a_writer_killed_mid_stream_leaves_whole_batches(tmp_path):
    directory = tmp_path / "s"
    child = _python(f"""
        from carbonplane.events.backends.spool import Spool, SpooledRecord
        spool = Spool({str(directory)!r})
        batch = 0
        while True:
            records = [SpooledRecord("t", b"%d-%d" % (batch, i), None, [], 0) for i in range(50)]
            spool.append(records)
            batch += 1
            if batch == 20:
                print("ready", flush=True)
    """)
    assert child.stdout.readline().strip() == "ready"  # at least 20 batches are committed
    child.send_signal(signal.SIGKILL)
    child.communicate(timeout=60)
    with sqlite3.connect(directory / "spool.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    values = [r.value for r in Spool(directory).peek(10**7)]
    assert len(values) >= 1000 and len(values) % 50 == 0
    batches = len(values) // 50
    assert values == [b"%d-%d" % (b, i) for b in range(batches) for i in range(50)]


def test_several_processes_append_at_once(tmp_path):
    directory = tmp_path / "s"
    Spool(directory).close()
    script = """
        import sys
        from carbonplane.events.backends.spool import Spool, SpooledRecord
        spool = Spool({d!r})
        for b in range(40):
            records = [SpooledRecord("t", b"{w}-%d-%d" % (b, i), None, [], 0) for i in range(25)]
            spool.append(records)
    """
    writers = [_python(script.format(d=str(directory), w=w)) for w in range(3)]
    for w in writers:
        _, err = w.communicate(timeout=120)
        assert w.returncode == 0, err
    records = Spool(directory).peek(10**6)
    assert len(records) == 3000 and len({r.id for r in records}) == 3000
    for w in range(3):  # each writer's records keep its order
        mine = [r.value for r in records if r.value.startswith(b"%d-" % w)]
        assert mine == [b"%d-%d-%d" % (w, b, i) for b in range(40) for i in range(25)]


def test_one_drainer_per_spool_until_it_dies(tmp_path):
    directory = tmp_path / "s"
    Spool(directory).close()
    holder = _python(
        f"""
        import sys
        from carbonplane.events.backends.spool import DrainLock
        lock = DrainLock({str(directory)!r})
        assert lock.try_acquire()
        print("held", flush=True)
        sys.stdin.read()
    """,
        stdin=subprocess.PIPE,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        mine = DrainLock(directory)
        assert not mine.try_acquire() and not mine.held
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.communicate(timeout=30)
    assert mine.try_acquire() and mine.held
    assert mine.try_acquire()  # re-entrant for its holder
    mine.release()
    assert not mine.held
