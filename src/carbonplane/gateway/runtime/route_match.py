"""What a matched route does to the request: the ``RouteMatch`` decision, Kong's upstream path
rule and the answer to plain http on an https-only route (sans-IO).

- ``upstream_uri``: ``strip_path`` removes the matched prefix (for a regex, the matched part),
  then the service ``path`` and the rest are joined by ``path_handling`` v0 (Kong's
  ``get_upstream_uri_v0``, the default) or v1 (the traditional router's rule); a remainder of
  ``.``/``..`` (or starting ``./``, ``../``) loses those segments;
- ``https_required_response``: 426 with ``Upgrade`` headers, or a redirect to the https URL with
  the route's ``https_redirect_status_code``.

Invariant: a ``RouteMatch`` is built by the router once per request and never changed; it
holds references to the config's frozen entities, never copies.
"""

from __future__ import annotations

from collections.abc import Mapping

NO_ROUTE_BODY = b'{"message":"no Route matched with those values"}'
NO_SERVICE_BODY = b'{"message":"no Service found with those values"}'
HTTPS_REQUIRED = "Please use HTTPS protocol"
HTTPS_REQUIRED_BODY = b'{"message":"Please use HTTPS protocol"}'
JSON_HEADERS = ((b"content-type", b"application/json; charset=utf-8"),)


class RouteMatch:
    """The routing decision for one request.

    ``upstream_host`` is the Host header to send: the client's with ``preserve_host``, else the
    service's host (with its port when not the scheme default), or None when the service host
    names an upstream entity (then the balancer's chosen target, or the upstream's
    ``host_header``, decides: ``balancer.host_header``). ``https_redirect_status`` is set when
    the route is https-only and the request came over plain http.
    """

    __slots__ = (
        "route",
        "service",
        "upstream",
        "upstream_path",
        "upstream_host",
        "upstream_scheme",
        "upstream_port",
        "matched_path",
        "uri_captures",
        "https_redirect_status",
        "websocket_only",
    )

    def __init__(
        self,
        route: Mapping,
        service: Mapping | None,
        upstream: Mapping | None,
        upstream_path: str,
        upstream_host: str | None,
        matched_path: str | None,
        uri_captures: dict | None,
        https_redirect_status: int | None,
    ) -> None:
        self.route = route
        self.service = service
        self.upstream = upstream
        self.upstream_path = upstream_path
        self.upstream_host = upstream_host
        self.upstream_scheme = service["protocol"] if service is not None else None
        self.upstream_port = service["port"] if service is not None else None
        self.matched_path = matched_path
        self.uri_captures = uri_captures
        self.https_redirect_status = https_redirect_status
        self.websocket_only = False  # a ws/wss route: a request that is no handshake gets 426

    def __repr__(self) -> str:
        name = self.route.get("name") or self.route.get("id")
        return f"RouteMatch(route={name!r}, upstream_path={self.upstream_path!r})"


def upstream_uri(base: str, path: str, prefix: str | None, strip: bool, v1: bool = False) -> str:
    """Join the service path ``base`` and the request ``path`` as Kong does.

    ``prefix`` is the matched part removed by ``strip_path`` (None when not stripping or when the
    route has no paths). v0: Kong's ``get_upstream_uri_v0``; v1: the traditional router's rule.
    """
    postfix = _sanitize(path[len(prefix) :]) if prefix is not None else path[1:]
    if v1:
        if not strip:
            return base + path[1:]
        if base.endswith("/") and postfix.startswith("/"):
            return base[:-1] + postfix
        return base + postfix
    if base.endswith("/"):
        if not strip:
            return base + path[1:]
        if postfix == "":
            if base == "/":
                return "/"
            return base if path.endswith("/") else base[:-1]
        if postfix.startswith("/"):
            return base[:-1] + postfix
        return base + postfix
    if not strip:
        return base if path == "/" else base + path
    if postfix == "":
        return base + "/" if len(path) > 1 and path.endswith("/") else base
    if postfix.startswith("/"):
        return base + postfix
    return base + "/" + postfix


def _sanitize(postfix: str) -> str:
    if postfix in (".", ".."):
        return ""
    if postfix.startswith("./"):
        return postfix[2:]
    if postfix.startswith("../"):
        return postfix[3:]
    return postfix


WEBSOCKET_REQUIRED_BODY = b'{"message":"Please use WebSocket protocol"}'


def websocket_required_response() -> tuple[int, tuple[tuple[bytes, bytes], ...], bytes]:
    """The answer to a request that is no WebSocket handshake on a ws/wss route."""
    return (
        426,
        JSON_HEADERS + ((b"connection", b"Upgrade"), (b"upgrade", b"websocket")),
        WEBSOCKET_REQUIRED_BODY,
    )


def https_required_response(
    match: RouteMatch, host: str | None, request_uri: str
) -> tuple[int, tuple[tuple[bytes, bytes], ...], bytes]:
    """Kong's answer to plain http on an https-only route: 426 with Upgrade headers, or a
    redirect to the https URL with the configured status."""
    status = match.https_redirect_status or 426
    if status == 426:
        return (
            426,
            JSON_HEADERS + ((b"connection", b"Upgrade"), (b"upgrade", b"TLS/1.2, HTTP/1.1")),
            HTTPS_REQUIRED_BODY,
        )
    location = f"https://{host or ''}{request_uri}".encode("latin-1")
    return status, ((b"location", location),), b""
