"""The wire form of an event: record key, JSON value and CloudEvents 1.0 binary-mode headers.

CloudEvents Kafka protocol binding, binary content mode: the event's attributes travel as
``ce_``-prefixed headers and the data as the record value, with ``content-type`` naming its
media type. We send ``ce_specversion``, ``ce_id`` (= eventId), ``ce_source``, ``ce_type``
(reverse-DNS, e.g. ``com.carbon254.data.ingestion``), ``ce_time`` (RFC 3339, UTC, ms) and
``content-type: application/json``; the JSON value is the original library's payload layout.

Invariants: ``ce_id`` equals the payload's ``eventId`` and ``ce_time`` its ``timestamp``. Sealing
never changes the caller's event: the envelope is filled on the validated copy, so producing one
event object twice gives two event ids (and two timestamps) unless the caller set them on purpose (a
non-empty ``event_id``, a non-zero ``timestamp``). ``ce_source`` is never empty (CloudEvents 1.0
section 3.1.1: source is a non-empty URI-reference) and ``ce_time`` is always RFC 3339: a timestamp
is at most 9999-12-31T23:59:59.999Z (the type's bound) and at most ``MAX_FUTURE_MS`` ahead of this
clock, the broker default of Kafka 4.x (``log.message.timestamp.after.max.ms`` = 3600000 since Kafka
4.0), beyond which the broker refuses the whole batch with ``INVALID_TIMESTAMP``.

Extension attributes (CloudEvents 1.0 section 3.1.4, e.g. the distributed-tracing extension's
``traceparent``/``tracestate``) travel as further ``ce_<name>`` headers after the six above
(``extension_headers``); a name must be 1-20 lowercase ASCII letters or digits and not a core
attribute, a value a string of CloudEvents characters (no control character, surrogate or
noncharacter) of at most 4096 UTF-8 bytes, else ``EventValidationError`` names
``extensions['<name>']`` and nothing is sent. The Node twin checks the same inputs the same way
(``extensions`` in tests/shared/event_inputs.json).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Mapping
from time import time_ns as _time_ns
from typing import Any

import msgspec

from carbonplane.errors import ConfigError, EventValidationError
from carbonplane.events.catalog import TOPICS_BY_NAME
from carbonplane.events.codec import _ENCODER, _PACKER, checked_event, event_checker
from carbonplane.events.types import EVENT_TYPES, Event

Headers = list[tuple[str, bytes]]

CE_SPECVERSION = b"1.0"
MAX_FUTURE_MS = 3_600_000  # Kafka 4.x broker default of log.message.timestamp.after.max.ms (1 hour)
JSON_CONTENT_TYPE = b"application/json"


_IDS_PER_CHUNK = (
    512  # one getrandom() call per 512 ids: a syscall per event cost more than the rest of seal()
)
# Where each character of the 36-character text comes from among the 32 hex digits of 16 random
# bytes.
_DASHES = (8, 13, 18, 23)
_TEXT_FROM_HEX = tuple(
    (pos, pos - sum(pos > d for d in _DASHES)) for pos in range(36) if pos not in _DASHES
)
_VARIANT_DIGIT = bytes.maketrans(
    b"0123456789abcdef", b"89ab89ab89ab89ab"
)  # RFC 4122 variant: 0b10xx
_ready_ids: list[str] = []


def new_event_id() -> str:
    """A random (version 4) UUID in its canonical text form.

    The 122 random bits come from ``os.urandom`` as for ``uuid.uuid4``. Ids are made 512 at a time:
    the text of a whole chunk is laid out with one strided copy per character position (C loops, not
    a Python loop per id), and ``list.pop`` hands them out atomically to any thread. A forked child
    drops its parent's ids so that the two never share one."""
    try:
        return _ready_ids.pop()
    except IndexError:
        _ready_ids.extend(_id_chunk())
        return _ready_ids.pop()


def _id_chunk() -> list[str]:
    n = _IDS_PER_CHUNK
    digits = os.urandom(16 * n).hex().encode()
    text = bytearray(37 * n)  # 36 characters and a newline per id
    for pos, digit in _TEXT_FROM_HEX:
        text[pos::37] = digits[digit::32]
    for pos in _DASHES:
        text[pos::37] = b"-" * n
    text[14::37] = b"4" * n  # version 4
    text[19::37] = digits[16::32].translate(_VARIANT_DIGIT)
    text[36::37] = b"\n" * n
    ids = text.decode("ascii").split("\n")
    ids.pop()  # after the last newline
    return ids


def _forget_random_chunk() -> None:
    _ready_ids.clear()


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


