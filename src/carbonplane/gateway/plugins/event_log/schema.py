"""Config schema of the event-log plugin (carbonplane's own; Kong has no equivalent).

``endpoint``: what the event's ``endpoint`` field holds - ``route_path`` (the matched route's
first path, the default: low cardinality, no client data), ``request_path`` (the normalised
request path) or ``upstream_path`` (the path sent upstream); query strings are never included
(they may carry credentials). ``queue_size``: how many finished requests may wait for the
producer thread; beyond, new ones are dropped and counted.
"""

from __future__ import annotations

from carbonplane.gateway.config import typedefs as t
from carbonplane.gateway.config.schema import record

ENDPOINTS = ("route_path", "request_path", "upstream_path")

CONFIG = record(
    (
        "endpoint",
        t.string("What the event's endpoint field holds.", default="route_path", one_of=ENDPOINTS),
    ),
    (
        "queue_size",
        t.integer(
            "Requests waiting to be produced; beyond, events are dropped and counted.",
            default=10000,
            between=(1, 1_000_000),
        ),
    ),
)
