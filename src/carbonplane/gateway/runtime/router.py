"""Kong's HTTP route matching, compiled once per config and run per request (sans-IO).

Semantics (Kong 3.x ``traditional_compatible`` router: ``kong/router/transform.lua``,
``compat.lua``, ``atc.lua``, ``utils.lua``):

- A route matches when every configured field matches (AND) and, within a field, any value does
  (OR): ``methods`` exact; ``hosts`` case-insensitive, with one leading (``*.example.com``, a
  suffix match) or trailing (``example.*``, a prefix match) wildcard label, and ``host:port``
  entries that also require the port: the Host header's, or without one the port the request
  arrived on (Kong: ``example.com:8000`` matches ``Host: example.com`` on port 8000; a plain
  ``example.com`` matches any port); ``headers`` case-insensitive values, a value
  starting with ``~*`` being a case-insensitive regex searched in the value; ``paths`` plain
  string prefixes, or ``~`` regexes anchored at the start of the path; ``snis`` (exact, or one
  ``*`` label at either end) only on https requests, against the TLS server name. ``protocols``
  do not take part in matching: an https-only route that matches a plain http request answers
  with its ``https_redirect_status_code`` (426 by default); ``wss`` counts as ``https`` and ``ws``
  as ``http`` there. A ``ws``/``wss`` route matches like any other; the gateway answers a request
  on it that is no WebSocket handshake with 426 (``websocket_required_response``), while
  http/https routes proxy handshakes too (Kong).
- A route whose paths mix regexes and prefixes of different lengths is split into one matcher per
  group (all regexes; each prefix length), each with its own priority.
- Priority, highest first: (1) the number of fields set among methods, hosts, headers, paths,
  snis; (2) hosts all plain (no wildcard); (3) number of headers; (4) regex paths before prefix
  paths; (5) among regexes, higher ``regex_priority``; (6) longer prefix. Ties: older
  ``created_at``, then configuration order (Kong's traditional router rule; the
  traditional_compatible router leaves ties unordered).
- Routes of a disabled service are not served (Kong skips them when building the router).
- Upstream path: ``strip_path`` removes the matched prefix (for a regex, the matched part), then
  the service ``path`` and the rest are joined by ``path_handling`` v0 (Kong's default) or v1.
  The query string, if any, is kept. ``preserve_host`` forwards the client's Host. (That rule,
  the ``RouteMatch`` and the https-required answer are in ``route_match``.)

Speed: matchers are sorted once; at match time the path's first K characters select a bucket
holding only the matchers that can match such a path (prefixes of length >= K sharing those
characters, plus every regex, short-prefix or path-less matcher), in priority order. The request
path must already be normalised (RFC 3986 dot segments, unreserved percent-decoding): the engine
does that before routing, as Kong does.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from carbonplane.gateway.config.typedefs import (
    normalize_route_path,
    normalize_route_regex,
    pcre_to_python,
    split_host_port,
)
from carbonplane.gateway.runtime.route_match import RouteMatch, upstream_uri

_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


class _Matcher:
    __slots__ = (
        "route",
        "service",
        "upstream",
        "sort_key",
        "methods",
        "hosts_exact",
        "hosts_other",
        "headers",
        "prefixes",
        "regexes",
        "snis",
        "strip",
        "v1",
        "preserve_host",
        "https_only",
        "websocket_only",
        "redirect_status",
        "base",
        "service_host",
    )

    def __init__(
        self,
        route: Mapping,
        service: Mapping | None,
        upstream: Mapping | None,
        paths: Sequence[str],
        order: int,
    ) -> None:
        self.route, self.service, self.upstream = route, service, upstream
        self.methods = frozenset(route["methods"]) if route.get("methods") else None
        self._compile_hosts(route.get("hosts") or ())
        self.headers = _compile_headers(route.get("headers") or {})
        self.prefixes = tuple(normalize_route_path(p) for p in paths if not p.startswith("~"))
        self.regexes = tuple(
            re.compile(pcre_to_python(normalize_route_regex(p[1:])))
            for p in paths
            if p.startswith("~")
        )
        self.snis = frozenset(s.lower().rstrip(".") for s in route.get("snis") or ()) or None
        self.strip = bool(route["strip_path"])
        self.v1 = route.get("path_handling") == "v1"
        self.preserve_host = bool(route["preserve_host"])
        protocols = route.get("protocols") or ("http", "https")
        plain = "http" in protocols or "ws" in protocols
        self.https_only = ("https" in protocols or "wss" in protocols) and not plain
        # ws/wss routes (never mixed with http/https) take WebSocket handshakes only
        self.websocket_only = "ws" in protocols or "wss" in protocols
        self.redirect_status = route.get("https_redirect_status_code") or 426
        self.base = (service.get("path") or "/") if service is not None else "/"
        self.service_host = _service_host_header(service) if service and not upstream else None
        self.sort_key = self._priority(route, paths) + (route.get("created_at") or 0, order)

    def _compile_hosts(self, hosts: Iterable[str]) -> None:
        exact, other = set(), []
        for entry in hosts:
            name, port = split_host_port(entry.lower()) or (entry.lower(), None)
            if name.startswith("*"):
                other.append((1, name[1:], port))
            elif name.endswith("*"):
                other.append((2, name[:-1], port))
            elif port is None:
                exact.add(name)
            else:
                other.append((0, name, port))
        self.hosts_exact = frozenset(exact)
        self.hosts_other = tuple(other)

    def _priority(self, route: Mapping, paths: Sequence[str]) -> tuple:
        hosts = route.get("hosts") or ()
        weight = sum(1 for f in ("methods", "hosts", "headers", "snis") if route.get(f))
        weight += 1 if paths else 0
        plain_hosts = bool(hosts) and not any("*" in h for h in hosts)
        regex = any(p.startswith("~") for p in paths)
        max_len = max((len(p) for p in paths if not p.startswith("~")), default=0)
        rp = (route.get("regex_priority") or 0) if regex else 0
        header_count = min(len(route.get("headers") or {}), 255)
        return (-weight, -plain_hosts, -header_count, -regex, -rp, -max_len)

    def host_matches(self, name: str, port: int | None) -> bool:
        if name in self.hosts_exact:
            return True
        for kind, value, want_port in self.hosts_other:
            if want_port is not None and want_port != port:
                continue
            if kind == 0 and name == value:
                return True
            if kind == 1 and name.endswith(value):
                return True
            if kind == 2 and name.startswith(value):
                return True
        return False

    @property
    def needs_hosts(self) -> bool:
        return bool(self.hosts_exact or self.hosts_other)


def _compile_headers(headers: Mapping[str, Sequence[str]]) -> tuple | None:
    out = []
    for name, values in headers.items():
        plain = frozenset(v.lower() for v in values if not v.startswith("~*"))
        regexes = tuple(
            re.compile(pcre_to_python(v[2:]), re.I) for v in values if v.startswith("~*")
        )
        out.append((name.lower(), plain, regexes))
    return tuple(out) or None


def _service_host_header(service: Mapping) -> str:
    host = service["host"]
    if ":" in host:
        host = f"[{host}]"
    port = service["port"]
    return host if _DEFAULT_PORTS.get(service["protocol"]) == port else f"{host}:{port}"


def _path_groups(paths: Sequence[str]) -> list[list[str]]:
    """Kong's split: one group for all regex paths, one per prefix length (config order)."""
    groups: dict[Any, list[str]] = {}
    for p in paths:
        groups.setdefault("~" if p.startswith("~") else len(p), []).append(p)
    return list(groups.values())


