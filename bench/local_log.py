"""Embedded log, several processes: total durable appends/s with 1, 2 and 4 producer processes.

``python -m bench locallog`` (``--quick`` for a smoke check). Each round creates a fresh log (the
catalog topics made before the clock starts), starts N producer processes (``python -m
bench.local_log PATH COUNT``) that import, open the log and wait; the clock starts when all are told
to go and stops when the last has flushed (every record committed with ``synchronous=FULL`` and
acknowledged). Each producer appends ``per_process`` sealed ``DataIngestionEvent`` records
(~330-byte JSON value, the six CloudEvents headers, keys over 64 datasets) to ``data-ingestion`` (12
partitions) through
``LocalLog.produce`` with a delivery callback, and reports the CPU time (user + system) it used
between go and flushed. Printed per N: the median of the rounds' total events/s, its ratio to one
process measured in the same run (the baseline), and CPU microseconds per event.

Processes share one write lock (``BEGIN IMMEDIATE``): more processes add commits, not parallel
writes, so the total is expected to stay near the single-process rate or fall as they contend.
Bounded: fixed record counts, a few rounds, temporary files removed after each round.
"""

from __future__ import annotations

import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench.machine import machine_info

TOPIC = "data-ingestion"
PROCESS_COUNTS = (1, 2, 4)
ROOT = Path(__file__).resolve().parents[1]


def _round(processes: int, per_process: int) -> tuple[float, float]:
    """(total events/s, CPU us per event) for one round of ``processes`` producers."""
    from carbonplane.events.backends.local import LocalLog

    with tempfile.TemporaryDirectory(prefix="cp-bench-locallog-") as home:
        path = Path(home) / "log.db"
        LocalLog(path).close()
        children = [
            subprocess.Popen(
                [sys.executable, "-m", "bench.local_log", str(path), str(per_process)],
                cwd=ROOT,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            for _ in range(processes)
        ]
        try:
            for child in children:
                if child.stdout.readline().strip() != "ready":
                    raise RuntimeError(f"a bench producer failed to start (exit {child.wait()})")
            t0 = time.perf_counter()
            for child in children:
                child.stdin.write("go\n")
                child.stdin.flush()
            reports = [child.stdout.readline().split() for child in children]
            elapsed = time.perf_counter() - t0
        finally:
            for child in children:
                if child.wait(120) != 0:
                    raise RuntimeError(f"a bench producer exited {child.returncode}")
    cpu = 0.0
    for report in reports:
        if len(report) != 3 or report[0] != "done" or int(report[1]) != per_process:
            raise RuntimeError(f"a bench producer lost events: {report}")
        cpu += float(report[2])
    total = processes * per_process
    return total / elapsed, cpu / total * 1e6


def run(quick: bool = False, log: Callable[..., None] = print) -> dict:
    rounds = 2 if quick else 5
    per_process = 10_000 if quick else 100_000
    result: dict = {
        "machine": machine_info(),
        "sqlite": sqlite3.sqlite_version,
        "rounds": rounds,
        "events_per_process": per_process,
        "processes": {},
    }
    samples: dict[int, list[tuple[float, float]]] = {n: [] for n in PROCESS_COUNTS}
    for r in range(rounds):  # the counts alternate within a round, so machine noise hits each alike
        for n in PROCESS_COUNTS:
            samples[n].append(_round(n, per_process))
        log(
            f"locallog round {r + 1}/{rounds}: "
            + ", ".join(
                f"{n} process{'es' if n > 1 else ''} {samples[n][-1][0]:,.0f} ev/s "
                f"({samples[n][-1][1]:.1f} us CPU/ev)"
                for n in PROCESS_COUNTS
            )
        )
    base = statistics.median(eps for eps, _ in samples[1])
    for n in PROCESS_COUNTS:
        eps = statistics.median(e for e, _ in samples[n])
        cpu = statistics.median(c for _, c in samples[n])
        result["processes"][str(n)] = {
            "eps": [e for e, _ in samples[n]],
            "eps_median": eps,
            "cpu_us_per_event_median": cpu,
            "ratio_to_one_process": eps / base,
        }
        log(
            f"locallog: {n} producer process{'es' if n > 1 else ''}: {eps:,.0f} events/s in total "
            f"(x{eps / base:.2f} of one process), {cpu:.1f} us CPU per event"
        )
    return result


def _producer(path: str, count: int) -> None:
    """Child: open the log, say ready, wait for go, append ``count`` records, flush, report."""
    from carbonplane.events.backends.local import LocalLog
    from carbonplane.events.envelope import seal
    from carbonplane.events.samples import sample_event

    prepared = []
    for i in range(64):
        event = sample_event("DataIngestionEvent", i)
        event.dataset_name = f"commodity_prices_{i}"
        prepared.append(seal(event, "bench"))
    log = LocalLog(Path(path), create_catalog=False)
    acked = [0]

    def on_delivery(delivery) -> None:
        acked[0] += delivery.error is None

    print("ready", flush=True)
    sys.stdin.readline()
    cpu0 = time.process_time()
    produce, poll = log.produce, log.poll
    for i in range(count):
        key, value, headers = prepared[i & 63]
        produce(TOPIC, value, key, headers, on_delivery)
        if i & 4095 == 0:
            poll(0)
    remaining = log.flush(120)
    cpu = time.process_time() - cpu0
    print(f"done {acked[0] if remaining == 0 else -remaining} {cpu:.6f}", flush=True)
    log.close(5)


if __name__ == "__main__":
    _producer(sys.argv[1], int(sys.argv[2]))
