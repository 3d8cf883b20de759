"""The ``services`` entity: an upstream API the gateway proxies to (Kong's ``services.lua``).

Kong's defaults: ``protocol`` http, ``port`` 80, ``retries`` 5, connect/write/read timeouts
60000 ms, ``enabled`` true. The write-only shorthand ``url`` sets protocol, host, port and path
(port 443 for https, 80 for http when the URL has none). The engine speaks HTTP/1.1 only, so the
stream and gRPC protocols Kong also accepts are rejected with an explanation rather than ignored.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from carbonplane.gateway.config import typedefs as t
from carbonplane.gateway.config.problems import ENTITY, Problem
from carbonplane.gateway.config.schema import record

PROTOCOLS = ("grpc", "grpcs", "http", "https", "tcp", "tls", "tls_passthrough", "udp", "ws", "wss")
SUPPORTED_PROTOCOLS = ("http", "https", "ws", "wss")  # ws: HTTP/1.1 then a tunnel; wss: TLS


def _checks(svc: dict[str, Any]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    if svc["protocol"] not in SUPPORTED_PROTOCOLS:
        out.append(
            (
                "protocol",
                f"protocol '{svc['protocol']}' is not supported: the gateway "
                "proxies HTTP/1.1 and WebSocket; use 'http', 'https', 'ws' or 'wss'",
            )
        )
    if svc["protocol"] not in ("https", "wss"):
        for name in ("tls_verify", "tls_verify_depth", "ca_certificates"):
            if svc.get(name) is not None:
                out.append((name, "value must be null (only allowed when 'protocol' is 'https')"))
    if svc.get("client_certificate") is not None and svc["protocol"] != "https":
        out.append(
            ("client_certificate", "value must be null (only allowed when 'protocol' is 'https')")
        )
    return out


SERVICE = record(
    ("id", t.uuid()),
    ("created_at", t.timestamp_s("Unix epoch seconds when the service was created.")),
    ("updated_at", t.timestamp_s("Unix epoch seconds of the last change.")),
    ("name", t.name("Unique name; usable instead of the id in Admin API paths.")),
    (
        "retries",
        t.integer(
            "Times to retry a request that failed to connect.", default=5, between=(0, 32767)
        ),
    ),
    (
        "protocol",
        t.string(
            "Protocol used to talk to the upstream.",
            default="http",
            required=True,
            one_of=PROTOCOLS,
        ),
    ),
    (
        "host",
        t.host(
            "Upstream host, or the name of an upstream entity to load-balance over.", required=True
        ),
    ),
    ("port", t.port("Upstream port.", default=80, required=True)),
    ("path", t.string("Path prefix used in requests to the upstream.", check=t.check_path)),
    ("connect_timeout", t.timeout("Milliseconds to establish a connection to the upstream.")),
    ("write_timeout", t.timeout("Milliseconds between two writes to the upstream.")),
    ("read_timeout", t.timeout("Milliseconds between two reads from the upstream.")),
    ("tags", t.tags()),
    (
        "client_certificate",
        t.foreign("certificates", "Certificate presented to an https upstream (mTLS)."),
    ),
    ("tls_verify", t.boolean("Verify the upstream TLS certificate (https only).")),
    (
        "tls_verify_depth",
        t.integer("Maximum certificate chain depth (https only).", between=(0, 64)),
    ),
    (
        "ca_certificates",
        t.array(
            t.string(check=lambda v: None if t.is_uuid(v) else "expected a valid UUID"),
            "CA certificate ids used to verify the upstream (https only).",
        ),
    ),
    ("enabled", t.boolean("Whether routes to this service are served.", default=True)),
    checks=[_checks],
)


def expand_url(data: dict[str, Any]) -> tuple[dict[str, Any], list[Problem]]:
    """Apply the write-only ``url`` shorthand: ``url: https://h:8443/p`` -> protocol, host, port,
    path. The URL's parts override the same fields given separately, as in Kong."""
    if "url" not in data:
        return data, []
    out = {k: v for k, v in data.items() if k != "url"}
    url = data["url"]
    if url is None:
        return out, []
    if not isinstance(url, str):
        return out, [(("url",), "expected a string")]
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        return out, [(("url",), f"could not parse url. {exc}")]
    if not parts.scheme:
        return out, [(("url",), "missing scheme in url")]
    if not parts.hostname:
        return out, [(("url",), "missing host in url")]
    out["protocol"] = parts.scheme.lower()
    out["host"] = parts.hostname
    out["port"] = (
        port if port is not None else (443 if out["protocol"] in ("https", "wss", "grpcs") else 80)
    )
    out["path"] = parts.path or None
    return out, []


__all__ = ["SERVICE", "expand_url", "PROTOCOLS", "SUPPORTED_PROTOCOLS", "ENTITY"]
