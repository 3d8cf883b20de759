"""The compiled head writer against the Python code it stands in for.

``_speedups.head_bytes`` is the loop of ``hop.request_head_bytes``/``response_head_bytes``.
Whenever it answers, the bytes equal the Python loop's; it declines (None) for what the Python
code handles differently (a pair that is not a tuple of bytes, other argument types). Checked
on generated header lists and through both head builders.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carbonplane.http import RequestHeadParser, hop
from carbonplane.http.model import FRAMING_CHUNKED, FRAMING_LENGTH, FRAMING_NONE, Limits

speedups = pytest.importorskip("carbonplane.http._speedups",
                               reason="the C extension was not built (no compiler at install time)")

names = st.binary(min_size=1, max_size=6).map(lambda b: b.lower()) | st.sampled_from(
    [b"host", b"connection", b"content-length", b"te", b"authorization", b"proxy-authorization",
     b"x-a", b"keep-alive"])
header_lists = st.lists(st.tuples(names, st.binary(max_size=8)), max_size=12)


_python_head = hop.head_bytes_py  # the specification


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
