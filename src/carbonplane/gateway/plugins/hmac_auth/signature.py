"""The hmac-auth wire format, with no I/O: the signing string, the HMAC itself and HTTP dates
(Kong's ``kong/plugins/hmac-auth/access.lua``; the draft-cavage "HTTP Signatures" shape Kong
follows). The credentials parameter (``Authorization`` or ``Proxy-Authorization``:
``hmac username="u", algorithm="hmac-sha256", headers="date request-line",
signature="<base64>"``) is read by ``params.py``.

Signing string: one line per name in ``headers``, joined by ``\\n`` (no trailing newline):
- a header present in the request: ``<name as listed>: <first value>`` (names match
  case-insensitively, ``_`` standing for ``-``);
- otherwise ``@request-target``: ``@request-target: <method lowercased> <request-target>``;
- otherwise ``request-line``: ``<METHOD> <request-target> HTTP/<version>``;
- otherwise ``<name>:`` (a listed header the request lacks signs as empty).
The request-target is the one the client sent (path and query, unnormalised).

HTTP dates: IMF-fixdate (``Sun, 06 Nov 1994 08:49:37 GMT``), RFC 850
(``Sunday, 06-Nov-94 08:49:37 GMT``) and asctime (``Sun Nov  6 08:49:37 1994``), the three
forms RFC 9110 section 5.6.7 names and nginx's ``ngx_parse_http_time`` reads; anything else is
no date.
"""

from __future__ import annotations

import base64
import binascii
import calendar
import functools
import hashlib
import hmac
import re
from typing import Any

DIGESTS = {
    "hmac-sha1": hashlib.sha1,
    "hmac-sha256": hashlib.sha256,
    "hmac-sha384": hashlib.sha384,
    "hmac-sha512": hashlib.sha512,
}


def signing_string(
    names: list[bytes], headers: Any, method: bytes, target: bytes, version: bytes
) -> bytes:
    """The bytes a client signs for ``names`` (see module doc). Linear in names + headers."""
    first: dict[bytes, bytes] = {}
    for n, v in headers:
        first.setdefault(n, v)
    lines = []
    for name in names:
        value = first.get(name.lower().replace(b"_", b"-"))
        if value is not None:
            lines.append(name + b": " + value)
        elif name == b"@request-target":
            lines.append(b"@request-target: " + method.lower() + b" " + target)
        elif name == b"request-line":
            lines.append(method + b" " + target + b" HTTP/" + version)
        else:
            lines.append(name + b":")
    return b"\n".join(lines)


def sign(algorithm: str, secret: bytes, data: bytes) -> bytes:
    """The raw HMAC of ``data`` with ``secret`` (``algorithm`` one of ``DIGESTS``)."""
    return hmac.digest(secret, data, DIGESTS[algorithm])


def decode_signature(signature: bytes) -> bytes | None:
    """The raw bytes of a base64 ``signature`` (padding optional), or None."""
    try:
        return base64.b64decode(signature + b"=" * (-len(signature) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None


def body_digest(body_sha256: bytes) -> bytes:
    """The ``Digest`` header value a body with this SHA-256 must carry."""
    return b"SHA-256=" + base64.b64encode(body_sha256)


_MONTHS = {
    m: i
    for i, m in enumerate(
        (b"jan", b"feb", b"mar", b"apr", b"may", b"jun")
        + (b"jul", b"aug", b"sep", b"oct", b"nov", b"dec"),
        1,
    )
}
_IMF = re.compile(rb"[A-Za-z]{3}, (\d{2}) ([A-Za-z]{3}) (\d{4}) (\d{2}):(\d{2}):(\d{2}) GMT")
_RFC850 = re.compile(rb"[A-Za-z]{6,9}, (\d{2})-([A-Za-z]{3})-(\d{2}) (\d{2}):(\d{2}):(\d{2}) GMT")
_ASCTIME = re.compile(rb"[A-Za-z]{3} ([A-Za-z]{3}) ([ \d]\d) (\d{2}):(\d{2}):(\d{2}) (\d{4})")


@functools.lru_cache(maxsize=1024)  # clients signing in the same second send the same Date
def parse_http_date(value: bytes) -> int | None:
    """Epoch seconds of an HTTP date, or None when ``value`` is not one."""
    value = value.strip()
    found = _IMF.fullmatch(value)
    if found:
        day, month, year, hh, mm, ss = found.groups()
    else:
        found = _RFC850.fullmatch(value)
        if found:
            day, month, year, hh, mm, ss = found.groups()
            year = b"%d" % (int(year) + (2000 if int(year) < 70 else 1900))
        else:
            found = _ASCTIME.fullmatch(value)
            if found is None:
                return None
            month, day, hh, mm, ss, year = found.groups()
    number = _MONTHS.get(month.lower())
    if number is None:
        return None
    fields = (int(year), number, int(day), int(hh), int(mm), int(ss))
    if not (1 <= fields[2] <= 31 and fields[3] < 24 and fields[4] < 60 and fields[5] < 61):
        return None
    return calendar.timegm(fields + (0, 0, 0))
