"""The proxy-cache handler (Kong's ``proxy-cache``, PRIORITY 100), memory strategy.

- access (``on_request``): apply pending Admin API purges (``store.PurgeJournal``); a request
  Kong would not cache gets ``X-Cache-Status: Bypass``. Otherwise its key (``cache_key.py``,
  sent as ``X-Cache-Key``) is looked up: an entry still fresh is answered from memory at once
  (``X-Cache-Status: Hit``, ``Age``), an entry too old for ``cache_ttl`` (or, with
  ``cache_control``, for the request's ``max-age`` / ``max-stale`` / ``min-fresh``) goes
  upstream as ``Refresh``, no entry as ``Miss`` (504 at once for ``only-if-cached``).
- header filter: a Miss/Refresh response that the rules accept (``policy.py``) is recorded;
  one they refuse is marked ``Bypass`` and streams through untouched.
- body filter: a recorded response's pieces are copied (the client gets them as they arrive,
  nothing is held back) up to ``max_body_bytes``; beyond that the copy is dropped and the
  response is not kept. At the end the entry is stored for ``storage_ttl`` (else its lifetime).

Stored headers leave out hop-by-hop and framing headers, ``*ratelimit-remaining*`` and our own
cache headers, as Kong's. ``response_headers`` (or a request ``Kong-Debug`` header) decides which
of ``Age``, ``X-Cache-Status``, ``X-Cache-Key`` are sent. The cache is per worker process (see
``store.py`` for why). Concurrent misses of one key all go upstream, as in Kong; the last
response to finish is the one kept.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from carbonplane.gateway.plugins.pdk.base import PluginHandler, PluginServices
from carbonplane.gateway.plugins.proxy_cache.cache_key import build_cache_key, request_uri
from carbonplane.gateway.plugins.proxy_cache.policy import Rules, directives
from carbonplane.gateway.plugins.proxy_cache.store import (
    PurgeJournal,
    all_stores,
    journal_for,
    store_for,
)
from carbonplane.proxy.app import LocalResponse

STATE = "proxy_cache"  # ctx.vars: [key, status text, lifetime, pieces, size, recording]
NOT_KEPT = frozenset(
    [
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailers",
        b"transfer-encoding",
        b"upgrade",
        b"content-length",
        b"age",
        b"x-cache-status",
        b"x-cache-key",
    ]
)


class Handler(PluginHandler):
    NAME = "proxy-cache"
    PRIORITY = 100
    VERSION = "3.9.0"

    def __init__(
        self, config: Mapping[str, Any], plugin: Mapping[str, Any], services: PluginServices
    ) -> None:
        super().__init__(config, plugin, services)
        self.rules = Rules(config)
        memory = config["memory"]
        self.store_name = memory["dictionary_name"]
        self.max_bytes = int(memory["max_bytes"])
        self.ignore_case = bool(config["ignore_uri_case"])
        self.vary_query = tuple(config["vary_query_params"] or ())
        self.vary_headers = tuple(config["vary_headers"] or ())
        shown = config["response_headers"]
        self.show = (bool(shown["age"]), bool(shown["X-Cache-Status"]), bool(shown["X-Cache-Key"]))
        self.journal_dir = services.runtime_dir
        self._journal: PurgeJournal | None = None
        self._store = None  # opened on first use: handlers are also built to validate

    @property
    def store(self) -> Any:
        if self._store is None:
            self._store = store_for(self.store_name, self.max_bytes)
        return self._store

    def _purges(self) -> None:
        journal = self._journal
        if journal is None:
            if self.journal_dir is None:
                return
            journal = self._journal = journal_for(self.journal_dir)
        journal.apply(all_stores())

    def _cache_headers(self, ctx: Any, status: bytes, key: str | None) -> list:
        debug = ctx.request.get(b"kong-debug") is not None
        out = []
        if debug or self.show[1]:
            out.append((b"x-cache-status", status))
        if key is not None and (debug or self.show[2]):
            out.append((b"x-cache-key", key.encode()))
        return out

    # -- access -----------------------------------------------------------------------------
    def on_request(self, ctx: Any) -> LocalResponse | None:
        self._purges()
        req = ctx.request
        rules = self.rules
        cc = directives(req.get_all(b"cache-control")) if rules.cache_control else {}
        if not rules.request(req.method, cc, req):
            ctx.vars[STATE] = [None, b"Bypass", None, None, 0, False]
            return None
        consumer = ctx.vars.get("consumer") or {}
        route = ctx.vars.get("route") or {}
        key = build_cache_key(
            consumer.get("id"),
            route.get("id"),
            req.method.decode("latin-1"),
            request_uri(req.method, req.target, req.version, self.ignore_case),
            req.query,
            req.headers,
            self.vary_query,
            self.vary_headers,
        )
        entry = self.store.fetch(key)
        if entry is None:
            if cc.get("only-if-cached"):
                return LocalResponse(504, b"", self._cache_headers(ctx, b"Miss", key))
            ctx.vars[STATE] = [key, b"Miss", None, None, 0, False]
            return None
        now = time.time()
        age = now - entry.timestamp
        if rules.cache_control:
            stale = (
                _over(cc.get("max-age"), age)
                or _over(cc.get("max-stale"), age - entry.ttl)
                or (isinstance(cc.get("min-fresh"), int) and entry.ttl - age < cc["min-fresh"])
            )
        else:
            stale = age > rules.cache_ttl
        if stale:
            ctx.vars[STATE] = [key, b"Refresh", None, None, 0, False]
            return None
        headers = [h for h in entry.headers]
        debug = ctx.request.get(b"kong-debug") is not None
        if debug or self.show[0]:
            headers.append((b"age", b"%d" % int(age)))
        headers.extend(self._cache_headers(ctx, b"Hit", key))
        return LocalResponse(entry.status, entry.body, headers)

    # -- header filter ----------------------------------------------------------------------
    def on_response_head(self, ctx: Any) -> None:
        state = ctx.vars.get(STATE)
        response = ctx.response
        if response is None:
            return
        if state is None:
            return
        key = state[0]
        if key is not None and ctx.source == "upstream":
            lifetime = self.rules.response(response, time.time())
            if lifetime is not None:
                state[2] = lifetime
                state[3] = []
                state[5] = True
            else:
                state[1] = b"Bypass"
        mine = self._cache_headers(ctx, state[1], key)
        if mine:
            names = {n for n, _ in mine}
            response.headers = [h for h in response.headers if h[0] not in names] + mine

    # -- body filter ------------------------------------------------------------------------
    def on_response_body(self, ctx: Any, data: bytes, end: bool) -> bytes:
        state = ctx.vars.get(STATE)
        if state is None or not state[5]:
            return data
        if data:
            state[4] += len(data)
            if state[4] > self.rules.max_body:
                state[5] = False  # too large to keep: the rest streams through
                state[3] = None
                return data
            state[3].append(data)
        if end:
            state[5] = False
            self._keep(ctx, state)
        return data

    def _keep(self, ctx: Any, state: list) -> None:
        response = ctx.response
        headers = tuple(
            (n, v)
            for n, v in response.headers
            if n not in NOT_KEPT and b"ratelimit-remaining" not in n
        )
        body = b"".join(state[3])
        state[3] = None
        lifetime = state[2]
        self.store.store(
            state[0], response.status, headers, body, lifetime, self.rules.storage(lifetime)
        )


def _over(limit: Any, value: float) -> bool:
    return isinstance(limit, int) and value > limit
