"""carbonplane: the integration layer of the 254Carbon data platform.

The parts in this package:

- ``carbonplane.events``   (C) typed events, the producer library, the embedded log and Kafka
  backends;
- ``carbonplane.gateway``  (B) a Kong-compatible API gateway;
- ``carbonplane.proxy`` and ``carbonplane.http``: the HTTP/1.1 data-plane engine it runs on;
- ``carbonplane.mesh``     (A) the service mesh as far as it is built: workload identity and its
  certificate authority, Istio's policy resources, the control plane and the sidecar;
- ``carbonplane.cli``      the ``carbonplane`` command; ``errors`` the one exception tree.

Importing it installs the guard of the optional compiled modules (``_accel.py``): they load all
together when they match their sources, or none loads and the pure Python runs.
"""

__version__ = "0.1.0"

from carbonplane import _accel

_accel.install()
