"""response-ratelimiting's counters on the rate-limiting plugin's stores, and the upstream's
increment header.

The stores (``plugins/counters.py``'s host table with its native step, or the Redis script of
``rate_limiting/redis_policy.py``) offer one operation, ``take(cells, now_ms, amount)``: admit
only if every cell is below its limit, then grow each by ``amount``. This plugin needs two
others, expressed through it (so there is one store and one native step, not a copy):

- read the usages without counting: ``take`` with every limit 0 (nothing admits, nothing is
  written; a counter that does not exist reads 0);
- add what the upstream reported: ``take`` with a limit no usage reaches (``UNREACHED``) and
  ``amount`` the reported units.

Counter names are Kong's: ``response-ratelimit:<route>:<service>:<identifier>:<window start
ms>:<limit name>:<period>`` with Kong's calendar-aligned windows (``rate_limiting/windows.py``).

``parse_increments`` reads Kong's header grammar: comma-separated ``name=n`` items (several
header lines count as several items); names are trimmed and must be configured; ``n`` must be a
base-10 integer. Unlike Kong, a negative ``n`` is ignored (Kong would decrement the counters,
letting an upstream refund units).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from carbonplane.gateway.plugins.rate_limiting.schema import PERIODS
from carbonplane.gateway.plugins.rate_limiting.windows import WindowClock

UNREACHED = 1 << 62
EMPTY_UUID = "00000000-0000-0000-0000-000000000000"


def parse_increments(values: Iterable[bytes], names: Mapping[str, Any]) -> dict[str, int]:
    """{limit name: units} from the increment header's values (see the module docstring)."""
    out: dict[str, int] = {}
    for value in values:
        for item in value.decode("latin-1").split(","):
            parts = item.split("=")
            if len(parts) != 2:
                continue
            name, units = parts[0].strip(), parts[1].strip()
            if name not in names:
                continue
            sign = units[1:] if units[:1] in ("+", "-") else units
            if not sign.isdigit() or not sign.isascii():
                continue
            out[name] = int(units)
    return out


class Counters:
    """One plugin config's counters: names, windows and the cells given to the store."""

    def __init__(self, config: Mapping[str, Any], plugin: Mapping[str, Any]) -> None:
        self.limits: dict[str, tuple[tuple[str, int], ...]] = {
            name: tuple((p, int(per[p])) for p in PERIODS if per.get(p) is not None)
            for name, per in config["limits"].items()
        }
        used = [p for p in PERIODS if any(p in dict(v) for v in self.limits.values())]
        self.clock = WindowClock(used, False)
        self.index = {p: i for i, p in enumerate(used)}
        route = (plugin.get("route") or {}).get("id") or EMPTY_UUID
        service = (plugin.get("service") or {}).get("id") or EMPTY_UUID
        self.prefix = f"response-ratelimit:{route}:{service}:"

    def cells(self, ident: str, name: str, now_ms: int, limit: int | None) -> list:
        """The store cells of limit ``name`` for client ``ident``; ``limit`` None: each
        period's own limit, else this one for all (0 to read, ``UNREACHED`` to add)."""
        windows = self.clock.windows(now_ms)
        base = f"{self.prefix}{ident}:"
        out = []
        for period, own in self.limits[name]:
            w = windows[self.index[period]]
            key = f"{base}{w.start_ms}:{name}:{period}".encode()
            out.append((key, w.expires_ms, own if limit is None else limit, None, 0.0))
        return out


def usage_table(counters: Counters, name: str, usages: Sequence[int]) -> list[tuple[str, int, int]]:
    """[(period, limit, remaining)] of one limit name from the store's usages."""
    return [(p, lim, lim - used) for (p, lim), used in zip(counters.limits[name], usages)]
