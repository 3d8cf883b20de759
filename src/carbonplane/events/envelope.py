"""The wire form of an event: record key, JSON value and CloudEvents 1.0 binary-mode headers.

CloudEvents Kafka protocol binding, binary content mode: the event's attributes travel as
``ce_``-prefixed headers and the data as the record value, with ``content-type`` naming its
media type. We send ``ce_specversion``, ``ce_id`` (= eventId), ``ce_source``, ``ce_type``
(reverse-DNS, e.g. ``com.carbon254.data.ingestion``), ``ce_time`` (RFC 3339, UTC, ms) and
``content-type: application/json``; the JSON value is the original library's payload layout.

Invariant: ``ce_id`` equals the payload's ``eventId`` and ``ce_time`` its ``timestamp``.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

from carbonplane.events.catalog import TOPICS_BY_NAME
from carbonplane.events.types import Event, encode_event

Headers = list[tuple[str, bytes]]

CE_SPECVERSION = b"1.0"
JSON_CONTENT_TYPE = b"application/json"


_RANDOM_CHUNK = 4096  # 256 ids per getrandom() call: a syscall per event cost more than the rest of seal()
_ids = threading.local()


def new_event_id() -> str:
    """A random (version 4) UUID in its canonical text form.

    The 122 random bits come from ``os.urandom`` as for ``uuid.uuid4``, read in chunks per thread;
    a forked child drops its parent's chunk so that the two never hand out the same id."""
    ids = _ids
    i = getattr(ids, "i", _RANDOM_CHUNK)
    if i >= _RANDOM_CHUNK:
        ids.buf = os.urandom(_RANDOM_CHUNK)
        i = 0
    ids.i = i + 16
    h = ids.buf[i : i + 16].hex()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}"


def _forget_random_chunk() -> None:
    global _ids
    _ids = threading.local()


os.register_at_fork(after_in_child=_forget_random_chunk)


_time_cache: list[Any] = [-1, ""]


def rfc3339_ms(timestamp_ms: int) -> str:
    """``2026-11-27T15:51:03.123Z`` for an epoch-millisecond timestamp."""
    sec, ms = divmod(timestamp_ms, 1000)
    if _time_cache[0] != sec:
        _time_cache[0] = sec
        _time_cache[1] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))
    return f"{_time_cache[1]}.{ms:03d}Z"


def event_key(event: Event) -> str:
    """The record key of a catalog event: the value of its topic's key field."""
    attr = _KEY_ATTRS.get(type(event))
    if attr is None:
        spec = TOPICS_BY_NAME[event.TOPIC]
        attr = _KEY_ATTRS[type(event)] = "" if "->" in spec.key_field else _snake(spec.key_field)
    if not attr:  # DataLineageEvent: "sourceDataset->targetDataset"
        return f"{event.source_dataset}->{event.target_dataset}"  # type: ignore[attr-defined]
    return getattr(event, attr)


_KEY_ATTRS: dict[type, str] = {}


def _snake(camel: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in camel)


_SPEC_HEADER = ("ce_specversion", CE_SPECVERSION)
_CONTENT_TYPE_HEADER = ("content-type", JSON_CONTENT_TYPE)


def ce_headers(event_id: str, source: str, ce_type: str, timestamp_ms: int) -> Headers:
    return [
        _SPEC_HEADER,
        ("ce_id", event_id.encode()),
        ("ce_source", source.encode()),
        ("ce_type", ce_type.encode()),
        ("ce_time", rfc3339_ms(timestamp_ms).encode()),
        _CONTENT_TYPE_HEADER,
    ]


def seal(event: Event, source: str) -> tuple[bytes, bytes, Headers]:
    """Fill the envelope's generated fields, validate, and return ``(key, value, headers)``.

    Raises ``EventValidationError`` (naming type and field) and leaves nothing half-sent.
    """
    if not event.event_id:
        event.event_id = new_event_id()
    if not event.timestamp:
        event.timestamp = time.time_ns() // 1_000_000
    if not event.source:
        event.source = source
    value = encode_event(event)
    key = event_key(event).encode()
    ce_type = _CE_TYPES.get(event.CE_TYPE)
    if ce_type is None:
        ce_type = _CE_TYPES[event.CE_TYPE] = ("ce_type", event.CE_TYPE.encode())
    return key, value, [
        _SPEC_HEADER,
        ("ce_id", event.event_id.encode()),
        ("ce_source", event.source.encode()),
        ce_type,
        ("ce_time", rfc3339_ms(event.timestamp).encode()),
        _CONTENT_TYPE_HEADER,
    ]


_CE_TYPES: dict[str, tuple[str, bytes]] = {}


def headers_dict(headers: Headers | None) -> dict[str, str]:
    """Headers as text, for display (``events tail --json``); undecodable bytes are escaped."""
    return {k: (v or b"").decode("utf-8", "backslashreplace") for k, v in (headers or [])}
