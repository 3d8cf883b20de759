"""The embedded event log shared by several processes, and killed in the middle of its work.

- Four producer processes open a brand-new log at the same instant and append concurrently: every
  record is there once, offsets are dense in every partition, each producer's order is kept.
- A producer process is SIGKILLed while it appends at full speed (so almost always inside a
  transaction), three times over the same log: the log passes SQLite's integrity_check and the
  log's own invariants, every delivery that was reported before the kill is in the log, nothing is
  duplicated, and the next writer continues the offsets.

The child programs are this file run as a script (``python test_local_processes.py writer ...``),
so the parent talks to real processes through pipes and signals.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

from carbonplane.errors import BackendUnavailableError
from carbonplane.events.backends.local import LocalLog
from carbonplane.events.partitioner import partition_for

TOPIC = "data-ingestion"  # 12 partitions
PIPE_DEADLINE_S = 120.0


def _spawn(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, __file__, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _read_line(proc: subprocess.Popen, deadline: float) -> bytes:
    """One line from the child's stdout, failing (with its stderr) if it dies or stalls."""
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        if not sel.select(max(0.0, deadline - time.monotonic())):
            proc.kill()
            raise AssertionError(f"child {proc.args[2:]} wrote nothing for {PIPE_DEADLINE_S}s")
    line = proc.stdout.readline()
    if not line:
        raise AssertionError(
            f"child {proc.args[2:]} exited {proc.wait()}: {proc.stderr.read().decode()[-2000:]}"
        )
    return line


def _all_records(log: LocalLog) -> dict[int, list]:
    out: dict[int, list] = {}
    for p in log.partitions(TOPIC):
        out[p], offset = [], 0
        while batch := log.read(TOPIC, p, offset, max_records=2000, timeout=0):
            out[p] += batch
            offset = batch[-1].offset + 1
    return out


def test_four_processes_append_to_a_new_log_at_once(tmp_path):
    path, writers, per_writer = tmp_path / "shared" / "log.db", 4, 5000
    children = [_spawn("writer", str(path), str(w), str(per_writer)) for w in range(writers)]
    deadline = time.monotonic() + PIPE_DEADLINE_S
    for child in children:
        assert _read_line(child, deadline) == b"ready\n"
    for child in children:  # all open the fresh file and start appending together
        child.stdin.write(b"go\n")
        child.stdin.flush()
    for child in children:
        assert _read_line(child, deadline) == b"done 0\n", "every record acknowledged"
        assert child.wait(60) == 0, child.stderr.read().decode()

    log = LocalLog(path)
    try:
        log.check(full=True)
        seen: set[tuple[int, int]] = set()
        for p, records in _all_records(log).items():
            assert [r.offset for r in records] == list(range(len(records))), (
                f"partition {p} has gaps"
            )
            assert log.watermarks(TOPIC, p) == (0, len(records))
            last_seq: dict[int, int] = {}
            for r in records:
                w, seq = json.loads(r.value)
                assert (w, seq) not in seen, f"record {w}/{seq} stored twice"
                seen.add((w, seq))
                assert seq > last_seq.get(w, -1), f"writer {w}'s order changed in partition {p}"
                last_seq[w] = seq
        assert seen == {(w, s) for w in range(writers) for s in range(per_writer)}
    finally:
        log.close()


def test_a_writer_killed_mid_batch_loses_no_acknowledged_record_and_leaves_no_corruption(tmp_path):
    path = tmp_path / "log.db"
    LocalLog(path).close()
    acked_total: set[str] = set()
    for round_no in range(3):
        child = _spawn("crash-writer", str(path), str(round_no))
        deadline = time.monotonic() + PIPE_DEADLINE_S
        acked: list[str] = []
        while len(acked) < 20_000:
            acked.append(_read_line(child, deadline).decode().strip())
        child.send_signal(signal.SIGKILL)
        acked += child.stdout.read().decode().split()  # acknowledgements written before it died
        assert child.wait(30) == -signal.SIGKILL
        acked_total.update(acked)

        log = LocalLog(path)
        try:
            log.check(full=True)
            stored: list[str] = []
            for p, records in _all_records(log).items():
                assert [r.offset for r in records] == list(range(len(records))), (
                    f"partition {p} has gaps"
                )
                stored += [r.value.decode() for r in records]
            assert len(stored) == len(set(stored)), "no record is stored twice"
            missing = acked_total - set(stored)
            assert not missing, (
                f"{len(missing)} acknowledged records lost, e.g. {sorted(missing)[:3]}"
            )
            highs = {p: log.watermarks(TOPIC, p)[1] for p in log.partitions(TOPIC)}
            reports = []
            log.produce(TOPIC, b"after-crash-%d" % round_no, key=b"k0", on_delivery=reports.append)
            assert log.flush(10) == 0
            assert reports[0].offset == highs[reports[0].partition], (
                "offsets continue after the crash"
            )
        finally:
            log.close()


def test_a_forked_child_is_told_to_open_its_own_log(tmp_path):
    log = LocalLog(tmp_path / "log.db")
    try:
        log.produce(TOPIC, b"parent", key=b"k")
        pid = os.fork()
        if pid == 0:  # the child: the inherited log refuses work instead of losing records
            code = 1
            try:
                log.produce(TOPIC, b"child", key=b"k")
            except BackendUnavailableError as exc:
                code = 0 if "open a new LocalLog" in str(exc) and log.flush(1) == 0 else 2
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert log.flush(10) == 0
        assert [r.value for r in log.read(TOPIC, partition_for(b"k", 12), 0, timeout=0)] == [
            b"parent"
        ]
    finally:
        log.close()


# -- child programs -------------------------------------------------------------------------------


def _writer(path: str, writer_id: int, count: int) -> None:
    print("ready", flush=True)
    sys.stdin.readline()
    log = LocalLog(Path(path))
    for seq in range(count):
        key = None if seq % 3 == 0 else b"key-%d" % (seq % 50)
        log.produce(TOPIC, json.dumps([writer_id, seq]).encode(), key=key)
        if seq % 1000 == 0:
            log.poll(0)
    print(f"done {log.close(60)}", flush=True)


def _crash_writer(path: str, round_no: int) -> None:
    """Produce forever; write each acknowledged record's id to stdout (unbuffered) as it is
    reported."""
    log = LocalLog(Path(path), linger_ms=1)

    def acknowledged(delivery, record_id: bytes) -> None:
        if delivery.ok:
            os.write(1, record_id + b"\n")

    seq = 0
    while True:
        for _ in range(500):
            record_id = b"r%d-%d" % (round_no, seq)
            log.produce(
                TOPIC,
                record_id,
                key=b"k%d" % (seq % 64),
                on_delivery=lambda d, rid=record_id: acknowledged(d, rid),
            )
            seq += 1
        log.poll(0)


if __name__ == "__main__":
    if sys.argv[1] == "writer":
        _writer(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    elif sys.argv[1] == "crash-writer":
        _crash_writer(sys.argv[2], int(sys.argv[3]))
