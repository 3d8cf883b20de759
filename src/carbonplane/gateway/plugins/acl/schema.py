"""Config schema of the acl plugin: Kong 3's fields and checks (``kong/plugins/acl/schema.lua``):
exactly one of ``allow`` / ``deny`` (group names), ``hide_groups_header``,
``always_use_authenticated_groups``."""

from __future__ import annotations

from typing import Any

from carbonplane.gateway.config import typedefs as t
from carbonplane.gateway.config.problems import ENTITY
from carbonplane.gateway.config.schema import record

NO_CONSUMER = True


def _one_list(conf: dict[str, Any]) -> list[tuple[str, str]]:
    given = [name for name in ("allow", "deny") if conf.get(name)]
    if not given:
        return [
            (
                ENTITY,
                "at least one of these fields must be non-empty: 'config.allow', 'config.deny'",
            )
        ]
    if len(given) > 1:
        return [
            (ENTITY, "only one of these fields must be non-empty: 'config.allow', 'config.deny'")
        ]
    return []


CONFIG = record(
    (
        "allow",
        t.array(
            t.string(len_min=1),
            "Groups allowed to use the service or route (one of `allow` or `deny`).",
        ),
    ),
    ("deny", t.array(t.string(len_min=1), "Groups refused (one of `allow` or `deny`).")),
    (
        "hide_groups_header",
        t.boolean("Do not send `X-Consumer-Groups` upstream.", default=False, required=True),
    ),
    (
        "always_use_authenticated_groups",
        t.boolean(
            "Use the groups an authentication plugin put in `authenticated_groups` even when a "
            "consumer is authenticated (falls back to the consumer's groups).",
            default=False,
            required=True,
        ),
    ),
    checks=[_one_list],
)
