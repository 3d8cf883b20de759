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

The config is compiled once into one strategy object (``strategy.py``): ``LocalPolicy`` answers
synchronously (a few microseconds under the host lock), ``RedisPolicy`` returns a coroutine, so
the request waits for Redis without blocking the worker. The handler owns the clock
(``clock_ms``, replaceable in tests) and the header filter.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from carbonplane.gateway.plugins.pdk.base import PluginHandler, PluginServices
from carbonplane.gateway.plugins.pdk.counters import LocalCounters
from carbonplane.gateway.plugins.rate_limiting.redis_policy import RedisCounters, client_for
from carbonplane.gateway.plugins.rate_limiting.schema import redis_settings
from carbonplane.gateway.plugins.rate_limiting.strategy import (
    HEADERS_VAR,
    OWN_HEADERS,
    Limits,
    LocalPolicy,
    RedisPolicy,
    StoreFailures,
)

log = logging.getLogger("carbonplane.gateway.plugins.rate_limiting")

_process_counters: LocalCounters | None = None


def _fallback_counters() -> LocalCounters:
    """Counters of this process only, when the gateway gave no host-wide store."""
    global _process_counters
    if _process_counters is None:
        log.warning(
            "rate-limiting: no host-wide counter store configured; policy 'local' "
            "counts per worker process"
        )
        _process_counters = LocalCounters()
    return _process_counters


def _wall_clock_ms() -> int:
    return int(time.time() * 1000)


class Handler(PluginHandler):
    NAME = "rate-limiting"
    PRIORITY = 910
    VERSION = "3.9.0"

    def __init__(
        self, config: Mapping[str, Any], plugin: Mapping[str, Any], services: PluginServices
    ) -> None:
        super().__init__(config, plugin, services)
        limits = Limits(config, plugin)
        failures = StoreFailures(bool(config["fault_tolerant"]))
        self.clock_ms = _wall_clock_ms  # replaceable in tests
        self.strategy: LocalPolicy | RedisPolicy
        if config["policy"] == "redis":
            settings = redis_settings(config)
            source = services.redis or client_for
            self.strategy = RedisPolicy(limits, RedisCounters(lambda: source(settings)), failures)
        else:
            store = services.counters if services.counters is not None else _fallback_counters()
            self.strategy = LocalPolicy(limits, store, failures)

    # -- access ---------------------------------------------------------------------------
    def on_request(self, ctx: Any) -> Any:
        """None, a ``LocalResponse``, or (policy redis) a coroutine giving either."""
        return self.strategy.on_request(ctx, self.clock_ms())

    # -- header filter --------------------------------------------------------------------
    def on_response_head(self, ctx: Any) -> None:
        headers = ctx.vars.pop(HEADERS_VAR, None)
        response = ctx.response
        if headers and response is not None:
            have = response.headers
            for name, _ in have:
                if name in OWN_HEADERS:  # rare: the upstream sent some; ours replace them
                    response.headers = have = [h for h in have if h[0] not in OWN_HEADERS]
                    break
            have.extend(headers)
