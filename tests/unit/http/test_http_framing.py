"""Request framing on raw bytes: every smuggling form of RFC 9112 §6.3 is refused."""

from __future__ import annotations

import pytest
from rawhttp import read_requests, rejected

from carbonplane.http import (
    END_OF_MESSAGE,
    FRAMING_CHUNKED,
    FRAMING_LENGTH,
    NEED_DATA,
    Limits,
    RequestHead,
    RequestHeadParser,
    RequestReader,
)

HEAD = b"POST /upload HTTP/1.1\r\nHost: api.example\r\n"

SMUGGLING = {
    "cl_and_te": HEAD + b"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "te_and_cl": HEAD + b"Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n",
    "duplicate_cl_same": HEAD + b"Content-Length: 1\r\nContent-Length: 1\r\n\r\nx",
    "duplicate_cl_diff": HEAD + b"Content-Length: 1\r\nContent-Length: 2\r\n\r\nxy",
    "cl_list": HEAD + b"Content-Length: 1, 1\r\n\r\nx",
    "cl_plus": HEAD + b"Content-Length: +1\r\n\r\nx",
    "cl_minus": HEAD + b"Content-Length: -1\r\n\r\n",
    "cl_hex": HEAD + b"Content-Length: 0x1\r\n\r\nx",
    "cl_space_inside": HEAD + b"Content-Length: 1 1\r\n\r\nx",
    "cl_overflow": HEAD + b"Content-Length: 99999999999999999999999\r\n\r\n",
    "cl_empty": HEAD + b"Content-Length: \r\n\r\n",
    "cl_underscore_name": HEAD + b"Content_Length: 1\r\nContent-Length: 1\r\n\r\nx",
    "te_not_last": HEAD + b"Transfer-Encoding: chunked, gzip\r\n\r\n",
    "te_identity": HEAD + b"Transfer-Encoding: identity\r\n\r\n",
    "te_unknown": HEAD + b"Transfer-Encoding: xchunked\r\n\r\n",
    "te_twice_chunked": HEAD + b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
    "te_empty": HEAD + b"Transfer-Encoding: \r\n\r\n",
    "te_space_before_colon": HEAD + b"Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n",
    "te_in_http10": b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "te_obs_fold": HEAD + b"Transfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n",
    "te_vertical_tab": HEAD + b"Transfer-Encoding:\x0bchunked\r\n\r\n0\r\n\r\n",
    "bare_lf_lines": b"POST / HTTP/1.1\nHost: a\nContent-Length: 1\n\nx",
    "bare_cr": HEAD + b"Content-Length: 1\rX: y\r\n\r\nx",
    "nul_in_value": HEAD + b"X: a\x00b\r\nContent-Length: 0\r\n\r\n",
    "chunk_size_plus": HEAD + b"Transfer-Encoding: chunked\r\n\r\n+5\r\nhello\r\n0\r\n\r\n",
    "chunk_size_0x": HEAD + b"Transfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n",
    "chunk_size_space": HEAD + b"Transfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n0\r\n\r\n",
    "chunk_size_lead_space": HEAD + b"Transfer-Encoding: chunked\r\n\r\n 5\r\nhello\r\n0\r\n\r\n",
    "chunk_size_overflow": HEAD + b"Transfer-Encoding: chunked\r\n\r\n" + b"f" * 17 + b"\r\n",
    "chunk_size_empty": HEAD + b"Transfer-Encoding: chunked\r\n\r\n\r\nhello\r\n0\r\n\r\n",
    "chunk_ext_lf": HEAD + b"Transfer-Encoding: chunked\r\n\r\n5;a\nb\r\nhello\r\n0\r\n\r\n",
    "chunk_ext_bad": HEAD + b"Transfer-Encoding: chunked\r\n\r\n5;=x\r\nhello\r\n0\r\n\r\n",
    "chunk_ext_unterminated_quote": HEAD
    + b'Transfer-Encoding: chunked\r\n\r\n5;a="b\r\nhello\r\n0\r\n\r\n',
    "chunk_data_no_crlf": HEAD + b"Transfer-Encoding: chunked\r\n\r\n5\r\nhelloX\r\n0\r\n\r\n",
    "chunk_data_lf_only": HEAD + b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\n0\r\n\r\n",
    "chunk_line_lf_only": HEAD + b"Transfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n",
    "trailer_bad": HEAD + b"Transfer-Encoding: chunked\r\n\r\n0\r\nbad trailer\r\n\r\n",
}


