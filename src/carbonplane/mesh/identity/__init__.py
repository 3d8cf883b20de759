"""Mesh workload identity: SPIFFE ids, the certificate authority, join tokens, renewal, mTLS.

Modules (each opens with its rules and invariants):

- ``spiffe``        parse/format/validate ``spiffe://<td>/ns/<namespace>/sa/<service>``
- ``certificates``  workload keys (ECDSA P-256) and CSRs, CSR checks, certificate profiles
- ``authority``     the CA over a data directory: generated or supplied root, issuing,
                    rotation with an overlap
- ``roots``         a CA root (``Root``, ``SuppliedRoot``): loading and checking its files
- ``tokens``        single-use join tokens bound to one identity, stored hashed
- ``renewal``       when to renew: half-life with jitter (Istio's defaults)
- ``tls``           TLS 1.3 mTLS contexts, ``peer_identity``, ``MeshTLS`` in-place swap,
                    ``MeshServer`` (the mTLS accept loop)
- ``files``         atomic private writes and permission checks
- ``errors``        the layer's exceptions (under ``carbonplane.errors.CarbonplaneError``)

This package imports neither the proxy engine nor the gateway.
"""

from carbonplane.mesh.identity.authority import (
    DEFAULT_MAX_TTL,
    DEFAULT_WORKLOAD_TTL,
    CertificateAuthority,
    IssuedCertificate,
)
from carbonplane.mesh.identity.certificates import (
    build_csr,
    fingerprint,
    generate_key,
    key_pem,
    spiffe_id_of,
)
from carbonplane.mesh.identity.errors import (
    CAStateError,
    CSRRejectedError,
    IdentityError,
    PeerIdentityError,
    SpiffeIdError,
    TokenRejectedError,
)
from carbonplane.mesh.identity.renewal import RenewalSchedule
from carbonplane.mesh.identity.roots import Root, SuppliedRoot
from carbonplane.mesh.identity.spiffe import (
    DEFAULT_TRUST_DOMAIN,
    SpiffeId,
    WorkloadId,
    parse,
    parse_workload,
    workload_id,
)
from carbonplane.mesh.identity.tls import (
    Credentials,
    MeshServer,
    MeshTLS,
    client_context,
    peer_identity,
    server_context,
)
from carbonplane.mesh.identity.tokens import JoinTokens, write_token_file

__all__ = [
    "CAStateError",
    "CSRRejectedError",
    "CertificateAuthority",
    "Credentials",
    "DEFAULT_MAX_TTL",
    "DEFAULT_TRUST_DOMAIN",
    "DEFAULT_WORKLOAD_TTL",
    "IdentityError",
    "IssuedCertificate",
    "JoinTokens",
    "MeshTLS",
    "PeerIdentityError",
    "RenewalSchedule",
    "Root",
    "SpiffeId",
    "SpiffeIdError",
    "SuppliedRoot",
    "TokenRejectedError",
    "WorkloadId",
    "MeshServer",
    "build_csr",
    "client_context",
    "fingerprint",
    "generate_key",
    "key_pem",
    "parse",
    "parse_workload",
    "peer_identity",
    "server_context",
    "spiffe_id_of",
    "workload_id",
    "write_token_file",
]