_EXTENSION_NAME = re.compile(r"[a-z0-9]{1,20}\Z")
CORE_ATTRIBUTES = frozenset(
    "id source specversion type datacontenttype dataschema subject time data".split()
)
MAX_EXTENSION_VALUE = 4096  # bytes of one extension's value: headers are metadata, not payload
# CloudEvents 1.0 type system, String: no control characters (U+0000-U+001F, U+007F-U+009F), no
# surrogates, no noncharacters (U+FDD0-U+FDEF and the last two code points of every plane).
_NOT_CE_STRING = re.compile(
    "[\x00-\x1f\x7f-\x9f\ud800-\udfff\ufdd0-\ufdef"
    + "".join(f"{chr(p * 0x10000 + 0xFFFE)}{chr(p * 0x10000 + 0xFFFF)}" for p in range(17))
    + "]"
)
_SHOWN_RAW = re.compile(r"[^\x20-\x26\x28-\x5b\x5d-\x7e]")  # all but ' and \ of printable ASCII


def _shown(name: str) -> str:
    """``name`` for a field path, as the Node twin writes it: printable ASCII other than ``'`` and
    ``\\`` as is, every other UTF-16 code unit as ``\\uXXXX`` (any name reads the same in both)."""

    def escape(m: re.Match[str]) -> str:
        units = m[0].encode("utf-16-be", "surrogatepass")
        return "".join(f"\\u{units[i]:02x}{units[i + 1]:02x}" for i in range(0, len(units), 2))

    return _SHOWN_RAW.sub(escape, name)


def extension_headers(event_type: str, extensions: Mapping[str, str]) -> Headers:
    """``ce_<name>`` headers for CloudEvents extension attributes, checked: ``extensions`` is a
    mapping, each name 1-20 lowercase ASCII letters or digits and not a core attribute, each value a
    ``str`` of CloudEvents characters (no control character, surrogate or noncharacter) and at most
    4096 UTF-8 bytes. A bad one raises ``EventValidationError`` naming ``event_type`` and the field
    ``extensions['<name>']`` (``extensions`` when it is not a mapping), exactly as the Node twin's
    ``extensionHeaders`` does (tests/shared/event_inputs.json, ``extensions``)."""
    if not isinstance(extensions, Mapping):
        raise EventValidationError(
            event_type,
            "extensions",
            f"must be a mapping of name -> str, got {type(extensions).__name__}",
        )
    out: Headers = []
    for name, value in extensions.items():
        if not isinstance(name, str):
            raise EventValidationError(
                event_type, f"extensions[{name!r}]", "an extension name must be a str"
            )
        where = f"extensions['{_shown(name)}']"
        if not _EXTENSION_NAME.match(name):
            raise EventValidationError(
                event_type, where, "an extension name is 1-20 lowercase ASCII letters or digits"
            )
        if name in CORE_ATTRIBUTES:
            raise EventValidationError(
                event_type, where, "is a CloudEvents core attribute, not an extension"
            )
        if not isinstance(value, str):
            got = "null" if value is None else type(value).__name__
            raise EventValidationError(event_type, where, f"must be a string, got {got}")
        bad = _NOT_CE_STRING.search(value)
        if bad is not None:
            raise EventValidationError(
                event_type,
                where,
                f"contains U+{ord(bad[0]):04X}: a CloudEvents string has no control character, "
                "surrogate or noncharacter",
            )
        raw = value.encode()
        if len(raw) > MAX_EXTENSION_VALUE:
            raise EventValidationError(
                event_type, where, f"is {len(raw)} bytes, over {MAX_EXTENSION_VALUE}"
            )
        out.append(("ce_" + name, raw))
    return out


def seal(event: Event, source: str) -> tuple[bytes, bytes, Headers]:
    """``(key, value, headers)`` of ``event`` as ``seal_record`` makes them, for tools and tests
    that write records of any time themselves (no check against this clock). Unlike the producer,
    this fills the generated envelope fields into ``event`` itself, so that the caller knows them.
    """
    key, value, headers, ts = seal_record(event, source, future_ms=None)
    if not event.event_id:
        event.event_id = headers[1][1].decode()
    if not event.timestamp:
        event.timestamp = ts
    if not event.source:
        event.source = source
    return key, value, headers


