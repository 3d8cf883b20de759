"""Mesh policy: Istio's YAML subset (PeerAuthentication, AuthorizationPolicy, DestinationRule,
VirtualService) loaded with file:line errors and compiled once per config version.

Sans-IO: files or texts in, an immutable ``PolicyBundle`` out; the sidecar asks it for a port's
mTLS mode (``bundle.mtls_mode``) and a request's authorization ``Decision`` (``bundle.decide`` or,
on the hot path, ``bundle.authorization.for_workload(...).decide(request)``). The supported subset
and the differences from Istio are in ``docs/mesh-policy.md``.
"""

from carbonplane.mesh.policy.authz_engine import (
    RBAC_DENIED_BODY,
    RBAC_DENIED_STATUS,
    AuthorizationEngine,
    Decision,
    Request,
    WorkloadAuthorizer,
)
from carbonplane.mesh.policy.bundle import (
    DEFAULT_ROOT_NAMESPACE,
    BundleChanges,
    PolicyBundle,
    load_bundle,
    load_texts,
)
from carbonplane.mesh.policy.fields import Issue, PolicyError
from carbonplane.mesh.policy.peer_authn import MtlsDecision, PeerAuthenticationIndex
from carbonplane.mesh.policy.resources import Resource

__all__ = [
    "DEFAULT_ROOT_NAMESPACE",
    "RBAC_DENIED_BODY",
    "RBAC_DENIED_STATUS",
    "AuthorizationEngine",
    "BundleChanges",
    "Decision",
    "Issue",
    "MtlsDecision",
    "PeerAuthenticationIndex",
    "PolicyBundle",
    "PolicyError",
    "Request",
    "Resource",
    "WorkloadAuthorizer",
    "load_bundle",
    "load_texts",
]
