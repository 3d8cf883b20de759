"""The HTTP/1.1 message rules, as pure functions: framing, header syntax, Host, Connection, Expect.

Every function takes already-split values (bytes) and returns a verdict or raises
``carbonplane.errors.HttpError(status, reason)``. No function here touches a socket or a parser, so
the same rules hold whatever a byte-level parser let through, and they are tested and fuzzed on
their own.

Specs enforced (RFC 9112 = HTTP/1.1 messaging, RFC 9110 = HTTP semantics):
- RFC 9112 §6.3: a message with both Transfer-Encoding and Content-Length is rejected (400, a
  smuggling signal) rather than "TE wins"; a Transfer-Encoding whose final coding is not
  ``chunked`` cannot be framed and is rejected (400); ``chunked`` applied twice is rejected; any
  other coding before it is not implemented (501). HTTP/1.0 with Transfer-Encoding: faulty
  framing (§6.1), rejected.
- RFC 9110 §8.6: Content-Length is exactly one field of 1-18 ASCII digits. "1, 1", "+1", " 1",
  "0x1", two identical fields, or a value that would overflow 63 bits are all rejected (400).
- RFC 9110 §5.1/§5.5: field names are tokens; values carry no CR, LF, NUL or other control byte
  except HTAB. Obsolete line folding never reaches us as a value (a value with CR/LF is
  rejected here anyway).
- RFC 9112 §3.2: an HTTP/1.1 request carries exactly one Host; its value is a valid authority.
- RFC 9110 §7.6.1: Connection tokens name hop-by-hop fields. The parsers remove the fields a
  message's own Connection names (``without_nominated``) as they parse it, before any filter
  runs - so a peer's Connection only ever removes that peer's fields, never one the proxy or a
  plugin adds later (identity headers, CORS, rate-limit headers). ``Content-Length``,
  ``Transfer-Encoding`` and ``Host`` cannot be nominated (ignored: CVE-2026-26365 class).
- RFC 9110 §10.1.1: ``Expect: 100-continue`` is the only expectation; others get 417.
"""

from __future__ import annotations

import string

from carbonplane.errors import HttpError
from carbonplane.http.model import (
    FRAMING_CHUNKED,
    FRAMING_CLOSE,
    FRAMING_LENGTH,
    FRAMING_NONE,
    Limits,
)

TOKEN_CHARS = (string.ascii_letters + string.digits + "!#$%&'*+-.^_`|~").encode()
# Field-value bytes: VCHAR, obs-text, SP and HTAB (RFC 9110 §5.5).
VALUE_CHARS = bytes(range(0x20, 0x7F)) + bytes(range(0x80, 0x100)) + b"\t"
# Host: reg-name / IPv4 / IP-literal with optional port (RFC 3986 §3.2.2); '%' for pct-encoding.
HOST_CHARS = (string.ascii_letters + string.digits + "-._~!$&'()*+,;=:[]%").encode()
MAX_CONTENT_LENGTH_DIGITS = 18  # 10**18 - 1 < 2**63: no overflow anywhere downstream
SUPPORTED_VERSIONS = (b"1.1", b"1.0")


def flag_table(allowed: bytes) -> bytes:
    """A ``bytes.translate`` table mapping allowed bytes to 0 and all others to 1.

    ``1 in data.translate(table)`` is then a two-pass C scan, much cheaper than
    ``translate(None, delete)`` (which rebuilds its table on every call).
    """
    allowed_set = frozenset(allowed)
    return bytes(0 if i in allowed_set else 1 for i in range(256))


TOKEN_FLAGS = flag_table(TOKEN_CHARS)
VALUE_FLAGS = flag_table(VALUE_CHARS)
HOST_FLAGS = flag_table(HOST_CHARS)


def check_raw_head(raw: bytes) -> None:
    """A head (start line through the empty line) has no NUL/CTL and no bare CR or LF.

    Checked once on the raw bytes, so every name and value taken from it is free of them
    (RFC 9112 §2.2 bare CR; RFC 9110 §5.5 field values): with every CRLF removed, no CR, LF or
    other control byte may remain. Obsolete line folding (RFC 9112 §5.2) cannot pass either:
    a folded line starts with whitespace, so it splits into a field name that is not a token.
    """
    if 1 in raw.replace(b"\r\n", b"").translate(VALUE_FLAGS):
        if raw.count(b"\r") != raw.count(b"\n"):
            raise HttpError(400, "bare CR or LF in the message head")
        raise HttpError(400, "NUL or control byte in the message head")


def is_token(value: bytes) -> bool:
    """True when ``value`` is a non-empty RFC 9110 token (``translate`` deletes the token bytes)."""
    return bool(value) and 1 not in value.translate(TOKEN_FLAGS)


def check_header_name(name: bytes) -> None:
    if not is_token(name):
        raise HttpError(400, f"invalid header name {name[:64]!r}: must be a token (RFC 9110 §5.1)")


def check_header_value(name: bytes, value: bytes) -> None:
    """Reject CR, LF, NUL and control bytes, and surrounding whitespace the parser left in."""
    if 1 in value.translate(VALUE_FLAGS):
        raise HttpError(400, f"invalid byte in the value of header {name.decode('latin-1')!r}")
    if value and (value[0] in (32, 9) or value[-1] in (32, 9)):
        raise HttpError(400, f"whitespace around the value of header {name.decode('latin-1')!r}")


def check_version(version: bytes) -> None:
    if version not in SUPPORTED_VERSIONS:
        raise HttpError(505, f"HTTP version {version.decode('latin-1')!r} not supported; use 1.1")