@pytest.mark.parametrize("raw", SMUGGLING.values(), ids=SMUGGLING.keys())
def test_smuggling_forms_are_rejected(raw):
    assert rejected(raw) in (400, 501)


@pytest.mark.parametrize("raw", SMUGGLING.values(), ids=SMUGGLING.keys())
def test_smuggling_forms_are_rejected_byte_by_byte(raw):
    assert rejected(raw, step=1) in (400, 501)


def test_te_with_earlier_coding_is_not_implemented():
    assert rejected(HEAD + b"Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n") == 501


def test_content_length_body_is_framed_exactly():
    events = read_requests(
        HEAD + b"Content-Length: 5\r\n\r\nhelloGET / HTTP/1.1\r\nHost: a\r\n\r\n"
    )
    head, body, end, head2, end2 = events
    assert isinstance(head, RequestHead) and head.framing == FRAMING_LENGTH
    assert head.content_length == 5 and body == b"hello" and end is END_OF_MESSAGE
    assert head2.path == b"/" and end2 is END_OF_MESSAGE


def test_content_length_ows_is_allowed():
    head, body, _ = read_requests(HEAD + b"Content-Length: \t 3 \t\r\n\r\nabc")
    assert head.content_length == 3 and body == b"abc"


def test_zero_content_length_has_no_body():
    head, end = read_requests(HEAD + b"Content-Length: 0\r\n\r\n")
    assert end is END_OF_MESSAGE


@pytest.mark.parametrize("step", [None, 1, 3, 7])
def test_chunked_body_decodes_with_extensions_and_trailers(step):
    raw = (
        HEAD + b"Transfer-Encoding: Chunked\r\n\r\n"
        b'5;name=val;q="a \\" b"\r\nhello\r\n'
        b"6 ; ext\r\n world\r\n"
        b"0\r\nX-Checksum: abc\r\n\r\n"
    )
    head, body, end = read_requests(raw, step=step)
    assert head.framing == FRAMING_CHUNKED and body == b"hello world" and end is END_OF_MESSAGE


def test_declared_body_over_limit_is_413():
    assert rejected(HEAD + b"Content-Length: 11\r\n\r\n", limits=Limits(max_body_bytes=10)) == 413


def test_chunked_body_over_limit_is_413():
    raw = HEAD + b"Transfer-Encoding: chunked\r\n\r\n6\r\nhello!\r\n6\r\nhello!\r\n0\r\n\r\n"
    assert rejected(raw, limits=Limits(max_body_bytes=10)) == 413


def test_body_cut_by_eof_is_an_error():
    assert rejected(HEAD + b"Content-Length: 10\r\n\r\nabc", eof=True) == 400


def test_chunked_size_line_limit():
    raw = HEAD + b"Transfer-Encoding: chunked\r\n\r\n5;" + b"a" * 5000
    assert rejected(raw, limits=Limits(max_chunk_line=4096)) == 400


def test_the_chunks_of_one_read_are_one_body_event():
    body = bytes(range(65, 91)) * 8
    chunks = b"".join(b"1\r\n%c\r\n" % c for c in body) + b"3;ext=1\r\nxyz\r\n"
    raw = (
        HEAD
        + b"Transfer-Encoding: chunked\r\n\r\n"
        + chunks
        + b"0\r\nT: 1\r\n\r\n"
        + HEAD
        + b"\r\n"
    )
    reader = RequestReader(RequestHeadParser(Limits()))
    reader.feed(raw)
    events = [reader.next_event() for _ in range(5)]
    assert events[1:3] == [body + b"xyz", END_OF_MESSAGE]  # 209 chunks, one piece, then END
    assert events[3].method == b"POST" and events[4] is END_OF_MESSAGE  # the next request waits
    reader = RequestReader(RequestHeadParser(Limits()))  # two reads: one piece per read
    head = HEAD + b"Transfer-Encoding: chunked\r\n\r\n"
    reader.feed(head + chunks[:100])
    assert reader.next_event().method == b"POST"
    first = reader.next_event()
    assert reader.next_event() is NEED_DATA
    reader.feed(chunks[100:] + b"0\r\n\r\n")
    assert first + reader.next_event() == body + b"xyz" and reader.next_event() is END_OF_MESSAGE
