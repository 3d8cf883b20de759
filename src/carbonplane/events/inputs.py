"""What callers hand the producer as a custom payload, checked without coercion.

Two doors lead into the producer besides a typed event object, and both refuse instead of guess:
the ``produce_*_event`` methods (generated in ``events/methods.py``: a missing argument is an
``EventValidationError`` naming the wire field, not a ``TypeError``), and

- ``produce_custom_event`` with a payload that is not a catalog type: ``check_custom`` refuses
  what JSON cannot hold or would change (bytes, which msgspec would write as base64 text; NaN and
  infinity, written as ``null``; non-string keys, written as text) and checks the envelope fields
  that become CloudEvents headers: ``eventId`` and ``source`` non-empty strings, ``timestamp`` epoch
  milliseconds as an integer within what RFC 3339 writes and Kafka accepts.

Invariant: nothing here converts a value; a value is passed on as given or refused.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import Any

import msgspec

from carbonplane.errors import EventValidationError
from carbonplane.events.envelope import EMPTY_SOURCE, MAX_FUTURE_MS, future_timestamp
from carbonplane.events.types import MAX_TIMESTAMP_MS


def check_custom(event: Any) -> tuple[bytes, str | None, str | None, int | None]:
    """``(json, eventId, source, timestamp)`` of a custom payload; EventValidationError("custom",
    field)."""
    if not isinstance(event, Mapping):
        raise EventValidationError(
            "custom",
            None,
            f"the event must be a mapping (a JSON object), got {type(event).__name__}",
        )
    _refuse_unwritable(event, "")
    try:
        value = msgspec.json.encode(event)
    except (TypeError, ValueError, OverflowError) as exc:
        raise EventValidationError(
            "custom", None, f"event is not JSON-serialisable: {exc}"
        ) from None
    event_id, source, ts = event.get("eventId"), event.get("source"), event.get("timestamp")
    if event_id is not None and not (isinstance(event_id, str) and event_id.strip()):
        raise EventValidationError(
            "custom", "eventId", f"must be a non-empty string (it is ce_id), got {event_id!r}"
        )
    if source is not None and not (isinstance(source, str) and source.strip()):
        raise EventValidationError("custom", "source", f"{source!r} {EMPTY_SOURCE}")
    if ts is not None:
        if type(ts) is not int:
            raise EventValidationError(
                "custom",
                "timestamp",
                "must be epoch milliseconds as an integer (it becomes ce_time and the record "
                f"timestamp), got {type(ts).__name__} ({ts!r})",
            )
        if not 0 <= ts <= MAX_TIMESTAMP_MS:
            raise EventValidationError(
                "custom",
                "timestamp",
                f"must be between 0 and {MAX_TIMESTAMP_MS} (9999-12-31T23:59:59.999Z, the last "
                f"instant RFC 3339 writes), got {ts}",
            )
        if ts > time.time_ns() // 1_000_000 + MAX_FUTURE_MS:
            raise future_timestamp("custom", ts)
    return value, event_id, source, ts


def _refuse_unwritable(value: Any, path: str) -> None:
    """Raise for bytes, non-finite floats and non-string keys anywhere inside ``value``."""
    if isinstance(value, float):
        if not math.isfinite(value):
            name = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}[repr(value)]
            raise EventValidationError(
                "custom", path or None, f"{name} is not a valid number (must be finite)"
            )
    elif isinstance(value, (bytes, bytearray, memoryview)):
        raise EventValidationError(
            "custom",
            path or None,
            "bytes are not JSON: decode them to a string (or base64) yourself",
        )
    elif isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise EventValidationError(
                    "custom",
                    path or None,
                    f"keys must be strings, got {type(key).__name__} ({key!r})",
                )
            _refuse_unwritable(item, f"{path}.{key}" if path else key)
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _refuse_unwritable(item, f"{path}[{i}]")
