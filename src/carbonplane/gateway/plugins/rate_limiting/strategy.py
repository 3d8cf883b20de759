"""rate-limiting's per-request steps: the config compiled once into one strategy object.

``Limits`` is a plugin config compiled: its periods and limits, its window clock, how a client
is identified, the counter name prefix (``ratelimit:<route>:<service>:``) and the header lines
to send. ``policy_for`` gives the handler its one strategy:

- ``LocalPolicy``: a synchronous store (policy ``local``: the host's counter table, a few
  microseconds under its lock);
- ``RedisPolicy``: the Redis store; its ``on_request`` is a coroutine, so the request waits
  for Redis without blocking the worker.

Both name the counters alike (``window_cells``), ask the store to ``take`` them in one atomic
step, and turn the answer into Kong's verdict and headers (``Limits.verdict``); a store failure
goes to ``StoreFailures`` (logged at most once per 10 s per plugin, then ``fault_tolerant``
decides). Fixed windows change at most once a second, so a client's cells are cached until they
do (at most 10 000 clients per window); sliding windows weigh the previous window by the time
elapsed, so theirs are built on every request. Invariant: the handler's clock is read once per
request and handed in as ``now_ms``; nothing here reads the time itself.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from carbonplane.errors import RateLimitStoreError
from carbonplane.gateway.plugins.rate_limiting.schema import PERIODS
from carbonplane.gateway.plugins.rate_limiting.windows import WindowClock, reset_seconds
from carbonplane.proxy.app import LocalResponse

log = logging.getLogger("carbonplane.gateway.plugins.rate_limiting")

EMPTY_UUID = "00000000-0000-0000-0000-000000000000"
HEADERS_VAR = "rate_limit_headers"
X_LIMIT = {p: f"x-ratelimit-limit-{p}".encode() for p in PERIODS}
X_REMAINING = {p: f"x-ratelimit-remaining-{p}".encode() for p in PERIODS}
OWN_HEADERS = frozenset(
    [
        *X_LIMIT.values(),
        *X_REMAINING.values(),
        b"ratelimit-limit",
        b"ratelimit-remaining",
        b"ratelimit-reset",
    ]
)
CACHED_CLIENTS = 10_000
_SMALL = tuple(b"%d" % i for i in range(4096))


def digits(value: int) -> bytes:
    """``b"%d" % value``, from a table for the small numbers (resets, nearly spent limits)."""
    return _SMALL[value] if 0 <= value < 4096 else b"%d" % value


def _number(value: float) -> bytes:
    return (b"%d" % value) if float(value).is_integer() else repr(value).encode()


def window_cells(base: str, periods: tuple, limits: tuple, windows: tuple, sliding: bool) -> list:
    """The counters (store cells) of one client, ``base`` being its name prefix, in ``windows``."""
    return [
        (
            f"{base}{w.start_ms}:{period}".encode(),
            w.expires_ms,
            limit,
            f"{base}{w.prev_start_ms}:{period}".encode() if sliding else None,
            w.prev_weight,
        )
        for period, limit, w in zip(periods, limits, windows)
    ]


def add_pending(shared: dict, headers: list) -> None:
    """Keep an admitted request's headers for the header filter (``on_response_head``)."""
    pending = shared.get(HEADERS_VAR)
    if pending is None:
        shared[HEADERS_VAR] = headers
    else:
        pending.extend(headers)


def identifier(conf: Mapping[str, Any]) -> Callable[[Any], str]:
    """Kong's ``get_identifier``: the configured entity, else the client IP."""
    limit_by = conf["limit_by"]
    if limit_by == "ip":
        return lambda ctx: ctx.client_ip
    if limit_by in ("consumer", "credential"):
        keys = ("consumer", "credential") if limit_by == "consumer" else ("credential",)

        def by_entity(ctx: Any) -> str:
            for key in keys:
                entity = ctx.vars.get(key)
                if entity and entity.get("id"):
                    return entity["id"]
            return ctx.client_ip

        return by_entity
    if limit_by == "service":

        def by_service(ctx: Any) -> str:
            service = ctx.vars.get("service")
            return service["id"] if service and service.get("id") else ctx.client_ip

        return by_service
    if limit_by == "header":
        name = conf["header_name"].lower().encode()

        def by_header(ctx: Any) -> str:
            value = ctx.request.get(name)
            return value.decode("latin-1") if value else ctx.client_ip

        return by_header
    path = conf["path"].encode()
    return lambda ctx: conf["path"] if ctx.request.path == path else ctx.client_ip


