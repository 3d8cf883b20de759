"""``GatewayApp``: a compiled ``GatewayConfig`` as the proxy engine's ``ProxyApp``.

Built once per config version (and per worker), never changed afterwards:

- per service an engine ``Upstream`` (``balancing.compile_upstream``: timeouts ms -> s, retries,
  TLS, a ``BalancedPicker`` when the service host names an upstream entity, else a fixed
  address); balancers keep health and load across versions (``previous=``);
- per route a ``RoutePlan``: its service's Upstream and its ``FilterChain`` of plugin handlers
  resolved by Kong's precedence (``chains``/``resolve``); routes with the same plugins share
  one chain object;
- ``server_tls``: the certificates the HTTPS listener serves, by SNI (``sni.py``);
- the answers that need no upstream: 404 ``no Route matched with those values`` (through the
  global plugins, so that they still log and count it), 426 / redirect for https-only routes
  reached over plain http (``X-Forwarded-Proto: https`` counts when the peer is trusted), 503
  ``no Service found with those values`` for a route without a service.

``route(ctx)`` runs per request: one router match on the normalised path (with the query), then
``ctx.vars["route"]``, ``["service"]`` (and ``["uri_captures"]`` for regex routes) for the plugins,
and a ``RouteDecision`` carrying the upstream path (after ``strip_path``), the Host to send
(``preserve_host``, the service host, or None to let the balancer's target decide),
``X-Forwarded-Prefix`` (the stripped prefix) and the route's ``request_buffering`` (Kong's default
true: the engine reads the whole body before taking an upstream connection). A decision depends only
on the method, Host, normalised target, scheme (and the TLS server name when some route has
``snis``) - unless some route matches on headers - so proxied decisions are remembered (at most
``DECISION_CACHE`` per version; the cache is emptied when full, so varied targets cost a re-match,
never memory). Decisions are immutable; per-request state is in ``ctx``.

Retirement: the handlers of a version are closed (``PluginHandler.close``) when its app is
closed explicitly or garbage-collected - i.e. once no connection or in-flight request refers to
it any more, so a reload never closes a handler a running request still uses.
"""

from __future__ import annotations

import dataclasses
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from carbonplane.gateway.config.model import GatewayConfig
from carbonplane.gateway.plugins.pdk.base import PluginServices
from carbonplane.gateway.plugins.pdk.credentials import CredentialIndex
from carbonplane.gateway.runtime.balancing import (
    SetBalancerCookie,
    build_balancers,
    compile_upstream,
    uses_cookie,
)
from carbonplane.gateway.runtime.chains import PluginChains
from carbonplane.gateway.runtime.route_match import (
    HTTPS_REQUIRED,
    https_required_response,
    websocket_required_response,
)
from carbonplane.gateway.runtime.sni import CertificateSelector
from carbonplane.proxy.app import (
    FilterChain,
    LocalResponse,
    RequestContext,
    RouteDecision,
    Upstream,
)
from carbonplane.proxy.layers.balance import Balancer, TargetState
from carbonplane.proxy.tls_server import server_name
from carbonplane.proxy.tunnel import is_websocket_handshake

NO_ROUTE = "no Route matched with those values"
NO_SERVICE = "no Service found with those values"
DECISION_CACHE = 4096  # proxied decisions remembered per version (cleared when full)


class RoutePlan:
    """What a matched route needs per request: its upstream, its chain, whether it strips, and
    whether request bodies are read whole before the upstream is contacted
    (``request_buffering``)."""

    __slots__ = ("upstream", "filters", "strip", "buffer_request")

    def __init__(
        self, upstream: Upstream, filters: FilterChain, strip: bool, buffer_request: bool = True
    ) -> None:
        self.upstream = upstream
        self.filters = filters
        self.strip = strip
        self.buffer_request = buffer_request


