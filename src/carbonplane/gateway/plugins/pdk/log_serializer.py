"""Kong's log record (``kong.log.serialize()``, Kong 3.x ``kong/pdk/log.lua``) from a finished
request's ``RequestContext``: what file-log and http-log write, one JSON object per request.

Fields, as Kong's:
- ``request``: ``id`` (the engine's request id), ``uri`` (the request-target as received),
  ``url`` (``scheme://host:port`` + uri), ``querystring`` (decoded; repeated keys -> list, a key
  without ``=`` -> true), ``method``, ``headers`` (lowercase names; repeated -> list;
  ``authorization`` and ``proxy-authorization`` are ``"REDACTED"``), ``size`` (head + body bytes);
- ``upstream_uri`` (path and query sent upstream), ``upstream_status`` (string, "" when the
  upstream did not answer);
- ``response``: ``status``, ``headers``, ``size`` (head + body bytes as sent);
- ``latencies`` in whole ms: ``request`` (first byte in to last byte out), ``proxy`` (upstream
  wait: request sent -> response head, -1 without upstream), ``kong`` (time spent in the gateway
  before sending upstream, or the whole time for gateway-made responses), ``receive`` (0: bodies
  stream);
- ``tries``: one entry per upstream attempt; the last carries ``ip`` and ``port``, earlier
  (failed) ones ``{"state": "failed"}`` (the engine keeps only the final target);
- ``authenticated_entity`` (``{id, consumer_id}`` of the credential), ``route``, ``service``,
  ``consumer`` (the entities), ``client_ip``, ``started_at`` (epoch ms), ``source``
  (``upstream`` or ``kong``), ``workspace``/``workspace_name`` (``default``);
- ``correlation_id`` when the correlation-id plugin ran.

Entities are frozen mappings shared by every request of a config version; their JSON-ready
copies are cached by identity. The record exists twice: ``serialize`` (a dict; ``encode`` makes
its JSON) is the specification, and ``_native/records.c`` writes the same line byte for byte from
the record's values (``_native_line`` passes them in its argument order; it declines a repeated
header name or a wider str, and the specification's line is written then). ``append_line`` /
``encode_line`` (file-log's line) use the native version where it is built; ``LINE_IMPLS``
names both for the tests. Adding a field touches ``serialize`` and ``records.c``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote_plus

import msgspec

from carbonplane.gateway.config.schema import thaw
from carbonplane.gateway.plugins.pdk._native.layout import WORKSPACE_ID  # Kong's default workspace
from carbonplane.proxy.app import RequestContext

try:  # built at install time where a C compiler exists (setup.py); optional
    from carbonplane.gateway.plugins.pdk._native.records import log_line as _log_line
except ImportError:  # pragma: no cover - depends on the install
    _log_line = None
REDACTED = ("authorization", "proxy-authorization")
CORRELATION_VAR = "correlation_id"
_ENCODER = msgspec.json.Encoder()
_entity_cache: dict[int, tuple[Any, Any]] = {}
_raw_cache: dict[int, tuple[Any, msgspec.Raw]] = {}
_NULL = msgspec.Raw(b"null")


def _entity(value: Mapping[str, Any] | None) -> Any:
    """A JSON-ready copy of a frozen entity, built once per entity object."""
    if value is None:
        return None
    found = _entity_cache.get(id(value))
    if found is not None and found[0] is value:
        return found[1]
    if len(_entity_cache) > 10_000:
        _entity_cache.clear()
    plain = thaw(value)
    _entity_cache[id(value)] = (value, plain)
    return plain


def _raw_entity(value: Mapping[str, Any] | None) -> msgspec.Raw:
    """An entity's JSON, encoded once per entity object."""
    if value is None:
        return _NULL
    found = _raw_cache.get(id(value))
    if found is not None and found[0] is value:
        return found[1]
    if len(_raw_cache) > 10_000:
        _raw_cache.clear()
    raw = msgspec.Raw(_ENCODER.encode(_entity(value)))
    _raw_cache[id(value)] = (value, raw)
    return raw


def header_map(headers: list[tuple[bytes, bytes]], redact: bool = False) -> dict[str, Any]:
    """Lowercase names to values (a list for repeated names); credentials redacted."""
    out = {n.decode("latin-1"): v.decode("latin-1") for n, v in headers}
    if len(out) == len(headers):  # no repeated name: the common case
        if redact:
            for key in REDACTED:
                if key in out:
                    out[key] = "REDACTED"
        return out
    out = {}
    for name, raw in headers:
        key = name.decode("latin-1")
        value = "REDACTED" if redact and key in REDACTED else raw.decode("latin-1")
        have = out.get(key)
        if have is None:
            out[key] = value
        elif isinstance(have, list):
            have.append(value)
        else:
            out[key] = [have, value]
    return out


