"""The compiled head writers against the Python code they stand in for.

``_speedups.head_bytes`` is the loop of ``hop.request_head_bytes``/``response_head_bytes`` and
``_speedups.header_json`` is ``log_serializer.header_map`` as msgspec encodes it (plus the
``head_size`` of the lines). Whenever they answer, the bytes equal the Python code's; they
decline (None) for what the Python code handles differently (a repeated name, a pair that is
not a tuple of bytes). Checked on every byte value and on generated header lists.
"""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carbonplane.gateway.plugins import log_serializer
from carbonplane.http import RequestHeadParser, hop
from carbonplane.http.model import FRAMING_CHUNKED, FRAMING_LENGTH, FRAMING_NONE, Limits

speedups = pytest.importorskip("carbonplane.http._speedups",
                               reason="the C extension was not built (no compiler at install time)")

names = st.binary(min_size=1, max_size=6).map(lambda b: b.lower()) | st.sampled_from(
    [b"host", b"connection", b"content-length", b"te", b"authorization", b"proxy-authorization",
     b"x-a", b"keep-alive"])
header_lists = st.lists(st.tuples(names, st.binary(max_size=8)), max_size=12)


def _python_json(headers, redact):
    return msgspec.json.encode(log_serializer.header_map(headers, redact))


def test_every_byte_value_is_encoded_as_msgspec_encodes_its_latin1_text():
    for redact in (False, True):
        headers = [(b"n%d" % b, bytes([b, 65, b])) for b in range(256)]
        json, size = speedups.header_json(headers, redact)
        assert json == _python_json(headers, redact)
        assert size + 19 == log_serializer.head_size(17, headers)


def test_credentials_are_redacted_only_when_asked():
    headers = [(b"authorization", b"Bearer x"), (b"proxy-authorization", b"Basic y"), (b"a", b"1")]
    assert speedups.header_json(headers, True)[0] == \
        b'{"authorization":"REDACTED","proxy-authorization":"REDACTED","a":"1"}'
    assert b"Bearer x" in speedups.header_json(headers, False)[0]


@pytest.mark.parametrize("headers", [
    [(b"a", b"1"), (b"a", b"2")],  # repeated: the Python code makes a list
    [[b"a", b"1"]],  # a list pair
    [(b"a", "text")],  # not bytes
    [(b"a", b"1", b"2")],
])
def test_header_json_declines_what_python_handles(headers):
    assert speedups.header_json(headers, False) is None
    assert speedups.header_json(tuple(map(tuple, headers)), False) is None  # not a list


@settings(max_examples=400, deadline=None)
@given(header_lists, st.booleans())
def test_generated_header_maps(headers, redact):
    found = speedups.header_json(headers, redact)
    if len({n for n, _ in headers}) < len(headers):
        assert found is None
        return
    assert found[0] == _python_json(headers, redact)
    assert found[1] + 19 == log_serializer.head_size(17, headers)


def test_the_serializer_gives_the_same_record_with_and_without_the_c_encoder(monkeypatch):
    cache = log_serializer._HeadersCache(redact=True)
    headers = [(b"host", b"gw"), (b"authorization", b"Bearer t"), (b"x-\xe9", b"caf\xe9\x01")]
    fast = cache.get(headers, 30)
    monkeypatch.setattr(log_serializer, "_fast_json", None)
    slow = log_serializer._HeadersCache(redact=True).get(headers, 30)
    assert (bytes(fast[0]), fast[1]) == (bytes(slow[0]), slow[1])


def _python_head(first, headers, drop, extra_drop, last):
    out = [first]
    for name, value in headers:
        if name in drop or (extra_drop and name in extra_drop):
            continue
        out += (name, b": ", value, b"\r\n")
    out.append(last)
    return b"".join(out)


@settings(max_examples=400, deadline=None)
@given(header_lists, st.sampled_from([hop.HOP_BY_HOP, hop.REQUEST_DROP, hop.RESPONSE_DROP]),
       st.frozensets(names, max_size=3))
def test_generated_heads(headers, drop, extra_drop):
    args = (b"HTTP/1.1 200 OK\r\n", headers, drop, extra_drop, b"via: 1.1 x\r\n")
    assert speedups.head_bytes(*args) == _python_head(*args)


def test_head_bytes_declines_other_types_and_large_lists_work():
    assert speedups.head_bytes(b"", [[b"a", b"1"]], frozenset(), frozenset(), b"") is None
    assert speedups.head_bytes(b"", [(b"a", 1)], frozenset(), frozenset(), b"") is None
    assert speedups.head_bytes(b"", ((b"a", b"1"),), frozenset(), frozenset(), b"") is None
    many = [(b"x-%d" % i, b"v") for i in range(300)]  # more than the on-stack keep flags
    assert speedups.head_bytes(b"F", many, frozenset([b"x-7"]), frozenset(), b"L") == \
        _python_head(b"F", many, frozenset([b"x-7"]), frozenset(), b"L")
    with pytest.raises(TypeError):
        speedups.head_bytes(b"", [])


@pytest.mark.parametrize("framing,method", [(FRAMING_NONE, b"GET"), (FRAMING_NONE, b"POST"),
                                            (FRAMING_LENGTH, b"PUT"), (FRAMING_CHUNKED, b"POST")])
def test_the_head_builders_write_the_same_bytes_either_way(monkeypatch, framing, method):
    raw = (method + b" /a?b HTTP/1.1\r\nHost: h\r\nConnection: x-drop, keep-alive\r\n"
           b"X-Drop: 1\r\nAccept: */*\r\nTE: trailers\r\nX-Keep: 2\r\n\r\n")
    head = RequestHeadParser(Limits()).parse(raw)
    response = [(b"server", b"up"), (b"x-drop", b"1"), (b"content-length", b"5"), (b"a", b"b")]

    def both():
        return (hop.request_head_bytes(head, b"/up/a?b", b"up:80", b"x-forwarded-for: 1.2.3.4\r\n",
                                       framing, 12, b"via: 1.1 gw\r\n"),
                hop.response_head_bytes(200, b"OK", response, frozenset([b"x-drop"]),
                                        b"via: 1.1 gw\r\n", hop.RESPONSE_DROP))
    fast = both()
    monkeypatch.setattr(hop, "_fast_head", None)
    assert both() == fast
    assert b"x-drop" not in fast[0] and b"accept: */*\r\n" in fast[0]
