"""The ``upstreams`` and ``targets`` entities: a virtual host name balanced over targets, with
active and passive health checks (Kong's ``upstreams.lua``, ``targets.lua``).

Kong's defaults: ``algorithm`` round-robin, ``hash_on``/``hash_fallback`` none,
``hash_on_cookie_path`` "/", ``slots`` 10000 (10..65536); target ``weight`` 100 (0..65535) and
port 8000 when the target has none. Health-check defaults are Kong's ``healthchecks_config``:
active probes disabled (interval 0), passive thresholds 0 (disabled). Hashing rules: a header,
cookie, query_arg or uri_capture hash needs its name; ``hash_fallback`` must be none when hashing
on a cookie or on nothing, and must differ from ``hash_on``; hashing implies consistent-hashing.
"""

from __future__ import annotations

from typing import Any

from carbonplane.gateway.config import typedefs as t
from carbonplane.gateway.config.schema import Field, record

ALGORITHMS = ("consistent-hashing", "least-connections", "round-robin", "latency")
HASH_ON = ("none", "consumer", "ip", "header", "cookie", "path", "query_arg", "uri_capture")
CHECK_TYPES = ("tcp", "http", "https", "grpc", "grpcs")
DEFAULT_TARGET_PORT = 8000

_PASSIVE_HEALTHY = [
    200,
    201,
    202,
    203,
    204,
    205,
    206,
    207,
    208,
    226,
    300,
    301,
    302,
    303,
    304,
    305,
    306,
    307,
    308,
]


def _counter(description: str) -> Field:
    return t.integer(description, default=0, between=(0, 255))


def _interval(description: str) -> Field:
    return t.number(description, default=0, between=(0, 65535))


def _healthy(active: bool) -> Field:
    fields = [
        (
            "http_statuses",
            t.http_statuses(
                [200, 302] if active else _PASSIVE_HEALTHY, "Statuses counted as a success."
            ),
        ),
        ("successes", _counter("Successes that mark a target healthy (0 = never).")),
    ]
    if active:
        fields.insert(
            0, ("interval", _interval("Seconds between probes of healthy targets (0 = no probes)."))
        )
    return t.nested(record(*fields))


def _unhealthy(active: bool) -> Field:
    fields = [
        (
            "http_statuses",
            t.http_statuses(
                [429, 404, 500, 501, 502, 503, 504, 505] if active else [429, 500, 503],
                "Statuses counted as a failure.",
            ),
        ),
        ("tcp_failures", _counter("Connection failures that mark a target unhealthy (0 = off).")),
        ("timeouts", _counter("Timeouts that mark a target unhealthy (0 = off).")),
        ("http_failures", _counter("Failure statuses that mark a target unhealthy (0 = off).")),
    ]
    if active:
        fields.insert(
            0,
            ("interval", _interval("Seconds between probes of unhealthy targets (0 = no probes).")),
        )
    return t.nested(record(*fields))


ACTIVE = record(
    ("type", t.string("Probe type.", default="http", one_of=CHECK_TYPES)),
    ("timeout", t.number("Probe timeout in seconds.", default=1, between=(0, 65535))),
    ("concurrency", t.integer("Probes run at the same time.", default=10, between=(1, 2**31 - 1))),
    ("http_path", t.string("Path probed with GET.", default="/", check=t.check_path)),
    ("https_sni", t.string("SNI sent by https probes.")),
    ("https_verify_certificate", t.boolean("Verify certificates of https probes.", default=True)),
    (
        "headers",
        Field(
            "map",
            "Extra probe headers.",
            keys=t.string(check=t.check_header_name),
            values=t.array(t.string()),
        ),
    ),
    ("healthy", _healthy(True)),
    ("unhealthy", _unhealthy(True)),
)

PASSIVE = record(
    ("type", t.string("Traffic type observed.", default="http", one_of=CHECK_TYPES)),
    ("healthy", _healthy(False)),
    ("unhealthy", _unhealthy(False)),
)

HEALTHCHECKS = record(
    ("active", t.nested(ACTIVE, "Active probes.")),
    ("passive", t.nested(PASSIVE, "Passive checks on proxied traffic (circuit breaker).")),
    (
        "threshold",
        t.number(
            "Percentage of healthy weight below which the whole upstream is unhealthy.",
            default=0,
            between=(0, 100),
        ),
    ),
)


def _name_needed(up: dict[str, Any], which: str, field: str) -> list[tuple[str, str]]:
    kind = up[which]
    names = {
        "header": f"{field}_header",
        "cookie": "hash_on_cookie",
        "query_arg": f"{field}_query_arg",
        "uri_capture": f"{field}_uri_capture",
    }
    needed = names.get(kind)
    if needed and not up.get(needed):
        return [(needed, "required field missing")]
    return []


