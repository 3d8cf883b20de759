"""The master <-> worker control channel: length-framed messages over a Unix socket pair.

Why frames on a socket we read ourselves (and not ``multiprocessing.Connection.recv``): a worker
watches its end from the event loop, so the socket is non-blocking, and a config payload of
megabytes arrives in many pieces. ``Connection.recv`` on a non-blocking handle raises
``BlockingIOError`` halfway through a message, which is indistinguishable from a broken pipe for
its callers and loses the bytes already read. Here each side keeps its own buffer: bytes are
appended as they arrive (any amount, any timing) and a message is handed over only once whole.

Frame: 8-byte big-endian length, then that many bytes of ``pickle`` (protocol 5). The peer is
our own process tree; nothing else can reach a ``socketpair``.

Invariants:
- ``FrameBuffer.feed`` returns only complete messages, in order; a partial tail stays buffered.
  "Peer gone" is only ever end-of-file (``recv`` returning ``b""``) or a connection error, never
  "nothing to read yet".
- ``LoopSender`` (worker side) never blocks the event loop: what the socket does not take now is
  queued and written when it becomes writable, in order.
- ``send_frame`` (master side) writes a whole frame or raises ``OSError`` (peer gone, or no
  progress within the socket's timeout).
"""

from __future__ import annotations

import pickle
import socket
import struct
from typing import Any

HEADER = struct.Struct("!Q")
MAX_FRAME = 1 << 31  # 2 GiB: anything larger is a corrupt stream, not a config
READ_SIZE = 1 << 20


class ChannelError(OSError):
    """The stream cannot be a sequence of frames (a corrupt length)."""


def encode(message: Any) -> bytes:
    body = pickle.dumps(message, protocol=5)
    return HEADER.pack(len(body)) + body


class FrameBuffer:
    """Accumulate received bytes; hand out whole messages."""

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[Any]:
        self._buf += data
        out = []
        while len(self._buf) >= HEADER.size:
            (size,) = HEADER.unpack_from(self._buf)
            if size > MAX_FRAME:
                raise ChannelError(f"control frame of {size} bytes: the stream is corrupt")
            end = HEADER.size + size
            if len(self._buf) < end:
                break
            out.append(pickle.loads(memoryview(self._buf)[HEADER.size : end]))
            del self._buf[:end]
        return out

    @property
    def pending(self) -> int:
        """Bytes of an incomplete frame held back."""
        return len(self._buf)


def read_available(sock: socket.socket, frames: FrameBuffer) -> tuple[list[Any], bool]:
    """Read what is there now; returns (whole messages, peer closed). A non-blocking socket is
    read until it has nothing more; one in blocking or timeout mode (the master's, which
    Python polls before each ``recv``) is read once: call it when the socket is readable."""
    messages: list[Any] = []
    drain = sock.gettimeout() == 0.0
    while True:
        try:
            data = sock.recv(READ_SIZE, socket.MSG_DONTWAIT)
        except (BlockingIOError, InterruptedError):
            return messages, False
        except OSError:
            return messages, True
        if not data:
            return messages, True
        try:
            messages += frames.feed(data)
        except ChannelError:  # nothing after a corrupt length can be trusted: drop the peer
            return messages, True
        if not drain or len(data) < READ_SIZE:
            return messages, False


def send_frame(sock: socket.socket, message: Any) -> None:
    sock.sendall(encode(message))


class LoopSender:
    """Ordered, non-blocking writes of frames from an event loop (the worker's side)."""

    def __init__(self, loop: Any, sock: socket.socket) -> None:
        self.loop = loop
        self.sock = sock
        self._out = bytearray()
        self._watching = False
        self.broken = False

    def send(self, message: Any) -> None:
        if self.broken:
            return
        self._out += encode(message)
        if not self._watching:
            self._flush()

    def _flush(self) -> None:
        while self._out:
            try:
                sent = self.sock.send(self._out)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                self.broken = True
                self._out.clear()
                break
            del self._out[:sent]
        if self._out and not self._watching:
            self._watching = True
            self.loop.add_writer(self.sock.fileno(), self._on_writable)
        elif not self._out and self._watching:
            self._watching = False
            self.loop.remove_writer(self.sock.fileno())

    def _on_writable(self) -> None:
        self._flush()

    def close(self) -> None:
        if self._watching:
            self.loop.remove_writer(self.sock.fileno())
            self._watching = False
