"""The compiled ``_speedups.split_fields`` against the Python rules it stands in for.

Whenever the compiled function answers, its answer equals ``split_fields_py``'s; whenever the Python
rules refuse a head, the compiled function declines (None) rather than accepting it. Checked on
hand-picked lines and on generated ones (hypothesis), including the bytes that matter: colons,
SP/HTAB around values, underscores, upper case, non-token characters, obs-text, empty names.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carbonplane.errors import HttpError
from carbonplane.http import headparser

speedups = pytest.importorskip("carbonplane.http._speedups",
                               reason="the C extension was not built (no compiler at install time)")
SPECIAL = frozenset((b"host", b"content-length", b"transfer-encoding", b"connection", b"expect"))


def _python(lines):
    try:
        return headparser.split_fields_py(list(lines), SPECIAL, 400)
    except HttpError:
        return "refused"


def _compiled(lines):
    return speedups.split_fields(list(lines), SPECIAL)


@pytest.mark.parametrize("lines", [
    [b"Host: example.com", b"Content-Length: 12", b"X-Custom:  a b \t"],
    [b"host:x", b"HOST: y", b"Connection: keep-alive, Upgrade", b"Expect: 100-continue"],
    [b"x-empty:", b"x-spaces:   ", b"Accept: */*", b"a!#$%&'*+-.^`|~z: v:w:x"],
    [b"X\xff: v"], [b"Bad Name: v"], [b": empty name"], [b"no colon"], [b" folded: v"],
    [b"content_length: 5"], [b"x_custom: ok"], [b"Transfer-Encoding: chunked", b"transfer-encoding: gzip"],
    [b"x-obs-text: caf\xc3\xa9"], [b"x" * 300 + b": long name"], [],
])
def test_compiled_equals_python_or_declines(lines):
    compiled, python = _compiled(lines), _python(lines)
    if compiled is None:
        return  # the rules decide (possibly accepting: underscores, long names)
    assert python != "refused", f"the compiled path accepted what the rules refuse: {lines!r}"
    assert compiled == python


def test_the_common_case_is_answered_in_c():
    assert _compiled([b"Host: a", b"User-Agent: wrk", b"Accept: */*"]) is not None
    assert _compiled([b"x_y: 1"]) is None and _compiled([b"Bad Name: 1"]) is None


_BYTE = st.sampled_from(list(b"aZ09-_:; \t!~\x7f\x80\xff(\"/@"))
_LINE = st.lists(_BYTE, max_size=24).map(bytes) | st.sampled_from(
    [b"Host: h", b"Content-Length: 1", b"connection: close", b"X-A: b", b"a:b"])


@settings(max_examples=1500, deadline=None)
@given(st.lists(_LINE, max_size=8))
def test_generated_lines(lines):
    test_compiled_equals_python_or_declines(lines)


def test_split_fields_uses_the_compiled_path_and_keeps_the_limits():
    assert headparser._fast_split is speedups.split_fields
    with pytest.raises(HttpError) as info:
        headparser.split_fields([b"a: 1"] * 3, SPECIAL, 2, 400)
    assert info.value.status == 431
    with pytest.raises(HttpError, match="aliases a framing header"):
        headparser.split_fields([b"content_length: 1"], SPECIAL, 100, 400)


# -- whole response heads ---------------------------------------------------------------------

from carbonplane.http.headparser import ResponseHeadParser  # noqa: E402
from carbonplane.http.model import Limits  # noqa: E402

_RESPONSES = ResponseHeadParser(Limits(max_headers=6))
_FIELDS = ("status", "reason", "version", "headers", "framing", "content_length", "keep_alive",
           "connection_tokens")


def _response_py(raw: bytes, method: bytes):
    try:
        head = _RESPONSES.parse_py(raw, method)
    except HttpError:
        return "refused"
    return tuple(getattr(head, f) for f in _FIELDS)


def _check_response(raw: bytes, method: bytes) -> None:
    fast = speedups.parse_response_head(raw, method, _RESPONSES.limits.max_headers)
    python = _response_py(raw, method)
    if fast is None:
        return
    assert python != "refused", f"the compiled path accepted what the rules refuse: {raw!r}"
    head = _RESPONSES.parse(raw, method)  # the public path, built from the compiled answer
    assert tuple(getattr(head, f) for f in _FIELDS) == python, raw


@pytest.mark.parametrize("raw", [
    b"HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\n",
    b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", b"HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\n\r\n",
    b"HTTP/1.1 204\r\n\r\n", b"HTTP/1.1 304 \r\nContent-Length: 10\r\n\r\n", b"HTTP/1.1 100 Continue\r\n\r\n",
    b"HTTP/1.1 200 OK\r\n\r\n", b"HTTP/1.1 200  two  spaces\r\nConnection: CLOSE\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: +1\r\n\r\n", b"HTTP/1.1 200 OK\r\nContent-Length: 1234567890123456789\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", b"HTTP/1.1 200 OK\r\nConnection: upgrade, x\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n", b"HTTP/1.1 200 OK\r\nX: a\nb\r\n\r\n", b"HTTP/1.1 200 OK\r\n\r\nX: a\r\n\r\n",
    b"HTTP/1.1 200 OK\r\n folded: a\r\n\r\n", b"HTTP/1.1 200 O\x01K\r\n\r\n", b"HTTP/1.1 2000 OK\r\n\r\n",
    b"HTTP/1.1 20x OK\r\n\r\n", b"HTTP/2 200 OK\r\n\r\n", b"HTTP/1.1 200\tOK\r\n\r\n", b"http/1.1 200 OK\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent_Length: 5\r\n\r\n", b"HTTP/1.1 200 OK\r\n" + b"X: 1\r\n" * 7 + b"\r\n",
    b"HTTP/1.1 200 OK\r\nX: caf\xc3\xa9 \t\r\n\r\n", b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
])
@pytest.mark.parametrize("method", [b"GET", b"HEAD"])
def test_response_heads_compiled_equal_python_or_decline(raw, method):
    _check_response(raw, method)


def test_the_common_response_is_answered_in_c():
    raw = b"HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\n"
    assert speedups.parse_response_head(raw, b"GET", 100) is not None


_STATUS_LINE = st.sampled_from([b"HTTP/1.1 200 OK", b"HTTP/1.0 200 OK", b"HTTP/1.1 204", b"HTTP/1.1 304 ",
                                b"HTTP/1.1 101 Up", b"HTTP/1.1 20", b"HTTP/1.1 200\tx", b"HTTP/1.2 200 OK",
                                b"HTTP/1.1 404 Not  Found", b"HTTP/1.1 199 x"])
_RESPONSE_LINE = _LINE | st.sampled_from([
    b"Content-Length: 5", b"content-length: 0", b"Content-Length: 05", b"Content-Length: x",
    b"Transfer-Encoding: chunked", b"Connection: keep-alive", b"connection: Close", b"Connection: upgrade",
    b"Connection:", b"X: \r", b"", b"X:\x00"])


@settings(max_examples=2000, deadline=None)
@given(_STATUS_LINE, st.lists(_RESPONSE_LINE, max_size=8), st.sampled_from([b"GET", b"HEAD", b"POST"]))
def test_generated_response_heads(status_line, lines, method):
    _check_response(b"\r\n".join([status_line, *lines]) + b"\r\n\r\n", method)
