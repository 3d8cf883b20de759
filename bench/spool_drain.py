"""Kafka spool benchmark: how fast the spool drains, and how soon a producer under sustained load
returns to direct delivery after an outage. ``python -m bench.spool_drain [--rates 200,400] [--runs
3]``

Uses a throwaway broker of its own (``bench.kafka_throwaway``), never the shared one on :9092.
One run, for a given arrival rate R:

1. the broker is SIGKILLed; a ``KafkaProducerBackend`` with a spool is opened during the outage and
   produces R events/s (paced, one record per tick, 12 keys over 6 partitions) for ``--outage`` s:
   every record goes to the spool;
2. the broker is restarted while production goes on at R (its JVM start takes seconds, so the
   backlog grows meanwhile); the clock starts when the broker answers a metadata request;
3. ``time to direct`` = from then until ``spool_status()["routing"]`` turns False (new records go
   straight to Kafka); production goes on ``--after`` s past that (or stops at ``--cap`` s: the run
   is then reported as not returned);
4. then flush, wait for an empty spool, close, and read the topic back: every record must be there
   exactly once (no record was in flight at the crash) and in production order per partition, else
   the run fails.

``drain rate`` = records re-sent by the drainer / seconds from the broker's answer to the return to
direct delivery (arrivals included). The drain-only figure (``--drain-only N``) spools N records
with no production after the restart and times the drainer alone. CPU per event is this process's
user+ system CPU over the run divided by the records produced. Bounded: loopback, fixed durations.
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench.kafka_throwaway import ThrowawayKafka, kafka_lib, read_seqs
from carbonplane.events.backends.kafka import KafkaAdmin, KafkaProducerBackend
from carbonplane.events.catalog import DAY_MS, TopicSpec
from carbonplane.events.config import EventsConfig

BASE_TS = int(time.time() * 1000) - 3_600_000
PARTITIONS = 6


def _cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def _cfg(broker: ThrowawayKafka, home: Path) -> EventsConfig:
    return EventsConfig.from_env(
        {},
        bootstrap_servers=broker.bootstrap,
        home=home,
        spool_dir=home / "spool",
        overrides={"message.timeout.ms": 5000},
    )


def _record(seq: int) -> tuple[bytes, bytes, list[tuple[str, bytes]], int]:
    return (
        b'{"seq": %d, "pad": "%s"}' % (seq, b"x" * 200),
        b"key-%d" % (seq % 12),
        [("seq", b"%d" % seq)],
        BASE_TS + seq,
    )


def _check(cfg: EventsConfig, topic: str, produced: int) -> None:
    per_partition = read_seqs(cfg, topic)
    everything = [s for seqs in per_partition.values() for s in seqs]
    if sorted(everything) != list(range(produced)):
        missing = set(range(produced)) - set(everything)
        raise RuntimeError(
            f"{topic}: {len(everything)} records for {produced} produced; missing "
            f"{sorted(missing)[:5]}, "
            f"duplicated {len(everything) - len(set(everything))}"
        )
    for partition, seqs in per_partition.items():
        if seqs != sorted(seqs):
            raise RuntimeError(f"{topic}[{partition}] out of production order")


def one_run(
    broker: ThrowawayKafka,
    home: Path,
    name: str,
    rate: float,
    outage: float,
    after: float,
    cap: float,
) -> dict:
    """One outage at ``rate`` events/s; see the module docstring. The broker is up on entry and
    exit."""
    cfg = _cfg(broker, home)
    KafkaAdmin(cfg).apply_topics(
        [TopicSpec(name, "data", PARTITIONS, DAY_MS, "delete", "DataIngestionEvent", "k")]
    )
    broker.kill()
    producer = KafkaProducerBackend(cfg, "bench-spool", metadata_timeout=1.0)
    failed: list[str] = []
    counts = {"ok": 0, "spooled": 0}

    def on_delivery(d) -> None:
        if d.spooled:
            counts["spooled"] += 1
        elif d.ok:
            counts["ok"] += 1
        else:
            failed.append(d.error or "?")

    up_at: list[float] = []
    restarter = threading.Thread(
        target=lambda: (broker.start(), up_at.append(time.monotonic())), daemon=True
    )
    period, seq, cpu0 = 1.0 / rate, 0, _cpu()
    t0 = time.monotonic()
    direct_at = peak = backlog_at_up = None
    try:
        while True:
            now = time.monotonic()
            if now - t0 >= outage and not restarter.is_alive() and not up_at:
                restarter.start()
            if up_at:
                status = producer.spool_status()
                if backlog_at_up is None:
                    backlog_at_up = status["backlog"]
                peak = max(peak or 0, status["backlog"])
                if direct_at is None and not status["routing"]:
                    direct_at = now
                if direct_at is not None and now - direct_at >= after or now - up_at[0] >= cap:
                    break
            value, key, headers, ts = _record(seq)
            producer.produce(name, value, key, headers, on_delivery, ts)
            producer.poll(0)
            seq += 1
            next_tick = t0 + seq * period
            delay = next_tick - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        pending = producer.flush(60)
        drained_ok = producer.wait_drained(120)
        drained = producer.spool_status()["drained"]
    finally:
        producer.close(10)
    cpu = _cpu() - cpu0
    if pending or not drained_ok or failed:
        raise RuntimeError(
            f"run {name}: pending={pending} drained={drained_ok} failed={failed[:3]}"
        )
    _check(cfg, name, seq)
    to_direct = None if direct_at is None else direct_at - up_at[0]
    return {
        "rate": rate,
        "produced": seq,
        "spooled": counts["spooled"],
        "direct": counts["ok"],
        "backlog_at_up": backlog_at_up,
        "peak_backlog": peak,
        "drained": drained,
        "time_to_direct_s": None if to_direct is None else round(to_direct, 3),
        "drain_rate": None if not to_direct else round(drained / to_direct),
        "cpu_us_per_event": round(cpu / seq * 1e6, 1),
    }


def drain_only(broker: ThrowawayKafka, home: Path, name: str, n: int) -> dict:
    """Spool ``n`` records during an outage, restart, time the drainer alone."""
    cfg = _cfg(broker, home)
    KafkaAdmin(cfg).apply_topics(
        [TopicSpec(name, "data", PARTITIONS, DAY_MS, "delete", "DataIngestionEvent", "k")]
    )
    broker.kill()
    producer = KafkaProducerBackend(cfg, "bench-drain", metadata_timeout=1.0)
    try:
        for seq in range(n):
            value, key, headers, ts = _record(seq)
            producer.produce(name, value, key, headers, None, ts)
            producer.poll(0)
        if producer.flush(60):
            raise RuntimeError("records still unreported after 60 s")
        broker.start()
        cpu0, t0 = _cpu(), time.monotonic()
        if not producer.wait_drained(300):
            raise RuntimeError(f"the spool did not drain in 300 s: {producer.spool_status()}")
        elapsed, cpu = time.monotonic() - t0, _cpu() - cpu0
    finally:
        producer.close(10)
    _check(cfg, name, n)
    return {
        "records": n,
        "seconds": round(elapsed, 3),
        "drain_rate": round(n / elapsed),
        "cpu_us_per_record": round(cpu / n * 1e6, 1),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m bench.spool_drain", description=__doc__.split("\n\n")[0]
    )
    ap.add_argument("--rates", default="200,400", help="arrival rates, events/s, comma-separated")
    ap.add_argument("--runs", type=int, default=3, help="runs per rate (median reported)")
    ap.add_argument(
        "--outage", type=float, default=10.0, help="seconds of production before the restart begins"
    )
    ap.add_argument(
        "--after", type=float, default=3.0, help="seconds of production after the return to direct"
    )
    ap.add_argument(
        "--cap", type=float, default=60.0, help="give up waiting for the return after this many s"
    )
    ap.add_argument(
        "--drain-only", type=int, default=20_000, help="records for the drain-only figure (0: skip)"
    )
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--verbose", action="store_true", help="show the producer's log (INFO and up)")
    args = ap.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.ERROR,
        format="%(relativeCreated)8.0f %(message)s",
    )
    if (
        not args.verbose
    ):  # the outage is deliberate: its warnings and librdkafka's connect failures are noise here
        logging.getLogger("carbonplane.events.kafka").setLevel(logging.CRITICAL)
    rates = [float(r) for r in args.rates.split(",") if r]
    out: dict = {"runs": [], "summary": {}}
    with tempfile.TemporaryDirectory(prefix="bench-spool-") as tmp:
        broker = ThrowawayKafka(kafka_lib(), Path(tmp) / "kafka")
        broker.start()
        try:
            for rate in rates:
                runs = []
                for i in range(args.runs):
                    home = Path(tmp) / f"r{int(rate)}-{i}"
                    r = one_run(
                        broker,
                        home,
                        f"spool-bench-{int(rate)}-{i}",
                        rate,
                        args.outage,
                        args.after,
                        args.cap,
                    )
                    runs.append(r)
                    print(json.dumps(r), file=sys.stderr if args.json else sys.stdout, flush=True)
                out["runs"] += runs
                returned = [
                    r["time_to_direct_s"] for r in runs if r["time_to_direct_s"] is not None
                ]
                out["summary"][f"{int(rate)}/s"] = {
                    "returned": f"{len(returned)}/{len(runs)}",
                    "median_time_to_direct_s": statistics.median(returned) if returned else None,
                    "max_time_to_direct_s": max(returned) if returned else None,
                    "median_drain_rate": statistics.median(
                        [r["drain_rate"] for r in runs if r["drain_rate"]] or [0]
                    ),
                    "median_cpu_us_per_event": statistics.median(
                        r["cpu_us_per_event"] for r in runs
                    ),
                }
            if args.drain_only:
                d = [
                    drain_only(broker, Path(tmp) / f"d{i}", f"spool-drain-{i}", args.drain_only)
                    for i in range(args.runs)
                ]
                out["drain_only"] = d
                out["summary"]["drain_only_median_rate"] = statistics.median(
                    r["drain_rate"] for r in d
                )
                for r in d:
                    print(json.dumps(r), file=sys.stderr if args.json else sys.stdout, flush=True)
        finally:
            broker.kill()
    print(json.dumps(out["summary"] if not args.json else out, indent=None if args.json else 2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
