"""Error bodies negotiated by ``Accept``, as Kong writes them (JSON, HTML, XML or plain text).

Kong's rules (``kong/tools/http.lua`` ``get_response_type``, ``get_mime_type``, ERROR_TEMPLATES):

- ``Accept`` is split on commas; each entry ``type/subtype`` with an optional ``q`` (0..1, three
  decimals at most) is weighed, and the first entry with the highest ``q`` wins (ties keep the
  earlier one; ``q=0`` never wins). An entry that is not ``type/subtype`` is skipped.
- The winner maps to one of four bodies: ``application/json``, ``text/html``,
  ``application/xml``, ``text/plain``; ``text/*`` is plain text, ``application/*`` and ``*/*``
  are JSON, and any other type (``image/png``) is JSON. Media types are compared as written
  (Kong's table lookup is case-sensitive).
- Without a usable ``Accept`` the caller's default decides: errors made by a plugin or the
  router (Kong's ``kong.response.error``) default to JSON; errors the engine itself makes
  (upstream 502/503/504, malformed requests, timeouts: nginx's error pages in Kong, handled by
  ``kong/error_handlers.lua``) look at the request's ``Content-Type`` when there is no
  ``Accept``, then at ``error_default_type`` (Kong's default ``text/plain``).

The bodies are Kong's templates, byte for byte, with one deliberate difference: the message and
request id are escaped for the format (JSON string escapes, HTML/XML entities); Kong pastes them
in raw, so a message carrying ``"`` or ``<`` would break the document.

Invariants: ``negotiate`` always returns one of ``CONTENT_TYPES``' values; ``render`` never
raises for any ``str`` message.
"""

from __future__ import annotations

import json
import re
from html import escape

JSON = b"application/json; charset=utf-8"
HTML = b"text/html; charset=utf-8"
XML = b"application/xml; charset=utf-8"
PLAIN = b"text/plain; charset=utf-8"

# Kong's MIME_TYPES: media type (or the bare type before "/*") -> the content type sent
CONTENT_TYPES = {
    b"application/json": JSON,
    b"text/html": HTML,
    b"application/xml": XML,
    b"text/plain": PLAIN,
    b"application": JSON,
    b"text": PLAIN,
}
ERROR_DEFAULT_TYPES = ("application/json", "text/html", "application/xml", "text/plain")

# Kong's ACCEPT_PATTERN: a media range, then parameters of which "q" is read
_ENTRY = re.compile(
    rb"((?:[a-z0-9][a-z0-9\-!#$&^_+.]+|\*)/(?:[a-z0-9][a-z0-9\-!#$&^_+.]+|\*))"
    rb"(?:\s*;\s*q=(1(?:\.0{0,3}|)|0(?:\.\d{0,3}|))|\s*;\s*[a-z0-9][a-z0-9\-!#$&^_+.]+(?:=[^;]*|))*",
    re.IGNORECASE,
)


def content_type_for(media_type: bytes) -> bytes:
    """Kong's ``get_mime_type``: the content type sent for one media range (JSON if unknown)."""
    media_type = media_type.split(b";", 1)[0].strip()
    kind, slash, sub = media_type.partition(b"/")
    if not slash:
        return JSON
    if sub == b"*":
        return JSON if kind == b"*" else CONTENT_TYPES.get(kind, JSON)
    return CONTENT_TYPES.get(media_type, JSON)


def negotiate(accept: bytes | None, default: bytes = JSON) -> bytes:
    """The content type of an error body for a request's ``Accept`` (``default`` without one)."""
    if not accept:
        return default
    chosen = default
    best = 0.0
    for entry in accept.split(b","):
        match = _ENTRY.match(entry.strip())
        if match is None:
            continue
        q = float(match.group(2)) if match.group(2) else 1.0
        if q > best:
            best = q
            chosen = content_type_for(match.group(1))
    return chosen


def render(content_type: bytes, message: str, request_id: str) -> bytes:
    """Kong's error template for ``content_type`` (one of the four) filled in, escaped."""
    if content_type == HTML:
        return (
            b'<!doctype html>\n<html>\n  <head>\n    <meta charset="utf-8">\n'
            b"    <title>Error</title>\n  </head>\n  <body>\n    <h1>Error</h1>\n"
            b"    <p>%s.</p>\n    <p>request_id: %s</p>\n  </body>\n</html>\n"
            % (_html(message), _html(request_id))
        )
    if content_type == XML:
        return (
            b'<?xml version="1.0" encoding="UTF-8"?>\n<error>\n  <message>%s</message>\n'
            b"  <requestid>%s</requestid>\n</error>\n" % (_html(message), _html(request_id))
        )
    if content_type == PLAIN:
        return b"%s\nrequest_id: %s\n" % (_utf8(message), _utf8(request_id))
    return b'{\n  "message":%s,\n  "request_id":%s\n}' % (_json(message), _json(request_id))


def _utf8(text: str) -> bytes:
    return text.encode("utf-8", "replace")  # a lone surrogate becomes "?", never an error


def _html(text: str) -> bytes:
    return _utf8(escape(text, quote=True))


def _json(text: str) -> bytes:
    return _utf8(json.dumps(text, ensure_ascii=False))
