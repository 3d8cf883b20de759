"""The ``routes`` entity: rules that match requests to a service (Kong's ``routes.lua``).

Kong's defaults: ``protocols`` [http, https], ``strip_path`` true, ``preserve_host`` false,
``regex_priority`` 0, ``https_redirect_status_code`` 426, ``path_handling`` v0, request and
response buffering true. An HTTP route must set at least one of methods, hosts, headers or paths
(or snis for https). ``snis`` only with https; ``sources``/``destinations`` only for stream
routes (which this HTTP/1.1 gateway does not serve); ``Host`` is matched with ``hosts``, never as
a header. Regex paths start with ``~`` and must compile.
"""

from __future__ import annotations

from typing import Any

from carbonplane.gateway.config import typedefs as t
from carbonplane.gateway.config.problems import ENTITY
from carbonplane.gateway.config.schema import Field, record

PROTOCOLS = ("grpc", "grpcs", "http", "https", "tcp", "tls", "tls_passthrough", "udp", "ws", "wss")
HTTP_PROTOCOLS = ("http", "https", "ws", "wss")  # ws/wss: WebSocket handshakes only


def _header_map_check(headers: dict[str, Any]) -> str | None:
    for name in headers:
        if name.lower() == "host":
            return "cannot contain 'host' header, which must be specified in the 'hosts' attribute"
    return None


def _checks(route: dict[str, Any]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    protocols = route["protocols"] or []
    unsupported = [p for p in protocols if p not in HTTP_PROTOCOLS]
    if unsupported:
        out.append(
            (
                "protocols",
                f"protocol '{unsupported[0]}' is not supported: the gateway serves "
                "HTTP/1.1 and WebSocket routes; use 'http'/'https' or 'ws'/'wss'",
            )
        )
        return out
    if any(p in ("http", "https") for p in protocols) and any(
        p in ("ws", "wss") for p in protocols
    ):
        out.append(
            ("protocols", "these sets are mutually exclusive: ('http', 'https'), ('ws', 'wss')")
        )
        return out
    if route.get("snis") and "https" not in protocols and "wss" not in protocols:
        out.append(
            (
                "snis",
                "'snis' can only be set when 'protocols' is 'grpcs', 'https', 'tls' "
                "or 'tls_passthrough'",
            )
        )
    for name in ("sources", "destinations"):
        if route.get(name):
            out.append(
                (
                    name,
                    f"'{name}' can only be set when 'protocols' is 'tcp', 'tls', "
                    "'tls_passthrough' or 'udp'",
                )
            )
    if not any(route.get(f) for f in ("methods", "hosts", "headers", "paths", "snis")):
        label = protocols[0] if len(protocols) == 1 else "http"
        extra = ", 'snis'" if "https" in protocols or "wss" in protocols else ""
        out.append(
            (
                ENTITY,
                f"must set one of 'methods', 'hosts', 'headers', 'paths'{extra} when "
                f"'protocols' is '{label}'",
            )
        )
    return out


_ENDPOINT = record(
    ("ip", t.string("IP address or CIDR.")),
    ("port", t.port("Port.")),
)

ROUTE = record(
    ("id", t.uuid()),
    ("created_at", t.timestamp_s("Unix epoch seconds when the route was created.")),
    ("updated_at", t.timestamp_s("Unix epoch seconds of the last change.")),
    ("name", t.name("Unique name; usable instead of the id in Admin API paths.")),
    (
        "protocols",
        t.set_of(
            t.string(one_of=PROTOCOLS),
            "Protocols this route accepts; an "
            "https-only route answers plain http with https_redirect_status_code.",
            default=["http", "https"],
            required=True,
            len_min=1,
        ),
    ),
    ("methods", t.set_of(t.string(check=t.check_method), "HTTP methods that match (upper case).")),
    (
        "hosts",
        t.array(
            t.string(check=t.check_wildcard_host),
            "Host header values that match; "
            "one leading or trailing '*' wildcard label, optional ':port'.",
        ),
    ),
    (
        "paths",
        t.array(
            t.string(check=t.check_router_path),
            "Path prefixes, or regexes starting with '~' (anchored at the start of the path).",
        ),
    ),
    (
        "headers",
        Field(
            "map",
            "Header name -> accepted values; values starting with '~*' are "
            "case-insensitive regexes.",
            keys=t.string(check=t.check_header_name),
            values=t.array(t.string(), len_min=1),
            check=_header_map_check,
        ),
    ),
    (
        "https_redirect_status_code",
        t.integer(
            "Status sent to plain-http requests on an https-only route.",
            default=426,
            required=True,
            one_of=(426, 301, 302, 307, 308),
        ),
    ),
    (
        "regex_priority",
        t.integer(
            "Order among regex routes of equal weight (higher first).",
            default=0,
            between=(-(2**31), 2**31 - 1),
        ),
    ),
    (
        "strip_path",
        t.boolean("Remove the matched path prefix before proxying.", default=True, required=True),
    ),
    (
        "path_handling",
        t.string(
            "How the service path and the request path are joined.",
            default="v0",
            one_of=("v0", "v1"),
        ),
    ),
    (
        "preserve_host",
        t.boolean(
            "Send the client's Host header upstream instead of the service host.",
            default=False,
            required=True,
        ),
    ),
    (
        "request_buffering",
        t.boolean(
            "Read the whole request body before contacting the "
            "upstream (in memory, up to the proxy's "
            "request_buffer_bytes: 413 beyond); false streams it.",
            default=True,
            required=True,
        ),
    ),
    (
        "response_buffering",
        t.boolean(
            "Accepted for Kong compatibility; responses always stream (with back-pressure).",
            default=True,
            required=True,
        ),
    ),
    ("snis", t.set_of(t.string(check=t.check_wildcard_host), "TLS server names (https only).")),
    ("sources", t.set_of(t.nested(_ENDPOINT), "Stream routes only (not supported).")),
    ("destinations", t.set_of(t.nested(_ENDPOINT), "Stream routes only (not supported).")),
    ("tags", t.tags()),
    ("service", t.foreign("services", "The service this route proxies to.")),
    checks=[_checks],
)
