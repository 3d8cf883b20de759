"""The sidecar's control-plane client: bootstrap, renewal, registration, config watch.

``Agent(control_addr, token_file, root_file, data_dir, service, ...)``; ``await agent.start()``:

1. Credentials: if ``<data_dir>/credentials.json`` (0600: key, chain, bundle) holds an unexpired
   certificate, use it (a restart needs no token). Otherwise generate a P-256 key here (it never
   leaves the process), send the token and a CSR to ``bootstrap`` over TLS pinned to
   ``root_file``, check the returned certificate carries this workload's identity, persist.
2. ``tls`` (a ``MeshTLS``) holds the credentials; renewal (at half-life with jitter,
   ``RenewalSchedule``) and new trust bundles from snapshots ``update`` it in place.
3. The control loop registers (``service``, ``namespace``, ``address``, ``labels``) and watches;
   each snapshot is validated (``MeshConfig.from_snapshot``) and answered ACK(version) or
   NACK(version, reason); a rejected one never replaces ``current_config``. Heartbeats carry the
   config version, certificate expiry and health. When the connection fails the agent keeps its
   certificate and last good config (also persisted in ``config.json``, loaded at start) and
   reconnects after ``min(cap, base * 2**n)`` seconds, jittered into [50 %, 100 %] of that.

``on_change(event, agent)`` is called with ``"config"``, ``"certificate"`` or ``"trust_bundle"``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import random
import secrets
import ssl
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable

from carbonplane.mesh.agent import client
from carbonplane.mesh.agent.config import ALL_KINDS, ConfigRejected, MeshConfig
from carbonplane.mesh.control import wire
from carbonplane.mesh.identity import (
    Credentials,
    MeshTLS,
    RenewalSchedule,
    build_csr,
    files,
    generate_key,
    key_pem,
    workload_id,
)
from carbonplane.mesh.identity.certificates import spiffe_id_of
from carbonplane.mesh.identity.errors import IdentityError

CREDENTIALS, CONFIG, PROXY_ID = "credentials.json", "config.json", "proxy-id"
# one writer thread for every agent in the process: writes of one file land in the order made
_WRITER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mesh-agent-writer")


class Agent:
    """A workload's link to the control plane; see the module docstring."""

    def __init__(
        self,
        control_addr: str,
        token_file: str | Path | None,
        root_file: str | Path,
        data_dir: str | Path,
        service: str,
        *,
        namespace: str = "default",
        address: str = "127.0.0.1:0",
        labels: dict[str, str] | None = None,
        trust_domain: str = "cluster.local",
        on_change: Callable[[str, "Agent"], Any] | None = None,
        accept_kinds=ALL_KINDS,
        renewal: RenewalSchedule | None = None,
        backoff_base: float = 0.2,
        backoff_cap: float = 10.0,
        proxy_id: str | None = None,
    ) -> None:
        self.control_addr = control_addr
        self.token_file = Path(token_file) if token_file else None
        self.root_file = Path(root_file)
        self.data_dir = files.make_private_dir(data_dir)
        self.identity = workload_id(trust_domain, namespace, service)
        self.service, self.namespace, self.address = service, namespace, address
        self.labels = dict(labels or {})
        self.trust_domain = trust_domain
        self.on_change = on_change
        self.accept_kinds = frozenset(accept_kinds)
        self.renewal = renewal or RenewalSchedule()
        self.backoff_base, self.backoff_cap = backoff_base, backoff_cap
        self.proxy_id = proxy_id or self._proxy_id()
        self.tls: MeshTLS | None = None
        self.current_config: MeshConfig | None = None
        self.rejected: tuple[str, str] | None = None
        self.connected = False
        self.last_error: str | None = None
        self.reconnects = 0
        self._changed = asyncio.Event()
        self._received_at = dt.datetime.now(dt.timezone.utc)
        self._tasks: list[asyncio.Task] = []

    # -- public -------------------------------------------------------------------------------

    @property
    def config_version(self) -> str | None:
        return self.current_config.version if self.current_config else None

    @property
    def certificate(self):
        return self.tls.credentials.certificate

    def health(self) -> dict[str, Any]:
        state = (
            "STARTING"
            if not (self.tls and self.current_config)
            else "SERVING"
            if self.connected
            else "DEGRADED"
        )  # DEGRADED: last good config
        return {
            "state": state,
            "control_connected": self.connected,
            "config_version": self.config_version,
            "cert_not_after": self.certificate.not_valid_after_utc.isoformat()
            if self.tls
            else None,
            "rejected": list(self.rejected) if self.rejected else None,
            "last_error": self.last_error,
        }

    async def start(self) -> "Agent":
        creds = self._load_credentials()
        if creds is None:
            creds = await self.bootstrap()
        self.tls = MeshTLS(creds)
        self._load_config()
        self._tasks = [
            asyncio.get_running_loop().create_task(c)
            for c in (self._control_loop(), self._renew_loop())
        ]
        return self

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self.connected = False

    async def wait_for(self, predicate: Callable[["Agent"], bool], timeout: float) -> None:
        """Return once ``predicate(self)`` holds (checked after every change); TimeoutError else."""

        async def waiter():
            while not predicate(self):
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(waiter(), timeout)

    # -- credentials --------------------------------------------------------------------------

    def _proxy_id(self) -> str:
        path = self.data_dir / PROXY_ID
        if path.exists():
            return path.read_text().strip()
        pid = f"{self.service}-{secrets.token_hex(4)}"
        files.write_atomic(path, pid.encode(), files.PUBLIC)
        return pid

    def _load_credentials(self) -> Credentials | None:
        path = self.data_dir / CREDENTIALS
        if not path.exists():
            return None
        data = json.loads(files.read_private(path, "workload credentials"))
        creds = Credentials(*(data[k].encode() for k in ("key", "chain", "bundle")))
        cert = creds.certificate
        if spiffe_id_of(cert) != self.identity:
            raise IdentityError(
                f"{path} holds a certificate of {spiffe_id_of(cert)}, not "
                f"{self.identity}; use another data directory"
            )
        if cert.not_valid_after_utc <= dt.datetime.now(dt.timezone.utc):
            return None  # expired while down: only a new token helps
        return creds

    def _save_credentials(self, creds: Credentials) -> None:
        files.write_atomic(
            self.data_dir / CREDENTIALS,
            json.dumps(
                {
                    "key": creds.key_pem.decode(),
                    "chain": creds.chain_pem.decode(),
                    "bundle": creds.bundle_pem.decode(),
                }
            ).encode(),
            files.PRIVATE,
        )

    def _credentials_from(self, key, answer: dict) -> Credentials:
        creds = Credentials(key_pem(key), answer["chain"].encode(), answer["trust_bundle"].encode())
        got = spiffe_id_of(creds.certificate)
        if got != self.identity:
            raise IdentityError(f"the control plane issued {got}, not {self.identity}")
        return creds

    async def bootstrap(self) -> Credentials:
        """Exchange the join token for a first certificate (the key is generated here)."""
        if self.token_file is None:
            raise IdentityError(
                f"{self.data_dir / CREDENTIALS} holds no usable certificate and "
                "no join token file was given; issue one with "
                f"`carbonplane mesh token {self.service}`"
            )
        token = self.token_file.read_text().strip()
        key = generate_key()
        answer = await client.request(
            self.control_addr,
            client.bootstrap_context(self.root_file.read_bytes()),
            self.trust_domain,
            {
                "op": "bootstrap",
                "token": token,
                "proxy_id": self.proxy_id,
                "csr": _csr_pem(key, self.identity),
            },
        )
        creds = self._credentials_from(key, answer)
        self._save_credentials(creds)
        return creds

    async def renew(self) -> None:
        """A new key and certificate for the same identity, swapped into ``tls`` in place."""
        key = generate_key()
        answer = await client.request(
            self.control_addr,
            self.tls.client,
            self.trust_domain,
            {"op": "renew", "proxy_id": self.proxy_id, "csr": _csr_pem(key, self.identity)},
        )
        creds = self._credentials_from(key, answer)
        self._received_at = dt.datetime.now(dt.timezone.utc)
        if self.current_config is not None:  # the snapshot's bundle is at least as new
            creds = creds.with_bundle(self.current_config.trust_bundle_pem)
        self.tls.update(creds)
        await asyncio.get_running_loop().run_in_executor(_WRITER, self._save_credentials, creds)
        self._notify("certificate")

    async def _renew_loop(self) -> None:
        failures = 0
        while True:
            cert = self.certificate
            # from when this agent got it, not not_before (backdated for clock skew): with short
            # test TTLs the backdating would otherwise make every certificate due at once
            at = self.renewal.renew_at(
                max(cert.not_valid_before_utc, self._received_at), cert.not_valid_after_utc
            )
            await asyncio.sleep(self.renewal.seconds_until(at))
            try:
                await self.renew()
                failures = 0
            except (wire.ControlPlaneError, IdentityError, OSError, ssl.SSLError) as exc:
                self.last_error = f"renewal failed: {exc}"
                await asyncio.sleep(self._backoff(failures))
                failures += 1

    # -- config watch -------------------------------------------------------------------------

    def _load_config(self) -> None:
        path = self.data_dir / CONFIG
        if path.exists():
            try:
                self.current_config = MeshConfig.from_snapshot(
                    json.loads(path.read_bytes()), self.accept_kinds
                )
            except (ValueError, ConfigRejected) as exc:
                self.last_error = f"{path} not loaded: {exc}"

    def _backoff(self, attempt: int) -> float:
        return min(self.backoff_cap, self.backoff_base * 2 ** min(attempt, 30)) * random.uniform(
            0.5, 1.0
        )

    async def _control_loop(self) -> None:
        attempt = 0
        while True:
            try:
                await self._session()
            except (wire.ControlPlaneError, OSError, ssl.SSLError, asyncio.TimeoutError) as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
            if self.connected:
                attempt = 0
            self.connected = False
            self._notify("connection")
            await asyncio.sleep(self._backoff(attempt))
            attempt += 1
            self.reconnects += 1

    async def _session(self) -> None:
        await client.request(
            self.control_addr,
            self.tls.client,
            self.trust_domain,
            {
                "op": "register",
                "proxy_id": self.proxy_id,
                "service": self.service,
                "namespace": self.namespace,
                "address": self.address,
                "labels": self.labels,
            },
        )
        reader, writer = await client.connect(self.control_addr, self.tls.client, self.trust_domain)
        heartbeat = None
        try:
            writer.write(
                wire.encode(
                    {"op": "watch", "proxy_id": self.proxy_id, "version": self.config_version}
                )
            )
            answer = wire.check_answer(
                await asyncio.wait_for(wire.read_frame(reader), client.TIMEOUT)
            )
            self.connected, self.last_error = True, None
            interval = float(answer.get("heartbeat_interval", 10.0))
            heartbeat = asyncio.get_running_loop().create_task(self._heartbeats(writer, interval))
            silence = max(3 * interval, 5.0)  # each heartbeat is answered with a pong
            while (m := await asyncio.wait_for(wire.read_frame(reader), silence)) is not None:
                if m.get("type") == "pong":
                    continue
                if m.get("type") != "snapshot":
                    raise wire.ProtocolError(f"unexpected message type {m.get('type')!r}")
                writer.write(wire.encode(self._apply(m.get("snapshot"))))
            raise wire.ControlUnavailable(self.control_addr, "the watch stream ended")
        finally:
            if heartbeat is not None:
                heartbeat.cancel()
            writer.close()

    def _apply(self, body: Any) -> dict[str, Any]:
        """Validate and apply one snapshot; the ACK or NACK to send."""
        version = body.get("version") if isinstance(body, dict) else None
        if self.current_config is not None and version == self.current_config.version:
            self.rejected = None  # back to what it holds (content-addressed versions)
            self._notify("rejected")
            return {"type": "ack", "version": version}
        try:
            cfg = MeshConfig.from_snapshot(body, self.accept_kinds)
        except ConfigRejected as exc:
            self.rejected = (str(version), exc.reason)
            self._notify("rejected")
            return {"type": "nack", "version": str(version), "reason": exc.reason}
        if cfg.trust_bundle_pem != self.tls.credentials.bundle_pem:
            creds = self.tls.credentials.with_bundle(cfg.trust_bundle_pem)
            self.tls.update(creds)
            asyncio.get_running_loop().run_in_executor(_WRITER, self._save_credentials, creds)
            self._notify("trust_bundle")
        self.current_config, self.rejected = cfg, None
        self.applied_at = time.monotonic()
        asyncio.get_running_loop().run_in_executor(_WRITER, self._save_config, cfg)
        self._notify("config")
        return {"type": "ack", "version": cfg.version}

    def _save_config(self, cfg: MeshConfig) -> None:
        files.write_atomic(self.data_dir / CONFIG, json.dumps(cfg.raw).encode(), files.PRIVATE)

    async def _heartbeats(self, writer: asyncio.StreamWriter, interval: float) -> None:
        while True:
            h = self.health()
            writer.write(
                wire.encode(
                    {
                        "type": "heartbeat",
                        "config_version": h["config_version"],
                        "cert_not_after": h["cert_not_after"],
                        "health": h["state"],
                    }
                )
            )
            await asyncio.sleep(interval)

    def _notify(self, event: str) -> None:
        self._changed.set()
        if self.on_change is not None and event in ("config", "certificate", "trust_bundle"):
            self.on_change(event, self)


def _csr_pem(key, identity) -> str:
    from cryptography.hazmat.primitives.serialization import Encoding

    return build_csr(key, identity).public_bytes(Encoding.PEM).decode("ascii")
