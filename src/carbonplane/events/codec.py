"""Validating, encoding and decoding the catalog's events (``events/types.py``) as JSON.

``encode_event`` checks an instance against its type in C by round-tripping it through a
MessagePack decoder of the type, then writes the validated copy as JSON, and raises
``EventValidationError`` naming the type and the field. MessagePack, not JSON, for the check
because it keeps Python's types apart: JSON would write bytes as base64 text, a UUID or a Decimal
as text and NaN as ``null``, so a wrong value could pass as a string; in MessagePack bytes stay
bytes (and UUIDs are packed as bytes, Decimals as numbers), refused for a ``str`` field. (A naive
``datetime``/``date`` is still packed as ISO text and would pass for a text field.)

Invariants: the JSON written is that of the validated copy, so an ``int`` given for a float field is
written ``25.0``, as the Node twin writes it and as a JSON consumer inferring types from the value
expects (the schemas say ``number``/``double``). Nothing is coerced: a string is never read as a
list, a mapping never as a list, bytes never as text, ``bool`` is neither an int nor a float, a
float with a fraction part is not an int. Every error raised here is an ``EventValidationError``
naming the event type and, where one is to blame, the camelCase field.

Spec: docs/events.md (the catalog and its validation rules).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any

import msgspec
from msgspec import UNSET

from carbonplane.errors import EventValidationError
from carbonplane.events.types import EVENT_TYPES, EVENT_TYPES_BY_NAME, Event

_ENCODER = msgspec.json.Encoder()
_PACKER = msgspec.msgpack.Encoder(
    uuid_format="bytes", decimal_format="number"
)  # no UUID or Decimal passes as text
_DECODERS = {t: msgspec.json.Decoder(t) for t in EVENT_TYPES}
_CHECKERS = {t: msgspec.msgpack.Decoder(t) for t in EVENT_TYPES}  # validation on the produce path
_AT = re.compile(r"^(?P<problem>.*?)(?: - at (?P<key>`key` in )?`\$(?P<path>[^`]*)`)?$", re.S)
_JSON_LIKE = (str, int, float, list, tuple, dict, type(None))
_NON_FINITE = {
    "nan": "NaN",
    "inf": "Infinity",
    "-inf": "-Infinity",
}  # as JavaScript (the Node twin) prints them


def validation_error(event_type: str, exc: Exception) -> EventValidationError:
    """Turn a msgspec/constructor error into one naming the event type and the field."""
    for inner in (exc, exc.__cause__, exc.__context__):
        if isinstance(inner, EventValidationError):
            return inner
    text = str(exc)
    m = _AT.match(text)
    problem, path = (m.group("problem"), m.group("path")) if m else (text, None)
    field = path.lstrip(".") if path else None
    if m and m.group("key"):  # a key of the map at ``path`` is wrong
        problem = f"a key of the map: {problem}"
    if field and "[...]" in field:  # msgspec's notation for "some value of this map"
        field, problem = field.replace("[...]", ""), f"a value of the map: {problem}"
    missing = re.search(r"[Mm]issing required (?:argument|field) [`']?(\w+)", text)
    unexpected = re.search(r"[Uu]nexpected keyword argument '(\w+)'|has no field '(\w+)'", text)
    name = missing or unexpected
    if name:  # the path points at the object; the field is the one named in the message
        named = _camel(name.group(1) or name.group(2))
        field = f"{field}.{named}" if field else named
        problem = "missing required field" if missing else f"unexpected field: {problem}"
    return EventValidationError(event_type, field, problem)


def _camel(snake: str) -> str:
    head, *rest = snake.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def event_decoder(cls: type[Event]) -> msgspec.json.Decoder:
    """The validating JSON decoder of a catalog event type (KeyError for anything else)."""
    return _DECODERS[cls]


def event_checker(cls: type[Event]) -> msgspec.msgpack.Decoder:
    """The validating MessagePack decoder the produce path checks ``cls`` instances with."""
    return _CHECKERS[cls]


def checked_event(event: Event) -> Event:
    """A validated copy of ``event`` (floats as floats); raises EventValidationError naming the
    field."""
    cls = type(event)
    checker = _CHECKERS.get(cls)
    if checker is None:
        raise EventValidationError(cls.__name__, None, "not one of the 12 catalog event types")
    try:
        packed = _PACKER.encode(event)
    except (TypeError, ValueError, OverflowError) as exc:
        raise _unencodable(event, exc) from None
    try:
        return checker.decode(packed)
    except msgspec.ValidationError as exc:
        raise _explain(
            validation_error(cls.__name__, exc), lambda field: getattr(event, _snake(field), None)
        ) from None


def encode_event(event: Event) -> bytes:
    """Validate ``event`` against its type and return its JSON bytes (raises
    EventValidationError)."""
    return _ENCODER.encode(checked_event(event))


def _unencodable(event: Event, exc: Exception) -> EventValidationError:
    """Name the field whose value cannot be encoded (an object, an int beyond 64 bits)."""
    for name, encode_name in zip(event.__struct_fields__, event.__struct_encode_fields__):
        value = getattr(event, name)
        if value is UNSET:
            continue
        try:
            _PACKER.encode(value)
        except (TypeError, ValueError, OverflowError) as inner:
            return EventValidationError(
                type(event).__name__, encode_name, f"cannot be encoded as JSON: {inner}"
            )
    return EventValidationError(type(event).__name__, None, f"cannot be encoded as JSON: {exc}")


def payload_error(
    event_type: str, payload: Mapping[str, Any], exc: Exception
) -> EventValidationError:
    """The EventValidationError for a whole camelCase payload that failed to convert to its type."""
    return _explain(validation_error(event_type, exc), payload.get)


def _explain(err: EventValidationError, value_of: Callable[[str], Any]) -> EventValidationError:
    """Sharpen a top-level field's error with the value at hand (``value_of(camelCaseField)``): JSON
    has no NaN or infinity, and a map error can name the offending key."""
    if not (err.field and err.field.isidentifier()):
        return err
    value = value_of(err.field)
    if isinstance(value, float) and not math.isfinite(value):
        return EventValidationError(
            err.event_type,
            err.field,
            f"{_NON_FINITE[repr(value)]} is not a valid number (must be finite)",
        )
    if (
        not isinstance(value, _JSON_LIKE) and "got `" in err.problem
    ):  # say "UUID", not how it was packed
        return EventValidationError(
            err.event_type,
            err.field,
            re.sub(r"got `[^`]*`", f"got `{type(value).__name__}`", err.problem, count=1),
        )
    if isinstance(value, dict) and err.problem.startswith("a value of the map: "):
        key = next((k for k, v in value.items() if not isinstance(v, str)), None)
        if key is not None:
            detail = err.problem.removeprefix("a value of the map: ")
            return EventValidationError(
                err.event_type, err.field, f"the value of key {key!r}: {detail}"
            )
    return err


def _snake(camel: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in camel)


def decode_event(data: bytes, event_type: str | None = None) -> Event:
    """Decode JSON bytes into the typed event named by ``event_type`` (or the payload's
    eventType)."""
    if event_type is None:
        try:
            event_type = msgspec.json.decode(data, type=_TypeProbe).event_type
        except msgspec.ValidationError as exc:  # JSON, but no object with a string eventType
            raise validation_error("<unknown>", exc) from None
        except msgspec.DecodeError as exc:
            raise EventValidationError("<unknown>", None, f"not valid JSON: {exc}") from None
    cls = EVENT_TYPES_BY_NAME.get(event_type)
    if cls is None:
        raise EventValidationError(event_type, "eventType", "not one of the 12 catalog event types")
    try:
        return _DECODERS[cls].decode(data)
    except msgspec.ValidationError as exc:
        raise validation_error(event_type, exc) from None
    except msgspec.DecodeError as exc:
        raise EventValidationError(event_type, None, f"not valid JSON: {exc}") from None


class _TypeProbe(msgspec.Struct, rename="camel"):
    event_type: str


def build_event(cls: type[Event], **fields: object) -> Event:
    """Construct ``cls`` from snake_case keyword arguments; ``None`` means absent."""
    clean = {k: v for k, v in fields.items() if v is not None}
    try:
        return cls(**clean)
    except EventValidationError:
        raise
    except TypeError as exc:
        raise validation_error(cls.__name__, exc) from None
