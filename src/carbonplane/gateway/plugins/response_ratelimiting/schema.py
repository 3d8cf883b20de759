"""Config schema of the response-ratelimiting plugin: Kong 3.x field names, defaults and checks.

Kong's fields (``kong/plugins/response-ratelimiting/schema.lua``): ``limits`` (a map, at least one
entry, of a limit name to a record of per-period limits ``second`` .. ``year``, numbers > 0, at
least one per name, a longer period may not have a lower limit), ``header_name`` (the upstream's
increment header, default ``x-kong-limit``), ``limit_by`` (consumer | credential | ip),
``policy`` (local | redis; ``cluster`` needs Kong's database and is refused here),
``fault_tolerant`` (default true), ``block_on_first_violation``, ``hide_client_headers``, and the
``redis`` record with the deprecated flat ``redis_*`` fields, shared with rate-limiting.
"""

from __future__ import annotations

from typing import Any

from carbonplane.gateway.config import typedefs as t
from carbonplane.gateway.config.schema import ENTITY, Field, record
from carbonplane.gateway.plugins.rate_limiting.schema import LEGACY_FIELDS, PERIODS, REDIS

LIMIT_BY = ("consumer", "credential", "ip")
POLICIES = ("local", "cluster", "redis")


def _positive(value: float) -> str | None:
    return None if value > 0 else "value must be greater than 0"


def _period_checks(conf: dict[str, Any]) -> list[tuple[str, str]]:
    given = [(p, conf[p]) for p in PERIODS if conf.get(p) is not None]
    if not given:
        names = ", ".join(f"'{p}'" for p in PERIODS)
        return [(ENTITY, f"at least one of these fields must be non-empty: {names}")]
    problems: list[tuple[str, str]] = []
    for i, (lower, low_limit) in enumerate(given):
        for upper, up_limit in given[i + 1 :]:
            if up_limit < low_limit:
                problems.append(
                    (
                        ENTITY,
                        f"the limit for {upper}({float(up_limit):.1f}) cannot be lower "
                        f"than the limit for {lower}({float(low_limit):.1f})",
                    )
                )
    return problems


PERIOD_LIMITS = record(
    *((p, t.number(f"Number of units allowed per {p}.", check=_positive)) for p in PERIODS),
    checks=[_period_checks],
)


def _limit_name(value: str) -> str | None:
    if not value or any(c in value for c in " \t,=:\r\n") or not value.isprintable():
        return (
            "a limit name must be non-empty and hold no whitespace, ',', '=' or ':' "
            "(it is written in the X-Kong-Limit header and in header names)"
        )
    return None


def _checks(conf: dict[str, Any]) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    if conf["policy"] == "cluster":
        problems.append(
            (
                "policy",
                "policy 'cluster' needs Kong's database and is not supported; use 'local' "
                "(exact across the workers of one host) or 'redis' (shared by every node)",
            )
        )
    if conf["policy"] == "redis" and not (conf.get("redis_host") or conf["redis"].get("host")):
        problems.append(("redis.host", "required field missing"))
    return problems


CONFIG = record(
    (
        "header_name",
        t.string(
            "The name of the response header used to increment the counters.",
            default="x-kong-limit",
            check=t.check_header_name,
        ),
    ),
    (
        "limit_by",
        t.string(
            "The entity the limits are counted for: consumer, credential or ip; when the "
            "consumer or credential cannot be determined, the client IP.",
            default="consumer",
            one_of=LIMIT_BY,
        ),
    ),
    (
        "policy",
        t.string(
            "Where counters live: 'local' (shared memory of this host, exact across its "
            "workers) or 'redis' (one Redis for every node).",
            default="local",
            one_of=POLICIES,
        ),
    ),
    (
        "fault_tolerant",
        t.boolean(
            "Proxy requests when the counters cannot be reached (logged); false answers 500.",
            default=True,
        ),
    ),
    ("redis", t.nested(REDIS, "Redis connection (policy: redis).")),
    (
        "block_on_first_violation",
        t.boolean(
            "Block a request as soon as one of its limits is exhausted, even if the "
            "upstream would consume other limits.",
            default=False,
        ),
    ),
    (
        "hide_client_headers",
        t.boolean("Do not send the X-RateLimit-* headers to the client.", default=False),
    ),
    (
        "limits",
        Field(
            "map",
            "A map of limit names to per-period limits.",
            required=True,
            keys=t.string(check=_limit_name),
            values=Field("record", record=PERIOD_LIMITS, required=True),
            len_min=1,
            check=lambda m: None if m else "length must be at least 1",
        ),
    ),
    *LEGACY_FIELDS,
    checks=[_checks],
)
