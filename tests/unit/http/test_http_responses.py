"""Upstream response framing (RFC 9112 §6.3) and rejection of invalid responses as 502."""

from __future__ import annotations

import pytest
from rawhttp import read_responses

from carbonplane.errors import HttpError
from carbonplane.http import (
    CONNECTION_CLOSED,
    END_OF_MESSAGE,
    FRAMING_CHUNKED,
    FRAMING_CLOSE,
    FRAMING_LENGTH,
    FRAMING_NONE,
    ResponseHead,
)


def test_content_length_response():
    head, body, end = read_responses(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
    assert isinstance(head, ResponseHead) and head.status == 200 and head.reason == b"OK"
    assert head.framing == FRAMING_LENGTH and body == b"hello" and end is END_OF_MESSAGE


@pytest.mark.parametrize("step", [None, 1, 4])
def test_chunked_response(step):
    raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
    head, body, end = read_responses(raw, step=step)
    assert head.framing == FRAMING_CHUNKED and body == b"abcde" and end is END_OF_MESSAGE


def test_until_close_response():
    head, body, end, closed = read_responses(b"HTTP/1.1 200 OK\r\n\r\nstream", eof=True)
    assert head.framing == FRAMING_CLOSE and body == b"stream" and end is END_OF_MESSAGE
    assert closed is CONNECTION_CLOSED


@pytest.mark.parametrize("status", [204, 304])
def test_no_body_statuses(status):
    head, end = read_responses(b"HTTP/1.1 %d X\r\nContent-Length: 10\r\n\r\n" % status)
    assert head.framing == FRAMING_NONE and end is END_OF_MESSAGE


def test_head_response_has_no_body_but_keeps_length():
    head, end = read_responses(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", method=b"HEAD")
    assert head.framing == FRAMING_NONE and head.get(b"content-length") == b"10"


def test_interim_responses_are_skipped():
    raw = (
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
        b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"
    )
    head, end = read_responses(raw)
    assert head.status == 201


def test_status_line_without_reason():
    head = read_responses(b"HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n")[0]
    assert head.status == 200 and head.reason == b""


BAD = {
    "cl_and_te": b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
    "dup_cl": b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
    "bad_cl": b"HTTP/1.1 200 OK\r\nContent-Length: 3x\r\n\r\n",
    "te_gzip_only": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
    "switching": b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n",
    "header_injection": b"HTTP/1.1 200 OK\r\nX: a\rSet-Cookie: evil\r\n\r\n",
    "version": b"HTTP/2.0 200 OK\r\n\r\n",
    "garbage": b"hello there\r\n\r\n",
    "status_4_digits": b"HTTP/1.1 2000 OK\r\n\r\n",
}


@pytest.mark.parametrize("raw", BAD.values(), ids=BAD.keys())
def test_invalid_responses_are_502(raw):
    with pytest.raises(HttpError) as info:
        read_responses(raw)
    assert info.value.status == 502


def test_truncated_body_is_502():
    with pytest.raises(HttpError) as info:
        read_responses(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", eof=True)
    assert info.value.status == 502
