"""Strict chunked transfer coding (RFC 9112 §7.1): an incremental decoder and the encoder.

The decoder never trusts anything a byte-level parser said about chunks: it reads the raw
bytes itself, so the smuggling forms below are refused whatever parser sits in front.

Rules enforced by ``ChunkedDecoder`` (HttpError 400 unless noted):
- chunk-size is 1-16 hex digits, nothing else: no sign, no ``0x``, no leading or trailing
  whitespace (CVE-2023-38697 class), no overflow beyond 64 bits;
- chunk extensions are ``BWS ; BWS token [BWS = BWS (token / quoted-string)]`` and are dropped;
  a bare CR or LF inside a size line is refused;
- each chunk's data is followed by exactly CRLF;
- the size line is bounded (``Limits.max_chunk_line``), trailers are bounded by
  ``Limits.max_head_bytes`` (431) and must be valid header lines; they are read and dropped;
- the decoded body is bounded by ``Limits.max_body_bytes`` (413).

Work is linear in the input: the decoder advances a position over the caller's buffer and only
returns slices of it (the aiohttp CVE-2025-69229 quadratic pattern cannot occur).
"""

from __future__ import annotations

import re

from carbonplane.errors import HttpError
from carbonplane.http.model import Limits

_TOKEN = rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_QUOTED = rb'"(?:[\t \x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t \x21-\x7e\x80-\xff])*"'
_SIZE_LINE = re.compile(
    rb"([0-9A-Fa-f]{1,16})(?:[ \t]*;[ \t]*"
    + _TOKEN
    + rb"(?:[ \t]*=[ \t]*(?:"
    + _TOKEN
    + rb"|"
    + _QUOTED
    + rb"))?)*"
)
_TRAILER_LINE = re.compile(_TOKEN + rb":[ \t]*[\t \x21-\x7e\x80-\xff]*")

_SIZE, _DATA, _DATA_CRLF, _TRAILER, _DONE = range(5)
LAST_CHUNK = b"0\r\n\r\n"


def encode_chunk(data: bytes) -> bytes:
    """One chunk carrying ``data`` (which must not be empty: an empty chunk ends the body)."""
    return b"%x\r\n%b\r\n" % (len(data), data)


class ChunkedDecoder:
    """Decode one chunked body from a buffer the caller owns.

    ``step(buf, pos)`` returns ``(piece, pos)``: ``piece`` is decoded data (bytes), or ``None``
    when no data was produced (more bytes needed, or a framing step was consumed). ``done`` turns
    true once the last chunk and the trailer section were read; ``pos`` then points just past it.
    """

    __slots__ = ("_state", "_remaining", "_total", "_trailer_bytes", "_limits", "done")

    def __init__(self, limits: Limits) -> None:
        self._state = _SIZE
        self._remaining = 0
        self._total = 0
        self._trailer_bytes = 0
        self._limits = limits
        self.done = False

    def step(self, buf: bytes, pos: int) -> tuple[bytes | None, int]:
        state = self._state
        if state == _DATA:
            avail = len(buf) - pos
            if avail <= 0:
                return None, pos
            take = self._remaining if self._remaining < avail else avail
            self._remaining -= take
            if not self._remaining:
                self._state = _DATA_CRLF
            if pos == 0 and take == len(buf):
                return buf, take
            return buf[pos : pos + take], pos + take
        if state == _SIZE:
            return None, self._read_size(buf, pos)
        if state == _DATA_CRLF:
            if len(buf) - pos < 2:
                if buf[pos : pos + 1] not in (b"", b"\r"):
                    raise HttpError(400, "chunk data not followed by CRLF")
                return None, pos
            if buf[pos : pos + 2] != b"\r\n":
                raise HttpError(400, "chunk data not followed by CRLF")
            self._state = _SIZE
            return None, pos + 2
        if state == _TRAILER:
            return None, self._read_trailer(buf, pos)
        return None, pos

    def _read_size(self, buf: bytes, pos: int) -> int:
        end = buf.find(b"\r\n", pos)
        if end == -1:
            if len(buf) - pos > self._limits.max_chunk_line:
                raise HttpError(400, "chunk size line too long")
            return pos
        if end - pos > self._limits.max_chunk_line:
            raise HttpError(400, "chunk size line too long")
        match = _SIZE_LINE.fullmatch(buf, pos, end)
        if match is None:
            raise HttpError(400, f"invalid chunk size line {buf[pos:end][:40]!r}")
        size = int(match.group(1), 16)
        if size == 0:
            self._state = _TRAILER
            return end + 2
        self._total += size
        limit = self._limits.max_body_bytes
        if limit is not None and self._total > limit:
            raise HttpError(413, f"chunked body exceeds the limit of {limit} bytes")
        self._remaining = size
        self._state = _DATA
        return end + 2

    def _read_trailer(self, buf: bytes, pos: int) -> int:
        while True:
            end = buf.find(b"\r\n", pos)
            if end == -1:
                if self._trailer_bytes + len(buf) - pos > self._limits.max_head_bytes:
                    raise HttpError(431, "chunked trailer section too large")
                return pos
            if end == pos:
                self._state = _DONE
                self.done = True
                return end + 2
            self._trailer_bytes += end - pos + 2
            if self._trailer_bytes > self._limits.max_head_bytes:
                raise HttpError(431, "chunked trailer section too large")
            if _TRAILER_LINE.fullmatch(buf, pos, end) is None:
                raise HttpError(400, f"invalid trailer field {buf[pos:end][:40]!r}")
            pos = end + 2
