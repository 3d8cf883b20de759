"""The oauth2 plugin's token store on Redis: the same contract as ``store.SQLiteTokenStore``
(see ``store``), shared by every gateway pointed at the same Redis.

Keys (``<p>`` = ``oauth2:``)::

    <p>token:<id>            the token as JSON, with a TTL when it has a ``purge_at``
    <p>access:<access_token> -> id          (same TTL)
    <p>refresh:<refresh>     -> id          (same TTL)
    <p>tokens                sorted set of ids by created_at (listing; stale ids skipped)
    <p>code:<code>           the code as JSON, TTL 300 s

Atomic steps: ``take_code`` is ``DEL`` (1 for exactly one caller); ``remove_token`` deletes the
token key first and reports whether that ``DEL`` removed it; ``replace_access`` runs one Lua
script that checks the current access token before swapping it.

Bearer lookups (every authenticated request) go through ``token_by_access_async`` on the
worker loop's ``redis.asyncio`` client (``rate_limiting.redis_policy.client_for``: one pool per
process and loop, one try, the configured timeout), so a slow Redis does not block the worker.
The token and authorize endpoints and the Admin API use the synchronous client (one or a few
round trips, bounded by the same timeout).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping
from typing import Any

import redis

from carbonplane.errors import TokenStoreError
from carbonplane.gateway.plugins.rate_limiting.redis_policy import client_for

PREFIX = "oauth2:"

# KEYS[1]: the access key; ARGV[1]: the token key prefix. One round trip for a bearer lookup.
LOOKUP_SCRIPT = """
local id = redis.call('GET', KEYS[1])
if not id then return false end
return redis.call('GET', ARGV[1] .. id)
"""

REPLACE_SCRIPT = """
local doc = redis.call('GET', KEYS[1])
if not doc then return 0 end
if redis.call('GET', KEYS[2]) ~= ARGV[4] then return 0 end
redis.call('DEL', KEYS[2])
local ttl = tonumber(ARGV[3])
if ttl > 0 then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ttl)
  redis.call('SET', KEYS[3], ARGV[4], 'PX', ttl)
  if KEYS[4] ~= '' then redis.call('PEXPIRE', KEYS[4], ttl) end
else
  redis.call('SET', KEYS[1], ARGV[1])
  redis.call('SET', KEYS[3], ARGV[4])
