"""The outbound side: the app's loopback listener, routing by Host or absolute-form target.

An app reaches ``http://<service>[.<namespace>[.svc[.<anything>]]][:port]/...`` either by
sending that Host to this listener or by using it as ``HTTP_PROXY`` (absolute-form request
targets). ``OutboundApp.route`` resolves the service in the current registry
(``current_config.endpoints``), picks an endpoint round-robin and sends the request over mTLS,
with this workload's certificate, to that endpoint's sidecar inbound.

Identity: each endpoint's expected SPIFFE id (from the registry) becomes the connection's SNI
name (``tlscheck.Expectations``); the handshake fails unless the server presents exactly that
id, so a wrong server never receives the request, and the app gets 503 with a clear message
(``IdentityFilter``), never that server's response.

Pools and renewal: ``Upstream`` objects are cached per (endpoint, client context). A renewed
certificate is a new context, so new requests get new Upstreams and thus new pools (the engine
keys pools by the context); ``retire_pools`` then closes the idle connections of pools made
with an older context and forgets them, so no connection is reused past its context's swap
(requests in flight on old connections finish; those connections then sit in their forgotten
pool, which nothing acquires from, until the keep-alive timeout closes them).
"""

from __future__ import annotations

import itertools

from carbonplane.http.model import ResponseHead
from carbonplane.mesh.sidecar.tlscheck import IDENTITY_MISMATCH
from carbonplane.proxy import (
    Filter,
    FilterChain,
    FixedTarget,
    LocalResponse,
    RouteDecision,
    Upstream,
)


class IdentityFilter(Filter):
    """Turns a failed identity check into 503 and a TLS_ERROR event."""

    name = "mesh-identity"

    def __init__(self, sidecar) -> None:
        self.sidecar = sidecar

    def on_response_head(self, ctx) -> None:
        err = ctx.error
        if err and IDENTITY_MISMATCH in err and ctx.source != "upstream":
            ctx.vars["mesh_identity_failed"] = err
            head = ctx.response
            ctx.response = ResponseHead(
                503,
                b"",
                head.version,
                list(head.headers) + [(b"x-mesh-error", b"upstream identity check failed")],
                head.framing,
                head.content_length,
            )

    def on_log(self, ctx) -> None:
        err = ctx.vars.get("mesh_identity_failed")
        if err:
            self.sidecar.events.security(
                "TLS_ERROR", "HIGH", self.sidecar.resource, reason=err[:300]
            )


def _text(status: int, message: str) -> LocalResponse:
    return LocalResponse(status, message.encode() + b"\n", [(b"content-type", b"text/plain")])


class OutboundApp:
    def __init__(self, sidecar) -> None:
        self.sidecar = sidecar
        self._upstreams: dict[tuple, Upstream] = {}
        self._ctx_id = 0
        self._rr = itertools.count()
        self.chain = FilterChain([IdentityFilter(sidecar)])

    def resolve(self, host: str) -> tuple[str, str]:
        """(service, namespace) for a Host value (port and trailing dot removed)."""
        if host.startswith("["):
            return host, ""
        name = host.rsplit(":", 1)[0] if ":" in host else host
        parts = name.rstrip(".").lower().split(".")
        service = parts[0]
        namespace = parts[1] if len(parts) > 1 else self.sidecar.namespace
        return service, namespace

    def route(self, ctx):
        sc = self.sidecar
        req = ctx.request
        host = req.host.decode("latin-1")
        if not host:
            return _text(400, "mesh outbound: the request names no service (no Host header)")
        service, namespace = self.resolve(host)
        config = sc.agent.current_config
        if config is None:
            return _text(503, "mesh outbound: no mesh configuration received yet")
        key = f"{namespace}/{service}"
        if key not in config.registry:
            return _text(
                404,
                f"mesh outbound: unknown service {service!r} in namespace "
                f"{namespace!r} (not in the mesh registry)",
            )
        endpoints = config.endpoints(service, namespace)
        if not endpoints:
            return _text(503, f"mesh outbound: service {key} has no healthy endpoint")
        ep = endpoints[next(self._rr) % len(endpoints)]
        upstream = self._upstream(ep)
        if upstream is None:
            return _text(
                503,
                f"mesh outbound: endpoint {ep.get('address')!r} of {key} is "
                "malformed in the registry",
            )
        target = req.path + req.query if req.query else req.path  # query keeps its "?"
        return RouteDecision(upstream, target, req.host, self.chain)

    def _upstream(self, ep: dict) -> Upstream | None:
        sc = self.sidecar
        ctx = sc.contexts.client()
        if id(ctx) != self._ctx_id:
            self._upstreams = {}
            self._ctx_id = id(ctx)
            sc.retire_pools(ctx)
        key = (ep.get("address"), ep.get("identity"))
        upstream = self._upstreams.get(key)
        if upstream is None:
            try:
                host, port = str(ep["address"]).rsplit(":", 1)
                identity = sc.parse_identity(ep["identity"])
            except (KeyError, ValueError):
                return None
            sni = sc.expectations.name_for(identity)
            upstream = Upstream(
                f"mesh:{identity}",
                FixedTarget(host.strip("[]"), int(port)),
                connect_timeout=5.0,
                read_timeout=60.0,
                retries=1,
                ssl=ctx,
                server_hostname=sni,
            )
            self._upstreams[key] = upstream
        return upstream