class Limits:
    """One plugin config, compiled: what every request of this plugin counts and answers."""

    def __init__(self, config: Mapping[str, Any], plugin: Mapping[str, Any]) -> None:
        self.periods = tuple(p for p in PERIODS if config[p] is not None)
        self.limits = tuple(int(config[p]) for p in self.periods)
        self.sliding = config["algorithm"] == "sliding"
        self.clock = WindowClock(self.periods, self.sliding)
        self.identify = identifier(config)
        route = (plugin.get("route") or {}).get("id") or EMPTY_UUID
        service = (plugin.get("service") or {}).get("id") or EMPTY_UUID
        self.prefix = f"ratelimit:{route}:{service}:"
        self.hide = bool(config["hide_client_headers"])
        self.error_code = int(config["error_code"])
        self.error_message = config["error_message"]
        values = tuple(_number(config[p]) for p in self.periods)
        self.limit_lines = tuple((X_LIMIT[p], v) for p, v in zip(self.periods, values))
        self.remaining_names = tuple(X_REMAINING[p] for p in self.periods)
        self.best_limit_lines = tuple((b"ratelimit-limit", v) for v in values)
        self.cached_windows: tuple | None = None  # the fixed windows the cached cells are of
        self.cached_cells: dict[str, list] = {}

    def cells(self, ctx: Any, now_ms: int) -> tuple[tuple, list]:
        """(windows, the counters of this request's client in them)."""
        windows = self.clock.windows(now_ms)
        ident = self.identify(ctx)
        if self.sliding:
            return windows, window_cells(
                f"{self.prefix}{ident}:", self.periods, self.limits, windows, True
            )
        if windows is not self.cached_windows:
            self.cached_windows = windows
            self.cached_cells = {}
        cells = self.cached_cells.get(ident)
        if cells is None:
            cells = window_cells(
                f"{self.prefix}{ident}:", self.periods, self.limits, windows, False
            )
            if len(self.cached_cells) < CACHED_CLIENTS:
                self.cached_cells[ident] = cells
        return windows, cells

    def verdict(
        self, ctx: Any, admitted: bool, usages: list, windows: tuple, now_ms: int
    ) -> LocalResponse | None:
        """None (admitted: the headers wait in ``ctx.vars``) or the refusal. Remaining counts
        this request in every period when it is admitted, else only in the exhausted one,
        floored at 0."""
        limits = self.limits
        if admitted:
            if not self.hide:  # every usage is below its limit: nothing to floor
                remainders = [limits[i] - usages[i] - 1 for i in range(len(limits))]
                add_pending(ctx.vars, self.headers(remainders, windows, now_ms)[0])
            return None
        if self.hide:
            return LocalResponse.error(self.error_code, self.error_message)
        stop = 0  # the last exhausted period
        for i in range(len(usages)):
            if limits[i] - usages[i] <= 0:
                stop = i
        remainders = [max(0, limits[i] - usages[i] - (i == stop)) for i in range(len(usages))]
        headers, reset = self.headers(remainders, windows, now_ms)
        headers.append((b"retry-after", b"%d" % reset))
        return LocalResponse.error(self.error_code, self.error_message, headers)

    def headers(self, remainders: list, windows: tuple, now_ms: int) -> tuple[list, int]:
        """(Kong's headers, reset): each period's limit and remaining, in ascending window
        order, then the most restrictive one's (the lowest remaining; on a tie the later,
        longer window) with its reset."""
        headers = []
        best = 0
        low = remainders[0]
        best_text = b""
        for i in range(len(remainders)):
            remaining = remainders[i]
            text = digits(remaining)
            headers.append(self.limit_lines[i])
            headers.append((self.remaining_names[i], text))
            if remaining <= low:
                best = i
                low = remaining
                best_text = text
        reset = reset_seconds(windows[best], now_ms, self.sliding)
        headers.append(self.best_limit_lines[best])
        headers.append((b"ratelimit-remaining", best_text))
        headers.append((b"ratelimit-reset", digits(reset)))
        return headers, reset


class StoreFailures:
    """What a request gets when the store fails: logged at most once per 10 s (with how many
    were left out), then proxied (``fault_tolerant``) or answered 500."""

    def __init__(self, fault_tolerant: bool) -> None:
        self.fault_tolerant = fault_tolerant
        self.last_log = 0.0
        self.suppressed = 0

    def answer(self, exc: RateLimitStoreError) -> LocalResponse | None:
        now = time.monotonic()
        if now - self.last_log >= 10.0:
            more = f" ({self.suppressed} more since the last report)" if self.suppressed else ""
            log.error(
                "rate-limiting: failed to get usage: %s%s; %s",
                exc,
                more,
                "proxying anyway (fault_tolerant)" if self.fault_tolerant else "answering 500",
            )
            self.last_log = now
            self.suppressed = 0
        else:
            self.suppressed += 1
        if self.fault_tolerant:
            return None
        return LocalResponse.error(500, "An unexpected error occurred")


class LocalPolicy:
    """Counters in a synchronous store (``take`` returns the answer)."""

    def __init__(self, limits: Limits, store: Any, failures: StoreFailures) -> None:
        self.limits = limits
        self.store = store
        self.failures = failures

    def on_request(self, ctx: Any, now_ms: int) -> LocalResponse | None:
        windows, cells = self.limits.cells(ctx, now_ms)
        try:
            admitted, usages = self.store.take(cells, now_ms)
        except RateLimitStoreError as exc:
            return self.failures.answer(exc)
        return self.limits.verdict(ctx, admitted, usages, windows, now_ms)


class RedisPolicy:
    """Counters in Redis (``take`` is a coroutine)."""

    def __init__(self, limits: Limits, store: Any, failures: StoreFailures) -> None:
        self.limits = limits
        self.store = store
        self.failures = failures

    async def on_request(self, ctx: Any, now_ms: int) -> LocalResponse | None:
        windows, cells = self.limits.cells(ctx, now_ms)
        try:
            admitted, usages = await self.store.take(cells, now_ms)
        except RateLimitStoreError as exc:
            return self.failures.answer(exc)
        return self.limits.verdict(ctx, admitted, usages, windows, now_ms)