def query_map(query: bytes) -> dict[str, Any]:
    """Kong's ``get_query()``: ``?a=1&a=2&b`` -> ``{"a": ["1", "2"], "b": true}``."""
    out: dict[str, Any] = {}
    if not query:
        return out
    text = query.lstrip(b"?").decode("latin-1")
    decode = unquote_plus if ("%" in text or "+" in text) else str
    for part in text.split("&"):
        if not part:
            continue
        key, sep, value = part.partition("=")
        item: Any = decode(value) if sep else True
        key = decode(key)
        have = out.get(key)
        if have is None:
            out[key] = item
        elif isinstance(have, list):
            have.append(item)
        else:
            out[key] = [have, item]
    return out


def head_size(first: int, headers: list[tuple[bytes, bytes]]) -> int:
    """Bytes of a head: its first line (``first``), ``name: value\r\n`` lines, the blank line."""
    size = first + 2 + 4 * len(headers)
    for name, value in headers:
        size += len(name) + len(value)
    return size


def latencies(ctx: RequestContext) -> dict[str, Any]:
    finished = ctx.finished or ctx.started
    proxied = ctx.upstream_started > 0.0
    answered = ctx.upstream_answered > 0.0
    return {
        "kong": round(((ctx.upstream_started if proxied else finished) - ctx.started) * 1000),
        "proxy": round((ctx.upstream_answered - ctx.upstream_started) * 1000) if answered else -1,
        "request": round((finished - ctx.started) * 1000),
        "receive": 0,
    }


def _tries(ctx: RequestContext) -> list[dict[str, Any]]:
    if ctx.tries <= 0:
        return []
    out: list[dict[str, Any]] = [{"state": "failed"} for _ in range(ctx.tries - 1)]
    target = ctx.target
    last: dict[str, Any] = {"balancer_latency": 0}
    if target is not None:
        last.update(ip=target.host, port=target.port)
    out.append(last)
    return out


def serialize(ctx: RequestContext) -> dict[str, Any]:
    """Kong's log record of a finished request (see the module docstring)."""
    req = ctx.request
    resp = ctx.response
    client = ctx.client
    uri = req.target.decode("latin-1")
    host = req.host.decode("latin-1").rsplit(":", 1)[0] if req.host else ""
    scheme = client.scheme.decode("ascii")
    status = resp.status if resp is not None else 0
    resp_headers = resp.headers if resp is not None else []
    shared = ctx.vars
    credential = shared.get("credential")
    record: dict[str, Any] = {
        "request": {
            "id": ctx.request_id.decode("latin-1"),
            "uri": uri,
            "url": f"{scheme}://{host}:{client.server_port}{uri}",
            "querystring": query_map(req.query),
            "method": req.method.decode("latin-1"),
            "headers": header_map(req.headers, redact=True),
            "size": head_size(len(req.method) + len(req.target) + 11, req.headers)
            + ctx.request_bytes,
        },
        "upstream_uri": ctx.upstream_target.decode("latin-1") if ctx.decision is not None else "",
        "upstream_status": str(status) if ctx.source == "upstream" else "",
        "response": {
            "status": status,
            "headers": header_map(resp_headers),
            "size": head_size(17, resp_headers) + ctx.response_bytes if resp is not None else 0,
        },
        "latencies": latencies(ctx),
        "tries": _tries(ctx),
        "client_ip": ctx.client_ip,
        "started_at": ctx.started_ms,
        "source": "upstream" if ctx.source == "upstream" else "kong",
        "workspace": WORKSPACE_ID,
        "workspace_name": "default",
        "route": _entity(shared.get("route")),
        "service": _entity(shared.get("service")),
    }
    consumer = shared.get("consumer")
    if consumer is not None:
        record["consumer"] = _entity(consumer)
    if credential is not None:
        record["authenticated_entity"] = {
            "id": credential.get("id"),
            "consumer_id": (credential.get("consumer") or {}).get("id")
            or (consumer or {}).get("id"),
        }
    correlation = shared.get(CORRELATION_VAR)
    if correlation is not None:
        record["correlation_id"] = correlation
    return record


def encode(record: Mapping[str, Any]) -> bytes:
    """One record as compact JSON."""
    return _ENCODER.encode(record)


# -- the record as one line, written by C (``_native/records.c``) where it is built -------

_EMPTY = msgspec.Raw(b"{}")
_CACHE_LIMIT = 512  # distinct query strings remembered (cleared when full)
_queries: dict[bytes, msgspec.Raw] = {}


def _query_part(query: bytes) -> msgspec.Raw:
    if not query:
        return _EMPTY
    found = _queries.get(query)
    if found is None:
        found = msgspec.Raw(_ENCODER.encode(query_map(query)))
        if len(_queries) >= _CACHE_LIMIT:
            _queries.clear()
        _queries[query] = found
    return found


