"""Services compiled into the engine's ``Upstream`` objects, and the balancer-backed target picker.

A service whose ``host`` names an upstream entity is balanced: its ``Upstream.picker`` is a
``BalancedPicker`` over that upstream's ``Balancer`` (one per upstream entity and worker, shared
by every service naming it). Any other service gets a ``FixedTarget(host, port)``.

Per service (Kong's ``services.lua`` fields): timeouts are milliseconds in the config and seconds
in the engine; ``retries`` is passed as is; ``protocol: https`` gets a shared TLS context, with
SNI set to the service host and certificate verification only when ``tls_verify`` is true
(Kong's default, ``proxy_ssl_verify off``) against the system CA store. ``tls_verify_depth``
is accepted but not enforced: Python's ``ssl`` module has no chain-depth limit.

``BalancedPicker`` implements the engine's picker contract (``pick`` / exactly one ``release`` per
pick): a retry avoids the targets this request already tried while another one is eligible;
``release`` feeds passive health (connect failure or reset -> a TCP failure, timeout -> a timeout,
otherwise the HTTP status) and the latency EWMA, and reports health flips to ``on_health_change``.
For ``consistent-hashing`` the hash input is computed from the request as Kong does
(``hash_on`` / ``hash_fallback``); a generated ``cookie`` value is left in
``ctx.vars["balancer_set_cookie"]`` for the ``SetBalancerCookie`` filter to send.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qs

from carbonplane.gateway.balancer import Balancer, TargetState, hash_value
from carbonplane.gateway.model import GatewayConfig
from carbonplane.proxy.app import (
    FAILURE_TIMEOUT,
    Filter,
    FixedTarget,
    RequestContext,
    Upstream,
)

TRIED = "balancer_tried"
SET_COOKIE = "balancer_set_cookie"
_SSL_CONTEXTS: dict[bool, ssl.SSLContext] = {}


def tls_context(verify: bool) -> ssl.SSLContext:
    """One shared context per verification mode: pooled connections are keyed by context."""
    ctx = _SSL_CONTEXTS.get(verify)
    if ctx is None:
        ctx = ssl.create_default_context()
        if not verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        _SSL_CONTEXTS[verify] = ctx
    return ctx


class BalancedPicker:
    """The engine's ``TargetPicker`` over a ``Balancer``; see the module docstring."""

    __slots__ = ("balancer", "scheme", "hashing", "needs", "on_health_change")

    def __init__(self, balancer: Balancer, scheme: str,
                 on_health_change: Callable[[Balancer, TargetState], None] | None = None) -> None:
        self.balancer = balancer
        self.scheme = scheme
        upstream = balancer.upstream
        self.hashing = balancer.algorithm == "consistent-hashing"
        self.needs = frozenset((upstream["hash_on"], upstream["hash_fallback"]))
        self.on_health_change = on_health_change

    def pick(self, ctx: RequestContext) -> TargetState | None:
        key = self._hash_key(ctx) if self.hashing else None
        tried = ctx.vars.get(TRIED)
        balancer = self.balancer
        if tried:
            target = balancer.select(key, exclude=tried)
            if target is not None:
                return target
        return balancer.select(key)

    def release(self, ctx: RequestContext, target: TargetState, status: int,
                failure: str | None) -> None:
        balancer = self.balancer
        latency = None
        if balancer.algorithm == "latency" and ctx.upstream_answered:
            latency = (ctx.upstream_answered - ctx.upstream_started) * 1000.0
        balancer.release(target, latency_ms=latency, now=ctx.upstream_answered)
        if failure is not None:
            ctx.vars.setdefault(TRIED, set()).add(target.address)
            if failure == FAILURE_TIMEOUT:
                flipped = balancer.report_passive(target, timeout=True)
            else:
                flipped = balancer.report_passive(target, tcp_failure=True)
        elif status:
            flipped = balancer.report_passive(target, status=status)
        else:
            return  # the request ended without an answer from this target: nothing learnt
        if flipped and self.on_health_change is not None:
            self.on_health_change(balancer, target)

    def host_header(self, target: TargetState) -> bytes:
        return self.balancer.host_header(target, self.scheme).encode("idna")

    def _hash_key(self, ctx: RequestContext) -> str | None:
        request = ctx.request
        needs = self.needs
        consumer = ctx.vars.get("consumer")
        headers = cookies = query = None
        if "header" in needs:
            headers = {}
            for name, value in request.headers:
                key = name.decode("latin-1")
                headers[key] = (headers[key] + "," if key in headers else "") + value.decode("latin-1")
        if "cookie" in needs:
            cookies = parse_cookies(request.get_all(b"cookie"))
        if "query_arg" in needs:
            query = parse_qs(request.query[1:].decode("latin-1"), keep_blank_values=True)
            query = {k: v[0] if len(v) == 1 else v for k, v in query.items()}
        value, set_cookie = hash_value(
            self.balancer.upstream, consumer_id=consumer.get("id") if consumer else None,
            client_ip=ctx.client_ip, headers=headers, cookies=cookies,
            path=request.path.decode("latin-1"), query=query,
            uri_captures=ctx.vars.get("uri_captures"),
        )  # fmt: skip
        if set_cookie is not None:
            ctx.vars[SET_COOKIE] = set_cookie
        return value

    def __repr__(self) -> str:
        return f"BalancedPicker({self.balancer.upstream['name']!r}, {self.balancer.algorithm})"


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


def build_balancers(config: GatewayConfig, previous: Mapping[str, Balancer] | None = None
                    ) -> dict[str, Balancer]:
    """One Balancer per upstream entity (by name), keeping health and load of ``previous``."""
    previous = previous or {}
    out = {}
    for upstream in config.upstreams:
        old = previous.get(upstream["name"])
        out[upstream["name"]] = Balancer(upstream, config.targets_of(upstream["id"]), previous=old)
    return out


def compile_upstream(service: Mapping[str, Any], balancers: Mapping[str, Balancer],
                     on_health_change: Callable[[Balancer, TargetState], None] | None = None
                     ) -> Upstream:
    """The engine's ``Upstream`` for one service (see the module docstring)."""
    scheme = service["protocol"]
    tls = None
    server_hostname = None
    if scheme == "https":
        tls = tls_context(bool(service.get("tls_verify")))
        server_hostname = service["host"]
    balancer = balancers.get(service["host"])
    host_header = None
    if balancer is not None:
        picker: Any = BalancedPicker(balancer, scheme, on_health_change)
        host_header = picker.host_header
        if tls is not None:
            server_hostname = balancer.upstream.get("host_header") or service["host"]
    else:
        picker = FixedTarget(service["host"], service["port"])
    return Upstream(
        service.get("name") or service["id"], picker,
        connect_timeout=service["connect_timeout"] / 1000.0,
        read_timeout=service["read_timeout"] / 1000.0,
        write_timeout=service["write_timeout"] / 1000.0,
        retries=service["retries"], ssl=tls, server_hostname=server_hostname,
        host_header=host_header,
    )  # fmt: skip
