"""Kong's proxy-cache key (``kong/plugins/proxy-cache/cache_key.lua``), byte for byte.

``sha256_hex("<prefix>|<method>|<uri>|<params>|<headers>")`` where

- prefix: ``<consumer id>:<route id>`` when both are known, else ``<route id>``, else
  ``default`` (the service is not part of the key: one route's entries are never served on
  another route);
- method: the request method;
- uri: what Kong takes from nginx's ``$request`` (the whole request line) with everything from
  the first ``?`` removed: ``GET /p?x=1 HTTP/1.1`` gives ``GET /p`` but ``GET /p HTTP/1.1``
  stays whole - Kong's quirk, kept so that keys match Kong's. Raw bytes, not normalised;
  lowercased as a whole with ``ignore_uri_case``;
- params: with ``vary_query_params`` empty every query argument (names sorted), else only
  those listed (in the listed order); each ``name=value``, ``name`` alone for an argument
  without ``=``, a repeated argument's values sorted and joined by ``,``; joined by ``:``;
- headers: empty unless ``vary_headers``; then the listed headers present (names matched
  case-insensitively, written as configured), formatted as the params.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from carbonplane.gateway.plugins.pdk.reqparts import parse_query


def _fields(args: dict[str, list], names: Sequence[str]) -> str:
    out = []
    for name in names:
        values = args.get(name)
        if not values:
            continue
        if len(values) > 1:
            out.append(f"{name}=" + ",".join(sorted("" if v is None else v for v in values)))
        elif values[0] is None:
            out.append(name)
        else:
            out.append(f"{name}={values[0]}")
    return ":".join(out)


def params_key(query: bytes, vary_query_params: Sequence[str]) -> str:
    args: dict[str, list] = {}
    for name, value in parse_query(query):
        args.setdefault(name, []).append(value)
    return _fields(args, vary_query_params or sorted(args))


def headers_key(headers: Sequence[tuple[bytes, bytes]], vary_headers: Sequence[str]) -> str:
    if not vary_headers:
        return ""
    args: dict[str, list] = {}
    wanted = {name.lower().encode("latin-1"): name for name in vary_headers}
    for name, value in headers:
        conf = wanted.get(name)
        if conf is not None:
            args.setdefault(conf, []).append(value.decode("latin-1"))
    return _fields(args, vary_headers)


def prefix(consumer_id: str | None, route_id: str | None) -> str:
    if consumer_id and route_id:
        return f"{consumer_id}:{route_id}"
    return route_id or "default"


def request_uri(method: bytes, target: bytes, version: bytes, ignore_case: bool) -> str:
    """Kong's ``uri``: the request line up to its first ``?`` (see the module docstring)."""
    line = b"%s %s HTTP/%s" % (method, target, version)
    uri = line.split(b"?", 1)[0].decode("latin-1")
    return uri.lower() if ignore_case else uri


def build_cache_key(
    consumer_id: str | None,
    route_id: str | None,
    method: str,
    uri: str,
    query: bytes,
    headers: Sequence[tuple[bytes, bytes]],
    vary_query_params: Sequence[str],
    vary_headers: Sequence[str],
) -> str:
    text = "|".join(
        (
            prefix(consumer_id, route_id),
            method,
            uri,
            params_key(query, vary_query_params),
            headers_key(headers, vary_headers),
        )
    )
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()
