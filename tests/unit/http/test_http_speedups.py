"""The compiled ``_speedups`` functions against the Python rules they stand in for.

Whenever a compiled function answers, its answer equals the Python code's (``split_fields_py``,
``ResponseHeadParser.parse_py``, ``RequestHeadParser.parse_py``); whenever the Python rules refuse
the input, the compiled function declines (None) rather than accepting it. Checked on
hand-picked input and on generated input (hypothesis), including the bytes that matter: colons,
SP/HTAB around values, underscores, upper case, non-token characters, obs-text, empty names,
CTLs, bare CR/LF, escapes and dot segments in paths. For requests, llhttp still runs in front
(a method it does not know is refused there, by ``parse`` and ``parse_py`` alike), so the
compiled answer is compared with the rules alone and ``parse`` with ``parse_py``.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carbonplane.errors import HttpError
from carbonplane.http import headparser

speedups = pytest.importorskip(
    "carbonplane.http._speedups",
    reason="the C extension was not built (no compiler at install time)",
)
SPECIAL = frozenset((b"host", b"content-length", b"transfer-encoding", b"connection", b"expect"))


def _python(lines):
    try:
        return headparser.split_fields_py(list(lines), SPECIAL, 400)
    except HttpError:
        return "refused"


def _compiled(lines):
    return speedups.split_fields(list(lines), SPECIAL)


@pytest.mark.parametrize(
    "lines",
    [
        [b"Host: example.com", b"Content-Length: 12", b"X-Custom:  a b \t"],
        [b"host:x", b"HOST: y", b"Connection: keep-alive, Upgrade", b"Expect: 100-continue"],
        [b"x-empty:", b"x-spaces:   ", b"Accept: */*", b"a!#$%&'*+-.^`|~z: v:w:x"],
        [b"X\xff: v"],
        [b"Bad Name: v"],
        [b": empty name"],
        [b"no colon"],
        [b" folded: v"],
        [b"content_length: 5"],
        [b"x_custom: ok"],
        [b"Transfer-Encoding: chunked", b"transfer-encoding: gzip"],
        [b"x-obs-text: caf\xc3\xa9"],
        [b"x" * 300 + b": long name"],
        [],
    ],
)
def test_compiled_equals_python_or_declines(lines):
    compiled, python = _compiled(lines), _python(lines)
    if compiled is None:
        return  # the rules decide (possibly accepting: underscores, long names)
    assert python != "refused", f"the compiled path accepted what the rules refuse: {lines!r}"
    assert compiled == python


def test_the_common_case_is_answered_in_c():
    assert _compiled([b"Host: a", b"User-Agent: wrk", b"Accept: */*"]) is not None
    assert _compiled([b"x_y: 1"]) is None and _compiled([b"Bad Name: 1"]) is None


_BYTE = st.sampled_from(list(b'aZ09-_:; \t!~\x7f\x80\xff("/@'))
_LINE = st.lists(_BYTE, max_size=24).map(bytes) | st.sampled_from(
    [b"Host: h", b"Content-Length: 1", b"connection: close", b"X-A: b", b"a:b"]
)


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
from carbonplane.http.model import Limits, RequestHead  # noqa: E402

_RESPONSES = ResponseHeadParser(Limits(max_headers=6))
_FIELDS = (
    "status",
    "reason",
    "version",
    "headers",
    "framing",
    "content_length",
    "keep_alive",
    "connection_tokens",
)


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


@pytest.mark.parametrize(
    "raw",
    [
        b"HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\n",
        b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\n\r\n",
        b"HTTP/1.1 204\r\n\r\n",
        b"HTTP/1.1 304 \r\nContent-Length: 10\r\n\r\n",
        b"HTTP/1.1 100 Continue\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n\r\n",
        b"HTTP/1.1 200  two  spaces\r\nConnection: CLOSE\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: +1\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 1234567890123456789\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nConnection: upgrade, x\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX: a\nb\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n\r\nX: a\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n folded: a\r\n\r\n",
        b"HTTP/1.1 200 O\x01K\r\n\r\n",
        b"HTTP/1.1 2000 OK\r\n\r\n",
        b"HTTP/1.1 20x OK\r\n\r\n",
        b"HTTP/2 200 OK\r\n\r\n",
        b"HTTP/1.1 200\tOK\r\n\r\n",
        b"http/1.1 200 OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent_Length: 5\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n" + b"X: 1\r\n" * 7 + b"\r\n",
        b"HTTP/1.1 200 OK\r\nX: caf\xc3\xa9 \t\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        # Connection's own nominations leave with it, in C as in Python
        b"HTTP/1.1 200 OK\r\nKeep-Alive: timeout=5\r\nConnection: keep-alive\r\nX: 1\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nConnection: Keep-Alive\r\nkeep-alive: a\r\nKeep-Alive: b\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nClose: x\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nConnection: close, X-A\r\nX-A: 1\r\n\r\n",
    ],
)
@pytest.mark.parametrize("method", [b"GET", b"HEAD"])
def test_response_heads_compiled_equal_python_or_decline(raw, method):
    _check_response(raw, method)


def test_the_common_response_is_answered_in_c():
    raw = b"HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\n"
    assert speedups.parse_response_head(raw, b"GET", 100) is not None
    node = (
        b"HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nA: 1\r\n"
        b"Content-Length: 2\r\n\r\n"
    )  # what Node.js answers: nominates its Keep-Alive
    fast = speedups.parse_response_head(node, b"GET", 100)
    assert [n for n, _ in fast[3]] == [b"connection", b"a", b"content-length"]


_STATUS_LINE = st.sampled_from(
    [
        b"HTTP/1.1 200 OK",
        b"HTTP/1.0 200 OK",
        b"HTTP/1.1 204",
        b"HTTP/1.1 304 ",
        b"HTTP/1.1 101 Up",
        b"HTTP/1.1 20",
        b"HTTP/1.1 200\tx",
        b"HTTP/1.2 200 OK",
        b"HTTP/1.1 404 Not  Found",
        b"HTTP/1.1 199 x",
    ]
)
_RESPONSE_LINE = _LINE | st.sampled_from(
    [
        b"Content-Length: 5",
        b"content-length: 0",
        b"Content-Length: 05",
        b"Content-Length: x",
        b"Transfer-Encoding: chunked",
        b"Connection: keep-alive",
        b"connection: Close",
        b"Connection: upgrade",
        b"Connection:",
        b"X: \r",
        b"",
        b"X:\x00",
        b"Keep-Alive: timeout=5",
        b"close: 1",
        b"Connection: close, x-a",
        b"connection: Keep-Alive",
    ]
)


@settings(max_examples=2000, deadline=None)
@given(
    _STATUS_LINE, st.lists(_RESPONSE_LINE, max_size=8), st.sampled_from([b"GET", b"HEAD", b"POST"])
)
def test_generated_response_heads(status_line, lines, method):
    _check_response(b"\r\n".join([status_line, *lines]) + b"\r\n\r\n", method)


# -- whole request heads ----------------------------------------------------------------------

from unittest import mock  # noqa: E402

from carbonplane.http.headparser import RequestHeadParser  # noqa: E402

_REQUEST_LIMITS = Limits(max_headers=6)
_REQUEST_FIELDS = (
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


def _outcome(parse, raw: bytes):
    """All attributes of the head ``parse`` returns, or the status and reason it raises."""
    try:
        head = parse(raw)
    except HttpError as exc:
        return ("refused", exc.status, exc.reason)
    return tuple(getattr(head, f) for f in _REQUEST_FIELDS)


def _rules_only(raw: bytes):
    """``parse_py`` without llhttp: the Python rules the compiled function stands in for."""
    with mock.patch.object(headparser, "_validate", lambda *args: None):
        return _outcome(RequestHeadParser(_REQUEST_LIMITS).parse_py, raw)


def _check_request(raw: bytes) -> None:
    fast = headparser._fast_request(raw, _REQUEST_LIMITS.max_headers)
    rules = _rules_only(raw)
    if fast is not None:
        assert rules[0] != "refused", f"the compiled path accepted what the rules refuse: {raw!r}"
        method, target, path, query, headers, host = fast
        assert (method, target, path, query, headers, host) == rules[:4] + rules[5:7], raw
        built = RequestHead(method, target, path, query, b"1.1", headers, host)
        assert tuple(getattr(built, f) for f in _REQUEST_FIELDS) == rules, raw
    # with llhttp in front, as the proxy runs: the public path and the specification agree
    public = _outcome(RequestHeadParser(_REQUEST_LIMITS).parse, raw)
    assert public == _outcome(RequestHeadParser(_REQUEST_LIMITS).parse_py, raw), raw
    if fast is not None and public[0] != "refused":
        assert public == rules, raw


_GET = b"GET /bench HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n"
_ROOT = b"GET / HTTP/1.1\r\n"


@pytest.mark.parametrize(
    "raw",
    [
        _GET + b"\r\n",
        _GET + b"Authorization: Bearer abc.def\r\nOrigin: http://127.0.0.1:8000\r\n\r\n",
        # bytes: CTLs, DEL, bare CR/LF, obs-fold, obs-text, tabs around values, no final CRLFCRLF
        _GET + b"X: a\x01b\r\n\r\n",
        _GET + b"X: a\x7fb\r\n\r\n",
        _GET + b"X: a\x00\r\n\r\n",
        b"GET /\x00 HTTP/1.1\r\nHost: h\r\n\r\n",
        b"GET / HTTP/1.1\nHost: h\r\n\r\n",
        _GET + b"X: a\nb\r\n\r\n",
        _GET + b"X: a\rb\r\n\r\n",
        _GET + b"X: a\r\n b\r\n\r\n",
        _GET + b"X: a\r\n\tb\r\n\r\n",
        _GET + b"X: caf\xc3\xa9\r\n\r\n",
        _GET + b"X:\t v \t\r\nY:\r\nZ:  \r\n\r\n",
        _GET,
        _GET + b"\r\n\r\n",
        _GET + b"\r\nX: y\r\n\r\n",
        b"\r\n" + _GET + b"\r\n",
        b"GET / HTTP/1.1\r\n\r\n",
        b"\r\n\r\n",
        # the path: escapes, dot segments, repeated slashes, '#', '\\', non-ASCII
        b"GET /a%2Fb HTTP/1.1\r\nHost: h\r\n\r\n",
        b"GET /a%41 HTTP/1.1\r\nHost: h\r\n\r\n",
        b"GET /a%zz HTTP/1.1\r\nHost: h\r\n\r\n",
        b"GET /a/./b HTTP/1.1\r\nHost: h\r\n\r\n",
        b"GET /a/../b HTTP/1.1\r\nHost: h\r\n\r\n",
        b"GET /.. HTTP/1.1\r\nHost: h\r\n\r\n",
        b"GET /a/..;/b HTTP/1.1\r\nHost: h\r\n\r\n",
        b"GET /a..b/c. HTTP/1.1\r\nHost: h\r\n\r\n",
        b"GET /.well-known HTTP/1.1\r\nHost: h\r\n\r\n",
        b"GET //a HTTP/1.1\r\nHost: h\r\n\r\n",
        b"GET /a// HTTP/1.1\r\nHost: h\r\n\r\n",
        b"GET /a#b HTTP/1.1\r\nHost: h\r\n\r\n",
        b"GET /a\\b HTTP/1.1\r\nHost: h\r\n\r\n",
        b"GET /caf\xc3\xa9 HTTP/1.1\r\nHost: h\r\n\r\n",
        b"GET /a\"<>{}|^`~:@!$&'()*+,;= HTTP/1.1\r\nHost: h\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: h\r\n\r\n",
        # the query: taken raw from the first '?', checked for its bytes only
        b"GET /p?a=%zz&b=/./&c=//&d=?&e=%2F HTTP/1.1\r\nHost: h\r\n\r\n",
        b"GET /? HTTP/1.1\r\nHost: h\r\n\r\n",
        b"GET /p?# HTTP/1.1\r\nHost: h\r\n\r\n",
        b"GET /p?\x80 HTTP/1.1\r\nHost: h\r\n\r\n",
        b"GET /p?\\ HTTP/1.1\r\nHost: h\r\n\r\n",
        b"GET /p?a b HTTP/1.1\r\nHost: h\r\n\r\n",
        b"GET /a/.?x HTTP/1.1\r\nHost: h\r\n\r\n",
        b"GET /a/?./x HTTP/1.1\r\nHost: h\r\n\r\n",
        # other target forms, methods, versions, request-line shapes
        b"GET http://h/p HTTP/1.1\r\nHost: h\r\n\r\n",
        b"GET HTTPS://h:1/p?q HTTP/1.1\r\nHost: x\r\n\r\n",
        b"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n",
        b"GET * HTTP/1.1\r\nHost: h\r\n\r\n",
        b"CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n",
        b"CONNECT / HTTP/1.1\r\nHost: h\r\n\r\n",
        b"FOO / HTTP/1.1\r\nHost: h\r\n\r\n",
        b"get / HTTP/1.1\r\nHost: h\r\n\r\n",
        b"PURGE / HTTP/1.1\r\nHost: h\r\n\r\n",
        b"G@T / HTTP/1.1\r\nHost: h\r\n\r\n",
        b" / HTTP/1.1\r\nHost: h\r\n\r\n",
        b"GET  / HTTP/1.1\r\nHost: h\r\n\r\n",
        b"GET / HTTP/1.1 \r\nHost: h\r\n\r\n",
        b"GET / HTTP/1.1 x\r\nHost: h\r\n\r\n",
        b"GET /\r\nHost: h\r\n\r\n",
        b"GET / http/1.1\r\nHost: h\r\n\r\n",
        b"GET / HTTP/1.2\r\nHost: h\r\n\r\n",
        b"GET / HTTP/2.0\r\nHost: h\r\n\r\n",
        b"GET / HTTP/1.0\r\n\r\n",
        b"GET / HTTP/1.0\r\nHost: h\r\n\r\n",
        b"GET\t/ HTTP/1.1\r\nHost: h\r\n\r\n",
        b"GET / HTTP/1.0\r\nHost: h\r\nConnection: keep-alive\r\n\r\n",
        # Host
        _ROOT + b"Host: a\r\nHost: a\r\n\r\n",
        _ROOT + b"Host:\r\n\r\n",
        _ROOT + b"Host: \t\r\n\r\n",
        _ROOT + b"Host: :80\r\n\r\n",
        _ROOT + b"Host: [::1]:80\r\n\r\n",
        _ROOT + b"Host: a b\r\n\r\n",
        _ROOT + b"Host: h\xff\r\n\r\n",
        _ROOT + b"Host: h@x\r\n\r\n",
        _ROOT + b"Host: h_x\r\n\r\n",
        _ROOT + b"HOST: \th:1 \r\n\r\n",
        _ROOT + b"Ho_st: h\r\n\r\n",
        _ROOT + b"X: 1\r\n\r\n",
        _ROOT + b"Host: %41'(),;=!$&*+~\r\n\r\n",
        # field names, framing and the other special fields, the field count (at most 6 here)
        _GET + b"X_Y: 1\r\n\r\n",
        _GET + b"Content_Length: 5\r\n\r\n",
        _GET + b": empty\r\n\r\n",
        _GET + b"no colon\r\n\r\n",
        _GET + b"Bad Name: v\r\n\r\n",
        _GET + b"X-UPPER: V\r\n\r\n",
        _GET + b"x" * 300 + b": long\r\n\r\n",
        _GET + b"Content-Length: 0\r\n\r\n",
        _GET + b"Content-Length: 5\r\n\r\n",
        _GET + b"Connection: close\r\n\r\n",
        _GET + b"Transfer-Encoding: chunked\r\n\r\n",
        _GET + b"Connection: keep-alive\r\n\r\n",
        _GET + b"Expect: 100-continue\r\n\r\n",
        _GET + b"Expect: x\r\n\r\n",
        _GET + b"EXPECT:\r\n\r\n",
        _GET + b"Upgrade: websocket\r\n\r\n",
        _GET + b"X: 1\r\n" * 5 + b"\r\n",
        _GET + b"X: 1\r\n" * 6 + b"\r\n",
    ],
)
def test_request_heads_compiled_equal_python_or_decline(raw):
    _check_request(raw)


def test_the_common_request_is_answered_in_c():
    assert headparser._fast_request is speedups.parse_request_head
    fast = speedups.parse_request_head(_GET + b"User-Agent: wrk\r\n\r\n", 100)
    assert fast == (
        b"GET",
        b"/bench",
        b"/bench",
        b"",
        [(b"host", b"127.0.0.1:8000"), (b"user-agent", b"wrk")],
        b"127.0.0.1:8000",
    )
    assert speedups.parse_request_head(b"GET /a?b HTTP/1.1\r\nHost: h\r\n\r\n", 1)[2:4] == (
        b"/a",
        b"?b",
    )
    assert speedups.parse_request_head(_GET + b"\r\n", 0) is None  # max_headers
    assert speedups.parse_request_head(bytearray(_GET + b"\r\n"), 100) is None  # bytes only
    with pytest.raises(TypeError):
        speedups.parse_request_head(_GET + b"\r\n")


def test_the_parser_is_reused_as_the_rules_say():
    fast, spec = RequestHeadParser(), RequestHeadParser()
    for raw in (
        _GET + b"\r\n",
        _GET + b"\r\n",
        b"FOO / HTTP/1.1\r\nHost: h\r\n\r\n",
        _GET + b"\r\n",
    ):
        assert _outcome(fast.parse, raw) == _outcome(spec.parse_py, raw)
        assert (fast._parser is None) == (spec._parser is None), raw
    assert fast._parser is not None  # reinstated after a clean GET


@pytest.mark.parametrize(
    "tamper",
    [
        lambda t: (t[0] + b"X", *t[1:]),
        lambda t: (t[0], t[1] + b"x", *t[2:]),
        lambda t: (*t[:2], t[2] + b"/", *t[3:]),
        lambda t: (*t[:3], b"?x", *t[4:]),
        lambda t: (*t[:4], t[4][:-1], t[5]),
        lambda t: (*t[:4], [(n.upper(), v) for n, v in t[4]], t[5]),
        lambda t: (*t[:5], t[5] + b":1"),
    ],
)
def test_a_wrong_compiled_answer_is_caught(monkeypatch, tamper):
    real = speedups.parse_request_head
    monkeypatch.setattr(headparser, "_fast_request", lambda raw, n: tamper(real(raw, n)))
    with pytest.raises(AssertionError):
        _check_request(b"GET /a?b HTTP/1.1\r\nHost: h\r\nX-A: 1\r\nX-B: 2\r\n\r\n")


@pytest.mark.parametrize(
    "refused",
    [
        b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        b"GET /a/../b HTTP/1.1\r\nHost: h\r\n\r\n",
        _GET + b"Transfer-Encoding: gzip\r\n\r\n",
        _GET + b"X: a\x01\r\n\r\n",
    ],
)
def test_an_accepted_refusal_is_caught(monkeypatch, refused):
    answer = speedups.parse_request_head(b"GET /b HTTP/1.1\r\nHost: a\r\n\r\n", 100)
    monkeypatch.setattr(headparser, "_fast_request", lambda raw, n: answer)
    with pytest.raises(AssertionError):
        _check_request(refused)


_METHOD = st.sampled_from(
    [b"GET", b"GET", b"POST", b"HEAD", b"OPTIONS", b"CONNECT", b"FOO", b"get", b"", b"G T"]
)
_TARGET = st.sampled_from([b"/", b"/bench", b"*", b"http://h/p", b"h:443", b"/a b"]) | st.lists(
    st.sampled_from(list(b"/.%2Fa?#\\\x00\x80~:@;")), max_size=12
).map(lambda t: b"/" + bytes(t))
_VERSION = st.sampled_from(
    [b"HTTP/1.1", b"HTTP/1.1", b"HTTP/1.1", b"HTTP/1.0", b"HTTP/1.2", b"http/1.1", b""]
)
_HOST = st.lists(st.sampled_from(list(b"a1.:[]%_ \t@-\xff")), max_size=8).map(
    lambda h: b"Host: " + bytes(h)
)
_REQUEST_LINE = (
    _LINE
    | _HOST
    | st.sampled_from(
        [
            b"Host: h",
            b"Host: h",
            b"host: 127.0.0.1:8000",
            b"Content-Length: 0",
            b"Content-Length: 5",
            b"Transfer-Encoding: chunked",
            b"Connection: keep-alive",
            b"connection: close",
            b"Expect: 100-continue",
            b"expect:",
            b"X: \r",
            b"X: a\nb",
            b"",
            b" folded: v",
            b"\tx",
            b"X: caf\xc3\xa9",
            b"Upgrade: websocket",
        ]
    )
)


_CLEAN_TARGET = st.lists(st.sampled_from(list(b"/aZ9.-~?=&")), max_size=10).map(
    lambda t: b"/" + bytes(t)
)
_FIELD = st.builds(
    lambda n, v: bytes(n) + b":" + bytes(v),
    st.lists(st.sampled_from(list(b"aZ9-!~_")), min_size=1, max_size=6),
    st.lists(st.sampled_from(list(b"a: \t\xe9/")), max_size=6),
)


@st.composite
def _request_heads(draw):
    """Half adversarial, half a plausible head (which the compiled function mostly answers)."""
    if draw(st.booleans()):
        start = b" ".join([draw(_METHOD), draw(_TARGET), draw(_VERSION)])
        return b"\r\n".join([start, *draw(st.lists(_REQUEST_LINE, max_size=8))]) + b"\r\n\r\n"
    start = b" ".join(
        [draw(st.sampled_from([b"GET", b"POST", b"DELETE"])), draw(_CLEAN_TARGET), b"HTTP/1.1"]
    )
    lines = draw(st.lists(_FIELD, max_size=4))
    lines.insert(
        draw(st.integers(0, len(lines))),
        draw(st.sampled_from([b"Host: h", b"host:h:1", b"HOST: \t[::1] "])),
    )
    if draw(st.integers(0, 3)) == 0:  # now and then one line the rules treat specially, or refuse
        lines.insert(draw(st.integers(0, len(lines))), draw(_REQUEST_LINE))
    return b"\r\n".join([start, *lines]) + b"\r\n\r\n"


@settings(max_examples=3000, deadline=None)
@given(st.lists(_request_heads(), min_size=1, max_size=3))
def test_generated_request_heads(heads):
    fast, spec = RequestHeadParser(_REQUEST_LIMITS), RequestHeadParser(_REQUEST_LIMITS)
    for raw in heads:  # one parser pair through several heads: llhttp reuse stays in step
        _check_request(raw)
        assert _outcome(fast.parse, raw) == _outcome(spec.parse_py, raw)
        assert (fast._parser is None) == (spec._parser is None)
