"""The parameters of an ``hmac`` credentials value, read as Kong's pattern reads them, in
linear time.

Kong (``kong/plugins/hmac-auth/access.lua``) searches the header value with ``KONG_PATTERN``:
four greedy ``(.+)`` groups separated by the literal delimiters ``",\\s*algorithm="``,
``",\\s*headers="`` and ``",\\s*signature="``, the last group ending at a ``"``. A backtracking
engine needs cubic time to find that such a value does not match: a 10 KB header of repeated
delimiters took ~3.9 s of CPU with Python's ``re``, 32 KB heads allow far worse.

``parse_params`` computes the same groups directly. Greedy groups mean: the username ends at
the LAST ``",\\s*algorithm="`` after which the rest can still match, then likewise for the
algorithm and the headers, and the signature ends at the last ``"``. Working from the right:
- a signature delimiter is usable when a ``"`` follows its end with at least one byte between;
- a headers delimiter is usable when a usable signature delimiter starts at least one byte
  after its end; likewise an algorithm delimiter with respect to the headers delimiters;
- the match starts at the first ``hmac username="`` (``[Hh]``) whose value is followed, at least
  one byte later, by a usable algorithm delimiter.
Each delimiter's start positions come from one scan (overlapping occurrences included), so the
whole parse is linear in the value's length. The unit tests compare it with ``KONG_PATTERN`` on
generated values.
"""

from __future__ import annotations

import re

KONG_PATTERN = re.compile(
    rb'\s*[Hh]mac\s*username="(.+)",\s*algorithm="(.+)",\s*headers="(.+)",\s*signature="(.+)"'
)
_START = re.compile(rb'[Hh]mac\s*username="')
_ALGORITHM = re.compile(rb'(?=(",\s*algorithm="))')
_HEADERS = re.compile(rb'(?=(",\s*headers="))')
_SIGNATURE = re.compile(rb'(?=(",\s*signature="))')


class SignatureParams:
    """The four parameters of an ``hmac`` credentials value."""

    __slots__ = ("username", "algorithm", "headers", "signature")

    def __init__(self, username: bytes, algorithm: bytes, headers: bytes, signature: bytes):
        self.username = username
        self.algorithm = algorithm
        self.headers = headers.split(b" ")
        self.signature = signature


def _last_usable(delimiter: re.Pattern[bytes], value: bytes, limit: int) -> tuple[int, int] | None:
    """(start, end) of the last occurrence of ``delimiter`` whose end is below ``limit``."""
    best = None
    for found in delimiter.finditer(value):
        start = found.start()
        end = start + len(found.group(1))
        if end < limit:
            best = (start, end)
    return best


def groups(value: bytes) -> tuple[bytes, bytes, bytes, bytes] | None:
    """What ``KONG_PATTERN.search(value).groups()`` returns, or None when it finds nothing."""
    if b"\n" in value:  # "." stops at a newline; header values never hold one
        return None
    quote = value.rfind(b'"')
    signature = _last_usable(_SIGNATURE, value, quote)
    if signature is None:
        return None
    headers = _last_usable(_HEADERS, value, signature[0])
    if headers is None:
        return None
    algorithm = _last_usable(_ALGORITHM, value, headers[0])
    if algorithm is None:
        return None
    start = _START.search(value)
    if start is None or start.end() >= algorithm[0]:
        return None
    return (
        value[start.end() : algorithm[0]],
        value[algorithm[1] : headers[0]],
        value[headers[1] : signature[0]],
        value[signature[1] : quote],
    )


def parse_params(value: bytes | None) -> SignatureParams | None:
    """The parameters of a credentials value, or None when it does not match Kong's pattern."""
    if value is None:
        return None
    found = groups(value)
    return SignatureParams(*found) if found is not None else None
