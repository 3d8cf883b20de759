"""The inbound side of a sidecar: the listener in front of the app, and the app the engine runs.

``InboundListener`` accepts TCP itself and decides per connection, with the mode the current
policy gives the app's port (PeerAuthentication):

- STRICT: TLS with a client certificate is required; a first byte other than 0x16 (a TLS
  handshake record, what Envoy's tls_inspector looks for) closes the connection;
- PERMISSIVE: the first byte decides: 0x16 -> mTLS, anything else -> plaintext HTTP;
- DISABLE: plaintext only.

TLS uses the agent's server context *as it is at accept time* (renewal swaps it in place: new
connections get the new certificate, established ones keep theirs). The client's SPIFFE id is
checked inside the handshake (``tlscheck``); a failed handshake becomes a TLS_ERROR event.
The mode is checked again per request (a policy change does not wait for connections to close):
plaintext on a port now STRICT, or TLS on a port now DISABLE, is denied like an authz denial.
So is the trust bundle: a request on a connection whose client certificate was signed by a root
that has since left the bundle (a CA rotation's prune) is denied, though the connection was
accepted while that root was trusted (it stays open until the client or the keep-alive timeout
closes it; nothing on it reaches the app).

``InboundApp.route`` authorizes every request (``authz`` with the principal, source ip, port,
method, path, host and headers): a denial answers Envoy's 403 ``RBAC: access denied`` and emits
AUTHZ_DENIED; otherwise the request goes to the app with any client-sent
``x-forwarded-client-cert`` removed and, over mTLS, Envoy's ``By=<own id>;Hash=<peer cert
sha256>;URI=<peer id>`` added.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl

from carbonplane.mesh.policy import RBAC_DENIED_BODY, RBAC_DENIED_STATUS, Request
from carbonplane.proxy import FixedTarget, LocalResponse, RouteDecision, Upstream

log = logging.getLogger("carbonplane.mesh.sidecar")

XFCC = b"x-forwarded-client-cert"
TLS_HANDSHAKE = 0x16
FIRST_BYTE_TIMEOUT = 10.0
HANDSHAKE_TIMEOUT = 10.0


class InboundApp:
    """The engine's app for the inbound listener."""

    def __init__(self, sidecar, app_host: str, app_port: int) -> None:
        self.sidecar = sidecar
        self.app_port = app_port
        self.upstream = Upstream(
            "app",
            FixedTarget(app_host, app_port),
            connect_timeout=5.0,
            read_timeout=60.0,
            retries=1,
        )
        self.denied = self.allowed = 0

    def route(self, ctx):
        sc = self.sidecar
        req = ctx.request
        tls = ctx.client.tls
        identity = getattr(tls, "mesh_identity", None) if tls is not None else None
        bundle = sc.agent.current_config.policy
        mode = sc.mode()  # it may have changed since this connection was accepted
        if identity is None and mode == "STRICT":
            return self._deny(ctx, None, "plaintext request on a STRICT port")
        if tls is not None and mode == "DISABLE":
            return self._deny(ctx, identity, "TLS request on a DISABLE port")
        if (
            identity is not None
            and tls.mesh_root is not None
            and tls.mesh_root not in sc.contexts.trusted_roots()
        ):
            return self._deny(
                ctx,
                identity,
                f"client certificate root {tls.mesh_root[:16]} is "
                "no longer trusted (CA rotated and pruned)",
            )
        headers = {}
        for name, value in req.headers:
            headers[name.decode("latin-1")] = value.decode("latin-1")
        request = Request(
            principal=identity.principal if identity is not None else None,
            source_ip=ctx.client.peer_ip,
            port=self.app_port,
            method=req.method.decode("latin-1"),
            path=req.target.decode("latin-1"),
            host=req.host.decode("latin-1"),
            headers=headers,
        )
        decision = bundle.decide(sc.namespace, sc.labels, request)
        if not decision.allowed:
            return self._deny(ctx, identity, f"policy {decision.policy_name}")
        self.allowed += 1
        hdrs = req.headers
        if any(name == XFCC for name, _ in hdrs):
            hdrs[:] = [h for h in hdrs if h[0] != XFCC]
        if identity is not None:
            hdrs.append(
                (
                    XFCC,
                    b"By=%s;Hash=%s;URI=%s"
                    % (sc.identity_uri, tls.cert_hash.encode(), str(identity).encode()),
                )
            )
        return RouteDecision(self.upstream, req.target, req.host)

    def _deny(self, ctx, identity, why: str):
        self.denied += 1
        req = ctx.request
        self.sidecar.events.security(
            "AUTHZ_DENIED",
            "MEDIUM",
            self.sidecar.resource,
            principal=str(identity) if identity is not None else None,
            source_ip=ctx.client.peer_ip,
            method=req.method.decode("latin-1"),
            path=req.path.decode("latin-1"),
            reason=why,
        )
        return LocalResponse(
            RBAC_DENIED_STATUS, RBAC_DENIED_BODY, [(b"content-type", b"text/plain")]
        )