def _checks(up: dict[str, Any]) -> list[tuple[str, str]]:
    out = _name_needed(up, "hash_on", "hash_on") + _name_needed(
        up, "hash_fallback", "hash_fallback"
    )
    on, fallback = up["hash_on"], up["hash_fallback"]
    if fallback != "none" and on in ("none", "cookie"):
        out.append(("hash_fallback", f"expected one of: none (hash_on is '{on}')"))
    elif fallback == on and on not in ("none", "header", "query_arg", "uri_capture"):
        out.append(("hash_fallback", "must be different from hash_on"))
    elif (
        fallback == on == "header"
        and (up.get("hash_on_header") or "").lower()
        == (up.get("hash_fallback_header") or "").lower()
    ):
        out.append(("hash_fallback_header", "must be different from hash_on_header"))
    if on != "none" and up["algorithm"] != "consistent-hashing":
        out.append(("algorithm", "must be 'consistent-hashing' when 'hash_on' is set"))
    return out


UPSTREAM = record(
    ("id", t.uuid()),
    ("created_at", t.timestamp_s("Unix epoch seconds when the upstream was created.")),
    ("updated_at", t.timestamp_s("Unix epoch seconds of the last change.")),
    (
        "name",
        t.string(
            "Virtual hostname; services whose host equals it are balanced over its targets.",
            required=True,
            unique=True,
            check=t.check_upstream_name,
        ),
    ),
    ("algorithm", t.string("Load-balancing algorithm.", default="round-robin", one_of=ALGORITHMS)),
    ("hash_on", t.string("What to hash for consistent-hashing.", default="none", one_of=HASH_ON)),
    (
        "hash_fallback",
        t.string("What to hash when hash_on yields nothing.", default="none", one_of=HASH_ON),
    ),
    (
        "hash_on_header",
        t.string("Header hashed when hash_on is 'header'.", check=t.check_header_name),
    ),
    (
        "hash_fallback_header",
        t.string("Header hashed when hash_fallback is 'header'.", check=t.check_header_name),
    ),
    ("hash_on_cookie", t.string("Cookie hashed (and set when absent) for 'cookie'.")),
    (
        "hash_on_cookie_path",
        t.string("Path of the cookie set for 'cookie'.", default="/", check=t.check_path),
    ),
    ("hash_on_query_arg", t.string("Query argument hashed for 'query_arg'.", len_min=1)),
    (
        "hash_fallback_query_arg",
        t.string("Query argument hashed for fallback 'query_arg'.", len_min=1),
    ),
    ("hash_on_uri_capture", t.string("Route regex capture hashed for 'uri_capture'.", len_min=1)),
    (
        "hash_fallback_uri_capture",
        t.string("Capture hashed for fallback 'uri_capture'.", len_min=1),
    ),
    (
        "slots",
        t.integer("Points on the consistent-hashing ring.", default=10000, between=(10, 2**16)),
    ),
    ("healthchecks", t.nested(HEALTHCHECKS, "Active and passive health checks.")),
    ("tags", t.tags()),
    ("host_header", t.host("Host header sent to targets instead of the target's host.")),
    (
        "client_certificate",
        t.foreign(
            "certificates",
            "Certificate presented to https targets when the service sets none (mTLS).",
        ),
    ),
    (
        "use_srv_name",
        t.boolean("Use the SRV record name as Host (accepted, no DNS SRV here).", default=False),
    ),
    checks=[_checks],
)

TARGET = record(
    ("id", t.uuid()),
    ("created_at", t.timestamp_ms("Unix epoch seconds (with milliseconds) of creation.")),
    ("updated_at", t.timestamp_ms("Unix epoch seconds (with milliseconds) of the last change.")),
    ("upstream", t.foreign("upstreams", "The upstream this target belongs to.", required=True)),
    (
        "target",
        t.string(
            "'host:port' of the target (port 8000 when omitted).",
            required=True,
            check=t.check_target,
        ),
    ),
    (
        "weight",
        t.integer(
            "Relative share of traffic; 0 takes the target out of rotation.",
            default=100,
            between=(0, 65535),
        ),
    ),
    ("tags", t.tags()),
)


def normalize_target(value: Any) -> Any:
    """Give a target without port Kong's default port 8000 (``10.0.0.1`` -> ``10.0.0.1:8000``)."""
    if not isinstance(value, str) or t.check_target(value) is not None:
        return value
    host, port = t.split_host_port(value) or (value, None)
    if port is not None:
        return value
    return f"[{host}]:{DEFAULT_TARGET_PORT}" if ":" in host else f"{host}:{DEFAULT_TARGET_PORT}"


def default_algorithm(data: dict[str, Any]) -> dict[str, Any]:
    """Hashing implies consistent-hashing when no algorithm was given."""
    if data.get("hash_on") not in (None, "none") and "algorithm" not in data:
        return {**data, "algorithm": "consistent-hashing"}
    return data
