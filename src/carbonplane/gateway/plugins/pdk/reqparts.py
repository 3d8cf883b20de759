"""Pieces of a request as plugins read and rewrite them: query strings, cookies, headers.

The engine hands filters raw bytes: ``ctx.request.query`` (the client's query with its leading
``?``), ``ctx.upstream_target`` (path + query that will be sent upstream) and
``ctx.request.headers`` (lowercase names, wire order, duplicates kept). These helpers decode
and re-encode them the way Kong's PDK does (``kong.request.get_query``: ``+`` and ``%XX``
decoded, a parameter without ``=`` has no value; ``set_query``: keys sorted), and never
produce a byte that could break the request line or a header line: values written upstream
are percent-encoded (query, path) or checked for control characters (headers).

Fast paths matter: the common request has no query and a handful of headers, so every
function returns early on empty input and does one pass over the data otherwise.
"""

from __future__ import annotations

import re
from urllib.parse import quote, unquote_plus

# A query parameter: decoded name, decoded value (None when written without "=").
Param = tuple[str, str | None]

_PATH_SAFE = "/:@!$&'()*+,;=-._~%"
_CTL = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")


def split_target(target: bytes) -> tuple[bytes, bytes]:
    """``/p?q=1`` -> (``/p``, ``q=1``); the query without its ``?``."""
    path, sep, query = target.partition(b"?")
    return path, query if sep else b""


def parse_query(query: bytes) -> list[Param]:
    """Decode a query string (with or without the leading ``?``) into ordered parameters."""
    if query[:1] == b"?":
        query = query[1:]
    if not query:
        return []
    text = query.decode("latin-1")
    out: list[Param] = []
    for part in text.split("&"):
        if not part:
            continue
        name, eq, value = part.partition("=")
        out.append((_unquote(name), _unquote(value) if eq else None))
    return out


def _unquote(text: str) -> str:
    if "%" not in text and "+" not in text:
        return text
    return unquote_plus(text, encoding="utf-8", errors="surrogateescape")


def encode_query(params: list[Param]) -> bytes:
    """Encode parameters as ``a=1&b&c=x%20y`` (no leading ``?``)."""
    parts = []
    for name, value in params:
        key = quote(name, safe="-_.~", errors="surrogateescape")
        parts.append(
            key if value is None else f"{key}={quote(value, safe='-_.~', errors='surrogateescape')}"
        )
    return "&".join(parts).encode("ascii")


def without_params(target: bytes, names: frozenset[str]) -> bytes:
    """``target`` with every query parameter named in ``names`` removed; other parameters
    keep their original bytes and order."""
    path, query = split_target(target)
    if not query:
        return target
    kept = []
    for part in query.split(b"&"):
        if not part:
            continue
        name = part.partition(b"=")[0].decode("latin-1")
        if _unquote(name) not in names:
            kept.append(part)
    if not kept:
        return path
    return path + b"?" + b"&".join(kept)


def with_query(target: bytes, params: list[Param]) -> bytes:
    path, _ = split_target(target)
    encoded = encode_query(params)
    return path + b"?" + encoded if encoded else path


def with_path(target: bytes, path: str) -> bytes:
    """``target`` with its path replaced by ``path`` (percent-encoded where needed)."""
    _, query = split_target(target)
    raw = quote(path, safe=_PATH_SAFE, errors="surrogateescape").encode("ascii")
    if not raw.startswith(b"/"):
        raw = b"/" + raw
    return raw + b"?" + query if query else raw


def cookie_values(headers: list[tuple[bytes, bytes]], name: str) -> list[str]:
    """Values of cookie ``name`` across every Cookie header (RFC 6265 ``a=b; c=d``)."""
    wanted = name.encode("latin-1")
    out = []
    for n, v in headers:
        if n != b"cookie" or wanted not in v:
            continue
        for pair in v.split(b";"):
            key, eq, value = pair.strip().partition(b"=")
            if eq and key == wanted:
                value = value.strip()
                if len(value) >= 2 and value[:1] == b'"' and value[-1:] == b'"':
                    value = value[1:-1]
                out.append(value.decode("latin-1"))
    return out


def safe_header_value(text: str) -> bytes | None:
    """``text`` as a header value, or None when it holds a control character (CR, LF, NUL
    ...): such a value could split the header block, so it is never sent."""
    raw = text.encode("utf-8", "surrogateescape")
    if _CTL.search(raw):
        return None
    return raw.strip(b" \t")
