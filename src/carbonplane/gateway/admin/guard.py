"""The Admin API's door check: what a request head must show before its body is read.

``AdminGuard.check(method, headers, local_host)`` is sans-IO: the server calls it with each
request head (before reading one byte of the body) and the address the client connected to, and
gets ``None`` (go on) or a refusal ``(status, headers, body)`` to send before closing. In order:

1. **Host** (defeats DNS rebinding): the Host's name must be loopback (``localhost``,
   ``127.0.0.1``, ``[::1]``), the address the connection arrived on (the listen address), or
   one of the configured names (``--admin-host``); any port. Otherwise 421. A rebinding page
   can point its own name at 127.0.0.1, but its requests still carry its own name as Host.
2. **Preflight**: an ``OPTIONS`` with ``Access-Control-Request-Method`` is answered 403, never
   with ``Access-Control-Allow-*`` headers (no response of this API carries them).
3. **Cross-origin writes** (every method but GET/HEAD/OPTIONS), 403 when
   a. ``Origin`` is present and is not this request's own origin (its authority differs from
      Host, or it is ``null``);
   b. ``Sec-Fetch-Site`` is present and is neither ``same-origin`` nor ``none``;
   c. the body type is one a page may send without a preflight (``text/plain``, form-urlencoded,
      ``multipart/form-data`` or none at all) and the request carries any browser marker
      (``Origin``, ``Referer``, ``Sec-Fetch-*``) without a same-origin ``Origin``.
   Non-browser clients (curl, scripts, decK) send none of these headers and keep every body type
   Kong accepts; browsers always send ``Origin`` on a cross-origin POST and cannot remove it.
4. **Token**: when one is configured, ``Kong-Admin-Token`` must match (constant time) or 401.

Invariant: a refusal never depends on the body, so an unauthenticated or cross-site client's body
is never buffered.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
from collections.abc import Iterable, Sequence
from urllib.parse import urlsplit

Response = tuple[int, list[tuple[bytes, bytes]], bytes]
LOOPBACK_NAMES = frozenset(("localhost", "127.0.0.1", "[::1]"))
SAFE_METHODS = frozenset((b"GET", b"HEAD", b"OPTIONS"))
SIMPLE_TYPES = frozenset(
    ("", "text/plain", "application/x-www-form-urlencoded", "multipart/form-data")
)
BROWSER_MARKERS = (b"origin", b"referer", b"sec-fetch-site", b"sec-fetch-mode", b"sec-fetch-dest")
_JSON = (b"content-type", b"application/json; charset=utf-8")


def refusal(status: int, message: str) -> Response:
    return status, [_JSON], json.dumps({"message": message}).encode()


def host_name(value: str) -> str:
    """The name part of a Host value, lower-case: ``Example.COM:8001`` -> ``example.com``,
    ``[::1]:8001`` -> ``[::1]``."""
    value = value.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        return value[: end + 1] if end > 0 else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


def address_name(address: str) -> str:
    """A socket address as it appears in a Host header (IPv6 in brackets)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return address.lower()
    return f"[{ip.compressed}]" if ip.version == 6 else ip.compressed


class AdminGuard:
    """See the module docstring. ``hosts``: extra names the API answers to (``admin.example``,
    ``10.0.0.5``); ``token``: the admin token, or None for none."""

    def __init__(self, token: str | None = None, hosts: Iterable[str] = ()) -> None:
        self.token = token.encode() if token else None
        self.hosts = frozenset(host_name(h) for h in hosts if h.strip())

    def check(
        self, method: bytes, headers: Sequence[tuple[bytes, bytes]], local_host: str | None = None
    ) -> Response | None:
        fields: dict[bytes, str] = {}
        for name, value in headers:
            fields.setdefault(name.lower(), value.decode("latin-1"))
        host = fields.get(b"host")
        if host is not None and not self.host_allowed(host, local_host):
            return refusal(
                421,
                f"Host {host!r} is not a name this Admin API answers to: use "
                "localhost, 127.0.0.1, [::1], its listen address, or a name given "
                "with --admin-host (requests for other names are refused to defeat "
                "DNS rebinding)",
            )
        if method == b"OPTIONS" and b"access-control-request-method" in fields:
            return refusal(403, "the Admin API does not answer cross-origin (CORS) requests")
        if method not in SAFE_METHODS:
            why = cross_origin_write(fields, host)
            if why is not None:
                return refusal(
                    403,
                    f"cross-origin write refused: {why}; the Admin API accepts "
                    "changes only from non-browser clients or its own origin",
                )
        if self.token is not None:
            given = fields.get(b"kong-admin-token", "").encode("latin-1")
            if not hmac.compare_digest(given, self.token):
                return refusal(
                    401, "Unauthorized: send the admin token in the Kong-Admin-Token header"
                )
        return None

    def host_allowed(self, host: str, local_host: str | None) -> bool:
        name = host_name(host)
        if name in LOOPBACK_NAMES or name in self.hosts:
            return True
        return local_host is not None and name == address_name(local_host)


def cross_origin_write(fields: dict[bytes, str], host: str | None) -> str | None:
    """Why a state-changing request looks like it came from another site's page, or None."""
    origin = fields.get(b"origin")
    same_origin = origin is not None and host is not None and _authority(origin) == host.lower()
    if origin is not None and not same_origin:
        return f"Origin {origin!r} is not this Admin API's origin"
    site = fields.get(b"sec-fetch-site")
    if site is not None and site.strip().lower() not in ("same-origin", "none"):
        return f"Sec-Fetch-Site is {site!r}"
    ctype = fields.get(b"content-type", "").split(";")[0].strip().lower()
    if ctype in SIMPLE_TYPES and not same_origin and any(m in fields for m in BROWSER_MARKERS):
        return (
            f"a browser request with Content-Type {ctype or '(none)'!r} and no same-origin "
            "Origin header"
        )
    return None


def _authority(origin: str) -> str | None:
    """``http://Host:8001`` -> ``host:8001``; None for ``null`` or anything not an origin."""
    try:
        parts = urlsplit(origin.strip())
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/"):
        return None
    return parts.netloc.lower()