_url_prefixes: dict[tuple[bytes, bytes, int], str] = {}


def _url_prefix(scheme: bytes, host: bytes, port: int) -> str:
    """``scheme://host:port`` (port of the Host header dropped), cached per combination."""
    key = (scheme, host, port)
    found = _url_prefixes.get(key)
    if found is None:
        name = host.decode("latin-1").rsplit(":", 1)[0] if host else ""
        found = f"{scheme.decode('ascii')}://{name}:{port}"
        if len(_url_prefixes) >= 1024:
            _url_prefixes.clear()
        _url_prefixes[key] = found
    return found


_raw_tries: dict[int, tuple[Any, msgspec.Raw]] = {}
_raw_auth: dict[tuple[int, int], tuple[Any, Any, msgspec.Raw]] = {}
_NO_TRIES_RAW = msgspec.Raw(b"[]")


def _tries_part(ctx: RequestContext) -> msgspec.Raw:
    """``tries`` as JSON; the common single try is encoded once per target object."""
    if ctx.tries <= 0:
        return _NO_TRIES_RAW
    target = ctx.target
    if ctx.tries != 1 or target is None:
        return msgspec.Raw(_ENCODER.encode(_tries(ctx)))
    found = _raw_tries.get(id(target))
    if found is None or found[0] is not target:
        if len(_raw_tries) > 10_000:
            _raw_tries.clear()
        found = _raw_tries[id(target)] = (target, msgspec.Raw(_ENCODER.encode(_tries(ctx))))
    return found[1]


def _auth_part(credential: Any, consumer: Any) -> msgspec.Raw:
    """``authenticated_entity`` as JSON, once per (credential, consumer) pair of objects."""
    key = (id(credential), id(consumer))
    found = _raw_auth.get(key)
    if found is None or found[0] is not credential or found[1] is not consumer:
        if len(_raw_auth) > 10_000:
            _raw_auth.clear()
        entity = {
            "id": credential.get("id"),
            "consumer_id": (credential.get("consumer") or {}).get("id")
            or (consumer or {}).get("id"),
        }
        found = _raw_auth[key] = (credential, consumer, msgspec.Raw(_ENCODER.encode(entity)))
    return found[2]


def _native_line(ctx: RequestContext, out: bytearray | None) -> Any:
    """The record line from ``_native.records.log_line`` (arguments in its order): the bytes
    (``out`` None) or how many bytes it appended to ``out``; None where it declines."""
    req = ctx.request
    resp = ctx.response
    client = ctx.client
    upstream = ctx.source == "upstream"
    started = ctx.started
    finished = ctx.finished or started
    up_started = ctx.upstream_started
    answered = ctx.upstream_answered
    shared = ctx.vars
    consumer = shared.get("consumer")
    credential = shared.get("credential")
    return _log_line(
        ctx.request_id,
        req.target,
        _url_prefix(client.scheme, req.host, client.server_port),
        _query_part(req.query),
        req.method,
        req.headers,
        len(req.method) + len(req.target) + 11,
        ctx.request_bytes,
        ctx.upstream_target if ctx.decision is not None else b"",
        upstream,
        resp.status if resp is not None else 0,
        resp.headers if resp is not None else None,
        ctx.response_bytes,
        round(((up_started if up_started > 0.0 else finished) - started) * 1000),
        round((answered - up_started) * 1000) if answered > 0.0 else -1,
        round((finished - started) * 1000),
        _tries_part(ctx),
        ctx.client_ip,
        ctx.started_ms,
        _raw_entity(shared.get("route")),
        _raw_entity(shared.get("service")),
        _raw_entity(consumer) if consumer is not None else None,
        _auth_part(credential, consumer) if credential is not None else None,
        shared.get(CORRELATION_VAR),
        out,
    )


def append_line_python(out: bytearray, ctx: RequestContext) -> int:
    """Append the specification's line (``encode(serialize(ctx))`` and a newline) to ``out``;
    returns its length."""
    line = _ENCODER.encode(serialize(ctx)) + b"\n"
    out += line
    return len(line)


def append_line_native(out: bytearray, ctx: RequestContext) -> int:
    """``append_line_python``'s bytes, written by ``_native/records.c`` (the specification's
    line where it declines)."""
    added = _native_line(ctx, out)
    return added if added is not None else append_line_python(out, ctx)


LINE_IMPLS = {"python": append_line_python}
if _log_line is not None:
    LINE_IMPLS["native"] = append_line_native
append_line = LINE_IMPLS["native" if _log_line is not None else "python"]


def encode_line(ctx: RequestContext) -> bytes:
    """file-log's line for one request: ``encode(serialize(ctx)) + b"\\n"``."""
    out = bytearray()
    append_line(out, ctx)
    return bytes(out)
