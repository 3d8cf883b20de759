"""Kong's ``headers``, ``headers_upstream`` and ``error_default_type`` settings, turned into the
engine's header settings (``ProxyConfig`` fields).

Kong's ``kong.conf`` (``kong/templates/kong_defaults.lua``, ``kong/conf_loader``):

- ``headers`` (default ``server_tokens, latency_tokens, X-Kong-Request-Id``): the headers sent to
  clients. ``server_tokens`` = ``Server`` + ``Via``; ``latency_tokens`` =
  ``X-Kong-Proxy-Latency``, ``X-Kong-Response-Latency``, ``X-Kong-Admin-Latency`` and
  ``X-Kong-Upstream-Latency``; each header may also be named alone; ``off`` sends none of them.
  Names are case-insensitive.
- ``headers_upstream`` (default ``X-Kong-Request-Id``): the headers sent to upstreams; ``off``
  sends none. ``Via`` goes upstream whatever this says (Kong's nginx template sets it always).
- ``error_default_type`` (default ``text/plain``): the format of an error the proxy itself made
  when the request has neither ``Accept`` nor ``Content-Type``.

What the engine sends for each (``carbonplane.proxy.config``): proxied responses get ``Via``
(after the upstream's own), ``X-Kong-Upstream-Latency`` (ms from contacting the upstream to its
response head) and ``X-Kong-Proxy-Latency`` (ms from the request's head to contacting the
upstream); responses the gateway makes itself get ``Server`` and ``X-Kong-Response-Latency`` (ms
from the request's head to the response); both get ``X-Kong-Request-Id`` (32 hex digits, one per
request, also in log records and error bodies). The product token is ``carbonplane/<version>``,
not Kong's (``docs/gateway.md``, "Differences from Kong").

Invariants: ``proxy_header_settings`` returns only ``ProxyConfig`` field names; an unknown
token raises ``ConfigError`` naming the setting and the token.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from carbonplane.errors import ConfigError
from carbonplane.http.errorpages import ERROR_DEFAULT_TYPES
from carbonplane.proxy.config import PRODUCT

DEFAULT_HEADERS = "server_tokens, latency_tokens, X-Kong-Request-Id"
DEFAULT_HEADERS_UPSTREAM = "X-Kong-Request-Id"
DEFAULT_ERROR_TYPE = "text/plain"
REQUEST_ID = "x-kong-request-id"
PREFIX = "x-kong"

# token -> what it enables ("via", "server", latency kinds, "request-id", "admin-latency")
_DOWNSTREAM = {
    "server_tokens": ("server", "via"),
    "latency_tokens": ("upstream", "proxy", "response", "admin-latency"),
    "via": ("via",),
    "server": ("server",),
    "x-kong-proxy-latency": ("proxy",),
    "x-kong-response-latency": ("response",),
    "x-kong-upstream-latency": ("upstream",),
    "x-kong-admin-latency": ("admin-latency",),
    "x-kong-request-id": ("request-id",),
}
_UPSTREAM = {"x-kong-request-id": ("request-id",)}
_NOT_BUILT = {
    "x-kong-upstream-status": "X-Kong-Upstream-Status is not sent by this gateway; "
    "remove it (the response status is the upstream's unless a plugin changed it)",
}


def tokens(value: str | Iterable[str], setting: str, known: Mapping[str, tuple]) -> set[str]:
    """What a comma-separated Kong list enables (empty for ``off``)."""
    items = value.split(",") if isinstance(value, str) else list(value)
    names = [item.strip().lower() for item in items if item.strip()]
    if names[:1] == ["off"]:
        return set()
    enabled: set[str] = set()
    for name in names:
        if name == "off":
            continue
        if name in _NOT_BUILT:
            raise ConfigError(_NOT_BUILT[name], where=setting)
        if name not in known:
            raise ConfigError(
                f"{name!r} is not one of {', '.join(sorted(known))} (or off)", where=setting
            )
        enabled.update(known[name])
    return enabled


def proxy_header_settings(
    headers: str | Iterable[str] = DEFAULT_HEADERS,
    headers_upstream: str | Iterable[str] = DEFAULT_HEADERS_UPSTREAM,
    error_default_type: str = DEFAULT_ERROR_TYPE,
) -> dict[str, Any]:
    """The ``ProxyConfig`` fields for Kong's three settings (see the module docstring)."""
    down = tokens(headers, "headers", _DOWNSTREAM)
    up = tokens(headers_upstream, "headers_upstream", _UPSTREAM)
    if error_default_type.strip().lower() not in ERROR_DEFAULT_TYPES:
        raise ConfigError(
            f"{error_default_type!r} is not one of {', '.join(ERROR_DEFAULT_TYPES)}",
            where="error_default_type",
        )
    return {
        "via": f"1.1 {PRODUCT}",
        "via_downstream": "via" in down,
        "server_tokens": PRODUCT if "server" in down else None,
        "latency_headers": [kind for kind in ("upstream", "proxy", "response") if kind in down],
        "latency_header_prefix": PREFIX,
        "request_id_header": REQUEST_ID,
        "request_id_upstream": "request-id" in up,
        "request_id_downstream": "request-id" in down,
        "error_default_type": error_default_type.strip().lower(),
    }


def gateway_defaults() -> dict[str, Any]:
    """Kong's defaults of the three settings as ``ProxyConfig`` fields."""
    return proxy_header_settings()
