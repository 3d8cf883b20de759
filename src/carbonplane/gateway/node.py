"""``GatewayNode``: the running gateway of one host - proxy workers plus the Admin API.

Two ways to run the proxy, one behaviour:

- ``workers >= 1``: the engine's ``Supervisor`` runs that many worker processes sharing the proxy
  port (SO_REUSEPORT); config changes travel as payloads (``runtime.encode_payload``) through
  ``Supervisor.publish`` and ``wait_applied``. Supervisor calls run in a thread: they block, and
  the master's validation must run without an event loop (``runtime.worker_config``).
- ``workers == 0``: one ``ProxyServer`` in this process and loop (tests, small setups); the same
  factory builds and adopts each config.

With ``proxy_ssl_port`` the workers also serve HTTPS (Kong's ``proxy_listen ... 8443 ssl``):
certificates by SNI from the config, else the node's self-signed default generated here at start
and shared with every worker through the payload (``gateway/sni.py``).

The Admin API (``AdminAPI``, sans-IO) is served by ``AdminServer`` in this process; requests are
handled one at a time. Its hooks: ``on_config_change`` publishes the new config to every worker
and returns once all run it (in-flight requests finish on the version they started with); a
config that fails to build (a plugin handler refusing its config) is rolled back and answered
400, as is any change a worker rejects or does not apply in time: ``Supervisor.apply`` puts every
worker back on the previous config, and the Admin API's view is restored with it, so the Admin
API and the workers never disagree once a change returns. ``reload`` re-reads the file the
gateway was started with (``settings.config_file``: SIGHUP, ``POST /config/reload``) and applies
it the same way; changes are serialised by one lock, whichever way they arrive.
``upstream_health`` merges the workers' health reports; ``set_target_health`` publishes a manual
health setting to every worker; ``purge_cache`` publishes proxy-cache purges to every worker through
a journal file in the runtime directory; ``metrics`` renders the host's Prometheus text - the sum of
the snapshots every worker's prometheus plugin publishes under ``<runtime dir>/prometheus`` (at most
a second old; ``plugins/prometheus/store.py``); ``status`` reports the workers and Kong's
``server`` counters (``connections_*``, ``total_requests``) added up over the workers, from the
status file each writes every half second (``runtime.STATUS_FILE``).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import secrets
import shutil
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from carbonplane.errors import AdminAPIError, ConfigError
from carbonplane.gateway.admin import AdminAPI, check_admin_listen
from carbonplane.gateway.admin.guard import AdminGuard
from carbonplane.gateway.admin.server import AdminServer, Response
from carbonplane.gateway.config.loader import load_config_file
from carbonplane.gateway.config.model import GatewayConfig
from carbonplane.gateway.config.pem import self_signed
from carbonplane.gateway.plugins.pdk.counters import default_counter_path
from carbonplane.gateway.plugins.proxy_cache.store import PurgeJournal
from carbonplane.gateway.runtime.balancing import balancer_for
from carbonplane.gateway.runtime.worker import (
    FACTORY,
    WorkerState,
    check_config,
    encode_payload,
    merge_health,
    read_health_reports,
    read_status,
    worker_config,
)
from carbonplane.proxy import serverstats
from carbonplane.proxy.server import ProxyServer
from carbonplane.proxy.supervisor import Supervisor


@dataclass
class NodeSettings:
    proxy_host: str = "0.0.0.0"
    proxy_port: int = 8000
    admin_host: str = "127.0.0.1"
    admin_port: int = 8001
    workers: int = 1
    admin_token: str | None = None
    proxy: dict[str, Any] = field(default_factory=dict)  # ProxyConfig fields
    publish_timeout: float = 120.0  # a 10k-route config takes ~30 s on a busy 2-core machine
    drain: float = 10.0
    admin_hosts: tuple[str, ...] = ()  # Host names the Admin API answers to besides loopback
    config_file: str | None = None  # what SIGHUP and POST /config/reload re-read
    proxy_ssl_host: str = "0.0.0.0"
    proxy_ssl_port: int | None = None  # the HTTPS listener (Kong's 8443); None: off
    ssl_handshake_timeout: float = 10.0  # a TLS handshake unfinished by then is dropped


class GatewayNode:
    """See the module docstring. ``start``/``stop`` inside a running event loop."""

    def __init__(
        self,
        config: GatewayConfig,
        settings: NodeSettings,
        metrics: Callable[[], tuple[str, bytes] | None] | None = None,
    ) -> None:
        check_admin_listen(settings.admin_host, settings.admin_token)
        self.settings = settings
        self.dir = tempfile.mkdtemp(prefix="carbonplane-gateway-")
        self.counters = default_counter_path(f"gateway-{os.getpid()}-{secrets.token_hex(4)}")
        self.runtime = {
            "dir": self.dir,
            "workers": max(settings.workers, 1),
            "counters": self.counters,
            # one self-signed default certificate for every worker (Kong generates one too)
            "default_certificate": list(self_signed()),
        }
        self.health: list[list[Any]] = []
        self.admin = AdminAPI(
            config,
            token=settings.admin_token,
            on_config_change=self._config_changed,
            metrics=metrics or self._metrics,
            status=self._status,
            upstream_health=self._upstream_health,
            set_target_health=self._set_target_health,
            node_info={
                "proxy_listen": [f"{settings.proxy_host}:{settings.proxy_port}"]
                + (
                    [f"{settings.proxy_ssl_host}:{settings.proxy_ssl_port} ssl"]
                    if settings.proxy_ssl_port is not None
                    else []
                ),
                "admin_listen": [f"{settings.admin_host}:{settings.admin_port}"],
                "nginx_worker_processes": settings.workers,
            },
        )
        self.admin.hooks = dataclasses.replace(
            self.admin.hooks, reload=self.reload_file, purge_cache=self._purge_cache
        )
        self._purge_journal: PurgeJournal | None = None
        self.published = config  # the config every worker runs
        self.supervisor = None
        self.server = None
        self.admin_server = AdminServer(
            self._admin_request, guard=AdminGuard(settings.admin_token, settings.admin_hosts)
        )
        self._lock = asyncio.Lock()
        self.proxy_port = 0
        self.proxy_ssl_port: int | None = None
        self.admin_port = 0

    def _purge_cache(self, key: str | None) -> None:
        """Publish a proxy-cache purge (``key`` None: everything) to every worker."""
        if self._purge_journal is None:
            self._purge_journal = PurgeJournal.in_dir(self.dir)
        self._purge_journal.publish(key)

    # -- lifecycle ----------------------------------------------------------------------
    async def start(self) -> tuple[int, int]:
        """Start the proxy workers, then the Admin API; returns (proxy port, admin port)."""
        s = self.settings
        payload = self._payload(self.published)
        tls_listen = (
            (s.proxy_ssl_host, s.proxy_ssl_port, s.ssl_handshake_timeout)
            if s.proxy_ssl_port is not None
            else None
        )
        try:
            if s.workers >= 1:

                def launch() -> Any:
                    sup = Supervisor(
                        s.proxy_host,
                        s.proxy_port,
                        FACTORY,
                        payload,
                        workers=s.workers,
                        drain=s.drain,
                        tls_listen=tls_listen,
                    )
                    sup.start()
                    return sup

                self.supervisor = await asyncio.to_thread(launch)
                self.proxy_port = self.supervisor.port
                self.proxy_ssl_port = self.supervisor.tls_port
            else:
                WorkerState.reset()
                self.server = ProxyServer(worker_config(payload, 0))
                self.proxy_port = await self.server.start(s.proxy_host, s.proxy_port)
                if tls_listen is not None:
                    self.proxy_ssl_port = await self.server.start_tls(*tls_listen)
            self.admin_port = await self.admin_server.start(s.admin_host, s.admin_port)
        except BaseException:
            await self.stop()
            raise
        return self.proxy_port, self.admin_port

    async def stop(self) -> None:
        await self.admin_server.close()
        if self.supervisor is not None:
            sup, self.supervisor = self.supervisor, None
            await asyncio.to_thread(sup.stop)
        if self.server is not None:
            server, self.server = self.server, None
            await server.close(self.settings.drain)
            WorkerState.reset()
        shutil.rmtree(self.dir, ignore_errors=True)
        with contextlib.suppress(OSError):
            os.unlink(self.counters)

    # -- admin requests -----------------------------------------------------------------
    async def _admin_request(
        self, method: str, target: str, headers: list, body: bytes
    ) -> Response:
        async with self._lock:
            if self.supervisor is not None:
                return await asyncio.to_thread(
                    self.admin.handle, method, target, None, headers, body
                )
            return self.admin.handle(method, target, None, headers, body)

    def _payload(self, config: GatewayConfig) -> bytes:
        return encode_payload(
            config, proxy=self.settings.proxy, runtime=self.runtime, health=self.health
        )

    def _publish(self, config: GatewayConfig) -> None:
        """Run ``config`` on every worker; raise ConfigError when it cannot be built."""
        payload = self._payload(config)
        if self.supervisor is not None:
            # checked here first (nothing sent if bad); all workers run it, or all are put back
            check_config(config, proxy=self.settings.proxy, runtime=self.runtime)
            self.supervisor.apply(payload, self.settings.publish_timeout, validate=False)
        else:
            self.server.swap(worker_config(payload, config.version))
        self.published = config

    def _config_changed(self, config: GatewayConfig) -> None:
        previous = self.published
        try:
            self._publish(config)
        except ConfigError as exc:
            # the change did not happen: the workers are back on `previous` (Supervisor.apply)
            self.admin.store.current = previous
            raise AdminAPIError(
                400,
                {
                    "code": 14,
                    "name": "invalid declarative configuration",
                    "message": f"the gateway cannot run this configuration: {exc}",
                },
            ) from None

    # -- reload from the start file ------------------------------------------------------
    async def reload(self) -> GatewayConfig:
        """Re-read the file the gateway was started with and run it (SIGHUP, ``POST
        /config/reload``). Raises ``GatewayConfigError`` (file:line) or ``AdminAPIError``; either
        way the previous config keeps serving and the Admin API keeps showing it."""
        async with self._lock:
            if self.supervisor is not None:
                return await asyncio.to_thread(self.reload_file)
            return self.reload_file()

    def reload_file(self) -> GatewayConfig:
        """``reload`` without the lock: the Admin API's hook (it already holds it)."""
        path = self.settings.config_file
        if path is None:
            raise AdminAPIError(
                400,
                {
                    "message": "this gateway was not started from a config "
                    "file: there is nothing to re-read"
                },
            )
        new = load_config_file(path, version=self.admin.config.version + 1)
        self.admin.store.replace(new)  # publishes through _config_changed
        return new

    # -- hooks --------------------------------------------------------------------------
    def pids(self) -> list[int]:
        if self.supervisor is not None:
            return self.supervisor.pids
        return [os.getpid()] if self.server is not None else []

    def _upstream_health(self, upstream: Mapping[str, Any]) -> list[dict[str, Any]]:
        reports = read_health_reports(self.dir, self.pids())
        fallback = balancer_for(
            upstream, self.admin.config.targets_of(upstream["id"])
        ).health_report()
        return merge_health(upstream, reports, fallback)

    def _set_target_health(self, upstream: Mapping, target: Mapping, healthy: bool) -> None:
        seq = (self.health[-1][0] + 1) if self.health else 1
        self.health.append([seq, upstream["name"], target["target"], healthy])
        self._publish(self.published)

    def _health_rows(self) -> list[tuple[str, str, str, str]]:
        rows = []
        for upstream in self.admin.config.upstreams:
            for row in self._upstream_health(upstream):
                rows.append((upstream["name"], row["target"], row["target"], row["health"].lower()))
        return rows

    def _metrics(self) -> tuple[str, bytes] | None:
        """The host's Prometheus text: every worker's published counts added up."""
        try:
            from carbonplane.gateway.plugins.prometheus import (
                metrics_directory,
                render_host_metrics,
            )
        except ImportError:  # the prometheus plugin is not installed: no /metrics, as Kong
            return None
        connections = None
        if self.server is not None:
            server = self.server
            connections = lambda: {"active": len(server.connections)}  # noqa: E731
        return render_host_metrics(
            metrics_directory(self.dir),
            node_id=self.admin.node.node_id,
            upstream_health=self._health_rows,
            connections=connections,
        )

    def _status(self) -> dict[str, Any]:
        server: dict[str, Any] = {
            "workers": len(self.pids()),
            "worker_pids": self.pids(),
            "published_config_version": self.published.version,
        }
        if self.server is not None:
            server.update(serverstats.server_counts(self.server))
        else:
            server.update(read_status(self.dir, self.pids()))
        if self.supervisor is not None:
            server["worker_restarts"] = self.supervisor.restarts
        return {"server": server}
