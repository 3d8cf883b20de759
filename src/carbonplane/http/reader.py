"""Message readers: bytes in, events out - the sans-IO core the proxy engine drives.

``RequestReader`` (client side) and ``ResponseReader`` (upstream side) own a byte buffer.
``feed(data)`` appends; ``feed_eof()`` records that the peer closed; ``next_event()`` returns,
in order, for each message:

    head (RequestHead / ResponseHead) -> body pieces (bytes, zero or more) -> END_OF_MESSAGE

or ``NEED_DATA`` when the buffer holds no complete next event, or ``CONNECTION_CLOSED`` once the
peer closed cleanly between messages. Errors raise ``HttpError`` and leave the reader unusable
(the connection must close: after a framing error the byte stream cannot be trusted).

Invariants:
- a head is found by its terminating CRLFCRLF within ``Limits.max_head_bytes`` (else 431 /
  502); the search resumes where it stopped, so a slowly sent head costs linear time;
- bodies are framed by our code only (``FRAMING_LENGTH`` counter, ``ChunkedDecoder``, or until
  close), never by the head parser;
- nothing after a message is interpreted until the caller asks for the next event, so
  pipelined requests wait, unparsed, in the buffer (``buffered`` says how many bytes; the
  caller pauses reading above its high-water mark);
- body pieces are slices of fed data, or the fed object itself when a whole chunk of input is
  body (no copy on the streaming path); a chunked body yields the data of all the chunks one
  buffer holds as one piece (joined when there are several), so a peer sending many tiny
  chunks costs one event - and one write on the other side - per read, not one per chunk.

``ResponseReader.expect(method)`` must be called before each response: HEAD responses and
1xx/204/304 have no body whatever their headers say (RFC 9112 §6.3). Interim 1xx responses are
consumed and skipped; 101 is refused (502) unless ``upgrade`` was set after ``expect`` (a
WebSocket handshake, ``proxy/tunnel.py``): then the 101 head is returned and the reader stops
(``NEED_DATA`` for ever); what followed it is tunnel data, taken with ``take_buffered``.
"""

from __future__ import annotations

from carbonplane.errors import HttpError
from carbonplane.http.chunked import ChunkedDecoder
from carbonplane.http.headparser import RequestHeadParser, ResponseHeadParser
from carbonplane.http.model import (
    CONNECTION_CLOSED,
    END_OF_MESSAGE,
    FRAMING_CHUNKED,
    FRAMING_CLOSE,
    FRAMING_LENGTH,
    FRAMING_NONE,
    NEED_DATA,
    Limits,
)

_HEAD, _LENGTH, _CHUNKED, _CLOSE, _END, _FAILED, _UPGRADED = range(7)


