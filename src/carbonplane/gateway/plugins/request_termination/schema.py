"""Config schema of the request-termination plugin (Kong 3.x
``kong/plugins/request-termination/schema.lua``): ``status_code`` (default 503, 100..599),
``message`` | ``body`` + ``content_type``, ``echo`` (default false), ``trigger`` (a header or
query argument name: terminate only requests carrying it)."""

from __future__ import annotations

from typing import Any

from carbonplane.gateway.config import typedefs as t
from carbonplane.gateway.config.problems import ENTITY
from carbonplane.gateway.config.schema import record


def _present(value: Any) -> bool:
    return isinstance(value, str) and len(value) > 0


def _checks(conf: dict[str, Any]) -> list[tuple[str, str]]:
    if _present(conf.get("message")) and (
        _present(conf.get("content_type")) or _present(conf.get("body"))
    ):
        return [(ENTITY, "message cannot be used with content_type or body")]
    if _present(conf.get("content_type")) and not _present(conf.get("body")):
        return [(ENTITY, "content_type requires a body")]
    if conf.get("echo") and (_present(conf.get("content_type")) or _present(conf.get("body"))):
        return [(ENTITY, "echo cannot be used with content_type and body")]
    return []


CONFIG = record(
    ("status_code", t.integer("Status of the response.", default=503, between=(100, 599))),
    ("message", t.string("Message of Kong's JSON error body.")),
    ("content_type", t.string("Content-Type of ``body``.")),
    ("body", t.string("Raw body of the response.")),
    (
        "echo",
        t.boolean(
            "Answer with a JSON description of the request instead.", default=False, required=True
        ),
    ),
    (
        "trigger",
        t.string(
            "Header or query argument whose presence triggers the termination; "
            "without it every request is terminated.",
            check=t.check_header_name,
        ),
    ),
    checks=[_checks],
)
