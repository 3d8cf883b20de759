"""The readers' one-read shortcuts give the same events and errors as plain ``next_event``.

``RequestReader.whole_head`` (a read that is exactly one request head) and
``ResponseReader.take_rest`` (the rest of a length-framed or empty body, right after its head)
are what the proxy's fast paths use; whatever the bytes and however they are cut into reads,
driving a reader through them must yield what feeding the same reads and draining
``next_event`` yields.
"""

from __future__ import annotations

import pytest

from carbonplane.errors import HttpError
from carbonplane.http import (
    CONNECTION_CLOSED,
    END_OF_MESSAGE,
    NEED_DATA,
    Limits,
    RequestHead,
    RequestHeadParser,
    RequestReader,
    ResponseHead,
    ResponseHeadParser,
    ResponseReader,
)

HEAD_ATTRS = (
    "method",
    "target",
    "path",
    "query",
    "version",
    "headers",
    "host",
    "framing",
    "content_length",
    "keep_alive",
    "connection_tokens",
    "expect_continue",
)
RESPONSE_ATTRS = (
    "status",
    "reason",
    "version",
    "headers",
    "framing",
    "content_length",
    "keep_alive",
    "connection_tokens",
)

GET = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
REQUESTS = [
    GET,
    GET + GET,  # pipelined
    b"\r\n" + GET,  # a CRLF before the message is ignored
    b"POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello" + GET,
    b"POST /p HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    b"GET /a HTTP/1.0\r\nHost: x\r\n\r\n",
    b"GET /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    b"GET /a/../b//c HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /a HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
    b"GET /a HTTP/1.1\r\nHost: x\r\n folded: y\r\n\r\n",
    b"GET /a HTTP/1.1\nHost: x\n\n",  # bare LF line ends
    b"GET /a HTTP/1.1\r\nHost: x\r\nX: a\rb\r\n\r\n",
    b"GET /a HTTP/1.1\r\n\r\n",  # no Host
    b"GET",
    b"GET /a HTTP/1.1\r\nHost: x\r\n",  # cut before the end of the head
    b"GET /" + b"a" * 200 + b" HTTP/1.1\r\nHost: x\r\n\r\n",  # over the small head limit below
]
RESPONSES = [
    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
    b"HTTP/1.1 204 No Content\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA",  # bytes after the message
    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nok",  # body still coming
    b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n!",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\n\r\nuntil close",
    b"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.1 20 OK\r\n\r\n",
]


def _cuts(raw: bytes) -> list[list[bytes]]:
    """The whole input in one read, byte by byte, and every split into two reads."""
    cuts = [[raw], [raw[i : i + 1] for i in range(len(raw))]]
    cuts += [[raw[:i], raw[i:]] for i in range(1, len(raw))]
    return cuts


def _norm(event):
    if isinstance(event, RequestHead):
        return ("head", tuple(getattr(event, a) for a in HEAD_ATTRS))
    if isinstance(event, ResponseHead):
        return ("response", tuple(getattr(event, a) for a in RESPONSE_ATTRS))
    return event


def _drain(reader, events: list) -> None:
    while True:
        event = reader.next_event()
        if event is NEED_DATA or event is CONNECTION_CLOSED:
            return
        events.append(_norm(event))


def _run(reads: list[bytes], reader, shortcut) -> list:
    events: list = []
    try:
        for data in reads:
            if shortcut is None:
                reader.feed(data)
            else:
                shortcut(reader, data, events)
            _drain(reader, events)
    except HttpError as exc:
        events.append(("error", exc.status, exc.reason))
    return events


def _whole_head(reader, data: bytes, events: list) -> None:
    # the engine asks only between requests; draining first keeps that true here
    head = reader.whole_head(data)
    if head is not None:
        events.append(_norm(head))
        if head.framing == 0:
            events.append(END_OF_MESSAGE)


def _request_reader() -> RequestReader:
    return RequestReader(RequestHeadParser(Limits(max_head_bytes=128)))


@pytest.mark.parametrize("raw", REQUESTS)
def test_whole_head_matches_next_event(raw):
    for reads in _cuts(raw):
        plain = _run(reads, _request_reader(), None)
        fast = _run(reads, _request_reader(), _whole_head)
        assert fast == plain, reads


def test_whole_head_answers_only_a_read_that_is_exactly_one_head():
    reader = _request_reader()
    assert reader.whole_head(b"GET") is None  # no CRLFCRLF: fed, waits for more
    assert reader.next_event() is NEED_DATA
    reader = _request_reader()
    head = reader.whole_head(GET)
    assert head.path == b"/a" and reader.buffered == 0 and reader.between_messages
    assert reader.whole_head(GET + GET) is None  # two heads: plain events
    assert _norm(reader.next_event()) == _norm(head)


def _take_rest(reader, data: bytes, events: list) -> None:
    reader.feed(data)
    while True:
        event = reader.next_event()
        if event is NEED_DATA or event is CONNECTION_CLOSED:
            return
        events.append(_norm(event))
        if isinstance(event, ResponseHead):
            body = reader.take_rest()
            if body is not None:
                if body:
                    events.append(body)
                events.append(END_OF_MESSAGE)
                reader.expect(b"GET")
            return


def _plain_responses(reads: list[bytes], method: bytes) -> list:
    reader = ResponseReader(ResponseHeadParser(Limits()))
    reader.expect(method)
    events = _run(reads, reader, None)
    return [e for e in events if e != b""]


@pytest.mark.parametrize("raw", RESPONSES)
def test_take_rest_matches_next_event(raw):
    for reads in _cuts(raw):
        reader = ResponseReader(ResponseHeadParser(Limits()))
        reader.expect(b"GET")
        fast = [e for e in _run(reads, reader, _take_rest) if e != b""]
        assert fast == _plain_responses(reads, b"GET"), reads


def test_take_rest_consumes_the_message_or_nothing():
    reader = ResponseReader(ResponseHeadParser(Limits()))
    reader.expect(b"GET")
    reader.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nok")
    assert isinstance(reader.next_event(), ResponseHead)
    assert reader.take_rest() is None  # two bytes still to come: nothing consumed
    assert reader.next_event() == b"ok"
    reader.feed(b"!!")
    assert reader.next_event() == b"!!"
    assert reader.next_event() is END_OF_MESSAGE
    reader.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    assert isinstance(reader.next_event(), ResponseHead)
    assert reader.take_rest() == b"ok"
    assert reader.buffered == 0 and reader.between_messages
