"""The embedded log shared by many processes that come and go: no acknowledged record is lost.

SQLite's locks on the log file are POSIX advisory locks, which a process loses on the file as a
whole when it closes *any* descriptor of that file (SQLite's "How To Corrupt An SQLite Database
File", section 2.2). A process without its lock looks absent to the others: the last one to close
the log then checkpoints and deletes the ``-wal`` file the lockless one is still appending to, and
its acknowledged records vanish (or the database is left malformed). These tests hold the log to
what docs/local-log.md promises across processes:

- a producer still holds its shared lock on ``log.db`` (``/proc/locks``) after it starts writing,
  and after a second ``LocalLog`` on the same file in the same process is opened and closed;
- rounds of three producer processes (each also opening and closing a second ``LocalLog`` now and
  then) and a reader process that opens, reads and closes the log in a loop (what
  ``carbonplane events tail`` does), with producers SIGKILLed at random moments or exiting normally:
  after every round ``PRAGMA integrity_check`` is ``ok`` and every acknowledged record is stored
  exactly once.

Acknowledged means the producer saw a successful delivery report; each producer appends the ids of
its acknowledged records to its own file (fsynced) right after ``poll()`` ran the reports, so a
killed producer still tells what it was told. ``CARBONPLANE_SHARING_ROUNDS=200`` runs the second
test as a longer soak (by hand; it defaults to a CI-sized run).

The child programs are this file run as a script, so the parent drives real processes.
"""

from __future__ import annotations

import os
import random
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

from carbonplane.errors import CarbonplaneError, LogError, UnknownTopicError
from carbonplane.events.backends.local import LocalLog

TOPIC = "data-ingestion"  # 12 partitions
PRODUCERS = 3
ROUNDS = int(os.environ.get("CARBONPLANE_SHARING_ROUNDS", "5"))
PER_PRODUCER = 20_000  # records a producer that is not killed writes in one round
CHILD_DEADLINE_S = 60.0


