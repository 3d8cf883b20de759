"""Config schema of the http-log plugin (Kong 3.x ``kong/plugins/http-log/schema.lua`` and the
queue record of ``kong/tools/queue_schema.lua``).

``http_endpoint`` (required, http or https URL; userinfo becomes Basic auth), ``method`` POST |
PUT | PATCH, ``content_type`` ``application/json`` (or with ``; charset=utf-8``), ``timeout``
and ``keepalive`` in ms, ``headers`` added to every request (not Host, Content-Length or
Content-Type), ``queue`` (``max_batch_size`` 1, ``max_coalescing_delay`` 1 s,
``max_entries`` 10000, ``max_bytes``, ``max_retry_time`` 60 s, ``initial_retry_delay`` 0.01 s,
``max_retry_delay`` 60 s, ``concurrency_limit`` 1 or -1). Kong's deprecated ``queue_size``,
``flush_timeout`` and ``retry_count`` are accepted: the first two set ``max_batch_size`` and
``max_coalescing_delay``; ``retry_count`` is ignored (retries are bounded by time).
``custom_fields_by_lua`` is not supported (no Lua): setting it is an error.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from carbonplane.gateway.config import typedefs as t
from carbonplane.gateway.config.schema import Field, record
from carbonplane.gateway.plugins.file_log.schema import NO_LUA

FORBIDDEN_HEADERS = {
    "host": "Host",
    "content-length": "Content-Length",
    "content-type": "Content-Type",
}


def _url(value: str) -> str | None:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https"):
        return f"unsupported scheme in url '{value}': use http or https"
    if not parts.hostname:
        return "missing host in url"
    try:
        parts.port
    except ValueError:
        return f"invalid port in url '{value}'"
    return None


def _header_name(value: str) -> str | None:
    if value.lower() in FORBIDDEN_HEADERS:
        return f"cannot contain '{FORBIDDEN_HEADERS[value.lower()]}' header"
    return t.check_header_name(value)


def _no_lua(value: Any) -> str | None:
    return f"custom_fields_by_lua {NO_LUA}" if value else None


QUEUE = record(
    (
        "max_batch_size",
        t.integer(
            "Entries sent in one request (1: one JSON object per request; more: a JSON array).",
            default=1,
            between=(1, 1_000_000),
        ),
    ),
    (
        "max_coalescing_delay",
        t.number(
            "Seconds to wait for a batch to fill before sending it.", default=1, between=(0, 3600)
        ),
    ),
    (
        "max_entries",
        t.integer(
            "Entries the queue holds; beyond, the oldest are dropped.",
            default=10_000,
            between=(1, 1_000_000),
        ),
    ),
    ("max_bytes", t.integer("Bytes the queued entries may take; beyond, the oldest are dropped.")),
    (
        "max_retry_time",
        t.number("Seconds a failing batch is retried before it is dropped.", default=60),
    ),
    (
        "initial_retry_delay",
        t.number(
            "First delay between retries, doubled each time.",
            default=0.01,
            between=(0.001, 1_000_000),
        ),
    ),
    (
        "max_retry_delay",
        t.number("Longest delay between retries.", default=60, between=(0.001, 1_000_000)),
    ),
    (
        "concurrency_limit",
        t.integer("1: one batch in flight at a time; -1: no limit.", default=1, one_of=(-1, 1)),
    ),
)

CONFIG = record(
    ("http_endpoint", t.string("URL the log entries are sent to.", required=True, check=_url)),
    (
        "method",
        t.string(
            "HTTP method of the log requests.", default="POST", one_of=("POST", "PUT", "PATCH")
        ),
    ),
    (
        "content_type",
        t.string(
            "Content-Type of the log requests.",
            default="application/json",
            one_of=("application/json", "application/json; charset=utf-8"),
        ),
    ),
    ("timeout", t.number("Connect, send and read timeout in milliseconds.", default=10000)),
    (
        "keepalive",
        t.number("Milliseconds an idle connection to the endpoint is kept.", default=60000),
    ),
    (
        "headers",
        Field(
            "map",
            "Headers added to every log request.",
            keys=t.string(check=_header_name),
            values=t.string(),
        ),
    ),
    ("queue", t.nested(QUEUE, "How entries are batched, retried and bounded.")),
    (
        "retry_count",
        t.integer("Deprecated and ignored: retries are bounded by queue.max_retry_time."),
    ),
    ("queue_size", t.integer("Deprecated: use queue.max_batch_size.")),
    ("flush_timeout", t.number("Deprecated: use queue.max_coalescing_delay.")),
    (
        "custom_fields_by_lua",
        Field(
            "map",
            "Not supported (Kong's Lua field snippets).",
            keys=t.string(),
            values=t.string(),
            check=_no_lua,
        ),
    ),
)


def queue_settings(conf: Any) -> dict[str, Any]:
    """The effective queue settings, with the deprecated fields applied."""
    out = dict(conf["queue"])
    if conf.get("queue_size") is not None:
        out["max_batch_size"] = conf["queue_size"]
    if conf.get("flush_timeout") is not None:
        out["max_coalescing_delay"] = conf["flush_timeout"]
    return out
