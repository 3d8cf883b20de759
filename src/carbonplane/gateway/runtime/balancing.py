"""Kong's upstreams and services translated into the engine's layers (``proxy/layers``, stacked
by ``proxy/stack.py``), and Kong's balancer hash input.

An upstream entity becomes a ``Balancer`` (one per upstream and worker, shared by every service
naming it; ``balancer_for``): its algorithm, ``slots``, ``host_header``, ``healthchecks`` record
and targets. A service becomes the engine's ``Upstream`` (``compile_upstream``): a service whose
``host`` names an upstream entity is balanced (a ``BalancedPicker``), any other gets a
``FixedTarget(host, port)``. Timeouts are milliseconds in the config and seconds in the engine;
``retries`` is passed as is; ``protocol: https`` gets a shared TLS context, with SNI set to the
service host and certificate verification only when ``tls_verify`` is true (Kong's default,
``proxy_ssl_verify off``) against the service's ``ca_certificates`` or the system CA store, and
its ``client_certificate`` presented (``upstream_tls.py``). ``tls_verify_depth`` is accepted but
not enforced: Python's ``ssl`` module has no chain-depth limit.

For ``consistent-hashing`` the hash input is computed from the request as Kong does
(``hash_on`` / ``hash_fallback``, ``hash_value``); a generated ``cookie`` value is left in
``ctx.vars["balancer_set_cookie"]`` for the ``SetBalancerCookie`` filter to send. Placements
differ from Kong's (other hash functions); the properties don't.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import parse_qs

from carbonplane.gateway.config.model import GatewayConfig
from carbonplane.gateway.config.typedefs import split_host_port
from carbonplane.gateway.runtime.upstream_tls import upstream_context
from carbonplane.proxy.app import Filter, FixedTarget, RequestContext, Upstream
from carbonplane.proxy.layers.balance import BalancedPicker, Balancer, TargetSpec, TargetState
from carbonplane.proxy.layers.health import HealthPolicy
from carbonplane.proxy.stack import Stack

NO_PEER_BODY = b'{"message":"failure to get a peer from the ring-balancer"}'
SET_COOKIE = "balancer_set_cookie"


def target_spec(entity: Mapping[str, Any]) -> TargetSpec:
    """A Kong target entity as the balance layer's target (port 8000 when none is given)."""
    address = entity["target"]
    host, port = split_host_port(address) or (address, 8000)
    return TargetSpec(
        address, host, port if port is not None else 8000, entity["weight"], entity.get("id")
    )


def balancer_for(
    upstream: Mapping[str, Any],
    targets: Sequence[Mapping[str, Any]],
    *,
    previous: Balancer | None = None,
    rng: Any = None,
) -> Balancer:
    """The balance layer for one Kong upstream entity and its target entities."""
    return Balancer(
        upstream["name"],
        upstream["algorithm"],
        [target_spec(t) for t in targets],
        HealthPolicy(upstream["healthchecks"]),
        slots=upstream["slots"],
        host_header=upstream.get("host_header"),
        previous=previous,
        rng=rng,
    )


class KongHashKey:
    """Kong's ``hash_on``/``hash_fallback`` input of a request, for a consistent-hashing picker."""

    __slots__ = ("upstream", "needs")

    def __init__(self, upstream: Mapping[str, Any]) -> None:
        self.upstream = upstream
        self.needs = frozenset((upstream["hash_on"], upstream["hash_fallback"]))

    def __call__(self, ctx: RequestContext) -> str | None:
        request = ctx.request
        needs = self.needs
        consumer = ctx.vars.get("consumer")
        headers = cookies = query = None
        if "header" in needs:
            headers = {}
            for name, value in request.headers:
                key = name.decode("latin-1")
                headers[key] = (headers[key] + "," if key in headers else "") + value.decode(
                    "latin-1"
                )
        if "cookie" in needs:
            cookies = parse_cookies(request.get_all(b"cookie"))
        if "query_arg" in needs:
            query = parse_qs(request.query[1:].decode("latin-1"), keep_blank_values=True)
            query = {k: v[0] if len(v) == 1 else v for k, v in query.items()}
        value, set_cookie = hash_value(
            self.upstream,
            consumer_id=consumer.get("id") if consumer else None,
            client_ip=ctx.client_ip,
            headers=headers,
            cookies=cookies,
            path=request.path.decode("latin-1"),
            query=query,
            uri_captures=ctx.vars.get("uri_captures"),
        )
        if set_cookie is not None:
            ctx.vars[SET_COOKIE] = set_cookie
        return value


def parse_cookies(values: list[bytes]) -> dict[str, str]:
    out: dict[str, str] = {}
    for value in values:
        for part in value.decode("latin-1").split(";"):
            name, sep, val = part.strip().partition("=")
            if sep and name and name not in out:
                out[name] = val.strip('"')
    return out


