"""carbonplane: the integration layer of the 254Carbon data platform.

Three parts share one package:

- ``carbonplane.events``  (C) typed events, the producer library, the embedded log and Kafka backends;
- ``carbonplane.gateway`` (B) a Kong-compatible API gateway on our own HTTP data plane;
- ``carbonplane.mesh``    (A) sidecars, identity and traffic policy (Istio's resources).
"""

__version__ = "0.1.0"

from carbonplane import _accel

_accel.install()  # a compiled module older than its .py never loads (see _accel.py)
