"""Head parsing: llhttp (httptools, strict mode) validates, our rules extract and decide.

``RequestHeadParser.parse(raw)`` and ``ResponseHeadParser.parse(raw, request_method)`` take one
complete head - the start line through the empty line, exactly - and return a validated
``RequestHead`` / ``ResponseHead`` or raise ``HttpError``. Bodies never go through llhttp: the
readers (``reader.py``) frame them with our own code, so llhttp's view of framing can never
differ from the one the proxy acts on.

A request head must pass both layers (an upstream's response head, layer 2 only - see
``ResponseHeadParser``):
1. llhttp in strict mode (no callbacks but end-of-head, so it runs at C speed) rejects
   malformed start lines, unknown methods, bad URL bytes, bare CR/LF, obs-fold, non-token
   names, CL+TE, duplicate CL, bad TE lists;
2. ``rules.check_raw_head`` rejects NUL/CTL bytes, bare CR/LF and obs-fold on the raw bytes;
   then the start line and the fields are split here (CRLF lines, name up to the first colon,
   value stripped of OWS), names are checked as tokens, and framing, Host, Connection, Expect
   and the path are decided by ``rules.py`` / ``path.py`` alone. The fields a head's own
   Connection nominates are removed here (``rules.without_nominated``), so a head leaves the
   parser holding only its end-to-end fields and a later Connection check never sees fields
   the proxy or a filter added. One exception: a request's ``Upgrade`` stays (the engine's
   WebSocket check reads it; it is hop-by-hop, so no head builder ever forwards it).

The ``parse_py`` methods and ``split_fields_py`` are the specification. The optional C extension
(``_speedups.c``) answers the common case - a request head of origin-form, HTTP/1.1, one Host
and no framing, Connection or Expect field; a whole upstream response head; a field block - and
declines everything else to the Python code, so results and errors are the same whichever runs
(tests/unit/http/test_http_speedups.py). llhttp validates request heads either way.

One llhttp parser is reused across heads (a worker parses heads one at a time, for all its
connections); it is dropped and rebuilt after any head that leaves llhttp expecting a body or
nothing more (Connection: close, HTTP/1.0), or that failed.
"""

from __future__ import annotations

import httptools

from carbonplane.errors import HttpError
from carbonplane.http import rules
from carbonplane.http.model import FRAMING_NONE, Limits, RequestHead, ResponseHead
from carbonplane.http.path import normalize_path, split_target

try:  # built at install time where a C compiler exists (setup.py); optional
    from carbonplane.http._speedups import parse_request_head as _fast_request
    from carbonplane.http._speedups import parse_response_head as _fast_response
    from carbonplane.http._speedups import split_fields as _fast_split
except ImportError:  # pragma: no cover - depends on the install
    _fast_split = _fast_response = _fast_request = None

_REQUEST_VERSIONS = {b"HTTP/1.1": b"1.1", b"HTTP/1.0": b"1.0"}
_TOKEN_FLAGS = rules.TOKEN_FLAGS
_VALUE_FLAGS = rules.VALUE_FLAGS
_HOST_FLAGS = rules.HOST_FLAGS
_EMPTY: list[bytes] = []
_NO_TOKENS: frozenset[bytes] = frozenset()
# Underscore spellings of these are refused: an upstream that maps '_' to '-' would see a
# second framing header (Kong turns nginx's underscores_in_headers on).
_UNDERSCORE_ALIASED = frozenset((b"content-length", b"transfer-encoding", b"host", b"connection"))


class _Validator:
    """The llhttp protocol object: only the end-of-head and end-of-message events matter."""

    __slots__ = ("complete", "message_done")

    def __init__(self) -> None:
        self.complete = False
        self.message_done = False

    def on_headers_complete(self) -> None:
        self.complete = True

    def on_message_complete(self) -> None:
        self.message_done = True


def _validate(parser, validator: _Validator, raw: bytes, status: int) -> None:
    validator.complete = validator.message_done = False
    try:
        parser.feed_data(raw)
    except httptools.HttpParserUpgrade:
        validator.message_done = False  # parsed completely, but never reuse an upgraded parser
    except httptools.HttpParserError as exc:
        raise HttpError(status, f"malformed message head: {exc}") from None
    if not validator.complete:
        raise HttpError(status, "incomplete message head")


