"""The sidecar side of the mesh control plane: ``Agent`` bootstraps a workload identity with a
join token, renews it at half-life, registers the workload, and watches versioned config
(ACK/NACK), keeping its last good config and certificate while the control plane is away.

- ``agent``   the ``Agent`` (asyncio)
- ``config``  ``MeshConfig`` and the checks behind a NACK (``ConfigRejected``)
- ``client``  one-shot TLS requests that pin the control plane's identity
"""

from carbonplane.mesh.agent.agent import Agent
from carbonplane.mesh.agent.config import ALL_KINDS, ConfigRejected, MeshConfig

__all__ = ["ALL_KINDS", "Agent", "ConfigRejected", "MeshConfig"]
