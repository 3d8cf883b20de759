"""mTLS ``ssl`` contexts for mesh workloads, the peer's SPIFFE identity, and in-place swap.

Contexts (``server_context``/``client_context``):

- TLS 1.3 only (minimum and maximum), ``CERT_REQUIRED`` on both sides: the server requires a
  client certificate (STRICT; a PERMISSIVE mode comes with the sidecar);
- the mesh trust bundle is the only trust anchor (no system CAs are loaded);
- hostname checking is off: mesh peers are named by SPIFFE id, not DNS. After the handshake,
  ``peer_identity(ssl_object, expected=...)`` reads the peer's verified certificate and returns its
  ``WorkloadId`` or raises ``PeerIdentityError``. A caller that skips it accepts any workload of the
  mesh; the sidecar must call it.

Swap in place (``MeshTLS``): a holder whose ``server``/``client`` contexts are replaced as a pair
by ``update(...)``. A listener reads ``holder.server`` for *each new connection*: ``MeshServer``
accepts plain TCP and wraps each connection with it (the control plane serves through the same
accept loop); an outbound call passes ``holder.client`` when it connects. Connections already
established keep the context they handshook with, so a renewal or a new trust bundle never drops
them; new connections use the new certificate at once.

Key material reaches ``ssl`` through files (``load_cert_chain`` takes only paths): they are written
0600 in a fresh 0700 temporary directory and deleted right after loading.
"""

from __future__ import annotations

import asyncio
import os
import socket
import ssl
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

from carbonplane.mesh.identity import files
from carbonplane.mesh.identity.authority import IssuedCertificate
from carbonplane.mesh.identity.certificates import PrivateKey, key_pem, spiffe_id_of
from carbonplane.mesh.identity.errors import PeerIdentityError
from carbonplane.mesh.identity.spiffe import WorkloadId


@dataclass(frozen=True)
class Credentials:
    """What a workload holds: its key, its chain (leaf first) and the bundle it trusts (PEM)."""

    key_pem: bytes
    chain_pem: bytes
    bundle_pem: bytes

    @property
    def certificate(self) -> x509.Certificate:
        return x509.load_pem_x509_certificates(self.chain_pem)[0]

    @classmethod
    def from_issued(cls, key: PrivateKey, issued: IssuedCertificate) -> "Credentials":
        """The workload's own key plus what the CA returned for its CSR."""
        return cls(key_pem(key), issued.chain_pem, issued.bundle_pem)

    def with_bundle(self, bundle_pem: bytes) -> "Credentials":
        """The same key and certificate trusting a new bundle (CA rotation)."""
        return Credentials(self.key_pem, self.chain_pem, bundle_pem)


def _base(purpose: int, creds: Credentials) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER if purpose == 0 else ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.maximum_version = ssl.TLSVersion.TLSv1_3
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(cadata=creds.bundle_pem.decode("ascii"))
    with tempfile.TemporaryDirectory(prefix="cp-mesh-") as tmp:  # created 0700
        key, chain = Path(tmp) / "key.pem", Path(tmp) / "chain.pem"
        for path, data in ((key, creds.key_pem), (chain, creds.chain_pem)):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, files.PRIVATE)
            with os.fdopen(fd, "wb") as f:  # no fsync: read back at once, then deleted
                f.write(data)
        ctx.load_cert_chain(chain, key)
    return ctx


def server_context(creds: Credentials) -> ssl.SSLContext:
    """A TLS 1.3 server context that requires a client certificate from the mesh bundle."""
    return _base(0, creds)


def client_context(creds: Credentials) -> ssl.SSLContext:
    """A TLS 1.3 client context presenting ``creds`` and trusting only the mesh bundle."""
    return _base(1, creds)


def peer_identity(
    ssl_object: ssl.SSLObject | ssl.SSLSocket,
    *,
    trust_domain: str | None = None,
    expected: WorkloadId | None = None,
) -> WorkloadId:
    """The SPIFFE id of the peer's verified certificate.

    Raises ``PeerIdentityError`` if there is no peer certificate, it does not carry exactly one
    mesh workload URI, it is from another ``trust_domain``, or it is not ``expected``.
    """
    if ssl_object is None:
        raise PeerIdentityError("the connection is not TLS, so the peer has no identity")
    der = ssl_object.getpeercert(binary_form=True)
    if not der:
        raise PeerIdentityError("the peer presented no certificate")
    identity = spiffe_id_of(x509.load_der_x509_certificate(der), trust_domain=trust_domain)
    if expected is not None and identity != expected:
        raise PeerIdentityError(f"the peer is {identity}, not the expected {expected}")
    return identity