class _MessageReader:
    __slots__ = ("_buf", "_pos", "_state", "_scan", "_remaining", "_chunked", "limits", "eof")

    _head_status = 400

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self._buf = b""
        self._pos = 0
        self._state = _HEAD
        self._scan = 0  # where the CRLFCRLF search resumes
        self._remaining = 0
        self._chunked: ChunkedDecoder | None = None
        self.eof = False

    @property
    def buffered(self) -> int:
        """Bytes received but not yet consumed by events."""
        return len(self._buf) - self._pos

    @property
    def between_messages(self) -> bool:
        """True when no message is partly read (nothing consumed since the last END)."""
        return self._state == _HEAD and self._pos == len(self._buf)

    def feed(self, data: bytes) -> None:
        if self._pos == len(self._buf):
            self._buf = data
            self._scan -= self._pos
            self._pos = 0
        else:
            self._buf = self._buf[self._pos :] + data
            self._scan -= self._pos
            self._pos = 0

    def feed_eof(self) -> None:
        self.eof = True

    def next_event(self):
        state = self._state
        if state == _LENGTH:
            buf = self._buf
            pos = self._pos
            avail = len(buf) - pos
            if not avail:
                return self._need_data("body")
            take = self._remaining if self._remaining < avail else avail
            self._remaining -= take
            if not self._remaining:
                self._state = _END
            self._pos = pos + take
            if pos == 0 and take == len(buf):
                return buf
            return buf[pos : pos + take]
        if state == _HEAD:
            return self._next_head()
        if state == _END:
            self._state = _HEAD
            self._scan = self._pos
            return END_OF_MESSAGE
        if state == _CHUNKED:
            return self._next_chunk()
        if state == _CLOSE:
            return self._next_until_close()
        if state == _UPGRADED:
            return NEED_DATA
        raise HttpError(self._head_status, "reader used after a framing error")

    def take_rest(self) -> bytes | None:
        """Right after a head event: when the buffer holds exactly the rest of this message's
        body (a Content-Length body, or none), consume it *and* the end of the message and
        return it (the reader is then between messages, nothing buffered); else None and
        nothing changes (events continue as usual). The proxy's one-read fast path."""
        state = self._state
        buf = self._buf
        pos = self._pos
        if state == _LENGTH:
            if self._remaining != len(buf) - pos:
                return None
            self._remaining = 0
        elif state != _END or pos != len(buf):
            return None
        self._state = _HEAD
        self._pos = self._scan = len(buf)
        return buf if pos == 0 else buf[pos:]

    def take_buffered(self) -> bytes:
        """Take every byte received but not consumed (the start of a tunnel after a switch of
        protocols); the reader is left empty."""
        rest = self._buf[self._pos :]
        self._buf = b""
        self._pos = self._scan = 0
        return rest

    def _need_data(self, where: str):
        if self.eof:
            self._state = _FAILED
            raise HttpError(self._head_status, f"connection closed in the middle of the {where}")
        return NEED_DATA

    def _next_head(self):
        while True:
            buf = self._buf
            pos = self._pos
            while buf.startswith(b"\r\n", pos):  # RFC 9112 §2.2: ignore CRLF before a message
                pos += 2
                self._pos = pos
            scan = self._scan if self._scan > pos else pos
            end = buf.find(b"\r\n\r\n", scan)
            if end == -1:
                if buf.find(b"\n\n", scan) != -1 or buf.find(b"\n\r\n", scan) != -1:
                    self._state = _FAILED  # the head ended with bare-LF line ends
                    raise HttpError(self._head_status, "bare LF line ends in the message head")
                if len(buf) - pos > self.limits.max_head_bytes:
                    self._state = _FAILED
                    raise HttpError(self._too_large_status, "message head too large")
                self._scan = len(buf) - 3 if len(buf) - 3 > pos else pos
                if pos == len(buf) and self.eof:
                    return CONNECTION_CLOSED
                return self._need_data("head")
            end += 4
            if end - pos > self.limits.max_head_bytes:
                self._state = _FAILED
                raise HttpError(self._too_large_status, "message head too large")
            raw = buf if pos == 0 and end == len(buf) else buf[pos:end]
            self._pos = self._scan = end
            try:
                head = self._parse_head(raw)
            except HttpError:
                self._state = _FAILED
                raise
            if head is not None:
                return head

    def _begin_body(self, framing: int, length: int) -> None:
        if framing == FRAMING_LENGTH:
            self._remaining = length
            self._state = _LENGTH
        elif framing == FRAMING_CHUNKED:
            self._chunked = ChunkedDecoder(self.limits)
            self._state = _CHUNKED
        elif framing == FRAMING_CLOSE:
            self._state = _CLOSE
        else:
            self._state = _END

    def _next_chunk(self):
        """The data of every chunk the buffer holds, as one piece (many tiny chunks in one read
        become one event, so one upstream write); END_OF_MESSAGE or NEED_DATA when none."""
        decoder = self._chunked
        buf = self._buf
        pos = self._pos
        got = None  # the first piece, or a list once there are several
        try:
            while True:
                before = pos
                piece, pos = decoder.step(buf, pos)
                if piece is not None:
                    if got is None:
                        got = piece
                    elif type(got) is list:
                        got.append(piece)
                    else:
                        got = [got, piece]
                    continue
                if decoder.done:
                    self._pos = self._scan = pos
                    self._chunked = None
                    if got is None:
                        self._state = _HEAD
                        return END_OF_MESSAGE
                    self._state = _END  # the END_OF_MESSAGE comes next
                    break
                if pos == before:  # the decoder waits for more bytes
                    self._pos = pos
                    if got is None:
                        return self._need_data("chunked body")
                    break
        except HttpError:
            self._state = _FAILED
            raise
        return b"".join(got) if type(got) is list else got

    def _next_until_close(self):
        buf = self._buf
        pos = self._pos
        if pos < len(buf):
            self._pos = len(buf)
            return buf if pos == 0 else buf[pos:]
        if self.eof:
            self._state = _HEAD
            return END_OF_MESSAGE
        return NEED_DATA


class RequestReader(_MessageReader):
    """Requests from one client connection (see the module docstring)."""

    __slots__ = ("_parser",)
    _head_status = 400
    _too_large_status = 431

    def __init__(self, parser: RequestHeadParser) -> None:
        super().__init__(parser.limits)
        self._parser = parser

    def set_parser(self, parser: RequestHeadParser) -> None:
        """Use ``parser`` (and its limits) from the next head on (a configuration reload)."""
        self._parser = parser
        self.limits = parser.limits

    def _parse_head(self, raw: bytes):
        head = self._parser.parse(raw)
        self._begin_body(head.framing, head.content_length)
        return head

    def whole_head(self, data: bytes):
        """Feed ``data``; when it is exactly one request head arriving between messages (the
        common case of a keep-alive connection), parse it and return it - for a body-less
        request its END_OF_MESSAGE is consumed too, so the reader is between messages again.
        Otherwise return None and the events come from ``next_event`` as usual. Parse errors
        raise as ``next_event`` would (the reader is then unusable)."""
        end = data.find(b"\r\n\r\n") + 4
        if (
            end != len(data)
            or end == 3
            or self._pos != len(self._buf)
            or self._state != _HEAD
            or self.eof
            or end > self.limits.max_head_bytes
            or data[:2] == b"\r\n"
        ):
            self.feed(data)
            return None
        self._buf = data
        self._pos = self._scan = end
        try:
            head = self._parser.parse(data)
        except HttpError:
            self._state = _FAILED
            raise
        if head.framing != FRAMING_NONE:
            self._begin_body(head.framing, head.content_length)
        return head


class ResponseReader(_MessageReader):
    """Responses from one upstream connection; call ``expect(method)`` before each."""

    __slots__ = ("_parser", "_method", "upgrade")
    _head_status = 502
    _too_large_status = 502

    def __init__(self, parser: ResponseHeadParser) -> None:
        super().__init__(parser.limits)
        self._parser = parser
        self._method = b"GET"
        self.upgrade = False  # a 101 is accepted (set after expect() for a WebSocket handshake)

    def expect(self, method: bytes) -> None:
        self._method = method
        self.upgrade = False

    def _parse_head(self, raw: bytes):
        head = self._parser.parse(raw, self._method)
        if head.status < 200:
            if head.status == 101:
                if self.upgrade:
                    self._state = _UPGRADED  # the stream is no longer HTTP
                    return head
                raise HttpError(502, "upstream switched protocols without being asked to")
            return None  # interim response (100, 102, 103): skipped
        self._begin_body(head.framing, head.content_length)
        return head