def split_fields(
    lines: list[bytes], special_names: frozenset[bytes], max_headers: int, status: int
) -> tuple[list[tuple[bytes, bytes]], dict[bytes, list[bytes]]]:
    """(headers, specials) from header lines; ``specials`` maps each special name to its values.

    Names are lowercased and must be tokens; values are stripped of OWS. A line without a colon
    or with an empty name is refused; so is a folded line (its name starts with whitespace).
    The compiled ``_speedups.split_fields`` answers the common case (token names without '_')
    and declines everything else, which ``split_fields_py`` - the specification - decides.
    """
    if len(lines) > max_headers:
        raise HttpError(431 if status == 400 else status, f"more than {max_headers} header fields")
    if _fast_split is not None:
        done = _fast_split(lines, special_names)
        if done is not None:
            return done
    return split_fields_py(lines, special_names, status)


def split_fields_py(
    lines: list[bytes], special_names: frozenset[bytes], status: int
) -> tuple[list[tuple[bytes, bytes]], dict[bytes, list[bytes]]]:
    """``split_fields`` in Python, every rule and every error message (no header-count limit)."""
    headers = []
    append = headers.append
    specials: dict[bytes, list[bytes]] = {}
    for line in lines:
        name, colon, value = line.partition(b":")
        if not colon or not name:
            raise HttpError(status, f"header line without a name: {line[:64]!r}")
        name = name.lower()
        value = value.strip(b" \t")
        append((name, value))
        if name in special_names:
            if name in specials:
                specials[name].append(value)
            else:
                specials[name] = [value]
    names = b"-".join([n for n, _ in headers])
    if 1 in names.translate(_TOKEN_FLAGS):
        bad = next(n for n, _ in headers if not rules.is_token(n))
        raise HttpError(status, f"invalid header name {bad[:64]!r}: must be a token")
    if 95 in names:  # '_': refuse aliases of framing headers (Kong enables underscores)
        for n, _ in headers:
            if 95 in n and n.replace(b"_", b"-") in _UNDERSCORE_ALIASED:
                raise HttpError(status, f"header {n[:64]!r} aliases a framing header")
    return headers, specials


_REQUEST_SPECIAL = frozenset(
    (b"host", b"content-length", b"transfer-encoding", b"connection", b"expect")
)
_RESPONSE_SPECIAL = frozenset((b"content-length", b"transfer-encoding", b"connection"))
# A request's Connection may nominate Upgrade, yet the field is kept: the engine reads it to
# recognise a WebSocket handshake, and every head builder drops it as hop-by-hop anyway.
_KEPT_NOMINATED = frozenset((b"upgrade",))


class RequestHeadParser:
    """Parse request heads under ``limits`` and the path policy ``escaped_slash``."""

    __slots__ = ("limits", "escaped_slash", "_parser", "_validator")

    def __init__(self, limits: Limits | None = None, escaped_slash: str = "reject") -> None:
        self.limits = limits or Limits()
        self.escaped_slash = escaped_slash
        self._validator = _Validator()
        self._parser = None

    def parse(self, raw: bytes) -> RequestHead:
        if _fast_request is not None:  # the common case, compiled; None: parse_py decides
            fast = _fast_request(raw, self.limits.max_headers)
            if fast is not None:  # layer 2 passed; llhttp still validates, as in parse_py
                parser = self._llhttp(raw)
                if self._validator.message_done:  # framing none and keep-alive: reuse llhttp
                    self._parser = parser
                method, target, path, query, headers, host = fast
                return RequestHead(method, target, path, query, b"1.1", headers, host)
        return self.parse_py(raw)

    def parse_py(self, raw: bytes) -> RequestHead:
        """``parse`` in Python: every rule and every error message (the specification)."""
        if 1 in raw.replace(b"\r\n", b"").translate(_VALUE_FLAGS):
            rules.check_raw_head(raw)  # raises with the precise reason
        parser = self._llhttp(raw)
        lines = raw[:-4].split(b"\r\n")
        request_line = lines[0].split(b" ")
        if len(request_line) != 3:
            raise HttpError(400, f"malformed request line {lines[0][:64]!r}")
        method, target, version = request_line
        version = _REQUEST_VERSIONS.get(version)
        if version is None:
            raise HttpError(505, f"{request_line[2][:16]!r} not supported; use HTTP/1.1")
        del lines[0]
        headers, special = split_fields(lines, _REQUEST_SPECIAL, self.limits.max_headers, 400)
        if method == b"CONNECT":
            raise HttpError(405, "CONNECT is not supported: this is a reverse proxy")
        path, query, authority = split_target(method, target)
        if path != b"*":
            path = normalize_path(path, self.escaped_slash)
        hosts = special.pop(b"host", None)
        if authority is not None:
            host = rules.check_host([authority], version)
        elif (
            hosts is not None
            and len(hosts) == 1
            and 1 not in hosts[0].translate(_HOST_FLAGS)
            and hosts[0][:1] != b":"
        ):
            host = hosts[0]  # the common case, checked inline
        else:
            host = rules.check_host(hosts or _EMPTY, version)
        head = RequestHead(method, target, path, query, version, headers, host)
        if special:  # framing, Connection or Expect fields: the rules decide
            self._apply_specials(head, special)
        elif version == b"1.0":
            head.keep_alive = False
        if head.framing == FRAMING_NONE and head.keep_alive and self._validator.message_done:
            self._parser = parser  # llhttp is between messages and expects another one
        return head

    def _llhttp(self, raw: bytes):
        """Validate ``raw`` with the kept llhttp parser (or a new one) and return that parser;
        the caller reinstates it only if llhttp ended cleanly between messages."""
        parser = self._parser
        if parser is None:
            parser = httptools.HttpRequestParser(self._validator)
        self._parser = None
        _validate(parser, self._validator, raw, 400)
        return parser

    def _apply_specials(self, head: RequestHead, special: dict[bytes, list[bytes]]) -> None:
        head.framing, head.content_length = rules.request_framing(
            head.version,
            special.get(b"content-length", _EMPTY),
            special.get(b"transfer-encoding", _EMPTY),
            self.limits,
        )
        conn_values = special.get(b"connection")
        if conn_values:
            head.connection_tokens = tokens = rules.connection_tokens(conn_values)
            if b"upgrade" in tokens:  # Upgrade stays for the engine's WebSocket check (tunnel.py)
                tokens = tokens - _KEPT_NOMINATED
            head.headers = rules.without_nominated(head.headers, tokens)  # before any filter
        head.keep_alive = rules.keep_alive(head.version, head.connection_tokens)
        expect = special.get(b"expect")
        if expect:
            head.expect_continue = rules.expects_continue(expect)