class Router:
    """Compiled routing table. ``match`` is safe to call from any number of requests at once."""

    __slots__ = ("_key_len", "_buckets", "_fallback", "header_names", "matchers", "_uses_hosts")

    def __init__(
        self,
        routes: Iterable[Mapping],
        services: Mapping[str, Mapping],
        upstreams_by_name: Mapping[str, Mapping] | None = None,
    ) -> None:
        upstreams_by_name = upstreams_by_name or {}
        matchers: list[_Matcher] = []
        for order, route in enumerate(routes):
            service = services.get(route["service"]["id"]) if route.get("service") else None
            if service is not None and service.get("enabled") is False:
                continue
            upstream = upstreams_by_name.get(service["host"]) if service is not None else None
            for group in _path_groups(route.get("paths") or ()) or [[]]:
                matchers.append(_Matcher(route, service, upstream, group, order))
        matchers.sort(key=lambda m: m.sort_key)
        self.matchers: tuple[_Matcher, ...] = tuple(matchers)
        self.header_names = frozenset(h[0] for m in matchers for h in (m.headers or ()))
        self._uses_hosts = any(m.needs_hosts for m in matchers)
        self._index(matchers)

    def _index(self, matchers: list[_Matcher]) -> None:
        """Choose the key length K that keeps buckets smallest and build them: a bucket holds
        the matchers whose prefixes start with its K characters plus every matcher that can
        match any path (regexes, no paths, prefixes shorter than K), in priority order."""
        lengths = sorted({len(p) for m in matchers for p in m.prefixes if len(p) > 1})
        best: tuple[int, int] | None = None
        for k in lengths:
            wild = sum(1 for m in matchers if not m.prefixes or min(map(len, m.prefixes)) < k)
            sizes: dict[str, int] = {}
            for m in matchers:
                if m.prefixes and min(map(len, m.prefixes)) >= k:
                    for key in {p[:k] for p in m.prefixes}:
                        sizes[key] = sizes.get(key, 0) + 1
            cost = wild + max(sizes.values(), default=0)
            if best is None or cost < best[0]:
                best = (cost, k)
        self._key_len = best[1] if best else 0
        k = self._key_len
        wild_positions = [
            i
            for i, m in enumerate(matchers)
            if not k or not m.prefixes or min(map(len, m.prefixes)) < k
        ]
        members: dict[str, list[int]] = {}
        wild_set = set(wild_positions)
        for i, m in enumerate(matchers):
            if i not in wild_set:
                for key in {p[:k] for p in m.prefixes}:
                    members.setdefault(key, []).append(i)
        # both lists are in priority order; merging keeps it
        self._buckets = {
            key: tuple(matchers[i] for i in heapq.merge(wild_positions, own))
            for key, own in members.items()
        }
        self._fallback = tuple(matchers[i] for i in wild_positions)

    def __len__(self) -> int:
        return len(self.matchers)

    def match(
        self,
        method: str,
        host: str | None,
        path: str,
        headers: Any = None,
        *,
        scheme: str = "http",
        sni: str | None = None,
        port: int | None = None,
    ) -> RouteMatch | None:
        """Route one request. ``path`` is the normalised request target (query allowed);
        ``headers`` a mapping (lower-case names -> value or list of values) or (name, value)
        pairs, consulted only when some route matches on headers; ``port``: the port the
        request arrived on, which a ``host:port`` entry compares when the Host header has no
        port (Kong's ``net.dst.port``). None means 404."""
        query = ""
        q = path.find("?")
        if q >= 0:
            path, query = path[:q], path[q:]
        k = self._key_len
        candidates = self._buckets.get(path[:k], self._fallback) if k else self._fallback
        hostname = ""
        if self._uses_hosts:
            hostname, host_port = _split_request_host(host)
            if host_port is not None:
                port = host_port
        header_values = None
        for m in candidates:
            if m.methods is not None and method not in m.methods:
                continue
            if (m.hosts_exact or m.hosts_other) and not m.host_matches(hostname, port):
                continue
            matched = captures = None
            if m.prefixes:
                for prefix in m.prefixes:
                    if path.startswith(prefix):
                        matched = prefix
                        break
                else:
                    continue
            elif m.regexes:
                for rx in m.regexes:
                    found = rx.match(path)
                    if found is not None:
                        matched = found.group(0)
                        captures = _captures(found)
                        break
                else:
                    continue
            if m.headers is not None:
                if header_values is None:
                    header_values = _collect_headers(headers, self.header_names)
                if not _headers_match(m.headers, header_values):
                    continue
            if m.snis is not None and scheme == "https" and not _sni_matches(m.snis, sni):
                continue
            return _decide(m, path, query, matched, captures, host, scheme)
        return None


