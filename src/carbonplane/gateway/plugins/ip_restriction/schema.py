"""Config schema of the ip-restriction plugin: Kong 3's fields and checks
(``kong/plugins/ip-restriction/schema.lua``): ``allow`` / ``deny`` lists of IPv4/IPv6 addresses
or CIDR ranges (at least one list), the refusal ``status`` and ``message``."""

from __future__ import annotations

import ipaddress
from typing import Any

from carbonplane.gateway.config import typedefs as t
from carbonplane.gateway.config.problems import ENTITY
from carbonplane.gateway.config.schema import record


def check_ip_or_cidr(value: str) -> str | None:
    try:
        ipaddress.ip_network(value.strip(), strict=False)
    except ValueError:
        return f"invalid ip or cidr range: '{value}'"
    return None


def _a_list(conf: dict[str, Any]) -> list[tuple[str, str]]:
    if not conf.get("allow") and not conf.get("deny"):
        return [
            (
                ENTITY,
                "at least one of these fields must be non-empty: 'config.allow', 'config.deny'",
            )
        ]
    return []


def _ip_list(description: str) -> Any:
    return t.array(t.string(check=check_ip_or_cidr), description)


CONFIG = record(
    ("allow", _ip_list("Addresses or CIDR ranges allowed; any other client is refused.")),
    ("deny", _ip_list("Addresses or CIDR ranges refused (checked before `allow`).")),
    ("status", t.integer("Status of the refusal (default 403).", between=(100, 599))),
    ("message", t.string("Message of the refusal (default `IP address not allowed: <ip>`).")),
    checks=[_a_list],
)