def parse_content_length(values: list[bytes], *, status: int = 400) -> int:
    """The one Content-Length of a message, strictly (``status`` is 502 for upstream responses)."""
    if len(values) != 1:
        raise HttpError(status, f"{len(values)} Content-Length fields; exactly one is allowed")
    value = values[0]
    if not value or len(value) > MAX_CONTENT_LENGTH_DIGITS or not value.isdigit():
        raise HttpError(status, f"invalid Content-Length {value[:32]!r}: must be 1-18 ASCII digits")
    return int(value)


def check_transfer_encoding(values: list[bytes], *, status: int = 400) -> None:
    """Accept exactly ``chunked`` as the final and only coding (501 for an earlier coding)."""
    codings = [c.strip(b" \t").lower() for v in values for c in v.split(b",")]
    if not codings or not all(is_token(c) for c in codings):
        raise HttpError(status, f"invalid Transfer-Encoding {b', '.join(values)[:64]!r}")
    if codings[-1] != b"chunked":
        raise HttpError(
            status,
            "Transfer-Encoding must end with chunked, otherwise the body length is unknowable",
        )
    if len(codings) > 1:
        if b"chunked" in codings[:-1]:
            raise HttpError(status, "Transfer-Encoding applies chunked more than once")
        other = codings[0].decode("latin-1")
        raise HttpError(
            501 if status == 400 else status, f"transfer coding {other!r} is not implemented"
        )


def request_framing(
    version: bytes, cl_values: list[bytes], te_values: list[bytes], limits: Limits
) -> tuple[int, int]:
    """(framing, content_length) of a request body per RFC 9112 §6.3, or raise."""
    if te_values:
        if cl_values:
            raise HttpError(
                400, "both Transfer-Encoding and Content-Length: refused as request smuggling"
            )
        if version == b"1.0":
            raise HttpError(400, "Transfer-Encoding in an HTTP/1.0 request is faulty framing")
        check_transfer_encoding(te_values)
        return FRAMING_CHUNKED, 0
    if cl_values:
        length = parse_content_length(cl_values)
        if limits.max_body_bytes is not None and length > limits.max_body_bytes:
            raise HttpError(
                413, f"request body of {length} bytes exceeds the limit of {limits.max_body_bytes}"
            )
        return (FRAMING_LENGTH, length) if length else (FRAMING_NONE, 0)
    return FRAMING_NONE, 0


def response_framing(
    request_method: bytes, status: int, cl_values: list[bytes], te_values: list[bytes]
) -> tuple[int, int]:
    """(framing, content_length) of an upstream response body; invalid framing raises 502."""
    if request_method == b"HEAD" or status < 200 or status == 204 or status == 304:
        if cl_values:  # meaningful for HEAD; must still be well-formed to be forwarded
            parse_content_length(cl_values, status=502)
        return FRAMING_NONE, 0
    if te_values:
        if cl_values:
            raise HttpError(502, "upstream sent both Transfer-Encoding and Content-Length")
        check_transfer_encoding(te_values, status=502)
        return FRAMING_CHUNKED, 0
    if cl_values:
        length = parse_content_length(cl_values, status=502)
        return (FRAMING_LENGTH, length) if length else (FRAMING_NONE, 0)
    return FRAMING_CLOSE, 0


COMMON_CONNECTION = {
    b"keep-alive": frozenset((b"keep-alive",)),
    b"close": frozenset((b"close",)),
    b"upgrade": frozenset((b"upgrade",)),
}


def connection_tokens(values: list[bytes]) -> frozenset[bytes]:
    """Lowercased tokens of all Connection fields (RFC 9110 §7.6.1); invalid tokens rejected."""
    if len(values) == 1:
        common = COMMON_CONNECTION.get(values[0].lower())
        if common is not None:
            return common
    tokens = set()
    for value in values:
        for part in value.split(b","):
            token = part.strip(b" \t").lower()
            if not token:
                continue
            if not is_token(token):
                raise HttpError(400, f"invalid Connection option {token[:64]!r}")
            tokens.add(token)
    return frozenset(tokens)


# Fields a Connection header cannot remove: the framing is re-made by the proxy and Host is set by
# it, so nominating them could only confuse a reader that looked at the raw fields.
PROTECTED = frozenset((b"content-length", b"transfer-encoding", b"host"))


def without_nominated(headers: list, tokens: frozenset[bytes]) -> list:
    """``headers`` without the fields that the message's Connection ``tokens`` nominate (the
    list itself when none is present)."""
    named = tokens - PROTECTED
    for name, _ in headers:
        if name in named:
            return [f for f in headers if f[0] not in named]
    return headers


def keep_alive(version: bytes, tokens: frozenset[bytes]) -> bool:
    """HTTP/1.1 is persistent unless ``close``; HTTP/1.0 only with ``keep-alive``
    (RFC 9112 §9.3)."""
    if b"close" in tokens:
        return False
    return version == b"1.1" or b"keep-alive" in tokens


def check_host(values: list[bytes], version: bytes) -> bytes:
    """The request's Host value: exactly one field for HTTP/1.1 (RFC 9112 §3.2), valid chars."""
    if len(values) > 1:
        raise HttpError(400, f"{len(values)} Host fields; exactly one is allowed")
    if not values:
        if version == b"1.1":
            raise HttpError(400, "HTTP/1.1 request without a Host header")
        return b""
    host = values[0]
    if 1 in host.translate(HOST_FLAGS) or host[:1] == b":":
        raise HttpError(400, f"invalid Host {host[:64]!r}")
    return host


def expects_continue(values: list[bytes]) -> bool:
    """True for ``Expect: 100-continue``; any other expectation cannot be met (417)."""
    if not values:
        return False
    if len(values) == 1 and values[0].lower() == b"100-continue":
        return True
    raise HttpError(417, f"expectation {b', '.join(values)[:64]!r} cannot be met")
