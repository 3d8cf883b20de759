"""Bounded fuzzing of the sans-IO HTTP layer (hypothesis; the whole file runs in well under 60 s).

Properties, on garbage and on structured inputs, fed whole and byte by byte:
1. the readers never raise anything but ``HttpError``, and never loop;
2. feeding whole or in random splits yields the same events (no desync on boundaries);
3. an accepted request never carries a smuggling form: never both framing headers (in any
   case/underscore/whitespace spelling an upstream might normalise), never a Content-Length
   that is not plain digits, never Transfer-Encoding other than a lone ``chunked``;
4. what the proxy forwards (its own head + re-framed body) parses back to the same request;
5. path normalisation is idempotent, stays under the root and leaves no dot segment.
"""

from __future__ import annotations

import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carbonplane.errors import HttpError
from carbonplane.http import (
    CONNECTION_CLOSED,
    END_OF_MESSAGE,
    FRAMING_CHUNKED,
    NEED_DATA,
    Limits,
    RequestHead,
    RequestHeadParser,
    RequestReader,
    ResponseHeadParser,
    ResponseReader,
    normalize_path,
)
from carbonplane.http.hop import request_head_bytes

FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
LIMITS = Limits(max_head_bytes=8192, max_headers=50, max_body_bytes=1 << 20)


def events_of(raw: bytes, splits: list[int] | None = None, response: bool = False):
    """(events, error status or None). Bodies are joined per message."""
    if response:
        reader = ResponseReader(ResponseHeadParser(LIMITS))
        reader.expect(b"GET")
    else:
        reader = RequestReader(RequestHeadParser(LIMITS))
    pieces = [raw]
    if splits is not None:
        cuts = sorted({s % (len(raw) + 1) for s in splits})
        pieces = [raw[a:b] for a, b in zip([0, *cuts], [*cuts, len(raw)])]
    out: list = []
    try:
        for piece in [*pieces, None]:
            if piece is None:
                reader.feed_eof()
            else:
                reader.feed(piece)
            for _ in range(10_000):
                event = reader.next_event()
                if event is NEED_DATA or event is CONNECTION_CLOSED:
                    break
                if isinstance(event, bytes) and out and isinstance(out[-1], bytes):
                    out[-1] += event
                else:
                    out.append(event)
            else:
                raise AssertionError("reader produced 10000 events without needing data")
    except HttpError as exc:
        return out, exc.status
    return out, None


def summary(events) -> list:
    """Comparable view of events (heads by their meaningful fields)."""
    view = []
    for e in events:
        if isinstance(e, RequestHead):
            view.append(("head", e.method, e.path, e.query, e.headers, e.framing, e.content_length))
        elif isinstance(e, bytes):
            view.append(("body", e))
        elif e is END_OF_MESSAGE:
            view.append("end")
        else:
            view.append(("response", e.status, e.headers, e.framing))
    return view


@FUZZ
@given(st.binary(max_size=600), st.lists(st.integers(0, 600), max_size=8))
def test_garbage_never_crashes_and_splits_do_not_matter(raw, splits):
    whole, error = events_of(raw)
    split, split_error = events_of(raw, splits)
    assert error == split_error and summary(whole) == summary(split)
    byte_by_byte, bytewise_error = events_of(raw, list(range(1, len(raw))))
    assert bytewise_error == error and summary(byte_by_byte) == summary(whole)


@FUZZ
@given(st.binary(max_size=600), st.lists(st.integers(0, 600), max_size=8))
def test_garbage_after_a_valid_request_line(tail, splits):
    raw = b"POST /x HTTP/1.1\r\nHost: a\r\n" + tail
    assert summary(events_of(raw)[0]) == summary(events_of(raw, splits)[0])


@FUZZ
@given(st.binary(max_size=400), st.lists(st.integers(0, 400), max_size=6))
def test_garbage_responses(tail, splits):
    raw = b"HTTP/1.1 200 OK\r\n" + tail
    assert summary(events_of(raw, response=True)[0]) == summary(events_of(raw, splits, True)[0])


# -- structured smuggling attempts ------------------------------------------------------------
def spellings(name: str):
    """Ways a sender might spell a header name (case, underscores, stray whitespace)."""
    return st.builds(
        lambda upper, sep, pre, post: (
            pre
            + "".join(c.upper() if u else c.lower() for c, u in zip(name, upper)).replace("-", sep)
            + post
        ),
        st.lists(st.booleans(), min_size=len(name), max_size=len(name)),
        st.sampled_from(["-", "_"]),
        st.sampled_from(["", "", " ", "\t"]),
        st.sampled_from(["", "", " ", "\t"]),
    )


