"""The mesh sidecar: the proxy engine in front of one workload (inbound mTLS + authorization)
and for it (outbound by Host or ``HTTP_PROXY``, the server's SPIFFE identity verified).

Modules: ``sidecar`` (lifecycle, admin, app health), ``inbound``, ``outbound``, ``tlscheck``
(identity checks inside the handshake), ``events`` (non-blocking SecurityEvents and
ServiceHealthEvents). See docs/mesh.md, "Sidecar".
"""

from carbonplane.mesh.sidecar.sidecar import Sidecar, split_addr

__all__ = ["Sidecar", "split_addr"]
