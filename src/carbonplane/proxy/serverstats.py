"""Connection and request counters of the ``ProxyServer``s in this process (nginx's
``stub_status``, which Kong's ``GET /status`` reports).

Every ``ProxyServer`` registers itself in ``SERVERS`` when made. ``counts()`` adds up, over the
live servers of this process:

- ``connections_accepted``: client connections accepted since the server started;
- ``connections_handled``: of those, the ones served (not refused for ``max_connections``);
- ``connections_active``: open client connections, which are each exactly one of
  ``connections_reading`` (a request head has started arriving and is not complete),
  ``connections_writing`` (a request is being processed: body, upstream, response) or
  ``connections_waiting`` (idle: keep-alive, or no byte received yet);
- ``total_requests``: requests whose head was read.

Counting costs the hot path two integer increments per connection (``accepted``, ``refused``)
and nothing per request (``ProxyServer.requests`` exists for request ids); the states are read
from the connections when asked. ``add`` sums the reports of several workers (``COUNTERS`` keys).
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable, Mapping

SERVERS: weakref.WeakSet = weakref.WeakSet()

COUNTERS = (
    "connections_accepted",
    "connections_active",
    "connections_handled",
    "connections_reading",
    "connections_waiting",
    "connections_writing",
    "total_requests",
)


def register(server) -> None:
    SERVERS.add(server)


def server_counts(server) -> dict[str, int]:
    """The counters of one ``ProxyServer`` (see the module docstring)."""
    reading = writing = 0
    for conn in list(server.connections):
        if conn.exchange is not None:
            writing += 1
        elif conn.head_started or conn.reader.buffered:
            reading += 1
    active = len(server.connections)
    return {
        "connections_accepted": server.accepted,
        "connections_active": active,
        "connections_handled": server.accepted - server.refused,
        "connections_reading": reading,
        "connections_waiting": active - reading - writing,
        "connections_writing": writing,
        "total_requests": server.requests,
    }


def counts() -> dict[str, int]:
    """The counters of every live ``ProxyServer`` in this process, added up."""
    return add(server_counts(server) for server in list(SERVERS))


def add(reports: Iterable[Mapping[str, int]]) -> dict[str, int]:
    """Sum several reports key by key (missing keys count 0)."""
    total = dict.fromkeys(COUNTERS, 0)
    for report in reports:
        for key in COUNTERS:
            total[key] += int(report.get(key, 0))
    return total
