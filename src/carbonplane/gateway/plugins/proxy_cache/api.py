"""proxy-cache's Admin API endpoints (Kong's ``kong/plugins/proxy-cache/api.lua``).

- ``DELETE /proxy-cache``: purge every proxy-cache entry of every worker -> 204;
- ``DELETE /proxy-cache/{key}``: purge one key in every worker -> 204 (a key that is not 64
  lowercase hex digits can be in no cache: 404);
- ``DELETE /proxy-cache/{plugin id}/caches/{key}``: the same for one plugin -> 204, 404 when no
  proxy-cache plugin has that id;
- ``GET`` of a key: 501. Entries live in each worker's memory, which the Admin API's process
  cannot read (Kong returns the entry); a difference listed in docs/gateway.md.

Purges go through the gateway's ``purge_cache(key | None)`` hook, which publishes them to the
workers (``store.PurgeJournal``); without it (an Admin API not serving workers) the endpoints
answer 404. A purge reaches a worker before the next request it serves through proxy-cache.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from carbonplane.errors import AdminAPIError

if TYPE_CHECKING:
    from carbonplane.gateway.admin.api import AdminAPI, Response

KEY = re.compile(r"[0-9a-f]{64}")
NO_CONTENT: Response = (204, [], b"")


def _not_found() -> AdminAPIError:
    return AdminAPIError(404, {"message": "Not found"})


def dispatch(api: AdminAPI, method: str, segs: list[str], purge: Any) -> Response:
    if purge is None:
        raise _not_found()
    n = len(segs)
    if n not in (1, 2, 4) or (n == 4 and segs[2] != "caches"):
        raise _not_found()
    if method == "GET" and n > 1:
        raise AdminAPIError(
            501,
            {
                "message": "proxy-cache entries live in each worker process's memory; "
                "the Admin API cannot read them (purge with DELETE)"
            },
        )
    if method != "DELETE":
        raise AdminAPIError(405, {"message": "Method not allowed"})
    if n == 1:
        purge(None)
        return NO_CONTENT
    if n == 4:
        plugin = api.config.get("plugins", segs[1])
        if plugin is None or plugin["name"] != "proxy-cache":
            raise _not_found()
    key = segs[-1]
    if not KEY.fullmatch(key):
        raise _not_found()
    purge(key)
    return NO_CONTENT
