"""What callers hand the producer, checked without coercion: method arguments and custom payloads.

Two doors lead into the producer besides a typed event object, and both refuse instead of guess:

- the ``produce_*_event`` methods: ``checked_arguments`` turns what would be Python's own
  ``TypeError`` for a missing argument into the ``EventValidationError`` every other wrong input
  raises, naming the event type and the wire field (``produce_api_call_event``'s ``request_size``
  is the field ``requestSizeBytes``). The methods keep their plain signatures for IDEs and
  ``help()`` (``functools.wraps``); the wrapper costs one Python call per event. (Too many
  positional arguments, or one given twice, remain a TypeError: a bug in the calling code, not a
  value.)
- ``produce_custom_event`` with a payload that is not a catalog type: ``check_custom`` refuses
  what JSON cannot hold or would change (bytes, which msgspec would write as base64 text; NaN and
  infinity, written as ``null``; non-string keys, written as text) and checks the envelope fields
  that become CloudEvents headers: ``eventId`` and ``source`` non-empty strings, ``timestamp`` epoch
  milliseconds as an integer within what RFC 3339 writes and Kafka accepts.

Invariant: nothing here converts a value; a value is passed on as given or refused.
"""

from __future__ import annotations

import functools
import inspect
import math
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import msgspec

from carbonplane.errors import EventValidationError
from carbonplane.events.envelope import EMPTY_SOURCE, MAX_FUTURE_MS, future_timestamp
from carbonplane.events.types import MAX_TIMESTAMP_MS, Event

F = TypeVar("F", bound=Callable[..., Any])

# Method parameters whose wire field has another name (the original library's parameter names).
FIELD_OF_PARAMETER = {"request_size": "requestSizeBytes", "response_size": "responseSizeBytes"}


def checked_arguments(cls: type[Event]) -> Callable[[F], F]:
    """Decorate a ``produce_*_event`` method of ``cls``: a call missing a required argument raises
    EventValidationError (counted as rejected by the producer) instead of TypeError.

    The wrapper is generated with the method's own parameters (as ``dataclasses`` generates
    ``__init__``), each required one defaulting to a sentinel that is checked with ``is``: a plain
    Python-to-Python call, which costs a third of a generic ``*args, **kwargs`` wrapper per event.
    ``functools.wraps`` keeps the method's name, docstring and signature (``__wrapped__``)."""

    def wrap(method: F) -> F:
        params = list(inspect.signature(method).parameters.values())[1:]  # after self
        named, extra = params[:-1], params[-1]
        if extra.kind is not extra.VAR_KEYWORD or any(p.kind is not p.POSITIONAL_OR_KEYWORD for p in named):
            raise TypeError(f"{method.__qualname__}: expected (self, named parameters..., **extra)")
        required = [p.name for p in named if p.default is p.empty]
        env: dict[str, Any] = {"_MISSING": _MISSING, "_method": method, "_missing": _missing_argument, "_cls": cls}
        heads = []
        for p in named:
            if p.default is p.empty:
                heads.append(f"{p.name}=_MISSING")
            else:
                env[f"_default_{p.name}"] = p.default
                heads.append(f"{p.name}=_default_{p.name}")
        names = ", ".join(p.name for p in named)
        source = (
            f"def {method.__name__}(self, {', '.join(heads)}, **{extra.name}):\n"
            f"    if {' or '.join(f'{n} is _MISSING' for n in required)}:\n"
            f"        _missing(self, _cls, {tuple(required)!r}, ({', '.join(required)},))\n"
            f"    if {extra.name}:\n"
            f"        return _method(self, {names}, **{extra.name})\n"
            f"    return _method(self, {names})\n"
        )
        exec(compile(source, f"<checked_arguments {method.__qualname__}>", "exec"), env)  # noqa: S102
        return functools.wraps(method)(env[method.__name__])  # type: ignore[return-value]

    return wrap


class _Missing:
    """The default of a required ``produce_*_event`` parameter in its wrapper: not given."""

    def __repr__(self) -> str:
        return "<required>"


_MISSING = _Missing()


def _missing_argument(producer: Any, cls: type[Event], names: tuple[str, ...], values: tuple[Any, ...]) -> None:
    """Raise (and count) the EventValidationError for the first required argument not given."""
    name = next(n for n, v in zip(names, values) if v is _MISSING)
    err = EventValidationError(cls.__name__, FIELD_OF_PARAMETER.get(name) or _camel(name), "missing required field")
    producer._reject(cls.TOPIC, cls.__name__, err)
    raise err


def _camel(snake: str) -> str:
    head, *rest = snake.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def check_custom(event: Any) -> tuple[bytes, str | None, str | None, int | None]:
    """``(json, eventId, source, timestamp)`` of a custom payload; EventValidationError("custom", field)."""
    if not isinstance(event, Mapping):
        raise EventValidationError("custom", None, f"the event must be a mapping (a JSON object), got {type(event).__name__}")
    _refuse_unwritable(event, "")
    try:
        value = msgspec.json.encode(event)
    except (TypeError, ValueError, OverflowError) as exc:
        raise EventValidationError("custom", None, f"event is not JSON-serialisable: {exc}") from None
    event_id, source, ts = event.get("eventId"), event.get("source"), event.get("timestamp")
    if event_id is not None and not (isinstance(event_id, str) and event_id.strip()):
        raise EventValidationError("custom", "eventId", f"must be a non-empty string (it is ce_id), got {event_id!r}")
    if source is not None and not (isinstance(source, str) and source.strip()):
        raise EventValidationError("custom", "source", f"{source!r} {EMPTY_SOURCE}")
    if ts is not None:
        if type(ts) is not int:
            raise EventValidationError("custom", "timestamp", f"must be epoch milliseconds as an integer (it becomes ce_time and the record timestamp), got {type(ts).__name__} ({ts!r})")
        if not 0 <= ts <= MAX_TIMESTAMP_MS:
            raise EventValidationError("custom", "timestamp", f"must be between 0 and {MAX_TIMESTAMP_MS} (9999-12-31T23:59:59.999Z, the last instant RFC 3339 writes), got {ts}")
        if ts > time.time_ns() // 1_000_000 + MAX_FUTURE_MS:
            raise future_timestamp("custom", ts)
    return value, event_id, source, ts


def _refuse_unwritable(value: Any, path: str) -> None:
    """Raise for bytes, non-finite floats and non-string keys anywhere inside ``value``."""
    if isinstance(value, float):
        if not math.isfinite(value):
            name = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}[repr(value)]
            raise EventValidationError("custom", path or None, f"{name} is not a valid number (must be finite)")
    elif isinstance(value, (bytes, bytearray, memoryview)):
        raise EventValidationError("custom", path or None, "bytes are not JSON: decode them to a string (or base64) yourself")
    elif isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise EventValidationError("custom", path or None, f"keys must be strings, got {type(key).__name__} ({key!r})")
            _refuse_unwritable(item, f"{path}.{key}" if path else key)
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _refuse_unwritable(item, f"{path}[{i}]")
