"""The writer thread behind the Kafka producer's opt-in disk spool (``SpoolWriter``).

It takes records the producer hands over (broker unreachable, or a delivery that failed with an
outage error), appends them to the ``Spool`` in group commits on its own thread, and queues one
``Delivery(spooled=True)`` per record for the producer to report on its caller's thread. Re-sending
them is the drainer's work (``kafka_drain.SpoolDrainer``).

Guarantees: a record handed to the writer is either on disk (reported spooled, and only once it is
on disk) or reported failed with the reason the spool could not store it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable

from carbonplane.events.backends.base import Delivery, DeliveryCallback
from carbonplane.events.backends.spool import Spool, SpooledRecord

log = logging.getLogger("carbonplane.events.kafka")

Handoff = tuple[
    SpooledRecord, DeliveryCallback | None, float
]  # record, caller's callback, produce() time
Report = tuple[DeliveryCallback | None, Delivery]


class SpoolWriter:
    """Group-commits handed-over records to the spool; reports wait in ``take_reports``."""

    def __init__(self, spool: Spool, on_written: Callable[[], None]) -> None:
        self.spool = spool
        self._on_written = on_written
        self._cond = threading.Condition()
        self._pending: list[Handoff] = []
        self._reports: deque[Report] = deque()
        self._unreported = 0  # handed over, report not yet taken
        self._writing = False
        self._stopping = False
        self.written = 0
        self._thread = threading.Thread(
            target=self._run, name="carbonplane-spool-writer", daemon=True
        )
        self._thread.start()

    def hand_over(
        self, record: SpooledRecord, callback: DeliveryCallback | None, started: float
    ) -> None:
        with self._cond:
            self._pending.append((record, callback, started))
            self._unreported += 1
            self._cond.notify_all()

    def take_reports(self) -> list[Report]:
        """Reports ready for the caller's thread (each record's exactly once)."""
        if not self._reports:
            return []
        with self._cond:
            reports = list(self._reports)
            self._reports.clear()
            self._unreported -= len(reports)
        return reports

    def __len__(self) -> int:
        """Records handed over whose report has not been taken yet."""
        return self._unreported

    def idle(self) -> bool:
        with self._cond:
            return not self._pending and not self._writing

    def wait_written(self, timeout: float) -> bool:
        """Wait until every handed-over record is on disk (or failed); True when so."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._pending or self._writing:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def stop(self) -> None:
        """Write what is pending, then end the thread."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._thread.join()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._stopping:
                    self._cond.wait()
                if not self._pending:
                    return
                batch, self._pending = self._pending, []
                self._writing = True
            reports = self._write(batch)
            with self._cond:
                self._reports.extend(reports)
                self._writing = False
                self._cond.notify_all()
            self._on_written()

    def _write(self, batch: list[Handoff]) -> list[Report]:
        try:
            self.spool.append([record for record, _, _ in batch])
        except (
            Exception
        ) as exc:  # disk full, permissions, corrupt file: every record is reported failed
            log.error(
                "could not store %d records in the spool %s: %s", len(batch), self.spool.path, exc
            )
            return [
                (
                    cb,
                    Delivery(
                        r.topic,
                        -1,
                        -1,
                        f"{r.reason}; the spool {self.spool.path} could not store it: {exc}",
                    ),
                )
                for r, cb, _ in batch
            ]
        self.written += len(batch)
        now = time.monotonic()
        return [
            (
                cb,
                Delivery(
                    r.topic,
                    -1,
                    -1,
                    f"spooled to {self.spool.path}: {r.reason}",
                    now - t0,
                    spooled=True,
                ),
            )
            for r, cb, t0 in batch
        ]
