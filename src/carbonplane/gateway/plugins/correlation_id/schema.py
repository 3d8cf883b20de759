"""Config schema of the correlation-id plugin (Kong 3.x ``kong/plugins/correlation-id/schema.lua``):
``header_name`` (default ``Kong-Request-ID``), ``generator`` (``uuid``, ``uuid#counter`` the
default, ``tracker``), ``echo_downstream`` (default false)."""

from __future__ import annotations

from carbonplane.gateway.config import typedefs as t
from carbonplane.gateway.config.schema import record

GENERATORS = ("uuid", "uuid#counter", "tracker")

CONFIG = record(
    (
        "header_name",
        t.string(
            "Header carrying the correlation id.",
            default="Kong-Request-ID",
            check=t.check_header_name,
        ),
    ),
    (
        "generator",
        t.string(
            "How a missing id is made: 'uuid', 'uuid#counter' (a per-worker "
            "uuid and a counter) or 'tracker' (connection and time fields).",
            default="uuid#counter",
            one_of=GENERATORS,
            required=True,
        ),
    ),
    (
        "echo_downstream",
        t.boolean("Also send the id back to the client.", default=False, required=True),
    ),
)
