"""The compiled head writer against the Python code it stands in for.

``_speedups.head_bytes`` is the loop of ``hop.request_head_bytes``/``response_head_bytes``.
Whenever it answers, the bytes equal the Python loop's; it declines (None) for what the Python
code handles differently (a pair that is not a tuple of bytes, other argument types). Checked
on generated header lists and through both head builders - including the rule that a peer's
Connection removes only that peer's fields (the parser removed them), never a field the proxy
or a filter added afterwards.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carbonplane.http import RequestHeadParser, ResponseHeadParser, hop
from carbonplane.http.model import FRAMING_CHUNKED, FRAMING_LENGTH, FRAMING_NONE, Limits

speedups = pytest.importorskip(
    "carbonplane.http._speedups",
    reason="the C extension was not built (no compiler at install time)",
)

names = st.binary(min_size=1, max_size=6).map(lambda b: b.lower()) | st.sampled_from(
    [
        b"host",
        b"connection",
        b"content-length",
        b"te",
        b"authorization",
        b"proxy-authorization",
        b"x-a",
        b"keep-alive",
    ]
)
header_lists = st.lists(st.tuples(names, st.binary(max_size=8)), max_size=12)


_python_head = hop.head_bytes_py  # the specification


@settings(max_examples=400, deadline=None)
@given(
    header_lists,
    st.sampled_from([hop.HOP_BY_HOP, hop.REQUEST_DROP, hop.RESPONSE_DROP]),
    st.frozensets(names, max_size=3),
)
def test_generated_heads(headers, drop, more_drop):
    for dropped in (drop, drop | more_drop):
        args = (b"HTTP/1.1 200 OK\r\n", headers, dropped, b"via: 1.1 x\r\n")
        assert speedups.head_bytes(*args) == _python_head(*args)


def test_head_bytes_declines_other_types_and_large_lists_work():
    assert speedups.head_bytes(b"", [[b"a", b"1"]], frozenset(), b"") is None
    assert speedups.head_bytes(b"", [(b"a", 1)], frozenset(), b"") is None
    assert speedups.head_bytes(b"", ((b"a", b"1"),), frozenset(), b"") is None
    many = [(b"x-%d" % i, b"v") for i in range(300)]  # more than the on-stack keep flags
    assert speedups.head_bytes(b"F", many, frozenset([b"x-7"]), b"L") == _python_head(
        b"F", many, frozenset([b"x-7"]), b"L"
    )
    with pytest.raises(TypeError):
        speedups.head_bytes(b"", [])


@pytest.mark.parametrize(
    "framing,method",
    [
        (FRAMING_NONE, b"GET"),
        (FRAMING_NONE, b"POST"),
        (FRAMING_LENGTH, b"PUT"),
        (FRAMING_CHUNKED, b"POST"),
    ],
)
def test_the_head_builders_write_the_same_bytes_either_way(monkeypatch, framing, method):
    raw = (
        method + b" /a?b HTTP/1.1\r\nHost: h\r\nConnection: x-drop, keep-alive\r\n"
        b"X-Drop: 1\r\nAccept: */*\r\nTE: trailers\r\nX-Keep: 2\r\n\r\n"
    )
    head = RequestHeadParser(Limits()).parse(raw)
    response = ResponseHeadParser(Limits()).parse(
        b"HTTP/1.1 200 OK\r\nServer: up\r\nX-Drop: 1\r\nConnection: x-drop\r\n"
        b"Content-Length: 5\r\nA: b\r\n\r\n",
        method,
    )

    def both():
        return (
            hop.request_head_bytes(
                head,
                b"/up/a?b",
                b"up:80",
                b"x-forwarded-for: 1.2.3.4\r\n",
                framing,
                12,
                b"via: 1.1 gw\r\n",
            ),
            hop.response_head_bytes(
                200, b"OK", response.headers, b"via: 1.1 gw\r\n", hop.RESPONSE_DROP
            ),
        )

    fast = both()
    assert b"x-drop" not in fast[0] and b"accept: */*\r\n" in fast[0]
    assert b"x-drop" not in fast[1] and b"a: b\r\n" in fast[1]
    # a filter adds a field of the name the peer's Connection named: it goes out, either way
    head.headers.append((b"x-drop", b"gateway"))
    response.headers.append((b"x-drop", b"plugin"))
    fast = both()
    assert b"x-drop: gateway\r\n" in fast[0] and b"x-drop: plugin\r\n" in fast[1]
    monkeypatch.setattr(hop, "_fast_head", None)
    assert both() == fast
