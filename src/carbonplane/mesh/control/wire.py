"""The control plane's wire format: length-prefixed JSON frames over TLS, and its errors.

Frame: a 4-byte big-endian unsigned length, then that many bytes of UTF-8 JSON holding one
object. A frame longer than ``MAX_FRAME`` (16 MiB), a body that is not a JSON object, or a stream
that ends inside a frame raises ``ProtocolError``; the connection is then closed (never resynced).

Every connection starts with one request frame ``{"op": ...}``. One-shot operations
(``bootstrap``, ``renew``, ``register``, ``admin``) get one answer frame and the connection closes;
``watch`` turns the connection into a stream (see ``docs/mesh.md``, "Protocol"). An answer is
``{"ok": true, ...}`` or ``{"ok": false, "error": CODE, "message": TEXT}``; the client raises
``RequestRefused(code, message)`` for the latter.

Errors (under ``carbonplane.errors.CarbonplaneError``)::

    ControlPlaneError            the control plane or its protocol failed
    ├── ProtocolError            a malformed frame or an unexpected message
    ├── RequestRefused           the control plane answered ok=false (``code``, ``message``)
    ├── ControlUnavailable       it cannot be reached or the TLS handshake failed (``address``)
    ├── RegistrationError        (``registry``) a registration the registry refuses (``code``)
    └── ConfigRejected           (``agent.config``) a snapshot an agent cannot apply (``reason``)
"""

from __future__ import annotations

import asyncio
import json
import struct
from typing import Any

from carbonplane.errors import CarbonplaneError

MAX_FRAME = 16 * 1024 * 1024
_LEN = struct.Struct(">I")


class ControlPlaneError(CarbonplaneError):
    """Base of the mesh control plane's errors."""


class ProtocolError(ControlPlaneError):
    """A frame or message that breaks the protocol."""


class RequestRefused(ControlPlaneError):
    """The control plane refused a request: ``code`` is machine-readable, ``message`` says why."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        self.message = message
        super().__init__(f"control plane refused ({code}): {message}")


class ControlUnavailable(ControlPlaneError):
    """The control plane at ``address`` cannot be reached or failed the TLS handshake."""

    def __init__(self, address: str, problem: str) -> None:
        self.address = address
        super().__init__(f"control plane at {address}: {problem}")


def encode(message: dict[str, Any]) -> bytes:
    """One frame holding ``message``."""
    body = json.dumps(message, separators=(",", ":")).encode()
    if len(body) > MAX_FRAME:
        raise ProtocolError(f"frame of {len(body)} bytes exceeds the {MAX_FRAME} byte limit")
    return _LEN.pack(len(body)) + body


async def read_frame(reader: asyncio.StreamReader) -> dict[str, Any] | None:
    """The next message, or None at a clean end of stream (between frames)."""
    try:
        head = await reader.readexactly(4)
    except asyncio.IncompleteReadError as exc:
        if not exc.partial:
            return None
        raise ProtocolError("the stream ended inside a frame header") from None
    (size,) = _LEN.unpack(head)
    if size > MAX_FRAME:
        raise ProtocolError(f"frame of {size} bytes exceeds the {MAX_FRAME} byte limit")
    try:
        body = await reader.readexactly(size)
    except asyncio.IncompleteReadError:
        raise ProtocolError(f"the stream ended inside a {size} byte frame") from None
    try:
        message = json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ProtocolError(f"a frame is not JSON: {exc}") from None
    if not isinstance(message, dict):
        raise ProtocolError(f"a frame holds {type(message).__name__}, not an object")
    return message


def refusal(code: str, message: str) -> dict[str, Any]:
    return {"ok": False, "error": code, "message": message}


def check_answer(answer: dict[str, Any] | None) -> dict[str, Any]:
    """``answer`` if ok, else raise ``RequestRefused``; ``ProtocolError`` if there is none."""
    if answer is None:
        raise ProtocolError("the control plane closed the connection without answering")
    if answer.get("ok") is True:
        return answer
    raise RequestRefused(str(answer.get("error", "unknown")), str(answer.get("message", "")))


def text_field(message: dict[str, Any], name: str, limit: int = 64 * 1024) -> str:
    """A required string field of a request, or ``ProtocolError`` naming it."""
    value = message.get(name)
    if not isinstance(value, str) or not value or len(value) > limit:
        raise ProtocolError(
            f"field {name!r} must be a non-empty string of at most {limit} characters"
        )
    return value