class GatewayApp:
    """The gateway's ``ProxyApp`` for one config version; see the module docstring."""

    def __init__(
        self,
        config: GatewayConfig,
        services: PluginServices | None = None,
        *,
        previous: GatewayApp | None = None,
        on_health_change: Callable[[Balancer, TargetState], None] | None = None,
        default_certificate: Sequence[str] | None = None,
    ) -> None:
        self.config = config
        self.version = config.version
        self.router = config.router
        self._header_routing = bool(config.router.header_names)
        self._sni_routing = any(r.get("snis") for r in config.routes)
        self._decisions: dict[tuple, tuple] = {}
        base = services or PluginServices()
        # the auth plugins' view of this version: its consumers and credentials, nothing else
        self.services = dataclasses.replace(base, credentials=CredentialIndex(config))
        self.chains = PluginChains(config.plugins, self.services)
        self._finalizer = weakref.finalize(self, self.chains.close)
        try:
            self.balancers = build_balancers(config, previous.balancers if previous else None)
            self.upstreams = {
                s["id"]: compile_upstream(s, config, self.balancers, on_health_change)
                for s in config.services
            }
            self.plans = {r["id"]: self._plan(r) for r in config.routes}
            # the HTTPS listener's certificates (proxy/tls_server.py reads it per handshake)
            self.server_tls = CertificateSelector(config, default_certificate)
        except BaseException:
            self.close()
            raise
        global_chain = self.chains.global_chain
        self.no_route = LocalResponse.error(404, NO_ROUTE)
        self.no_route.filters = global_chain
        self.no_service = LocalResponse.error(503, NO_SERVICE)
        self.no_service.filters = global_chain

    def _plan(self, route: Mapping[str, Any]) -> RoutePlan | None:
        service_id = (route.get("service") or {}).get("id")
        upstream = self.upstreams.get(service_id) if service_id else None
        if upstream is None:
            return None
        extra = ()
        entity = self.config.upstream_named(self.config.get("services", service_id)["host"])
        if entity is not None and uses_cookie(entity):
            extra = (SetBalancerCookie(),)
        chain = self.chains.for_route(route["id"], service_id, extra)
        return RoutePlan(
            upstream, chain, bool(route["strip_path"]), route.get("request_buffering") is not False
        )

    # -- the seam -----------------------------------------------------------------------
    def route(self, ctx: RequestContext) -> RouteDecision | LocalResponse:
        req = ctx.request
        client = ctx.client
        key = (req.method, req.host, req.path, req.query, client.scheme, client.server_port)
        if self._sni_routing:
            key += (server_name(client.tls),)
        hit = self._decisions.get(key)
        if hit is None:
            hit = self._decide(ctx)
            if not isinstance(hit, tuple):
                return hit
            if hit[4]:
                if len(self._decisions) >= DECISION_CACHE:
                    self._decisions.clear()
                self._decisions[key] = hit
        decision, route, service, captures, _, websocket_only = hit
        if websocket_only and not is_websocket_handshake(req):
            status, headers, body = websocket_required_response()
            return LocalResponse(status, body, list(headers), filters=self.chains.global_chain)
        vars = ctx.vars
        vars["route"] = route
        vars["service"] = service
        if captures is not None:
            vars["uri_captures"] = captures
        return decision

    def _decide(self, ctx: RequestContext) -> tuple | LocalResponse:
        """Match the request; a proxied decision comes back as (decision, route, service,
        captures, cacheable, websocket_only): cacheable when every request with this method,
        Host, target and scheme gets the same one (no header routes; not let through by a
        trusted X-Forwarded-Proto)."""
        req = ctx.request
        scheme = "https" if ctx.client.scheme == b"https" else "http"
        host = req.host.decode("latin-1") if req.host else None
        target = (req.path + req.query if req.query else req.path).decode("latin-1")
        match = self.router.match(
            req.method.decode("latin-1"),
            host,
            target,
            req.headers if self._header_routing else None,
            scheme=scheme,
            port=ctx.client.server_port,
            sni=server_name(ctx.client.tls),
        )
        if match is None:
            return self.no_route
        if match.https_redirect_status is not None and not _forwarded_https(ctx):
            status, headers, body = https_required_response(match, host, target)
            if status == 426:  # Kong's kong.response.error: negotiated, with the request id
                upgrade = [h for h in headers if h[0] != b"content-type"]
                return LocalResponse.error(
                    426, HTTPS_REQUIRED, upgrade, filters=self.chains.global_chain
                )
            return LocalResponse(status, body, list(headers), filters=self.chains.global_chain)
        plan = self.plans[match.route["id"]]
        if plan is None:
            return self.no_service
        up_host = match.upstream_host
        matched = match.matched_path
        decision = RouteDecision(
            plan.upstream,
            match.upstream_path.encode("latin-1"),
            up_host.encode("latin-1") if up_host is not None else None,
            plan.filters,
            match.route,
            matched.encode("latin-1") if plan.strip and matched else None,
            plan.buffer_request,
        )
        cacheable = not self._header_routing and match.https_redirect_status is None
        captures = match.uri_captures
        return decision, match.route, match.service, captures, cacheable, match.websocket_only

    # -- lifecycle ----------------------------------------------------------------------
    @property
    def closed(self) -> bool:
        return not self._finalizer.alive

    def close(self) -> None:
        """Close this version's plugin handlers now (idempotent)."""
        self._finalizer()

    def health_report(self) -> dict[str, list[dict[str, Any]]]:
        """Per upstream name, Kong's ``GET /upstreams/{u}/health`` rows for this worker."""
        return {name: b.health_report() for name, b in self.balancers.items()}

    def __repr__(self) -> str:
        return (
            f"GatewayApp(version={self.version}, routes={len(self.plans)}, "
            f"plugins={len(self.chains.handlers)})"
        )


def _forwarded_https(ctx: RequestContext) -> bool:
    """Kong honours X-Forwarded-Proto only from trusted peers (``trusted_ips``)."""
    return ctx.client.trusted and ctx.request.get(b"x-forwarded-proto") == b"https"
