"""The message model of the sans-IO HTTP/1.1 layer: request and response heads, framing, limits.

A head is what a parser produced *and the rules accepted*: every ``RequestHead`` or
``ResponseHead`` that exists has passed ``carbonplane.http.rules``; code holding one may trust
its framing fields without re-checking.

Invariants:
- header names are lowercase ASCII tokens; values carry no CR, LF, NUL or other control byte
  except HTAB, and no leading/trailing whitespace (RFC 9110 §5.5);
- headers keep the order and duplicates of the wire (``list[tuple[bytes, bytes]]``);
- ``framing`` is one of the ``FRAMING_*`` constants and ``content_length`` is meaningful only
  for ``FRAMING_LENGTH`` (RFC 9112 §6.3 decides which applies; see ``rules.py``);
- ``path`` is the normalised path (``path.py``) and ``query`` the raw query with its leading
  ``?`` (empty when the target had none), so ``path + query`` is what goes upstream.

Classes use ``__slots__`` and plain attributes: the proxy engine creates one head per request.
"""

from __future__ import annotations

from dataclasses import dataclass

Headers = list[tuple[bytes, bytes]]

# How the body of a message is delimited (RFC 9112 §6.3).
FRAMING_NONE = 0  # no body (GET without length, HEAD responses, 1xx/204/304)
FRAMING_LENGTH = 1  # Content-Length bytes
FRAMING_CHUNKED = 2  # Transfer-Encoding: chunked
FRAMING_CLOSE = 3  # responses only: the body runs until the connection closes

FRAMING_NAMES = {0: "none", 1: "content-length", 2: "chunked", 3: "until-close"}


class _Sentinel:
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


#: Reader event: more bytes are needed before anything else can be said.
NEED_DATA = _Sentinel("NEED_DATA")
#: Reader event: the current message's body is complete.
END_OF_MESSAGE = _Sentinel("END_OF_MESSAGE")
#: Reader event: the peer closed and no further message can follow.
CONNECTION_CLOSED = _Sentinel("CONNECTION_CLOSED")


@dataclass(frozen=True, slots=True)
class Limits:
    """Size limits enforced while reading messages.

    ``max_head_bytes``: request line + headers (431 for requests, 502 for upstream responses);
    ``max_headers``: number of header fields (431); ``max_body_bytes``: request body, ``None`` for
    unlimited (413); ``max_chunk_line``: one chunk-size line with its extensions (400).
    """

    max_head_bytes: int = 32 * 1024
    max_headers: int = 100
    max_body_bytes: int | None = None
    max_chunk_line: int = 4096


class _HeaderLookup:
    """Header lookups shared by request and response heads (``headers``: lowercase names)."""

    __slots__ = ()  # subclasses define ``headers`` (a Headers list)

    def get(self, name: bytes, default: bytes | None = None) -> bytes | None:
        """The first value of header ``name`` (lowercase), or ``default``."""
        for n, v in self.headers:
            if n == name:
                return v
        return default

    def get_all(self, name: bytes) -> list[bytes]:
        """Every value of header ``name`` (lowercase), in order."""
        return [v for n, v in self.headers if n == name]


class RequestHead(_HeaderLookup):
    """A validated request head. ``host`` is the Host value (or the absolute-form authority)."""

    __slots__ = (
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

    def __init__(
        self,
        method: bytes,
        target: bytes,
        path: bytes,
        query: bytes,
        version: bytes,
        headers: Headers,
        host: bytes,
        framing: int = FRAMING_NONE,
        content_length: int = 0,
        keep_alive: bool = True,
        connection_tokens: frozenset[bytes] = frozenset(),
        expect_continue: bool = False,
    ) -> None:
        self.method = method
        self.target = target
        self.path = path
        self.query = query
        self.version = version
        self.headers = headers
        self.host = host
        self.framing = framing
        self.content_length = content_length
        self.keep_alive = keep_alive
        self.connection_tokens = connection_tokens
        self.expect_continue = expect_continue

    def __repr__(self) -> str:
        return (
            f"RequestHead({self.method.decode()} {self.target!r} HTTP/{self.version.decode()}, "
            f"{len(self.headers)} headers, {FRAMING_NAMES[self.framing]})"
        )


class ResponseHead(_HeaderLookup):
    """A validated response head from an upstream (or built by the proxy)."""

    __slots__ = (
        "status",
        "reason",
        "version",
        "headers",
        "framing",
        "content_length",
        "keep_alive",
        "connection_tokens",
    )

    def __init__(
        self,
        status: int,
        reason: bytes,
        version: bytes,
        headers: Headers,
        framing: int = FRAMING_NONE,
        content_length: int = 0,
        keep_alive: bool = True,
        connection_tokens: frozenset[bytes] = frozenset(),
    ) -> None:
        self.status = status
        self.reason = reason
        self.version = version
        self.headers = headers
        self.framing = framing
        self.content_length = content_length
        self.keep_alive = keep_alive
        self.connection_tokens = connection_tokens

    def __repr__(self) -> str:
        return (
            f"ResponseHead({self.status} HTTP/{self.version.decode()}, {len(self.headers)} headers,"
            f" {FRAMING_NAMES[self.framing]})"
        )
