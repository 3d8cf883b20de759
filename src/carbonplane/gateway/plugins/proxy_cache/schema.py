"""Config schema of the proxy-cache plugin: Kong 3.x field names, defaults and checks.

Kong's fields (``kong/plugins/proxy-cache/schema.lua``): ``response_code`` (default 200, 301,
404; 100..900), ``request_method`` (GET, HEAD; of HEAD GET POST PATCH PUT), ``content_type``
(text/plain, application/json), ``cache_ttl`` (300 s), ``strategy`` (required; only
``memory`` here), ``cache_control``, ``ignore_uri_case``, ``storage_ttl``, ``memory``
(``dictionary_name``, default ``kong_db_cache``), ``vary_query_params``, ``vary_headers``,
``response_headers`` (``age``, ``X-Cache-Status``, ``X-Cache-Key``: send them, default true).

Ours (documented in docs/plugins/proxy-cache.md and the differences table of docs/gateway.md):
``memory.max_bytes`` (the store's size; Kong sizes its shared dict in nginx.conf),
``max_body_bytes`` (larger responses stream through and are not kept), ``cache_set_cookie``
and ``honour_vary`` (false / true protect against serving one client's response to another;
Kong behaves as true / false).
"""

from __future__ import annotations

from carbonplane.gateway.config import typedefs as t
from carbonplane.gateway.config.schema import Field, record
from carbonplane.gateway.plugins.proxy_cache.policy import mime

METHODS = ("HEAD", "GET", "POST", "PATCH", "PUT")
STRATEGIES = ("memory",)


def _content_type(value: str) -> str | None:
    return None if mime(value) else f"invalid content type {value!r}: expected type/subtype"


def _strategy(value: str) -> str | None:
    if value == "redis":
        return "strategy 'redis' is not available; use 'memory'"
    return None if value in STRATEGIES else f"expected one of: {', '.join(STRATEGIES)}"


MEMORY = record(
    (
        "dictionary_name",
        t.string(
            "Name of the cache: plugins naming the same one share it (per worker process).",
            default="kong_db_cache",
            required=True,
        ),
    ),
    (
        "max_bytes",
        t.integer(
            "Size of the cache in bytes (bodies, headers and 256 bytes per entry); the least "
            "recently used entries are evicted first.",
            default=64 * 1024 * 1024,
            between=(1024, 2**40),
        ),
    ),
)

RESPONSE_HEADERS = record(
    ("age", t.boolean("Send the Age header on hits.", default=True)),
    ("X-Cache-Status", t.boolean("Send X-Cache-Status.", default=True)),
    ("X-Cache-Key", t.boolean("Send X-Cache-Key.", default=True)),
)

CONFIG = record(
    (
        "response_code",
        Field(
            "array",
            "Upstream response status codes considered cacheable.",
            default=[200, 301, 404],
            elements=t.integer(between=(100, 900)),
            len_min=1,
            required=True,
        ),
    ),
    (
        "request_method",
        Field(
            "array",
            "Downstream request methods considered cacheable.",
            default=["GET", "HEAD"],
            elements=t.string(one_of=METHODS),
            required=True,
        ),
    ),
    (
        "content_type",
        Field(
            "array",
            "Upstream response content types considered cacheable (parameters must match).",
            default=["text/plain", "application/json"],
            elements=t.string(check=_content_type),
            required=True,
        ),
    ),
    (
        "cache_ttl",
        t.integer(
            "TTL in seconds of cache entities.",
            default=300,
            check=lambda v: None if v > 0 else "value must be greater than 0",
        ),
    ),
    ("strategy", t.string("The backing data store: 'memory'.", required=True, check=_strategy)),
    (
        "cache_control",
        t.boolean("Follow RFC 7234 Cache-Control directives.", default=False, required=True),
    ),
    ("ignore_uri_case", t.boolean("Lowercase the URI in the cache key.", default=False)),
    ("storage_ttl", t.integer("Number of seconds to keep resources in the storage backend.")),
    ("memory", t.nested(MEMORY, "The memory strategy's settings.")),
    (
        "vary_query_params",
        Field(
            "array",
            "Query parameters in the cache key; none listed: all of them.",
            elements=t.string(),
        ),
    ),
    (
        "vary_headers",
        Field("array", "Request headers in the cache key; none listed: none.", elements=t.string()),
    ),
    ("response_headers", t.nested(RESPONSE_HEADERS, "Which cache headers to send.")),
    (
        "max_body_bytes",
        t.integer(
            "Largest response body kept; larger ones stream through uncached.",
            default=1024 * 1024,
            between=(0, 2**40),
        ),
    ),
    (
        "cache_set_cookie",
        t.boolean("Keep responses that carry Set-Cookie (Kong does).", default=False),
    ),
    (
        "honour_vary",
        t.boolean(
            "Do not keep responses whose Vary names a request header missing from "
            "vary_headers (Kong ignores Vary).",
            default=True,
        ),
    ),
)