end
return 1
"""


def redis_key(conf: Mapping[str, Any]) -> tuple:
    return tuple(
        conf.get(k) for k in ("host", "port", "username", "password", "database", "timeout", "ssl")
    )


class RedisTokenStore:
    def __init__(self, conf: Mapping[str, Any]) -> None:
        self.where = f"redis {conf.get('host')}:{conf.get('port') or 6379}"
        timeout = (conf.get("timeout") or 2000) / 1000
        self.client = redis.Redis(
            host=conf.get("host") or "127.0.0.1",
            port=conf.get("port") or 6379,
            username=conf.get("username"),
            password=conf.get("password"),
            db=conf.get("database") or 0,
            ssl=bool(conf.get("ssl")),
            ssl_cert_reqs="required" if conf.get("ssl_verify") else "none",
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            decode_responses=True,
        )
        self._replace = self.client.register_script(REPLACE_SCRIPT)
        self.conf = {
            "host": "127.0.0.1",
            "port": 6379,
            **{k: v for k, v in conf.items() if v is not None},
        }
        self._lookups: dict[int, Any] = {}

    def __repr__(self) -> str:
        return f"RedisTokenStore({self.where})"

    def _call(self, fn: Any, *args: Any, **kw: Any) -> Any:
        try:
            return fn(*args, **kw)
        except redis.RedisError as exc:
            raise TokenStoreError(f"oauth2 token store on {self.where}: {exc}") from exc

    @staticmethod
    def _ttl_ms(doc: Mapping[str, Any], now: float) -> int:
        purge_at = doc.get("purge_at")
        if purge_at is None:
            return 0
        return max(int((purge_at - now) * 1000), 1)

    # -- tokens ---------------------------------------------------------------------------
    def add_token(self, token: dict[str, Any]) -> None:
        ttl = self._ttl_ms(token, time.time()) or None
        pipe = self.client.pipeline(transaction=True)
        pipe.set(PREFIX + "token:" + token["id"], json.dumps(token), px=ttl)
        pipe.set(PREFIX + "access:" + token["access_token"], token["id"], px=ttl)
        if token.get("refresh_token"):
            pipe.set(PREFIX + "refresh:" + token["refresh_token"], token["id"], px=ttl)
        pipe.zadd(PREFIX + "tokens", {token["id"]: token["created_at"]})
        self._call(pipe.execute)

    def _by(self, kind: str, value: str) -> dict[str, Any] | None:
        token_id = self._call(self.client.get, PREFIX + kind + value)
        return self.token_by_id(token_id) if token_id else None

    def token_by_access(self, access_token: str) -> dict[str, Any] | None:
        token = self._by("access:", access_token)
        return token if token and token["access_token"] == access_token else None

    def token_by_refresh(self, refresh_token: str) -> dict[str, Any] | None:
        token = self._by("refresh:", refresh_token)
        return token if token and token.get("refresh_token") == refresh_token else None

    async def token_by_access_async(self, access_token: str) -> dict[str, Any] | None:
        """``token_by_access`` on the running loop's ``redis.asyncio`` client (one round trip,
        the worker is not blocked)."""
        client = client_for(self.conf)
        script = self._lookups.get(id(client))
        if script is None:
            script = self._lookups[id(client)] = client.register_script(LOOKUP_SCRIPT)
        try:
            doc = await script(keys=[PREFIX + "access:" + access_token], args=[PREFIX + "token:"])
        except (OSError, asyncio.TimeoutError, redis.RedisError) as exc:
            raise TokenStoreError(f"oauth2 token store on {self.where}: {exc}") from exc
        token = json.loads(doc) if doc else None
        return token if token and token["access_token"] == access_token else None

    def token_by_id(self, token_id: str) -> dict[str, Any] | None:
        doc = self._call(self.client.get, PREFIX + "token:" + token_id)
        return json.loads(doc) if doc else None

    def remove_token(self, token_id: str) -> bool:
        doc = self.token_by_id(token_id)
        if doc is None or not self._call(self.client.delete, PREFIX + "token:" + token_id):
            return False
        keys = [PREFIX + "access:" + doc["access_token"]]
        if doc.get("refresh_token"):
            keys.append(PREFIX + "refresh:" + doc["refresh_token"])
        self._call(self.client.delete, *keys)
        self._call(self.client.zrem, PREFIX + "tokens", token_id)
        return True

    def replace_access(self, token: dict[str, Any], access_token: str, now: float) -> bool:
        old = token["access_token"]
        token.update(access_token=access_token, created_at=now)
        refresh = token.get("refresh_token")
        keys = [
            PREFIX + "token:" + token["id"],
            PREFIX + "access:" + old,
            PREFIX + "access:" + access_token,
            PREFIX + "refresh:" + refresh if refresh else "",
        ]
        # the script swaps only while the old access key still names this token
        args = [json.dumps(token), "", self._ttl_ms(token, now), token["id"]]
        swapped = self._call(self._replace, keys, args)
        return bool(swapped)

    def list_tokens(self) -> list[dict[str, Any]]:
        ids = self._call(self.client.zrange, PREFIX + "tokens", 0, -1)
        out, stale = [], []
        for token_id in ids:
            doc = self.token_by_id(token_id)
            (out if doc is not None else stale).append(doc or token_id)
        if stale:
            self._call(self.client.zrem, PREFIX + "tokens", *stale)
        return out

    # -- codes ----------------------------------------------------------------------------
    def add_code(self, code: dict[str, Any]) -> None:
        ttl = self._ttl_ms(code, time.time())
        self._call(self.client.set, PREFIX + "code:" + code["code"], json.dumps(code), px=ttl)

    def code(self, code: str) -> dict[str, Any] | None:
        doc = self._call(self.client.get, PREFIX + "code:" + code)
        return json.loads(doc) if doc else None

    def take_code(self, code: str) -> bool:
        return self._call(self.client.delete, PREFIX + "code:" + code) == 1

    def purge(self, now: float | None = None) -> int:
        """Redis expires keys itself; this only drops listing entries of expired tokens."""
        before = self._call(self.client.zcard, PREFIX + "tokens")
        self.list_tokens()
        return before - self._call(self.client.zcard, PREFIX + "tokens")

    def close(self) -> None:
        self.client.close()
