"""The acl plugin's handler: Kong's group-based access control (``kong/plugins/acl/handler.lua``).

Runs after authentication (PRIORITY 950 < key-auth 1250 < jwt 1450) and reads what it left:
- the groups: the consumer's ``acls`` entities; or ``ctx.vars["authenticated_groups"]`` (groups
  an authentication plugin asserted without a consumer entity) when there is no consumer, when
  the consumer is anonymous (no credential), or always with
  ``always_use_authenticated_groups`` - falling back to the consumer's groups when absent;
- ``allow``: blocked unless one of the groups is listed; ``deny``: blocked if one is listed;
  blocked -> 403 "You cannot consume this service";
- no consumer and no authenticated groups -> 401 "Unauthorized" (no authentication plugin ran,
  or it let the request through without identity);
- allowed: ``X-Consumer-Groups: a, b`` (consumer groups) or ``X-Authenticated-Groups``
  (asserted groups) upstream unless ``hide_groups_header``. Whatever the client sent under
  these names (any ``-``/``_`` spelling) is always removed, hidden or not - Kong leaves it in
  place when hiding, which lets a client claim groups to the upstream.

A consumer's verdict is computed once per config version and remembered.
"""

from __future__ import annotations

from typing import Any

from carbonplane.gateway.plugins.pdk.authn import (
    AUTHENTICATED_GROUPS,
    CONSUMER_GROUPS,
    SPOOFABLE_GROUPS,
    credentials_of,
    header_value,
    replace_header,
)
from carbonplane.gateway.plugins.pdk.base import PluginHandler
from carbonplane.proxy.app import LocalResponse

BLOCKED = "You cannot consume this service"
_REMEMBERED = 100_000


class Handler(PluginHandler):
    NAME = "acl"
    PRIORITY = 950
    VERSION = "1.0.0"

    def __init__(self, config: Any, plugin: Any, services: Any) -> None:
        super().__init__(config, plugin, services)
        self.index = credentials_of(services, self.NAME)
        self.deny = bool(config.get("deny"))
        self.groups = frozenset(config.get("deny") or config.get("allow") or ())
        self.hide = config["hide_groups_header"]
        self.always_authenticated = config["always_use_authenticated_groups"]
        self.verdicts: dict[str, tuple[bool, tuple[bytes, bytes] | None]] = {}

    def on_request(self, ctx: Any) -> LocalResponse | None:
        variables = ctx.vars
        consumer = variables.get("consumer")
        asserted = variables.get("authenticated_groups")
        if consumer is None:
            if not asserted:
                if variables.get("credential") is not None:
                    return LocalResponse.error(403, BLOCKED)
                return LocalResponse.error(401, "Unauthorized")
            return self.apply(ctx, self.verdict(asserted, AUTHENTICATED_GROUPS))
        if asserted and (self.always_authenticated or variables.get("credential") is None):
            return self.apply(ctx, self.verdict(asserted, AUTHENTICATED_GROUPS))
        found = self.verdicts.get(consumer["id"])
        if found is None:
            groups = self.index.groups.get(consumer["id"], ())
            found = self.verdict(groups, CONSUMER_GROUPS)
            if len(self.verdicts) >= _REMEMBERED:
                self.verdicts.clear()
            self.verdicts[consumer["id"]] = found
        return self.apply(ctx, found)

    def verdict(self, groups: Any, header: bytes) -> tuple[bool, tuple[bytes, bytes] | None]:
        member = not self.groups.isdisjoint(groups)
        blocked = member if self.deny else not member
        if blocked or self.hide:
            return blocked, None
        return False, (header, header_value(", ".join(str(g) for g in groups)))

    @staticmethod
    def apply(ctx: Any, verdict: tuple[bool, tuple[bytes, bytes] | None]) -> LocalResponse | None:
        blocked, line = verdict
        if blocked:
            return LocalResponse.error(403, BLOCKED)
        replace_header(ctx, SPOOFABLE_GROUPS, line)
        return None
