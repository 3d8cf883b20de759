"""``Sidecar``: one workload's mesh proxy - agent, inbound and outbound listeners, admin, events.

Start order: bind the inbound socket (its address is what the agent registers), start the
agent (bootstrap with the join token or reload the data directory), wait for a first config
(the agent's persisted one counts), then serve inbound, outbound and the admin endpoint.

Invariants:
- the TLS contexts are read from ``agent.tls`` per new connection; renewal and trust-bundle
  changes swap them in place (no listener restarts, no dropped connections);
- with the control plane away the agent keeps the last good config and certificate
  (``DEGRADED``) and the sidecar keeps serving with them;
- events go through ``EventSink`` (queued, produced on a thread): nothing here waits on them;
- the app is probed (TCP connect, every ``probe_interval``): losing it and getting it back are
  ServiceHealthEvents, and ``/healthz/ready`` answers 503 while it is lost.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time

from cryptography import x509

from carbonplane.mesh.agent import Agent
from carbonplane.mesh.identity import fingerprint, parse_workload
from carbonplane.mesh.sidecar.events import EventSink
from carbonplane.mesh.sidecar.inbound import InboundApp, InboundListener
from carbonplane.mesh.sidecar.outbound import OutboundApp
from carbonplane.mesh.sidecar.tlscheck import Expectations, SidecarContexts, root_of
from carbonplane.proxy import ProxyConfig, ProxyServer, listening_socket

log = logging.getLogger("carbonplane.mesh.sidecar")


def split_addr(value: str, what: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"{what}: expected HOST:PORT, got {value!r}")
    return host.strip("[]"), int(port)


class Sidecar:
    def __init__(
        self,
        *,
        service: str,
        namespace: str,
        app: str,
        control: str,
        token_file,
        root_file,
        data_dir,
        inbound: str = "127.0.0.1:0",
        outbound: str = "127.0.0.1:0",
        admin: str = "127.0.0.1:0",
        labels: dict[str, str] | None = None,
        trust_domain: str = "cluster.local",
        probe_interval: float = 1.0,
        events: EventSink | None = None,
        agent_options: dict | None = None,
    ) -> None:
        self.service, self.namespace = service, namespace
        self.labels = dict(labels or {"app": service})
        self.app_host, self.app_port = split_addr(app, "--app")
        self.inbound_addr = split_addr(inbound, "--inbound")
        self.outbound_addr = split_addr(outbound, "--outbound")
        self.admin_addr = split_addr(admin, "--admin")
        self.control, self.token_file, self.root_file = control, token_file, root_file
        self.data_dir, self.trust_domain = data_dir, trust_domain
        self.probe_interval = probe_interval
        self.resource = f"{namespace}/{service}"
        self.events = events or EventSink(f"mesh-sidecar-{service}")
        self.expectations = Expectations()
        self.identity_uri = f"spiffe://{trust_domain}/ns/{namespace}/sa/{service}".encode()
        self.agent_options = agent_options or {}
        self.app_up: bool | None = None
        self.started = time.time()
        self._mode_cache: tuple[object, str] = (None, "STRICT")
        self._tasks: list[asyncio.Task] = []
        self.ports: dict[str, int] = {}

    # -- what the apps ask ------------------------------------------------------------------

    def mode(self) -> str:
        """The PeerAuthentication mode of the app's port under the current policy."""
        cfg = self.agent.current_config
        if cfg is None:
            return "STRICT"
        cached_for, mode = self._mode_cache
        if cached_for is not cfg:
            mode = cfg.policy.mtls_mode(self.namespace, self.labels, self.app_port)
            self._mode_cache = (cfg, mode)
        return mode

    def parse_identity(self, text: str):
        return parse_workload(text, trust_domain=self.trust_domain)

    def retire_pools(self, current_ctx) -> None:
        """Close and forget upstream pools made with a client context other than ``current_ctx``."""
        server = self.outbound_server
        for key, pool in list(server.pools.items()):
            if pool.ssl is not None and pool.ssl is not current_ctx:
                pool.close()
                del server.pools[key]
        server.swap(server.config)  # the same config: forgets the (target, upstream) -> pool cache

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self, config_timeout: float = 60.0) -> "Sidecar":
        loop = asyncio.get_running_loop()
        in_sock = listening_socket(*self.inbound_addr, reuse_port=False)
        self.ports["inbound"] = in_sock.getsockname()[1]
        address = f"{self.inbound_addr[0]}:{self.ports['inbound']}"
        self.agent = Agent(
            self.control,
            self.token_file,
            self.root_file,
            self.data_dir,
            self.service,
            namespace=self.namespace,
            address=address,
            labels=self.labels,
            trust_domain=self.trust_domain,
            on_change=self._on_change,
            **self.agent_options,
        )
        await self.agent.start()
        self.contexts = SidecarContexts(self.agent.tls, self.trust_domain, self.expectations)
        await self.agent.wait_for(lambda a: a.current_config is not None, config_timeout)
        self.inbound_app = InboundApp(self, self.app_host, self.app_port)
        self.inbound_server = ProxyServer(ProxyConfig(app=self.inbound_app, via=None), loop)
        self.listener = InboundListener(self, self.inbound_server, in_sock)
        self.listener.start()
        self.outbound_app = OutboundApp(self)
        self.outbound_server = ProxyServer(
            ProxyConfig(app=self.outbound_app, via=None, upstream_keepalive_timeout=30.0), loop
        )
        self.ports["outbound"] = await self.outbound_server.start(
            *self.outbound_addr, reuse_port=False
        )
        admin = await asyncio.start_server(self._admin, *self.admin_addr)
        self._admin_server = admin
        self.ports["admin"] = admin.sockets[0].getsockname()[1]
        self.events.health(
            self.service,
            self.namespace,
            "HEALTHY",
            f"sidecar started (inbound {address}, config {self.agent.config_version})",
        )
        self._tasks.append(loop.create_task(self._probe_app()))
        return self

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await self.listener.close()
        self._admin_server.close()
        await self.inbound_server.close(2.0)
        await self.outbound_server.close(2.0)
        await self.agent.stop()

    def _on_change(self, event: str, agent) -> None:
        if event == "certificate":
            cert = agent.certificate
            self.events.security(
                "CERT_ISSUED",
                "LOW",
                self.resource,
                principal=str(agent.identity),
                serial=f"{cert.serial_number:x}",
                not_after=cert.not_valid_after_utc.isoformat(),
            )

    # -- app health -------------------------------------------------------------------------

    async def _probe_app(self) -> None:
        while True:
            try:
                _, writer = await asyncio.wait_for(
                    asyncio.open_connection(self.app_host, self.app_port), 2.0
                )
                writer.close()
                up = True
            except (OSError, asyncio.TimeoutError):
                up = False
            if up != self.app_up:
                if self.app_up is not None or not up:
                    self.events.health(
                        self.service,
                        self.namespace,
                        "HEALTHY" if up else "UNHEALTHY",
                        "app back"
                        if up
                        else f"app lost: {self.app_host}:{self.app_port} refuses connections",
                    )
                self.app_up = up
            await asyncio.sleep(self.probe_interval)

    # -- admin ------------------------------------------------------------------------------

    def status(self) -> dict:
        agent = self.agent
        health = agent.health()
        return {
            "service": self.service,
            "namespace": self.namespace,
            "identity": str(agent.identity),
            "state": health["state"],
            "control_connected": health["control_connected"],
            "control_error": health["last_error"],
            "reconnects": agent.reconnects,
            "config_version": agent.config_version,
            "policy_version": agent.current_config.policy.version if agent.current_config else None,
            "cert_not_after": health["cert_not_after"],
            "cert_serial": f"{agent.certificate.serial_number:x}",
            **self._trust(),
            "mtls_mode": self.mode(),
            "app": f"{self.app_host}:{self.app_port}",
            "app_up": self.app_up,
            "ports": self.ports,
            "inbound": {
                "accepted": self.listener.accepted,
                "refused_plaintext": self.listener.refused_plaintext,
                "tls_failures": self.listener.tls_failures,
                "allowed": self.inbound_app.allowed,
                "denied": self.inbound_app.denied,
            },
            "events": self.events.stats(),
        }

    def _trust(self) -> dict:
        """The certificate's issuer, the root it chains to, and the roots trusted (fingerprints)."""
        creds = self.agent.tls.credentials
        chain = x509.load_pem_x509_certificates(creds.chain_pem)
        anchors = x509.load_pem_x509_certificates(creds.bundle_pem)
        top = chain[-1]  # the leaf, or the last intermediate it carries
        root = root_of(top, [(fingerprint(a), a) for a in anchors])
        return {
            "cert_issuer": chain[0].issuer.rfc4514_string(),
            "cert_root": root,
            "trust_roots": [fingerprint(a) for a in anchors],
        }

    def ready(self) -> bool:
        return self.agent.health()["state"] in ("SERVING", "DEGRADED") and bool(self.app_up)

    async def _admin(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await asyncio.wait_for(reader.readline(), 5.0)
            while (await asyncio.wait_for(reader.readline(), 5.0)) not in (b"\r\n", b"\n", b""):
                pass
            parts = line.split()
            path = parts[1].decode("latin-1") if len(parts) >= 2 else ""
            if path == "/healthz/ready":
                ok = self.ready()
                status, body = (200 if ok else 503), (b"LIVE\n" if ok else b"NOT READY\n")
                ctype = b"text/plain"
            elif path in ("/config_dump", "/status"):
                status, ctype = 200, b"application/json"
                body = json.dumps(self.status(), indent=1).encode()
            else:
                status, ctype = 404, b"text/plain"
                body = b"unknown admin path; try /healthz/ready or /config_dump\n"
            writer.write(
                b"HTTP/1.1 %d X\r\ncontent-type: %s\r\ncontent-length: %d\r\n"
                b"connection: close\r\n\r\n%s" % (status, ctype, len(body), body)
            )
            await writer.drain()
        except (OSError, asyncio.TimeoutError):
            pass
        finally:
            writer.close()
