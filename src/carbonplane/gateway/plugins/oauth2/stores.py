"""One token store per process and per place (``store_for``): every oauth2 plugin instance
(and every config version) configured for the same place shares its connection(s).

``stores_of(config)`` lists the distinct stores a gateway config's oauth2 plugins use, for the
Admin API's ``/oauth2_tokens``.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from carbonplane.gateway.plugins.oauth2.redis_store import RedisTokenStore, redis_key
from carbonplane.gateway.plugins.oauth2.store import SQLiteTokenStore, TokenStore, default_path

_STORES: dict[tuple, TokenStore] = {}
_LOCK = threading.Lock()


def _key(config: Mapping[str, Any]) -> tuple:
    if config.get("token_store") == "redis":
        return ("redis", redis_key(config.get("redis") or {}))
    return ("embedded", str(default_path()))


def store_for(config: Mapping[str, Any]) -> TokenStore:
    """The process's shared store for a plugin config (``token_store`` and ``redis``)."""
    key = _key(config)
    with _LOCK:
        store = _STORES.get(key)
        if store is None:
            if key[0] == "redis":
                store = RedisTokenStore(config.get("redis") or {})
            else:
                store = SQLiteTokenStore(key[1])
            _STORES[key] = store
        return store


def stores_of(gateway_config: Any) -> list[TokenStore]:
    """The distinct stores of the oauth2 plugins in ``gateway_config`` (the embedded one when
    there is none, so that tokens issued before a plugin was removed stay visible)."""
    seen: dict[tuple, Mapping[str, Any]] = {}
    for plugin in gateway_config.entities("plugins"):
        if plugin.get("name") == "oauth2":
            conf = plugin.get("config") or {}
            seen.setdefault(_key(conf), conf)
    if not seen:
        seen[_key({})] = {}
    return [store_for(conf) for conf in seen.values()]


def forget_stores() -> None:
    """Close and forget every store (tests that change ``CARBONPLANE_HOME``)."""
    with _LOCK:
        for store in _STORES.values():
            store.close()
        _STORES.clear()
