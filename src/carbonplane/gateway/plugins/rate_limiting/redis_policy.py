"""Policy ``redis``: the counters of every gateway node in one Redis, exact across nodes.

Kong's redis policy reads the counters (``GET``) in the access phase and increments them later
(``INCR`` + ``EXPIRE`` in a timer), so concurrent requests on several nodes over-admit. Here one
Lua script does the whole admission atomically inside Redis (scripts run one at a time): it
reads every window's counter (and, for sliding windows, the previous window's), admits only if
all are below their limits, and then ``INCRBY``s each counter (by ``amount``, default 1),
setting its ``PEXPIRE`` on the first hit. The contract is
``carbonplane.gateway.plugins.pdk.counters``' ``take`` (same cells, same answer), as a coroutine on
``redis.asyncio`` so the request waits without blocking the worker.

Key names are Kong's: ``ratelimit:<route id>:<service id>:<identifier>:<window start ms>:<period>``.
Errors (connection refused, timeout, auth, script error) surface as ``RateLimitStoreError``.
Clients are shared per process and per settings (``client_for``), or come from
``PluginServices.redis`` when the gateway provides one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from carbonplane.errors import RateLimitStoreError
from carbonplane.gateway.plugins.pdk.counters import Cell

# KEYS: n current counters then n previous ones ("" when unused). ARGV: n, then per window
# limit, ttl_ms, prev_weight, then the amount each counter grows by (1 when absent). Returns
# {admitted, usage_1 .. usage_n} (usages before this hit).
TAKE_SCRIPT = """
local n = tonumber(ARGV[1])
local usages = {}
local admitted = 1
local amount = tonumber(ARGV[n * 3 + 2] or '1')
for i = 1, n do
  local base = 1 + (i - 1) * 3
  local usage = tonumber(redis.call('GET', KEYS[i]) or '0')
  local weight = tonumber(ARGV[base + 3])
  if weight > 0 then
    usage = usage + math.floor(tonumber(redis.call('GET', KEYS[n + i]) or '0') * weight)
  end
  usages[i] = usage
  if usage >= tonumber(ARGV[base + 1]) then admitted = 0 end
end
if admitted == 1 then
  for i = 1, n do
    if redis.call('INCRBY', KEYS[i], amount) == amount then
      redis.call('PEXPIRE', KEYS[i], ARGV[1 + (i - 1) * 3 + 2])
    end
  end
end
table.insert(usages, 1, admitted)
return usages
"""


class RedisCounters:
    """Cluster-wide counters on one Redis (see the module docstring).

    ``source`` is a ``redis.asyncio`` client, or a callable returning the client to use in the
    running event loop (``client_for``: asyncio connections belong to one loop)."""

    def __init__(self, source: Any) -> None:
        self._source = (
            source if callable(source) and not hasattr(source, "register_script") else None
        )
        self._client = None if self._source else source
        self._scripts: dict[int, Any] = {}

    def _script_for(self) -> Any:
        client = self._client if self._source is None else self._source()
        script = self._scripts.get(id(client))
        if script is None:
            script = self._scripts[id(client)] = client.register_script(TAKE_SCRIPT)
        return script

    async def take(
        self, cells: Sequence[Cell], now_ms: int, amount: int = 1
    ) -> tuple[bool, list[int]]:
        keys = [c[0] for c in cells] + [c[3] or b"" for c in cells]
        args: list[Any] = [len(cells)]
        for _, expires, limit, _, weight in cells:
            args += (limit, max(1, expires - now_ms), repr(float(weight)))
        args.append(amount)
        try:
            reply = await self._script_for()(keys=keys, args=args)
        except (OSError, asyncio.TimeoutError) as exc:
            raise RateLimitStoreError(
                f"redis rate-limit counters: {type(exc).__name__}: {exc}"
            ) from exc
        except Exception as exc:  # redis.exceptions.RedisError and its subclasses
            if type(exc).__module__.startswith("redis"):
                raise RateLimitStoreError(
                    f"redis rate-limit counters: {type(exc).__name__}: {exc}"
                ) from exc
            raise
        return bool(reply[0]), [int(u) for u in reply[1:]]


_clients: dict[tuple, Any] = {}


def client_for(settings: Mapping[str, Any]) -> Any:
    """A shared ``redis.asyncio`` client for these settings in the running event loop (one
    connection pool per process and loop). TLS uses ``host`` for SNI (``server_name`` is not
    honoured)."""
    import redis.asyncio as aioredis
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    loop = asyncio.get_running_loop()
    key = (id(loop), *sorted((k, v) for k, v in settings.items()))
    entry = _clients.get(key)
    client = entry[1] if entry is not None and entry[0] is loop else None
    if client is None:
        timeout = (settings.get("timeout") or 2000) / 1000.0
        client = aioredis.Redis(
            host=settings["host"],
            port=settings.get("port") or 6379,
            db=settings.get("database") or 0,
            username=settings.get("username"),
            password=settings.get("password"),
            ssl=bool(settings.get("ssl")),
            ssl_cert_reqs="required" if settings.get("ssl_verify") else "none",
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            health_check_interval=0,
            retry=Retry(NoBackoff(), 0),  # fail fast, as Kong: one try
        )
        _clients[key] = (loop, client)
    return client