def seal_record(
    event: Event, source: str, future_ms: int | None = MAX_FUTURE_MS
) -> tuple[bytes, bytes, Headers, int]:
    """Validate ``event``, fill the envelope's generated fields on a validated copy, and return
    ``(key, value, headers, timestamp_ms)``; ``event`` itself is left as it was. A timestamp more
    than ``future_ms`` ahead of this clock is refused (the producer's check; None: no check).

    Raises ``EventValidationError`` (naming type and field) and leaves nothing half-sent.
    This runs once per produced event: per-type facts, the source header and the ``ce_time``
    header of the current millisecond are looked up, not rebuilt.
    """
    checker, key_attr, type_header = _SEAL_INFO.get(type(event)) or _seal_info(type(event))
    try:
        copy = checker.decode(_PACKER.encode(event))  # validation by the type's decoder, in C
    except (TypeError, ValueError, OverflowError, msgspec.ValidationError):
        copy = checked_event(event)  # raises the EventValidationError that names type and field
    event_id = copy.event_id
    if not event_id:
        event_id = copy.event_id = new_event_id()
    ts = copy.timestamp
    if not ts:
        ts = copy.timestamp = _time_ns() // 1_000_000
    elif future_ms is not None and ts > _time_ns() // 1_000_000 + future_ms:
        raise future_timestamp(type(event).__name__, ts)
    src = copy.source
    if not src:
        src = copy.source = source
    elif not src.strip():
        raise EventValidationError(type(event).__name__, "source", EMPTY_SOURCE)
    value = _ENCODER.encode(copy)
    key = (
        getattr(copy, key_attr) if key_attr else f"{copy.source_dataset}->{copy.target_dataset}"
    ).encode()  # type: ignore[attr-defined]
    time_header = _time_header
    if time_header[0] != ts:
        time_header = _new_time_header(ts)
    return (
        key,
        value,
        [
            _SPEC_HEADER,
            ("ce_id", event_id.encode()),
            _SOURCE_HEADERS.get(src) or _source_header(src),
            type_header,
            time_header[1],
            _CONTENT_TYPE_HEADER,
        ],
        ts,
    )


EMPTY_SOURCE = (
    "must not be empty or blank (it is the CloudEvents source, a non-empty URI-reference)"
)


def future_timestamp(event_type: str, ts: int) -> EventValidationError:
    """The error for a timestamp Kafka would refuse as too far ahead of the broker's clock."""
    return EventValidationError(
        event_type,
        "timestamp",
        f"{ts} ({rfc3339_ms(ts)}) is more than {MAX_FUTURE_MS} ms (1 hour) ahead of this clock: "
        "Kafka brokers "
        "refuse such records with INVALID_TIMESTAMP (log.message.timestamp.after.max.ms, 3600000 "
        "by default "
        "since Kafka 4.0); give the time the event happened, in epoch milliseconds",
    )


def check_source(source: object, where: str = "source_service") -> str:
    """``source`` if it can be a CloudEvents source (a non-blank string), else ConfigError naming
    ``where``."""
    if not isinstance(source, str) or not source.strip():
        raise ConfigError(f"{source!r} {EMPTY_SOURCE}", where=where)
    return source


_SEAL_INFO: dict[
    type, tuple[Any, str, tuple[str, bytes]]
] = {}  # cls -> (decoder, key attribute, ce_type header)
_SOURCE_HEADERS: dict[str, tuple[str, bytes]] = {}
_time_header: tuple[int, tuple[str, bytes]] = (-1, ("ce_time", b""))


def _seal_info(cls: type) -> tuple[Any, str, tuple[str, bytes]]:
    if cls not in EVENT_TYPES:
        raise EventValidationError(cls.__name__, None, "not one of the 12 catalog event types")
    spec = TOPICS_BY_NAME[cls.TOPIC]  # type: ignore[attr-defined]
    attr = "" if "->" in spec.key_field else _snake(spec.key_field)
    info = _SEAL_INFO[cls] = (event_checker(cls), attr, ("ce_type", cls.CE_TYPE.encode()))  # type: ignore[attr-defined]
    return info


def _new_time_header(ts: int) -> tuple[int, tuple[str, bytes]]:
    global _time_header
    header = _time_header = (ts, ("ce_time", rfc3339_ms(ts).encode()))
    return header


def _source_header(source: str) -> tuple[str, bytes]:
    header = ("ce_source", source.encode())
    if (
        len(_SOURCE_HEADERS) < 1024
    ):  # sources are service names: few; never let the cache grow unbounded
        _SOURCE_HEADERS[source] = header
    return header


def headers_dict(headers: Headers | None) -> dict[str, str]:
    """Headers as text, for display (``events tail --json``); undecodable bytes are escaped."""
    return {k: (v or b"").decode("utf-8", "backslashreplace") for k, v in (headers or [])}
