"""The mesh control plane: CA service, join-token bootstrap, registry, versioned config push.

One asyncio process serves length-prefixed JSON frames (``wire``) over TLS 1.3 with the mesh
root. Its own certificate is ``spiffe://<td>/ns/mesh-system/sa/control`` (key in memory only,
re-issued at half-life and when an old root is pruned). Client certificates are *optional* at the
handshake (``CERT_OPTIONAL``: a presented one must chain to the trust bundle or the handshake
fails), and required per operation:

=============  ================  ==========================================================
op             client cert       what it does
=============  ================  ==========================================================
bootstrap      none needed       redeem a join token + CSR: the token decides the identity
renew          required          sign a CSR for exactly the presented certificate's identity
register       required          add/update the caller's registry entry; the identity must be
                                 the claimed ``<namespace>/<service>``
watch          required          stream of snapshots; the proxy answers ack/nack/heartbeat
admin          none (token)      status, reload, rotate: carries the admin token from
                                 ``<data_dir>/admin.token`` (0600, created on first start)
=============  ================  ==========================================================

Invariants: a snapshot is built once per version and the same bytes go to every watcher; policy
that fails to load never replaces the last good one (the error shows in status); a registration
is on disk before it is answered; the CA is only touched by this process while it runs (the CLI's
``mesh token`` shares the token store through its ``flock``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hmac
import json
import secrets
import ssl
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from carbonplane.mesh.control import snapshots, wire
from carbonplane.mesh.control.registry import PROXY_ID, RegistrationError, Registry, check_fields
from carbonplane.mesh.control.snapshots import PolicySource, ProxyTracker
from carbonplane.mesh.control.watch import Watcher, WatchStreams
from carbonplane.mesh.identity import (
    CertificateAuthority,
    Credentials,
    JoinTokens,
    MeshServer,
    build_csr,
    files,
    generate_key,
    peer_identity,
    server_context,
    workload_id,
)
from carbonplane.mesh.identity.errors import IdentityError, TokenRejectedError
from carbonplane.mesh.policy import PolicyError

CONTROL_NAMESPACE, CONTROL_SERVICE = "mesh-system", "control"
ADMIN_TOKEN_FILE, TRUST_BUNDLE_FILE, CONTROL_FILE = (
    "admin.token",
    "trust-bundle.pem",
    "control.json",
)
REQUEST_TIMEOUT = 10.0


@dataclass(frozen=True)
class Snapshot:
    version: str
    body: dict[str, Any]
    frame: bytes


def ensure_admin_token(data_dir: Path) -> str:
    path = data_dir / ADMIN_TOKEN_FILE
    if not path.exists():
        files.write_atomic(path, (secrets.token_urlsafe(32) + "\n").encode(), files.PRIVATE)
    return files.read_private(path, "admin token").decode().strip()


class _ServerTLS:
    """The control plane's server context (client certificates optional), replaced whole when its
    certificate or the trust bundle changes; ``MeshServer`` reads it for each new connection."""

    server: ssl.SSLContext | None = None


class ControlPlane(WatchStreams):
    """Serve the mesh control plane for ``config_dir`` (policy) and ``data_dir`` (state)."""

    def __init__(
        self,
        config_dir: str | Path,
        data_dir: str | Path,
        *,
        trust_domain: str = "cluster.local",
        workload_ttl: float = 86400.0,
        registration_ttl: float = 30.0,
        poll_interval: float = 0.2,
        root_namespace: str = "istio-system",
    ) -> None:
        self.data_dir = files.make_private_dir(data_dir)
        self.config_dir = Path(config_dir)
        self.policy = PolicySource(config_dir, root_namespace)
        ttl = dt.timedelta(seconds=workload_ttl)
        self.ca = CertificateAuthority(
            self.data_dir,
            trust_domain=trust_domain,
            workload_ttl=ttl,
            max_ttl=max(ttl, dt.timedelta(hours=48)),
        )
        self.tokens = JoinTokens(self.data_dir, self.ca)
        self.registry = Registry(self.data_dir, ttl=registration_ttl)
        self.tracker = ProxyTracker()
        self.admin_token = ensure_admin_token(self.data_dir)
        self.identity = workload_id(self.ca.trust_domain, CONTROL_NAMESPACE, CONTROL_SERVICE)
        self.poll_interval = poll_interval
        self.cert_expiry: dict[str, str] = {}
        self._watchers: set[Watcher] = set()
        self._dirty = asyncio.Event()
        self._tasks: set[asyncio.Task] = set()
        self._server: MeshServer | None = None
        self._creds: Credentials | None = None
        self._tls = _ServerTLS()
        self._cert_renew_at = 0.0
        self.snapshot: Snapshot | None = None
        self.address = ""

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 15010) -> "ControlPlane":
        self._issue_own_cert()
        self._publish()
        self._server = MeshServer(
            self._tls,
            self._handle,
            handshake_timeout=REQUEST_TIMEOUT,
            verify_peer=False,
            read_limit=wire.MAX_FRAME,
        )
        await self._server.start(host, port)
        h, p = self._server.address
        self.address = f"{h}:{p}"
        files.write_atomic(
            self.data_dir / CONTROL_FILE,
            json.dumps(
                {
                    "address": self.address,
                    "trust_domain": self.ca.trust_domain,
                    "config_dir": str(self.config_dir.resolve()),
                    "identity": str(self.identity),
                }
            ).encode(),
            files.PUBLIC,
        )
        for coro in (
            self._build_loop(),
            self._poll_loop(),
            self._maintenance_loop(),
        ):
            self._spawn(coro)
        return self

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.close()

    def _spawn(self, coro) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _issue_own_cert(self) -> None:
        """A fresh key and certificate for the control plane, trusting the current bundle."""
        key = generate_key()
        issued = self.ca.issue(build_csr(key, self.identity), self.identity)
        self._creds = Credentials.from_issued(key, issued)
        life = (issued.not_after - dt.datetime.now(dt.timezone.utc)).total_seconds()
        self._cert_renew_at = time.time() + life / 2
        self._refresh_context()

    def _refresh_context(self) -> None:
        bundle = self.ca.trust_bundle_pem()
        self._creds = self._creds.with_bundle(bundle)
        ctx = server_context(self._creds)
        ctx.verify_mode = ssl.CERT_OPTIONAL  # bootstrap and admin come without a client cert
        self._tls.server = ctx
        files.write_atomic(self.data_dir / TRUST_BUNDLE_FILE, bundle, files.PUBLIC)

    # -- snapshots ----------------------------------------------------------------------------

    def _publish(self) -> bool:
        body = snapshots.build(self.policy, self.registry.endpoints(), self.ca.trust_bundle_pem())
        if self.snapshot is not None and body["version"] == self.snapshot.version:
            return False
        frame = wire.encode({"type": "snapshot", "snapshot": body})
        self.snapshot = Snapshot(body["version"], body, frame)
        for w in self._watchers:
            w.wake.set()
        return True

    async def _build_loop(self) -> None:
        while True:
            await self._dirty.wait()
            await asyncio.sleep(0.01)  # coalesce a burst of registrations into one version
            self._dirty.clear()
            self._publish()

    async def _poll_loop(self) -> None:
        while True:
            await asyncio.sleep(self.poll_interval)
            if self.policy.changed():
                self.reload_policy()

    def reload_policy(self) -> dict[str, Any]:
        try:
            changed = self.policy.reload()
        except (PolicyError, OSError, UnicodeDecodeError) as exc:
            self.policy.error = str(exc)
            print(
                f"mesh control: policy not applied, keeping {self.policy.bundle.version}: {exc}",
                file=sys.stderr,
                flush=True,
            )
            return {"ok": False, "error": "policy_invalid", "message": str(exc)}
        if changed:
            self._publish()
            print(
                f"mesh control: policy {self.policy.bundle.version} -> config "
                f"{self.snapshot.version}",
                file=sys.stderr,
                flush=True,
            )
        return {
            "ok": True,
            "policy_version": self.policy.bundle.version,
            "version": self.snapshot.version,
            "changed": changed,
        }

    async def _maintenance_loop(self) -> None:
        while True:
            await asyncio.sleep(0.5)
            if self.registry.sweep():
                self._dirty.set()
            now = dt.datetime.now(dt.timezone.utc)
            if any(r.id != self.ca.active.id and not r.trusted_at(now) for r in self.ca.roots):
                pruned = await asyncio.to_thread(self.ca.prune)
                print(f"mesh control: pruned root(s) {pruned}", file=sys.stderr, flush=True)
                self._issue_own_cert()
                self._dirty.set()
            elif time.time() >= self._cert_renew_at:
                self._issue_own_cert()

    def rotate(self, overlap: float) -> dict[str, Any]:
        root = self.ca.rotate(dt.timedelta(seconds=overlap))
        self._refresh_context()  # keep serving the old-root cert until the prune; trust both
        self._publish()
        return {
            "ok": True,
            "root": root.fingerprint,
            "version": self.snapshot.version,
            "old_trusted_until": [
                r.trusted_until.isoformat() for r in self.ca.roots if r.trusted_until
            ],
        }

    # -- connections --------------------------------------------------------------------------

    async def _handle(self, reader, writer, peer) -> None:
        """One connection, after ``MeshServer``'s handshake (``peer`` is None: client certificates
        are optional here, so the identity is read, and refused, per request)."""
        try:
            sslobj = writer.get_extra_info("ssl_object")
            if sslobj.getpeercert(binary_form=True):
                peer = peer_identity(sslobj, trust_domain=self.ca.trust_domain)
            msg = await asyncio.wait_for(wire.read_frame(reader), REQUEST_TIMEOUT)
            if msg is None:
                return
            if msg.get("op") == "watch":
                await self._watch(reader, writer, peer, msg)
                return
            answer = await self._one_shot(msg, peer)
        except wire.ProtocolError as exc:
            answer = wire.refusal("bad_request", str(exc))
        except IdentityError as exc:
            answer = wire.refusal("identity_rejected", str(exc))
        except (asyncio.TimeoutError, ConnectionError, ssl.SSLError):
            writer.close()
            return
        except Exception as exc:  # a bug must cost one request, never the server
            print(
                f"mesh control: internal error: {type(exc).__name__}: {exc}",
                file=sys.stderr,
                flush=True,
            )
            answer = wire.refusal("internal_error", f"{type(exc).__name__}")
        try:
            writer.write(wire.encode(answer))
            await writer.drain()
        except (ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()

    async def _one_shot(self, msg: dict, peer) -> dict[str, Any]:
        op = msg.get("op")
        if op == "bootstrap":
            return await self._bootstrap(msg)
        if op == "admin":
            return self._admin(msg)
        if op not in ("renew", "register"):
            return wire.refusal("bad_request", f"unknown op {op!r}")
        if peer is None:
            return wire.refusal("unauthenticated", f"{op} needs the workload's client certificate")
        if op == "renew":
            csr = wire.text_field(msg, "csr")
            issued = await asyncio.to_thread(self.ca.issue, csr.encode(), peer)
            reg = (
                self.registry.get(msg.get("proxy_id"))
                if isinstance(msg.get("proxy_id"), str)
                else None
            )
            if reg is not None and reg.identity == str(peer):  # only its own proxy's row
                self.cert_expiry[reg.proxy_id] = issued.not_after.isoformat()
            return self._issued_answer(issued)
        return self._register(msg, peer)

    async def _bootstrap(self, msg: dict) -> dict[str, Any]:
        token, csr = wire.text_field(msg, "token", 256), wire.text_field(msg, "csr")
        try:
            issued = await asyncio.to_thread(self.tokens.redeem, token, csr.encode())
        except TokenRejectedError as exc:
            return wire.refusal("token_rejected", str(exc))
        if isinstance(msg.get("proxy_id"), str) and PROXY_ID.fullmatch(msg["proxy_id"]):
            self.cert_expiry[msg["proxy_id"]] = issued.not_after.isoformat()  # one per token
        return self._issued_answer(issued)

    @staticmethod
    def _issued_answer(issued) -> dict[str, Any]:
        return {
            "ok": True,
            "identity": str(issued.identity),
            "chain": issued.chain_pem.decode("ascii"),
            "trust_bundle": issued.bundle_pem.decode("ascii"),
            "not_after": issued.not_after.isoformat(),
        }

    def _register(self, msg: dict, peer) -> dict[str, Any]:
        service, namespace = (
            wire.text_field(msg, "service", 63),
            wire.text_field(msg, "namespace", 63),
        )
        claimed = workload_id(self.ca.trust_domain, namespace, service)
        if claimed != peer:
            return wire.refusal(
                "identity_mismatch",
                f"the client certificate is {peer}; it "
                f"cannot register {namespace}/{service} ({claimed})",
            )
        try:
            labels = check_fields(msg.get("proxy_id"), msg.get("address"), msg.get("labels"))
            _, changed = self.registry.register(
                msg["proxy_id"], service, namespace, msg["address"], labels, str(peer)
            )
        except RegistrationError as exc:
            return wire.refusal(exc.code, str(exc))
        if changed:
            self._dirty.set()
        return {"ok": True, "ttl": self.registry.ttl, "heartbeat_interval": self.registry.ttl / 3}

    def _admin(self, msg: dict) -> dict[str, Any]:
        token = msg.get("token")
        if not isinstance(token, str) or not hmac.compare_digest(
            token.encode(), self.admin_token.encode()
        ):
            return wire.refusal(
                "unauthenticated", f"wrong admin token (see {self.data_dir / ADMIN_TOKEN_FILE})"
            )
        action = msg.get("action")
        if action == "status":
            return self.status()
        if action == "reload":
            return self.reload_policy()
        if action == "rotate":
            overlap = msg.get("overlap")
            if not isinstance(overlap, (int, float)) or overlap < 0:
                return wire.refusal("bad_request", "overlap must be a number of seconds >= 0")
            return self.rotate(float(overlap))
        return wire.refusal("bad_request", f"unknown admin action {action!r}")

    def status(self) -> dict[str, Any]:
        current = self.snapshot.version
        return {
            "ok": True,
            "version": current,
            "policy_version": self.policy.bundle.version,
            "policy_error": self.policy.error,
            "identity": str(self.identity),
            "trust_roots": [r.fingerprint for r in self.ca.roots],
            "active_root": self.ca.active.fingerprint,
            "proxies": self.tracker.status(current, self.registry.entries(), self.cert_expiry),
        }