class ResponseHeadParser:
    """Parse upstream response heads; every rejection is a 502 (the upstream misbehaved).

    Responses go through our rules only: the status line is matched exactly (``HTTP/1.x``,
    three digits, a CTL-free reason) and fields, framing and Connection are decided as for
    requests, which covers everything llhttp would check; llhttp stays in front of clients.
    """

    __slots__ = ("limits",)

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()

    def parse(self, raw: bytes, request_method: bytes) -> ResponseHead:
        if _fast_response is not None:  # the common case, compiled; None: the rules below decide
            fast = _fast_response(raw, request_method, self.limits.max_headers)
            if fast is not None:
                status, reason, version, headers, framing, length, keep_alive, connection = fast
                return ResponseHead(
                    status,
                    reason,
                    version,
                    headers,
                    framing,
                    length,
                    keep_alive,
                    rules.COMMON_CONNECTION[connection] if connection else _NO_TOKENS,
                )
        return self.parse_py(raw, request_method)

    def parse_py(self, raw: bytes, request_method: bytes) -> ResponseHead:
        """``parse`` in Python: every rule and every error message (the specification)."""
        try:
            if 1 in raw.replace(b"\r\n", b"").translate(_VALUE_FLAGS):
                rules.check_raw_head(raw)  # raises with the precise reason
            lines = raw[:-4].split(b"\r\n")
            status_line = lines[0].split(b" ", 2)
            if len(status_line) < 2 or len(status_line[1]) != 3 or not status_line[1].isdigit():
                raise HttpError(502, f"malformed status line {lines[0][:64]!r}")
            version = _REQUEST_VERSIONS.get(status_line[0])
            if version is None:
                raise HttpError(502, f"upstream answered {status_line[0][:16]!r}")
            status = int(status_line[1])
            reason = status_line[2] if len(status_line) == 3 else b""
            del lines[0]
            headers, special = split_fields(lines, _RESPONSE_SPECIAL, self.limits.max_headers, 502)
            head = ResponseHead(status, reason, version, headers)
            head.framing, head.content_length = rules.response_framing(
                request_method,
                status,
                special.get(b"content-length", _EMPTY),
                special.get(b"transfer-encoding", _EMPTY),
            )
            conn_values = special.get(b"connection")
            if conn_values:
                head.connection_tokens = tokens = rules.connection_tokens(conn_values)
                head.headers = rules.without_nominated(headers, tokens)  # before any filter
                head.keep_alive = rules.keep_alive(version, tokens)
            elif version == b"1.0":
                head.keep_alive = False
            return head
        except HttpError as exc:
            if exc.status == 502:
                raise
            raise HttpError(502, f"invalid upstream response: {exc.reason}") from None
