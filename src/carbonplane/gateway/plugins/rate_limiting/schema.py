"""Config schema of the rate-limiting plugin: Kong 3.x field names, defaults and checks.

Kong's fields (``kong/plugins/rate-limiting/schema.lua``): one limit per period (``second`` ..
``year``, numbers > 0, at least one, a longer period may not have a lower limit), ``limit_by``
(consumer | credential | ip | service | header | path, with ``header_name`` / ``path``),
``policy`` (local | redis; ``cluster`` needs Kong's database and is refused here),
``fault_tolerant``, ``hide_client_headers``, ``error_code``, ``error_message``, ``sync_rate``
(only -1: counters are always updated synchronously), and the ``redis`` record of Kong 3.x
(``host``, ``port``, ``username``, ``password``, ``database``, ``timeout``, ``ssl``,
``ssl_verify``, ``server_name``). The deprecated flat ``redis_*`` fields of Kong < 3.6 are still
accepted and override the record's values.

Our extension: ``algorithm`` ``fixed`` (Kong's calendar-aligned windows, the default) or
``sliding`` (a sliding-window estimate over epoch-aligned windows).
"""

from __future__ import annotations

from typing import Any

from carbonplane.gateway.config import typedefs as t
from carbonplane.gateway.config.problems import ENTITY
from carbonplane.gateway.config.schema import record

PERIODS = ("second", "minute", "hour", "day", "month", "year")
LIMIT_BY = ("consumer", "credential", "ip", "service", "header", "path")
POLICIES = ("local", "cluster", "redis")
ALGORITHMS = ("fixed", "sliding")
LEGACY_REDIS = (
    "host",
    "port",
    "username",
    "password",
    "database",
    "timeout",
    "ssl",
    "ssl_verify",
    "server_name",
)


def _positive(value: float) -> str | None:
    return None if value > 0 else "value must be greater than 0"


def _sync_rate(value: float) -> str | None:
    if value != -1:
        return (
            "only -1 is supported: counters are updated synchronously on every request, "
            "so limits are exact and there is nothing to sync"
        )
    return None


def _period(name: str) -> tuple[str, Any]:
    return name, t.number(f"Number of HTTP requests allowed per {name}.", check=_positive)


REDIS = record(
    ("host", t.string("Redis host name or IP address.")),
    ("port", t.port("Redis port.", default=6379)),
    ("username", t.string("Redis ACL user name (Redis 6+).")),
    ("password", t.string("Redis password (AUTH).")),
    ("database", t.integer("Redis database number.", default=0)),
    (
        "timeout",
        t.integer(
            "Connect, send and read timeout in milliseconds.", default=2000, between=(0, 2**31 - 2)
        ),
    ),
    ("ssl", t.boolean("Connect to Redis over TLS.", default=False)),
    ("ssl_verify", t.boolean("Verify the Redis server certificate.", default=False)),
    ("server_name", t.string("SNI server name for the TLS handshake.")),
)


# Kong < 3.6 flat fields (no defaults: a value given here overrides the ``redis`` record).
LEGACY_FIELDS = (
    ("redis_host", t.string("Deprecated: use redis.host.")),
    ("redis_port", t.port("Deprecated: use redis.port.")),
    ("redis_username", t.string("Deprecated: use redis.username.")),
    ("redis_password", t.string("Deprecated: use redis.password.")),
    ("redis_database", t.integer("Deprecated: use redis.database.")),
    ("redis_timeout", t.integer("Deprecated: use redis.timeout.", between=(0, 2**31 - 2))),
    ("redis_ssl", t.boolean("Deprecated: use redis.ssl.")),
    ("redis_ssl_verify", t.boolean("Deprecated: use redis.ssl_verify.")),
    ("redis_server_name", t.string("Deprecated: use redis.server_name.")),
)


def _checks(conf: dict[str, Any]) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    given = [(p, conf[p]) for p in PERIODS if conf.get(p) is not None]
    if not given:
        names = ", ".join(f"'config.{p}'" for p in PERIODS)
        problems.append((ENTITY, f"at least one of these fields must be non-empty: {names}"))
    for i, (lower, low_limit) in enumerate(given):
        for upper, up_limit in given[i + 1 :]:
            if up_limit < low_limit:
                problems.append(
                    (
                        ENTITY,
                        f"The limit for {upper}({float(up_limit):.1f}) cannot be "
                        f"lower than the limit for {lower}({float(low_limit):.1f})",
                    )
                )
    if conf["policy"] == "cluster":
        problems.append(
            (
                "policy",
                "policy 'cluster' needs Kong's database and is not supported; "
                "use 'local' (exact across the workers of one host) or 'redis' "
                "(shared by every gateway node)",
            )
        )
    if conf["policy"] == "redis" and not (conf.get("redis_host") or conf["redis"].get("host")):
        problems.append(("redis.host", "required field missing"))
    if conf["limit_by"] == "header" and not conf.get("header_name"):
        problems.append(("header_name", "required field missing"))
    if conf["limit_by"] == "path" and not conf.get("path"):
        problems.append(("path", "required field missing"))
    return problems


CONFIG = record(
    *(_period(p) for p in PERIODS),
    (
        "limit_by",
        t.string(
            "The entity whose requests are counted; falls back to the client IP "
            "when it cannot be identified.",
            default="consumer",
            one_of=LIMIT_BY,
        ),
    ),
    (
        "header_name",
        t.string(
            "Header whose value identifies the client (limit_by: header).",
            check=t.check_header_name,
        ),
    ),
    (
        "path",
        t.string(
            "Path counted (limit_by: path); other paths fall back to the client IP.",
            check=t.check_path,
        ),
    ),
    (
        "policy",
        t.string(
            "Where counters live: 'local' (shared memory of this host, exact across "
            "its workers) or 'redis' (one Redis for every node).",
            default="local",
            one_of=POLICIES,
        ),
    ),
    (
        "algorithm",
        t.string(
            "'fixed': calendar-aligned windows as Kong; 'sliding': a sliding-"
            "window estimate (carbonplane extension).",
            default="fixed",
            one_of=ALGORITHMS,
        ),
    ),
    (
        "fault_tolerant",
        t.boolean(
            "Proxy requests when the counters cannot be reached (logged); "
            "false answers 500 instead.",
            default=True,
        ),
    ),
    (
        "hide_client_headers",
        t.boolean("Do not send the X-RateLimit-* / RateLimit-* headers.", default=False),
    ),
    (
        "error_code",
        t.number("Status of the response to a limited request.", default=429, check=_positive),
    ),
    (
        "error_message",
        t.string(
            "Message of the response to a limited request.", default="API rate limit exceeded"
        ),
    ),
    (
        "sync_rate",
        t.number(
            "Kong's counter sync interval; only -1 (synchronous).", default=-1, check=_sync_rate
        ),
    ),
    ("redis", t.nested(REDIS, "Redis connection (policy: redis).")),
    *LEGACY_FIELDS,
    checks=[_checks],
)


def redis_settings(conf: Any) -> dict[str, Any]:
    """The effective Redis settings: the ``redis`` record, overridden by legacy ``redis_*``."""
    out = dict(conf["redis"])
    for name in LEGACY_REDIS:
        value = conf.get(f"redis_{name}")
        if value is not None:
            out[name] = value
    return out
