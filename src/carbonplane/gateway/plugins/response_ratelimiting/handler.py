"""The response-ratelimiting handler (Kong's ``response-ratelimiting``, PRIORITY 900).

The upstream decides what a response costs: it answers with ``X-Kong-Limit: videos=1, images=3``
(``header_name``), and those units are added to the client's counters of each named limit.

- access (``on_request``): identify the client (``limit_by``; the client IP when the consumer
  or credential is unknown) and read every limit's usage in the current windows without
  counting. ``block_on_first_violation``: a limit with nothing remaining in some period answers
  429 ``{"message":"API rate limit exceeded for '<name>'"}`` now. Otherwise the upstream request
  carries ``X-RateLimit-Remaining-<name>`` (the lowest remaining of the name's periods).
- header filter (``on_response_head``): parse the increment header and remove it; unless
  ``hide_client_headers``, add ``X-RateLimit-Limit-<name>-<period>`` and
  ``X-RateLimit-Remaining-<name>-<period>`` (remaining after this response's units, floored at
  0). A response that consumes a limit already exhausted is replaced by a 429 without a body
  (Kong's ``kong.response.exit(429)``); the upstream did the work, nothing is counted.
- log (``on_log``): add the reported units to every period of each named limit (Kong counts
  in a timer after the response; here the local store adds synchronously, Redis in a task).

A store failure while reading follows ``fault_tolerant`` (proxied without headers, or 500); a
failure while adding is logged. Header names are sent lowercase (the engine's header model).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from typing import Any

from carbonplane.errors import RateLimitStoreError
from carbonplane.gateway.plugins.pdk.base import PluginHandler, PluginServices
from carbonplane.gateway.plugins.rate_limiting.handler import _fallback_counters
from carbonplane.gateway.plugins.rate_limiting.redis_policy import RedisCounters, client_for
from carbonplane.gateway.plugins.rate_limiting.schema import redis_settings
from carbonplane.gateway.plugins.rate_limiting.strategy import StoreFailures
from carbonplane.gateway.plugins.response_ratelimiting.counting import (
    UNREACHED,
    Counters,
    parse_increments,
    usage_table,
)
from carbonplane.http.model import FRAMING_CHUNKED, ResponseHead
from carbonplane.proxy.app import LocalResponse

log = logging.getLogger("carbonplane.gateway.plugins.response_ratelimiting")

STATE = "response_ratelimiting"  # ctx.vars key: (identifier, now_ms, usage, stop)
_tasks: set[asyncio.Task] = set()


def _wall_clock_ms() -> int:
    return int(time.time() * 1000)


class Handler(PluginHandler):
    NAME = "response-ratelimiting"
    PRIORITY = 900
    VERSION = "3.9.0"

    def __init__(
        self, config: Mapping[str, Any], plugin: Mapping[str, Any], services: PluginServices
    ) -> None:
        super().__init__(config, plugin, services)
        self.counters = Counters(config, plugin)
        self.header = config["header_name"].lower().encode()
        self.by = ("consumer", "credential") if config["limit_by"] == "consumer" else ()
        if config["limit_by"] == "credential":
            self.by = ("credential",)
        self.block_first = bool(config["block_on_first_violation"])
        self.hide = bool(config["hide_client_headers"])
        self.failures = StoreFailures(bool(config["fault_tolerant"]))
        self.clock_ms = _wall_clock_ms  # replaceable in tests
        self.redis = config["policy"] == "redis"
        if self.redis:
            settings = redis_settings(config)
            source = services.redis or client_for
            self.store: Any = RedisCounters(lambda: source(settings))
        else:
            self.store = services.counters if services.counters is not None else None
            if self.store is None:
                self.store = _fallback_counters()

    def identify(self, ctx: Any) -> str:
        for key in self.by:
            entity = ctx.vars.get(key)
            if entity and entity.get("id"):
                return entity["id"]
        return ctx.client_ip

    # -- access -----------------------------------------------------------------------------
    def on_request(self, ctx: Any) -> Any:
        ident, now_ms = self.identify(ctx), self.clock_ms()
        if self.redis:
            return self._read_redis(ctx, ident, now_ms)
        usage = {}
        try:
            for name in self.counters.limits:
                cells = self.counters.cells(ident, name, now_ms, 0)
                usage[name] = usage_table(self.counters, name, self.store.take(cells, now_ms)[1])
        except RateLimitStoreError as exc:
            return self.failures.answer(exc)
        return self._admit(ctx, ident, now_ms, usage)

    async def _read_redis(self, ctx: Any, ident: str, now_ms: int) -> LocalResponse | None:
        usage = {}
        try:
            for name in self.counters.limits:
                cells = self.counters.cells(ident, name, now_ms, 0)
                got = await self.store.take(cells, now_ms)
                usage[name] = usage_table(self.counters, name, got[1])
        except RateLimitStoreError as exc:
            return self.failures.answer(exc)
        return self._admit(ctx, ident, now_ms, usage)

    def _admit(self, ctx: Any, ident: str, now_ms: int, usage: dict) -> LocalResponse | None:
        headers = ctx.request.headers
        for name, rows in usage.items():
            if self.block_first and any(remaining <= 0 for _, _, remaining in rows):
                return LocalResponse.error(429, f"API rate limit exceeded for '{name}'")
            own = f"x-ratelimit-remaining-{name.lower()}".encode()
            if any(h[0] == own for h in headers):
                headers[:] = [h for h in headers if h[0] != own]
            headers.append((own, b"%d" % min(r for _, _, r in rows)))
        ctx.vars[STATE] = [ident, now_ms, usage, {}, False]
        return None

    # -- header filter ----------------------------------------------------------------------
    def on_response_head(self, ctx: Any) -> None:
        state = ctx.vars.get(STATE)
        response = ctx.response
        if response is None:
            return
        have = response.headers
        reported = [v for n, v in have if n == self.header]
        if reported:
            response.headers = have = [h for h in have if h[0] != self.header]
        if ctx.source != "upstream":
            return
        if state is None:
            return
        increments = state[3] = parse_increments(reported, self.counters.limits)
        stop = False
        added = []
        for name, rows in state[2].items():
            units = increments.get(name, 0)
            low = name.lower()
            for period, limit, remaining in rows:
                if not self.hide:
                    added.append((f"x-ratelimit-limit-{low}-{period}".encode(), b"%d" % limit))
                    added.append(
                        (
                            f"x-ratelimit-remaining-{low}-{period}".encode(),
                            b"%d" % max(0, remaining - max(units, 0)),
                        )
                    )
                if units > 0 and remaining <= 0:
                    stop = True
        if added:
            names = {n for n, _ in added}
            have = [h for h in have if h[0] not in names]
            have.extend(added)
            response.headers = have
        if stop:
            state[4] = True
            ctx.response = ResponseHead(
                429,
                b"Too Many Requests",
                response.version,
                [h for h in have if h[0].startswith(b"x-ratelimit-")],
                FRAMING_CHUNKED,
                0,
                response.keep_alive,
                response.connection_tokens,
            )

    def on_response_body(self, ctx: Any, data: bytes, end: bool) -> bytes:
        state = ctx.vars.get(STATE)
        return b"" if state is not None and state[4] else data

    # -- log --------------------------------------------------------------------------------
    def on_log(self, ctx: Any) -> None:
        state = ctx.vars.get(STATE)
        if state is None or state[4]:
            return
        ident, now_ms, usage, increments, _ = state
        adds = [(name, n) for name, n in increments.items() if n > 0 and name in usage]
        if not adds:
            return
        if self.redis:
            task = asyncio.get_running_loop().create_task(self._add_redis(ident, now_ms, adds))
            _tasks.add(task)
            task.add_done_callback(_tasks.discard)
            return
        try:
            for name, units in adds:
                cells = self.counters.cells(ident, name, now_ms, UNREACHED)
                self.store.take(cells, now_ms, units)
        except RateLimitStoreError as exc:
            log.error("response-ratelimiting: could not increment the counters: %s", exc)

    async def _add_redis(self, ident: str, now_ms: int, adds: list) -> None:
        try:
            for name, units in adds:
                cells = self.counters.cells(ident, name, now_ms, UNREACHED)
                await self.store.take(cells, now_ms, units)
        except RateLimitStoreError as exc:
            log.error("response-ratelimiting: could not increment the counters: %s", exc)
