"""The rate-limiting handler (Kong's ``rate-limiting``, PRIORITY 910): count, admit or answer 429.

Access phase (``on_request``): identify the client (``limit_by``, falling back to the client IP
as Kong does), build one counter per configured period named as Kong does
(``ratelimit:<route>:<service>:<identifier>:<window start>:<period>``, route and service being the
plugin's scope or the empty UUID) and ``take`` them atomically from the policy's store. Unlike
Kong the check and the increment are one step, so limits are exact (see ``counters.py``).
- admitted: the headers go to ``ctx.vars["rate_limit_headers"]`` and are set on the response in
  ``on_response_head`` (replacing same-named upstream headers, as Kong's ``set_headers``);
- limited: ``LocalResponse.error(error_code, error_message)`` with the headers and
  ``Retry-After`` (Kong's body ``{"message":"API rate limit exceeded","request_id":...}``);
- store unavailable: with ``fault_tolerant`` the request goes through without headers (logged,
  at most once per 10 s per plugin); without, 500 "An unexpected error occurred".

Headers (Kong 3.x, unless ``hide_client_headers``): ``X-RateLimit-Limit-<Period>`` and
``X-RateLimit-Remaining-<Period>`` per period, and ``RateLimit-Limit``, ``RateLimit-Remaining``,
``RateLimit-Reset`` for the most restrictive period (lowest remaining, ties to the longer
window). Remaining counts this request and is floored at 0. Header names are sent lowercase
(the engine's header model); HTTP header names are case-insensitive.

Policy ``local`` answers synchronously (a few microseconds under the host lock; with fixed
windows and client headers shown, through the typed ``fast.FixedWindows``); policy ``redis``
returns a coroutine, so the request waits for Redis without blocking the worker.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from carbonplane.errors import RateLimitStoreError
from carbonplane.gateway.plugins.base import PluginHandler, PluginServices
from carbonplane.gateway.plugins.counters import LocalCounters
from carbonplane.gateway.plugins.rate_limiting.fast import (HEADERS_VAR, FixedWindows, add_pending,
                                                           kong_headers, window_cells)
from carbonplane.gateway.plugins.rate_limiting.redis_policy import RedisCounters, client_for
from carbonplane.gateway.plugins.rate_limiting.schema import PERIODS, redis_settings
from carbonplane.gateway.plugins.rate_limiting.windows import WindowClock
from carbonplane.proxy.app import LocalResponse, RequestContext

log = logging.getLogger("carbonplane.gateway.plugins.rate_limiting")

EMPTY_UUID = "00000000-0000-0000-0000-000000000000"
X_LIMIT = {p: f"x-ratelimit-limit-{p}".encode() for p in PERIODS}
X_REMAINING = {p: f"x-ratelimit-remaining-{p}".encode() for p in PERIODS}
OWN_HEADERS = frozenset([*X_LIMIT.values(), *X_REMAINING.values(), b"ratelimit-limit",
                         b"ratelimit-remaining", b"ratelimit-reset"])

_process_counters: LocalCounters | None = None


def _fallback_counters() -> LocalCounters:
    """Counters of this process only, when the gateway gave no host-wide store."""
    global _process_counters
    if _process_counters is None:
        log.warning("rate-limiting: no host-wide counter store configured; policy 'local' "
                    "counts per worker process")
        _process_counters = LocalCounters()
    return _process_counters


def _wall_clock_ms() -> int:
    return int(time.time() * 1000)


def _number(value: float) -> bytes:
    return (b"%d" % value) if float(value).is_integer() else repr(value).encode()


class Handler(PluginHandler):
    NAME = "rate-limiting"
    PRIORITY = 910
    VERSION = "3.9.0"

    def __init__(self, config: Mapping[str, Any], plugin: Mapping[str, Any],
                 services: PluginServices) -> None:
        super().__init__(config, plugin, services)
        self.periods = tuple(p for p in PERIODS if config[p] is not None)
        self.limits = tuple(int(config[p]) for p in self.periods)
        self.sliding = config["algorithm"] == "sliding"
        self.clock = WindowClock(self.periods, self.sliding)
        self.identify = _identifier(config)
        route = (plugin.get("route") or {}).get("id") or EMPTY_UUID
        service = (plugin.get("service") or {}).get("id") or EMPTY_UUID
        self.prefix = f"ratelimit:{route}:{service}:"
        self.hide = bool(config["hide_client_headers"])
        self.error_code = int(config["error_code"])
        self.error_message = config["error_message"]
        self.fault_tolerant = bool(config["fault_tolerant"])
        self.limit_headers = tuple(_number(config[p]) for p in self.periods)
        self.limit_lines = tuple((X_LIMIT[p], value)
                                 for p, value in zip(self.periods, self.limit_headers))
        self.remaining_names = tuple(X_REMAINING[p] for p in self.periods)
        self.best_limit_lines = tuple((b"ratelimit-limit", value) for value in self.limit_headers)
        self._cached_windows: tuple | None = None
        self._cached_cells: dict[str, list] = {}
        self._last_error_log = 0.0
        self._suppressed = 0
        self.clock_ms = _wall_clock_ms  # replaceable in tests
        if config["policy"] == "redis":
            settings = redis_settings(config)
            source = services.redis or client_for
            self.store = RedisCounters(lambda: source(settings))
            self.on_request = self._redis_request  # type: ignore[method-assign]
        else:
            self.store = services.counters if services.counters is not None else _fallback_counters()
            if not self.sliding and not self.hide:  # the common case, typed (fast.py)
                self.on_request = FixedWindows(self).on_request  # type: ignore[method-assign]

    # -- access ---------------------------------------------------------------------------
    def on_request(self, ctx: RequestContext) -> LocalResponse | None:
        now_ms = self.clock_ms()
        windows, cells = self._cells(ctx, now_ms)
        try:
            admitted, usages = self.store.take(cells, now_ms)
        except RateLimitStoreError as exc:
            return self._store_failed(exc)
        return self._verdict(ctx, admitted, usages, windows, now_ms)

    async def _redis_request(self, ctx: RequestContext) -> LocalResponse | None:
        now_ms = self.clock_ms()
        windows, cells = self._cells(ctx, now_ms)
        try:
            admitted, usages = await self.store.take(cells, now_ms)
        except RateLimitStoreError as exc:
            return self._store_failed(exc)
        return self._verdict(ctx, admitted, usages, windows, now_ms)

    def _cells(self, ctx: RequestContext, now_ms: int) -> tuple[tuple, list]:
        """The counters of this request's client in the current windows. Fixed windows change
        at most once a second, so the cells of a client are cached until they do."""
        windows = self.clock.windows(now_ms)
        ident = self.identify(ctx)
        if windows is self._cached_windows:
            cells = self._cached_cells.get(ident)
            if cells is not None:
                return windows, cells
        elif not self.sliding:
            self._cached_windows = windows
            self._cached_cells = {}
        cells = window_cells(f"{self.prefix}{ident}:", self.periods, self.limits, windows,
                             self.sliding)
        if not self.sliding and len(self._cached_cells) < 10_000:
            self._cached_cells[ident] = cells
        return windows, cells

    def _verdict(self, ctx: RequestContext, admitted: bool, usages: list[int], windows: tuple,
                 now_ms: int) -> LocalResponse | None:
        if self.hide:
            if admitted:
                return None
            return LocalResponse.error(self.error_code, self.error_message)
        headers, reset = self._headers(usages, windows, now_ms, admitted)
        if admitted:
            add_pending(ctx.vars, headers)
            return None
        headers.append((b"retry-after", b"%d" % reset))
        return LocalResponse.error(self.error_code, self.error_message, headers)

    def _headers(self, usages: list[int], windows: tuple, now_ms: int,
                 admitted: bool) -> tuple[list, int]:
        """Kong's headers. Remaining counts this request in every period when it is admitted,
        else only in the exhausted one, floored at 0. Periods are in ascending window order, so
        on equal remaining the later (longer) one wins."""
        limits = self.limits
        if admitted:  # every usage is below its limit: nothing to floor
            remainders = [limit - usage - 1 for limit, usage in zip(limits, usages)]
        else:
            stop = max(i for i, usage in enumerate(usages) if limits[i] - usage <= 0)
            remainders = [max(0, limits[i] - usage - (i == stop)) for i, usage in enumerate(usages)]
        return kong_headers(self.limit_lines, self.remaining_names, self.best_limit_lines,
                            remainders, windows, now_ms, self.sliding)

    def _store_failed(self, exc: RateLimitStoreError) -> LocalResponse | None:
        now = time.monotonic()
        if now - self._last_error_log >= 10.0:
            more = f" ({self._suppressed} more since the last report)" if self._suppressed else ""
            log.error("rate-limiting: failed to get usage: %s%s; %s", exc, more,
                      "proxying anyway (fault_tolerant)" if self.fault_tolerant else "answering 500")
            self._last_error_log = now
            self._suppressed = 0
        else:
            self._suppressed += 1
        if self.fault_tolerant:
            return None
        return LocalResponse.error(500, "An unexpected error occurred")

    # -- header filter --------------------------------------------------------------------
    def on_response_head(self, ctx: RequestContext) -> None:
        headers = ctx.vars.pop(HEADERS_VAR, None)
        response = ctx.response
        if headers and response is not None:
            have = response.headers
            for name, _ in have:
                if name in OWN_HEADERS:  # rare: the upstream sent some; ours replace them
                    response.headers = have = [h for h in have if h[0] not in OWN_HEADERS]
                    break
            have.extend(headers)


def _identifier(conf: Mapping[str, Any]) -> Callable[[RequestContext], str]:
    """Kong's ``get_identifier``: the configured entity, else the client IP."""
    limit_by = conf["limit_by"]
    if limit_by == "ip":
        return lambda ctx: ctx.client_ip
    if limit_by in ("consumer", "credential"):
        keys = ("consumer", "credential") if limit_by == "consumer" else ("credential",)

        def by_entity(ctx: RequestContext) -> str:
            for key in keys:
                entity = ctx.vars.get(key)
                if entity and entity.get("id"):
                    return entity["id"]
            return ctx.client_ip
        return by_entity
    if limit_by == "service":
        def by_service(ctx: RequestContext) -> str:
            service = ctx.vars.get("service")
            return service["id"] if service and service.get("id") else ctx.client_ip
        return by_service
    if limit_by == "header":
        name = conf["header_name"].lower().encode()

        def by_header(ctx: RequestContext) -> str:
            value = ctx.request.get(name)
            return value.decode("latin-1") if value else ctx.client_ip
        return by_header
    path = conf["path"].encode()
    return lambda ctx: conf["path"] if ctx.request.path == path else ctx.client_ip
