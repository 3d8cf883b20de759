"""Helpers for the sans-IO HTTP tests: run raw bytes through a reader and collect the events."""

from __future__ import annotations

import pytest

from carbonplane.errors import HttpError
from carbonplane.http import (
    CONNECTION_CLOSED,
    NEED_DATA,
    Limits,
    RequestHeadParser,
    RequestReader,
    ResponseHeadParser,
    ResponseReader,
)


def read_requests(
    raw: bytes,
    limits: Limits | None = None,
    *,
    escaped_slash: str = "reject",
    step: int | None = None,
    eof: bool = False,
) -> list:
    """All events of ``raw`` fed whole (or ``step`` bytes at a time); bodies joined per message."""
    reader = RequestReader(RequestHeadParser(limits or Limits(), escaped_slash))
    return _drain(reader, raw, step, eof)


def read_responses(
    raw: bytes, method: bytes = b"GET", *, step: int | None = None, eof: bool = False
) -> list:
    reader = ResponseReader(ResponseHeadParser(Limits()))
    reader.expect(method)
    return _drain(reader, raw, step, eof)


def _drain(reader, raw: bytes, step: int | None, eof: bool) -> list:
    events: list = []
    pieces = [raw] if step is None else [raw[i : i + step] for i in range(0, len(raw), step)]
    for i, piece in enumerate(pieces):
        reader.feed(piece)
        if eof and i == len(pieces) - 1:
            reader.feed_eof()
        _collect(reader, events)
    if eof and not pieces:
        reader.feed_eof()
        _collect(reader, events)
    return events


def _collect(reader, events: list) -> None:
    while True:
        event = reader.next_event()
        if event is NEED_DATA:
            return
        if isinstance(event, bytes) and events and isinstance(events[-1], bytes):
            events[-1] += event  # join body pieces so tests compare whole bodies
        else:
            events.append(event)
        if event is CONNECTION_CLOSED:
            return


def rejected(raw: bytes, **kwargs) -> int:
    """The status a request is rejected with; fails the test if it is accepted."""
    with pytest.raises(HttpError) as info:
        read_requests(raw, **kwargs)
    return info.value.status