class MeshTLS:
    """Holds the current server and client contexts; ``update`` swaps both atomically."""

    def __init__(self, creds: Credentials) -> None:
        self._lock = threading.Lock()
        self._pair = (server_context(creds), client_context(creds))
        self._creds = creds
        self.generation = 1

    @property
    def server(self) -> ssl.SSLContext:
        """The context for the next inbound handshake (read it per connection)."""
        return self._pair[0]

    @property
    def client(self) -> ssl.SSLContext:
        """The context for the next outbound handshake (read it per connection)."""
        return self._pair[1]

    @property
    def credentials(self) -> Credentials:
        return self._creds

    def update(self, creds: Credentials) -> None:
        """Load new credentials (renewed certificate or new trust bundle) for new connections.

        Both contexts are built before either is published, so a failure (a key that does not
        match its certificate, a broken bundle) leaves the current pair in place.
        """
        pair = (server_context(creds), client_context(creds))
        with self._lock:
            self._pair = pair
            self._creds = creds
            self.generation += 1


class MeshServer:
    """The mesh's one mTLS accept loop: it handshakes every new connection with ``holder.server``
    as it is at accept time (so ``MeshTLS.update`` applies to the next connection, and established
    ones are untouched), then runs ``handler(reader, writer, peer)`` for it.

    ``holder``: a ``MeshTLS``, or any object whose ``server`` attribute is the context for the next
    handshake (the control plane's, whose client certificates are optional). With ``verify_peer``
    (the default) ``peer`` is the client's verified ``WorkloadId``, and a connection whose identity
    check fails is closed before the handler sees it; with ``verify_peer=False`` the handler gets
    ``peer=None`` and reads the identity itself (``peer_identity``). A failed handshake or identity
    check closes the connection and is counted in ``rejected`` (with the last error in
    ``last_error``). ``read_limit`` bounds what the handler's ``StreamReader`` buffers."""

    def __init__(
        self,
        holder: MeshTLS,
        handler,
        *,
        trust_domain: str | None = None,
        handshake_timeout: float = 10.0,
        verify_peer: bool = True,
        read_limit: int = 2**16,
    ) -> None:
        self.holder = holder
        self.handler = handler
        self.trust_domain = trust_domain
        self.handshake_timeout = handshake_timeout
        self.verify_peer = verify_peer
        self.read_limit = read_limit
        self.rejected = 0
        self.last_error: BaseException | None = None
        self._sock: socket.socket | None = None
        self._tasks: set[asyncio.Task] = set()

    @property
    def port(self) -> int:
        return self._sock.getsockname()[1]

    @property
    def address(self) -> tuple[str, int]:
        """The bound ``(host, port)``."""
        return self._sock.getsockname()[:2]

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> "MeshServer":
        self._sock = socket.create_server((host, port))
        self._sock.setblocking(False)
        self._spawn(self._accept_loop())
        return self

    def _spawn(self, coro) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _accept_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            conn, _ = await loop.sock_accept(self._sock)
            self._spawn(self._serve(conn))

    async def _serve(self, conn: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=self.read_limit)
        protocol = asyncio.StreamReaderProtocol(reader)
        try:
            transport, _ = await loop.connect_accepted_socket(
                lambda: protocol,
                conn,
                ssl=self.holder.server,
                ssl_handshake_timeout=self.handshake_timeout,
            )
        except (OSError, ssl.SSLError, asyncio.TimeoutError) as exc:
            self._reject(exc)
            conn.close()
            return
        writer = asyncio.StreamWriter(transport, protocol, reader, loop)
        peer = None
        if self.verify_peer:
            try:
                peer = peer_identity(
                    writer.get_extra_info("ssl_object"), trust_domain=self.trust_domain
                )
            except PeerIdentityError as exc:
                self._reject(exc)
                writer.close()
                return
        try:
            await self.handler(reader, writer, peer)
        finally:
            writer.close()

    def _reject(self, exc: BaseException) -> None:
        self.rejected += 1
        self.last_error = exc

    async def close(self) -> None:
        """Stop accepting and cancel every connection task."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._sock is not None:
            self._sock.close()


def credentials_from_files(
    key: str | os.PathLike, chain: str | os.PathLike, bundle: str | os.PathLike
) -> Credentials:
    """Credentials from PEM files; the key file must be private (0600 or stricter)."""
    return Credentials(
        files.read_private(key, "workload private key"),
        Path(chain).read_bytes(),
        Path(bundle).read_bytes(),
    )
