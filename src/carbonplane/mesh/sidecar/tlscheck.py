"""Identity checks inside the TLS handshake, for connections the engine makes or accepts.

asyncio (and uvloop) create each connection's ``ssl.SSLObject`` through the context's
``sslobject_class``. The sidecar sets that class on its own contexts (``SidecarContexts``), so the
check runs as the last step of ``do_handshake``:

- inbound: the client's verified certificate must carry exactly one SPIFFE workload id of this
  trust domain; the id is kept on the object (``mesh_identity``) for authorization and XFCC,
  with the fingerprint of the bundle root that signed it (``mesh_root``, None when an
  intermediate signed it) so requests on a connection whose root has since left the trust
  bundle (a CA rotation's prune) can be refused (``SidecarContexts.trusted_roots``);
- outbound: the server must be exactly the identity the sidecar meant to call. The expected id
  travels as the connection's ``server_hostname`` (SNI), looked up in ``Expectations``; a
  connection with no expectation, or another identity, fails its handshake, so the engine never
  sends a request on it (the request gets an error, never the wrong server's response).

Invariant: a handshake that raised here leaves no usable connection (asyncio closes the
transport when ``do_handshake`` raises anything but want-read/want-write).
"""

from __future__ import annotations

import hashlib
import ssl

from cryptography import x509
from cryptography.exceptions import InvalidSignature

from carbonplane.mesh.identity import (
    PeerIdentityError,
    WorkloadId,
    client_context,
    fingerprint,
    peer_identity,
    server_context,
)

IDENTITY_MISMATCH = "mesh identity check failed"


class MeshIdentityError(ssl.SSLError):
    """The peer's certificate is valid but not the identity required here."""


def signed_by(cert: x509.Certificate, anchor: x509.Certificate) -> bool:
    """``anchor`` issued ``cert`` (names match and the signature verifies)."""
    try:
        cert.verify_directly_issued_by(anchor)
        return True
    except (ValueError, TypeError, InvalidSignature):
        return False


def root_of(cert: x509.Certificate, anchors) -> str | None:
    """The fingerprint of the anchor in ``anchors`` ((fingerprint, certificate) pairs) that is
    ``cert`` or signed it directly; None if none did."""
    return next((fp for fp, a in anchors if a == cert or signed_by(cert, a)), None)


class Expectations:
    """SNI name -> the ``WorkloadId`` an outbound connection under that name must reach."""

    def __init__(self) -> None:
        self._by_name: dict[str, WorkloadId] = {}

    def name_for(self, identity: WorkloadId) -> str:
        name = f"{identity.service}.{identity.namespace}.svc.mesh"
        self._by_name[name] = identity
        return name

    def get(self, name: str | None) -> WorkloadId | None:
        return self._by_name.get(name) if name else None


def _inbound_class(trust_domain: str) -> type:
    class InboundSSLObject(ssl.SSLObject):
        mesh_identity: WorkloadId | None = None
        mesh_root: str | None = None
        cert_hash: str = ""

        def do_handshake(self) -> None:
            super().do_handshake()
            try:
                self.mesh_identity = peer_identity(self, trust_domain=trust_domain)
            except PeerIdentityError as exc:
                raise MeshIdentityError(f"{IDENTITY_MISMATCH}: client {exc}") from None
            der = self.getpeercert(binary_form=True)
            self.cert_hash = hashlib.sha256(der).hexdigest()
            self.mesh_root = root_of(
                x509.load_der_x509_certificate(der), getattr(self.context, "mesh_anchors", ())
            )

    return InboundSSLObject


def _outbound_class(trust_domain: str, expectations: Expectations) -> type:
    class OutboundSSLObject(ssl.SSLObject):
        mesh_identity: WorkloadId | None = None

        def do_handshake(self) -> None:
            super().do_handshake()
            expected = expectations.get(self.server_hostname)
            if expected is None:
                raise MeshIdentityError(
                    f"{IDENTITY_MISMATCH}: no expected identity for {self.server_hostname!r}"
                )
            try:
                self.mesh_identity = peer_identity(
                    self, trust_domain=trust_domain, expected=expected
                )
            except PeerIdentityError as exc:
                raise MeshIdentityError(f"{IDENTITY_MISMATCH}: server {exc}") from None

    return OutboundSSLObject


class SidecarContexts:
    """The sidecar's own server and client contexts, rebuilt from the agent's credentials
    whenever the agent swaps its pair (renewal, trust bundle), with the checking
    ``sslobject_class`` set. The agent's own contexts (used towards the control plane) are
    never modified. Read ``server()`` / ``client()`` per new connection."""

    def __init__(self, tls, trust_domain: str, expectations: Expectations) -> None:
        self.tls = tls  # the agent's MeshTLS
        self.inbound = _inbound_class(trust_domain)
        self.outbound = _outbound_class(trust_domain, expectations)
        self._source = None
        self._pair: tuple[ssl.SSLContext, ssl.SSLContext] | None = None
        self._trusted: frozenset[str] = frozenset()
        self.rebuilt = 0

    def _current(self) -> tuple[ssl.SSLContext, ssl.SSLContext]:
        source = self.tls.client  # a new object whenever the agent swapped its pair
        if source is not self._source or self._pair is None:
            creds = self.tls.credentials
            server, client = server_context(creds), client_context(creds)
            server.sslobject_class = self.inbound
            client.sslobject_class = self.outbound
            anchors = tuple(
                (fingerprint(a), a) for a in x509.load_pem_x509_certificates(creds.bundle_pem)
            )
            server.mesh_anchors = anchors  # read by the inbound handshake check (mesh_root)
            self._trusted = frozenset(fp for fp, _ in anchors)
            self._pair, self._source = (server, client), source
            self.rebuilt += 1
        return self._pair

    def server(self) -> ssl.SSLContext:
        return self._current()[0]

    def client(self) -> ssl.SSLContext:
        return self._current()[1]

    def trusted_roots(self) -> frozenset[str]:
        """Fingerprints of the roots in the current trust bundle."""
        self._current()
        return self._trusted