FRAMING_VALUES = st.sampled_from(
    [
        "chunked",
        "Chunked",
        " chunked",
        "chunked ",
        "chunked, chunked",
        "gzip, chunked",
        "chunked, identity",
        "identity",
        "xchunked",
        "chunked;q=1",
        "",
        "\tchunked",
        "5",
        "0",
        "+5",
        "-1",
        "0x5",
        "5, 5",
        "05",
        " 5 ",
        "5\x0b",
        "99999999999999999999",
    ]
)
HEADER = st.tuples(
    st.one_of(
        spellings("Transfer-Encoding"),
        spellings("Content-Length"),
        st.sampled_from(["Host", "Connection", "X-A", "Expect"]),
    ),
    st.one_of(FRAMING_VALUES, st.sampled_from(["a", "close", "Content-Length", "100-continue"])),
    st.sampled_from([": ", ":", ": \t", ":\r\n ", " : "]),
)
BODY = st.sampled_from(
    [
        b"",
        b"hello",
        b"5\r\nhello\r\n0\r\n\r\n",
        b"0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n",
    ]
)


def _norm(name: bytes) -> bytes:
    return name.strip(b" \t").lower().replace(b"_", b"-")


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(HEADER, min_size=1, max_size=4), BODY, st.sampled_from([b"1.1", b"1.0"]))
def test_accepted_requests_never_carry_a_smuggling_form(headers, body, version):
    raw = (
        b"POST /x HTTP/%s\r\nHost: a\r\n" % version
        + b"".join(f"{n}{sep}{v}\r\n".encode("latin-1") for n, v, sep in headers)
        + b"\r\n"
        + body
    )
    events, _ = events_of(raw)
    for head in (e for e in events if isinstance(e, RequestHead)):
        names = [_norm(n) for n, _ in head.headers]
        cl = [v for n, v in head.headers if _norm(n) == b"content-length"]
        te = [v for n, v in head.headers if _norm(n) == b"transfer-encoding"]
        assert not (cl and te), raw
        assert len(cl) <= 1 and all(re.fullmatch(rb"[0-9]{1,18}", v) for v in cl), raw
        assert len(te) <= 1 and all(v.lower() == b"chunked" for v in te), raw
        assert names.count(b"host") == 1 or version == b"1.0"
        if te:
            assert head.framing == FRAMING_CHUNKED and version == b"1.1"


# -- what we forward parses back to what we read ---------------------------------------------
TOKEN = st.text("abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=12)
VALUE = st.text("".join(chr(c) for c in range(0x20, 0x7F)), max_size=30).map(str.strip)


@FUZZ
@given(
    st.sampled_from([b"GET", b"POST", b"PUT", b"DELETE", b"PATCH"]),
    st.lists(st.sampled_from(["a", "b", ".", "..", "", "%7E", "%41", "c%20d"]), max_size=6),
    st.lists(st.tuples(TOKEN, VALUE), max_size=8),
    st.binary(max_size=3000),
    st.booleans(),
    st.lists(st.integers(0, 4000), max_size=6),
)
def test_forwarded_request_parses_back_to_the_same_request(
    method, segments, fields, body, chunked, splits
):
    path = ("/" + "/".join(segments)).encode()
    framing = (
        b"Transfer-Encoding: chunked\r\n" if chunked else b"Content-Length: %d\r\n" % len(body)
    )
    encoded = (
        (b"%x\r\n%s\r\n" % (len(body), body) if body else b"") + b"0\r\n\r\n" if chunked else body
    )
    extra = b"".join(f"x-{n}: {v}\r\n".encode() for n, v in fields)
    raw = b"%s %s?q=1 HTTP/1.1\r\nHost: h\r\n%s%s\r\n%s" % (method, path, extra, framing, encoded)
    events, error = events_of(raw, splits)
    assert error is None, (raw, error)
    head, *rest = events
    received = b"".join(e for e in rest if isinstance(e, bytes))
    assert received == body and rest[-1] is END_OF_MESSAGE
    # re-serialise as the proxy does and read it again
    out_body = (
        (b"%x\r\n%s\r\n" % (len(body), body) if body else b"") + b"0\r\n\r\n"
        if head.framing == FRAMING_CHUNKED
        else body
    )
    forwarded = (
        request_head_bytes(
            head, head.path + head.query, b"up", b"", head.framing, head.content_length
        )
        + out_body
    )
    again, error = events_of(forwarded)
    assert error is None
    head2 = again[0]
    assert (head2.method, head2.path, head2.query) == (head.method, head.path, head.query)
    assert [h for h in head2.headers if h[0].startswith(b"x-")] == [
        h for h in head.headers if h[0].startswith(b"x-")
    ]
    assert b"".join(e for e in again if isinstance(e, bytes)) == body


# -- path normalisation -----------------------------------------------------------------------
@FUZZ
@given(
    st.lists(
        st.sampled_from(["a", ".", "..", "", "%2e", "%2E%2e", "b%7e", "%41", ";x", "~"]),
        max_size=10,
    )
)
def test_normalised_paths_are_stable_rooted_and_dot_free(segments):
    raw = ("/" + "/".join(segments)).encode()
    try:
        out = normalize_path(raw)
    except HttpError:
        return
    assert out.startswith(b"/") and normalize_path(out) == out
    assert b"//" not in out
    assert all(seg not in (b".", b"..") for seg in out.split(b"/"))
