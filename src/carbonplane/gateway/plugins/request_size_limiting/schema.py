"""Config schema of the request-size-limiting plugin: Kong 3's fields and defaults
(``kong/plugins/request-size-limiting/schema.lua``). Units are binary: a kilobyte is 1024 bytes,
a megabyte 1048576."""

from __future__ import annotations

from carbonplane.gateway.config import typedefs as t
from carbonplane.gateway.config.schema import record

SIZE_UNITS = {"megabytes": 1 << 20, "kilobytes": 1 << 10, "bytes": 1}

CONFIG = record(
    (
        "allowed_payload_size",
        t.integer("Largest request body allowed, in `size_unit`.", default=128, between=(0, 2**40)),
    ),
    (
        "size_unit",
        t.string(
            "Unit of `allowed_payload_size`.",
            default="megabytes",
            required=True,
            one_of=tuple(SIZE_UNITS),
        ),
    ),
    (
        "require_content_length",
        t.boolean(
            "Refuse (411) requests that are neither Content-Length framed nor chunked.",
            default=False,
        ),
    ),
)