class SetBalancerCookie(Filter):
    """Sends the hash cookie a ``cookie``-hashing balancer generated for this request."""

    name = "balancer-cookie"

    def on_response_head(self, ctx: RequestContext) -> None:
        cookie = ctx.vars.get(SET_COOKIE)
        if cookie is not None and ctx.response is not None:
            ctx.response.headers.append((b"set-cookie", cookie.encode("latin-1")))


def build_balancers(
    config: GatewayConfig, previous: Mapping[str, Balancer] | None = None
) -> dict[str, Balancer]:
    """One Balancer per upstream entity (by name), keeping health and load of ``previous``."""
    previous = previous or {}
    return {
        u["name"]: balancer_for(u, config.targets_of(u["id"]), previous=previous.get(u["name"]))
        for u in config.upstreams
    }


def uses_cookie(upstream: Mapping[str, Any]) -> bool:
    """Whether Kong's hash input of this upstream may set a cookie (``SetBalancerCookie``)."""
    return "cookie" in (upstream["hash_on"], upstream["hash_fallback"])


# A WebSocket service is reached as HTTP/1.1 first (ws: plain TCP, wss: TLS), then tunnelled.
_HTTP_SCHEME = {"ws": "http", "wss": "https"}


def compile_upstream(
    service: Mapping[str, Any],
    config: GatewayConfig,
    balancers: Mapping[str, Balancer],
    on_health_change: Callable[[Balancer, TargetState], None] | None = None,
) -> Upstream:
    """The engine's ``Upstream`` for one service: the gateway's stack (module docstring)."""
    name = service.get("name") or service["id"]
    scheme = _HTTP_SCHEME.get(service["protocol"], service["protocol"])
    stack = Stack(name)
    balancer = balancers.get(service["host"])
    if balancer is not None:  # balance: Kong's algorithm over the upstream entity's targets
        hash_key = KongHashKey(config.upstream_named(service["host"]))
        picker = BalancedPicker(balancer, scheme, hash_key, on_health_change)
        stack.balance(picker, picker.host_header)
    else:  # balance: the service's one host and port
        stack.balance(FixedTarget(service["host"], service["port"]))
    stack.retries(service["retries"])  # Kong's service retries
    stack.timeouts(
        service["connect_timeout"] / 1000.0,  # Kong's are milliseconds
        service["read_timeout"] / 1000.0,
        service["write_timeout"] / 1000.0,
    )
    if scheme == "https":  # tls: SNI of the upstream's host_header or the service host
        sni = (balancer.host_header_override if balancer is not None else None) or service["host"]
        stack.tls(upstream_context(service, config), sni)
    return stack.build()


def hash_value(
    upstream: Mapping[str, Any],
    *,
    consumer_id: str | None = None,
    client_ip: str | None = None,
    headers: Mapping[str, str] | None = None,
    cookies: Mapping[str, str] | None = None,
    path: str | None = None,
    query: Mapping[str, Any] | None = None,
    uri_captures: Mapping[Any, Any] | None = None,
    new_cookie: Callable[[], str] = lambda: str(uuid.uuid4()),
) -> tuple[str | None, str | None]:
    """Kong's hash input for a request: (value or None, Set-Cookie header value or None).

    ``hash_on`` first, then ``hash_fallback`` when it yields nothing. With ``cookie`` and no such
    cookie in the request a fresh value is generated and returned as a cookie to set."""
    for which in ("hash_on", "hash_fallback"):
        kind = upstream[which]
        if kind == "none":
            return None, None
        if kind == "cookie":
            name = upstream["hash_on_cookie"]
            value = (cookies or {}).get(name)
            if value:
                return value, None
            value = new_cookie()
            return value, f"{name}={value}; Path={upstream.get('hash_on_cookie_path') or '/'}"
        value = _hash_source(
            upstream, which, kind, consumer_id, client_ip, headers, path, query, uri_captures
        )
        if value:
            return value, None
    return None, None


def _hash_source(
    upstream: Mapping[str, Any],
    which: str,
    kind: str,
    consumer_id: str | None,
    client_ip: str | None,
    headers: Mapping[str, str] | None,
    path: str | None,
    query: Mapping[str, Any] | None,
    captures: Mapping[Any, Any] | None,
) -> str | None:
    if kind == "consumer":
        return consumer_id
    if kind == "ip":
        return client_ip
    if kind == "path":
        return path
    if kind == "header":
        name = upstream[f"{which}_header"].lower()
        value = {k.lower(): v for k, v in (headers or {}).items()}.get(name)
        return ",".join(value) if isinstance(value, (list, tuple)) else value
    if kind == "query_arg":
        value = (query or {}).get(upstream[f"{which}_query_arg"])
        return ",".join(value) if isinstance(value, (list, tuple)) else value
    if kind == "uri_capture":
        value = (captures or {}).get(upstream[f"{which}_uri_capture"])
        return value if isinstance(value, str) else None
    return None