def _sni_matches(snis: frozenset[str], sni: str | None) -> bool:
    """A route's ``snis``: exact names, ``*.example.com`` (any deeper name) or ``example.*``."""
    name = (sni or "").lower().rstrip(".")
    if name in snis:
        return True
    for pattern in snis:
        if pattern.startswith("*.") and name.endswith(pattern[1:]) and len(name) > len(pattern) - 1:
            return True
        if (
            pattern.endswith(".*")
            and name.startswith(pattern[:-1])
            and len(name) > len(pattern) - 1
        ):
            return True
    return False


def _decide(
    m: _Matcher,
    path: str,
    query: str,
    matched: str | None,
    captures: dict | None,
    host: str | None,
    scheme: str,
) -> RouteMatch:
    if m.preserve_host:
        upstream_host = host
    elif m.upstream is not None:
        upstream_host = None
    else:
        upstream_host = m.service_host
    upstream_path = upstream_uri(m.base, path, matched if m.strip else None, m.strip, m.v1) + query
    redirect = m.redirect_status if m.https_only and scheme != "https" else None
    match = RouteMatch(
        m.route, m.service, m.upstream, upstream_path, upstream_host, matched, captures, redirect
    )
    match.websocket_only = m.websocket_only
    return match


def _captures(found: re.Match) -> dict | None:
    groups = found.groups()
    if not groups:
        return None
    out: dict[Any, Any] = {0: found.group(0)}
    for i, value in enumerate(groups, 1):
        out[i] = value
    out.update(found.groupdict())
    return out


def _split_request_host(host: str | None) -> tuple[str, int | None]:
    if not host:
        return "", None
    parts = split_host_port(host)
    if parts is None:
        return host.lower(), None
    return parts[0].lower().rstrip("."), parts[1]


def _collect_headers(headers: Any, wanted: frozenset[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    if not headers:
        return out
    items = headers.items() if isinstance(headers, Mapping) else headers
    for name, value in items:
        if isinstance(name, bytes):
            name = name.decode("latin-1")
        name = name.lower()
        if name not in wanted:
            continue
        values = value if isinstance(value, (list, tuple)) else (value,)
        bucket = out.setdefault(name, [])
        for v in values:
            bucket.append((v.decode("latin-1") if isinstance(v, bytes) else v).lower())
    return out


def _headers_match(rules: tuple, values: dict[str, list[str]]) -> bool:
    for name, plain, regexes in rules:
        got = values.get(name)
        if not got:
            return False
        if not any(v in plain or any(rx.search(v) for rx in regexes) for v in got):
            return False
    return True