class InboundListener:
    """Accepts connections and hands each to the engine as TLS or plaintext (see module doc)."""

    def __init__(self, sidecar, server, sock: socket.socket) -> None:
        self.sidecar = sidecar
        self.server = server  # the engine's ProxyServer running InboundApp
        self.sock = sock
        self.tasks: set[asyncio.Task] = set()
        self.refused_plaintext = self.tls_failures = self.accepted = 0
        self._accepting: asyncio.Task | None = None

    def start(self) -> None:
        self._accepting = asyncio.get_running_loop().create_task(self._accept_loop())

    async def _accept_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                conn, _ = await loop.sock_accept(self.sock)
            except (OSError, asyncio.CancelledError):
                if self._accepting is None or self._accepting.cancelled():
                    return
                await asyncio.sleep(0.05)
                continue
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            task = loop.create_task(self._serve(conn))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def _first_byte(self, conn: socket.socket) -> int | None:
        loop = asyncio.get_running_loop()
        ready = loop.create_future()
        loop.add_reader(conn.fileno(), lambda: ready.done() or ready.set_result(None))
        try:
            await asyncio.wait_for(ready, FIRST_BYTE_TIMEOUT)
        except asyncio.TimeoutError:
            return None
        finally:
            loop.remove_reader(conn.fileno())
        try:
            data = conn.recv(1, socket.MSG_PEEK)
        except (BlockingIOError, InterruptedError):
            return None
        except OSError:
            return None
        return data[0] if data else None

    async def _serve(self, conn: socket.socket) -> None:
        sc = self.sidecar
        conn.setblocking(False)
        try:
            peer = conn.getpeername()[0]
        except OSError:
            conn.close()
            return
        try:
            first = await self._first_byte(conn)
            if first is None:
                conn.close()
                return
            mode = sc.mode()
            is_tls = first == TLS_HANDSHAKE
            if mode == "STRICT" and not is_tls:
                self.refused_plaintext += 1
                sc.events.security(
                    "TLS_ERROR",
                    "MEDIUM",
                    sc.resource,
                    source_ip=peer,
                    reason="plaintext connection to a STRICT port",
                )
                conn.close()
                return
            if mode == "DISABLE" and is_tls:
                self.refused_plaintext += 1
                conn.close()
                return
            ctx = sc.contexts.server() if is_tls else None
            self.accepted += 1
            await self.server.adopt(conn, ssl=ctx, ssl_handshake_timeout=HANDSHAKE_TIMEOUT)
        except asyncio.CancelledError:
            conn.close()
            raise
        except (ssl.SSLError, OSError, asyncio.TimeoutError) as exc:
            self.tls_failures += 1
            sc.events.security(
                "TLS_ERROR",
                "HIGH",
                sc.resource,
                source_ip=peer,
                reason=str(exc)[:300] or type(exc).__name__,
            )
            try:
                conn.close()
            except OSError:
                pass

    async def close(self) -> None:
        if self._accepting is not None:
            task, self._accepting = self._accepting, None
            task.cancel()
        for task in list(self.tasks):
            task.cancel()
        self.sock.close()
