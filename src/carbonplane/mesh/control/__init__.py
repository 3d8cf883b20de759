"""The mesh control plane (server side): CA service, join-token bootstrap, service registry and
versioned config push with ACK/NACK, as described in ``docs/mesh.md``.

- ``wire``       length-prefixed JSON frames over TLS; the control plane's errors
- ``registry``   proxies, their endpoints and identities, persisted atomically, with a TTL
- ``snapshots``  versioned config snapshots, the policy directory source, per-proxy sync state
- ``server``     ``ControlPlane``: the asyncio TLS server tying them together (its accept loop is
                 ``identity.tls.MeshServer``)
- ``watch``      the watch streams: snapshots pushed to each proxy, its ack/nack/heartbeats

Imports neither the proxy engine nor the gateway.
"""

from carbonplane.mesh.control.registry import Registration, Registry
from carbonplane.mesh.control.server import ControlPlane
from carbonplane.mesh.control.snapshots import NOT_SENT, STALE, SYNCED
from carbonplane.mesh.control.wire import (
    ControlPlaneError,
    ControlUnavailable,
    ProtocolError,
    RequestRefused,
)

__all__ = [
    "ControlPlane",
    "ControlPlaneError",
    "ControlUnavailable",
    "NOT_SENT",
    "ProtocolError",
    "Registration",
    "Registry",
    "RequestRefused",
    "STALE",
    "SYNCED",
]