def _spawn(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, __file__, *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _posix_locks(pid: int, path: Path) -> list[str]:
    """The POSIX locks process ``pid`` holds on ``path``, as /proc/locks lists them."""
    inode = os.stat(path).st_ino
    held = []
    with open("/proc/locks") as f:
        for line in f:
            fields = line.split()
            if fields[-4] == str(pid) and fields[-3].endswith(f":{inode}") and fields[1] == "POSIX":
                held.append(" ".join(fields[3:4] + fields[-2:]))
    return held


def _acknowledged(ack_file: Path) -> list[str]:
    """Ids in a producer's acknowledgement file (a line cut short by SIGKILL is not counted)."""
    if not ack_file.exists():
        return []
    data = ack_file.read_bytes()
    return data[: data.rfind(b"\n") + 1].decode().split()


def _stored(log: LocalLog) -> list[str]:
    ids = []
    for p in log.partitions(TOPIC):
        offset = 0
        while batch := log.read(TOPIC, p, offset, max_records=5000, timeout=0):
            ids += [r.value.decode() for r in batch]
            offset = batch[-1].offset + 1
    return ids


def test_a_producer_keeps_its_lock_while_it_writes_and_while_other_logs_open_and_close(tmp_path):
    path = tmp_path / "log.db"
    child = subprocess.Popen(
        [sys.executable, __file__, "lock-holder", str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        for step in ("opened", "produced", "second log closed"):
            line = child.stdout.readline().decode().strip()
            assert line == step, (
                f"child said {line!r}: {child.stderr.read().decode()[-2000:] if not line else ''}"
            )
            assert _posix_locks(child.pid, path), (
                f"the producer holds no lock on {path.name} once {step}"
            )
            child.stdin.write(b"next\n")
            child.stdin.flush()
    finally:
        child.kill()
        child.wait(10)


def test_a_forked_child_that_opens_its_own_log_holds_its_lock_and_loses_nothing(tmp_path):
    """The parent writes, forks, and closes its log while the child appends through a LocalLog of
    its own: the child's connections take real locks (not the parent's inherited lock state), so
    the parent's close does not checkpoint away the -wal the child appends to."""
    path, ack_file = tmp_path / "log.db", tmp_path / "child-acks"
    log = LocalLog(path)
    log.produce(TOPIC, b"parent", key=b"k")
    assert log.flush(10) == 0
    appending_r, appending_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.close(appending_r)
            code = _forked_writer(path, ack_file, appending_w)
        finally:
            os._exit(code)
    os.close(appending_w)
    try:
        ready, _, _ = select.select([appending_r], [], [], CHILD_DEADLINE_S)
        assert ready and os.read(appending_r, 1) == b"1", "the forked child acknowledged nothing"
    finally:
        os.close(appending_r)
        log.close()  # the parent leaves while the child writes
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, (
        "the child, appending through its own LocalLog, "
        "held no lock on the file or could not write everything"
    )
    stored, problem = _check(path)
    assert problem is None
    acked = set(_acknowledged(ack_file))
    assert len(acked) == 20_000 and not acked - set(stored), (
        f"{len(acked - set(stored))} acknowledged records lost"
    )


def test_no_acknowledged_record_is_lost_with_producers_killed_and_readers_closing(tmp_path):
    path, rng = tmp_path / "log.db", random.Random(int.from_bytes(os.urandom(4), "big"))
    acked: set[str] = set()
    outcomes: list[str] = []
    lost_total = 0
    for round_no in range(ROUNDS):
        reader = _spawn("reader", str(path))
        producers = [
            _spawn(
                "producer", str(path), str(tmp_path / f"acks-{round_no}-{i}"), f"r{round_no}p{i}"
            )
            for i in range(PRODUCERS)
        ]
        doomed = {i: rng.uniform(0.3, 2.5) for i in range(PRODUCERS) if rng.random() < 0.6}
        failures = _run_round(producers, doomed)
        reader.send_signal(signal.SIGKILL)
        reader.wait(CHILD_DEADLINE_S)
        for i in range(PRODUCERS):
            acked.update(_acknowledged(tmp_path / f"acks-{round_no}-{i}"))

        stored, problem = _check(path)
        if problem is not None:
            outcomes.append(
                f"round {round_no}: killed {sorted(doomed)}, the log is damaged: {problem}"
            )
            break
        lost = acked - set(stored)
        lost_total += len(lost)
        outcomes.append(
            f"round {round_no}: killed {sorted(doomed)}, {len(acked)} acknowledged so far, "
            f"{len(stored)} stored, {len(lost)} lost, {len(stored) - len(set(stored))} stored twice"
            + "".join(f"; {f}" for f in failures)
        )
        acked -= lost  # count each loss once
    summary = "\n".join(outcomes)
    assert lost_total == 0 and all(o.endswith(", 0 lost, 0 stored twice") for o in outcomes), (
        summary
    )
    assert len(outcomes) == ROUNDS, summary


def _check(path: Path) -> tuple[list[str], LogError | None]:
    """The ids stored in the log, or the problem that stops reading it."""
    try:
        log = LocalLog(path, create_catalog=False)
    except LogError as exc:  # refused on open: malformed, or quick_check failed
        return [], exc
    try:
        log.check(full=True)  # PRAGMA integrity_check, then the log's offset invariants
        return _stored(log), None
    except UnknownTopicError:  # every producer was killed before it created the topics
        return [], None
    except LogError as exc:
        return [], exc
    finally:
        log.close(0)


def _run_round(producers: list[subprocess.Popen], doomed: dict[int, float]) -> list[str]:
    """SIGKILL producer i ``doomed[i]`` seconds from now; wait for the others to finish. Returns
    what went wrong: a producer that failed (or, when not killed, did not exit 0)."""
    start = time.monotonic()
    for i, delay in sorted(doomed.items(), key=lambda item: item[1]):
        time.sleep(max(0.0, start + delay - time.monotonic()))
        producers[i].send_signal(signal.SIGKILL)
    failures = []
    for i, child in enumerate(producers):
        code = child.wait(CHILD_DEADLINE_S)
        if code not in ((0, -signal.SIGKILL) if i in doomed else (0,)):
            last = (child.stderr.read().decode().strip().splitlines() or ["(no output)"])[-1]
            failures.append(f"producer {i} exited {code}: {last}")
    return failures


# -- child programs -------------------------------------------------------------------------------


def _lock_holder(path: str) -> None:
    log = LocalLog(Path(path))
    for step in ("opened", "produced", "second log closed"):
        if step == "produced":
            log.produce(TOPIC, b"x", key=b"k")
            assert log.flush(10) == 0
        elif step == "second log closed":
            LocalLog(Path(path), create_catalog=False).close()
        print(step, flush=True)
        sys.stdin.readline()
    log.close()


def _forked_writer(path: Path, ack_file: Path, appending: int) -> int:
    """In a forked child: append 20,000 records through a new LocalLog, writing acknowledged ids to
    ``ack_file`` and b"1" to the pipe ``appending`` after the first; 0 when every one was
    acknowledged and the child held a lock on the file."""
    log = LocalLog(path, linger_ms=1)
    fd = os.open(ack_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    acked: list[bytes] = []
    for seq in range(20_000):
        rid = b"child-%d" % seq
        log.produce(
            TOPIC,
            rid,
            key=b"k%d" % (seq % 40),
            on_delivery=lambda d, rid=rid: acked.append(rid) if d.error is None else None,
        )
        if seq % 200 == 199:
            log.poll(0)
            if acked and appending >= 0:
                os.write(appending, b"1")
                appending = -1
            os.write(fd, b"".join(r + b"\n" for r in acked))
            acked.clear()
            time.sleep(0.001)  # spread the appends over the parent's close
    unwritten = log.flush(30)
    log.poll(0)
    os.write(fd, b"".join(r + b"\n" for r in acked))
    os.fsync(fd)
    locked = bool(_posix_locks(os.getpid(), path))
    log.close()
    return 0 if unwritten == 0 and locked else 2


def _producer(path: str, ack_path: str, name: str) -> None:
    """Produce PER_PRODUCER records; after every poll append the acknowledged ids to ``ack_path``
    and fsync it. Every 5,000 records open and close a second LocalLog on the same file."""
    log = LocalLog(Path(path), linger_ms=1)
    fd = os.open(ack_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    acked: list[bytes] = []

    def report() -> None:
        if acked:
            os.write(fd, b"".join(rid + b"\n" for rid in acked))
            os.fsync(fd)
            acked.clear()

    for seq in range(PER_PRODUCER):
        rid = f"{name}-{seq}".encode()
        log.produce(
            TOPIC,
            rid,
            key=b"k%d" % (seq % 40),
            on_delivery=lambda d, rid=rid: acked.append(rid) if d.error is None else None,
        )
        if seq % 250 == 0:
            log.poll(0)
            report()
        if seq % 5000 == 4999:
            LocalLog(Path(path), create_catalog=False).close()
    remaining = log.flush(CHILD_DEADLINE_S)
    report()
    log.close()
    sys.exit(0 if remaining == 0 else 3)


def _reader(path: str) -> None:
    """Open the log, read a little, close it; again and again until killed."""
    rng = random.Random()
    while True:
        try:
            log = LocalLog(Path(path), create_catalog=False)
        except LogError:  # a producer is still creating the file
            time.sleep(0.01)
            continue
        try:
            for p in rng.sample(range(12), 2):
                log.read(TOPIC, p, rng.randrange(0, 2000), max_records=200, timeout=0)
        except CarbonplaneError:  # no topics yet
            pass
        finally:
            log.close(0)


if __name__ == "__main__":
    if sys.argv[1] == "lock-holder":
        _lock_holder(sys.argv[2])
    elif sys.argv[1] == "producer":
        _producer(sys.argv[2], sys.argv[3], sys.argv[4])
    elif sys.argv[1] == "reader":
        _reader(sys.argv[2])
