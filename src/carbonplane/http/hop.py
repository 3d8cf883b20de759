"""What crosses the proxy: the hop-by-hop field sets and the serialised heads sent on each side.

RFC 9110 §7.6.1: an intermediary removes ``Connection`` and every field it names, and the
hop-by-hop fields Keep-Alive, Proxy-Connection, TE, Trailer, Transfer-Encoding, Upgrade,
Proxy-Authorization, Proxy-Authenticate. We also drop ``Proxy`` (httpoxy) and ``Expect`` (the
proxy answers 100-continue itself).

Framing is always re-made by the proxy from the parsed message: incoming Content-Length and
Transfer-Encoding are never copied; the head builders write the framing the body will really
have. ``Connection`` may name any field except the three the message cannot lose -
``Content-Length``, ``Transfer-Encoding``, ``Host`` (CVE-2026-26365 class): such nominations
are ignored (the framing is ours anyway, and Host is always set by the proxy).

The fields a message's Connection nominates are removed by the head parsers, when the message
is parsed (``rules.without_nominated``), not here: by the time a head is serialised, filters
have added fields of the proxy's own (X-Consumer-*, X-Anonymous-Consumer, CORS and rate-limit
headers, request-transformer's), and the peer's Connection must not be able to remove those.
The builders below therefore drop fixed sets of names only.

Header names go out lowercase (as parsed). Status lines for known codes are precomputed.
"""

from __future__ import annotations

import time
from http import HTTPStatus

from carbonplane.http.forwarded import FORWARDED_FIELDS
from carbonplane.http.model import FRAMING_CHUNKED, FRAMING_LENGTH, Headers, RequestHead

try:  # built at install time where a C compiler exists (setup.py); optional
    from carbonplane.http._speedups import head_bytes as _fast_head
except ImportError:  # pragma: no cover - depends on the install
    _fast_head = None

HOP_BY_HOP = frozenset(
    (
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"proxy-authorization",
        b"proxy-authenticate",
    )
)
# Dropped from a client's request before forwarding (the proxy writes its own versions).
REQUEST_DROP = HOP_BY_HOP | FORWARDED_FIELDS | {b"content-length", b"host", b"proxy", b"expect"}
# Dropped from an upstream's response before relaying (framing is rewritten).
RESPONSE_DROP = HOP_BY_HOP | {b"content-length"}

STATUS_LINES = {
    s.value: b"HTTP/1.1 %d %s\r\n" % (s.value, s.phrase.encode("ascii")) for s in HTTPStatus
}
CONTINUE_LINE = b"HTTP/1.1 100 Continue\r\n\r\n"
# Methods whose requests carry a body by definition: sent with "content-length: 0" when empty.
BODY_METHODS = frozenset((b"POST", b"PUT", b"PATCH"))


def status_line(status: int, reason: bytes = b"") -> bytes:
    line = STATUS_LINES.get(status)
    if line is None:
        line = b"HTTP/1.1 %d %s\r\n" % (status, reason)
    return line


def request_head_bytes(
    head: RequestHead,
    target: bytes,
    host: bytes,
    forwarded: bytes,
    framing: int,
    content_length: int,
    extra: bytes = b"",
    drop: frozenset[bytes] = REQUEST_DROP,
) -> bytes:
    """The upstream request head: start line, Host, the client's end-to-end fields, ``forwarded``
    (X-Forwarded-* lines), ``extra`` (pre-serialised lines: Via, request id) and our framing.
    ``drop``: the fields never forwarded (``REQUEST_DROP`` plus any the caller replaces); the
    client's Connection-nominated fields are already gone (removed by the parser)."""
    if framing == FRAMING_LENGTH:
        last = b"content-length: %d\r\n\r\n" % content_length
    elif framing == FRAMING_CHUNKED:
        last = b"transfer-encoding: chunked\r\n\r\n"
    elif head.method in BODY_METHODS:
        last = b"content-length: 0\r\n\r\n"  # RFC 9110 §8.6: say "empty" explicitly
    else:
        last = b"\r\n"
    first = b"%s %s HTTP/1.1\r\nhost: %s\r\n" % (head.method, target, host)
    return head_bytes(first, head.headers, drop, forwarded + extra + last)


def response_head_bytes(
    status: int,
    reason: bytes,
    headers: Headers,
    extra: bytes,
    drop: frozenset[bytes] = HOP_BY_HOP,
) -> bytes:
    """A relayed response head: the status line, ``headers`` (the upstream's, which the parser
    already rid of the fields its Connection named, plus what response filters added) but the
    names in ``drop``, then ``extra`` (pre-serialised lines such as Via, framing, Connection,
    and the final CRLF). ``drop``: ``HOP_BY_HOP``, or ``RESPONSE_DROP`` when the body is
    re-framed (its Content-Length goes too), plus any field the proxy writes itself."""
    return head_bytes(status_line(status, reason), headers, drop, extra)


def head_bytes(first: bytes, headers: Headers, drop: frozenset[bytes], last: bytes) -> bytes:
    """``first``, a ``name: value`` line for each field of ``headers`` not named in ``drop``,
    then ``last``: by ``_speedups.head_bytes`` where it is built and answers, else by
    ``head_bytes_py``."""
    if _fast_head is not None:
        joined = _fast_head(first, headers, drop, last)
        if joined is not None:
            return joined
    return head_bytes_py(first, headers, drop, last)


def head_bytes_py(first: bytes, headers: Headers, drop: frozenset[bytes], last: bytes) -> bytes:
    """``head_bytes`` in Python: the specification the compiled version is tested against."""
    out = [first]
    for name, value in headers:
        if name in drop:
            continue
        out += (name, b": ", value, b"\r\n")
    out.append(last)
    return b"".join(out)


_date_cache = [0, b""]


def http_date() -> bytes:
    """The current IMF-fixdate (RFC 9110 §5.6.7), recomputed at most once a second."""
    now = int(time.time())
    if now != _date_cache[0]:
        _date_cache[0] = now
        _date_cache[1] = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(now)).encode()
    return _date_cache[1]
