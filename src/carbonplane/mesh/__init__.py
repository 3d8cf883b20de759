"""carbonplane's service mesh (personality A of the proxy engine).

What exists now:

- ``identity``: SPIFFE workload ids, the mesh certificate authority (self-generated or supplied
  root, CA rotation with an overlap), join tokens, the certificate renewal schedule and mTLS
  ``ssl`` contexts with in-place swap. Pure library code; see ``docs/mesh.md``.
- ``policy``: Istio's PeerAuthentication, AuthorizationPolicy, DestinationRule and VirtualService
  in their own YAML (a documented subset, errors with file:line), compiled once per version into
  an immutable bundle with decision functions; see ``docs/mesh-policy.md``.

- ``control``: the control plane (``carbonplane mesh control``): CA service, join-token
  bootstrap, persisted service registry, versioned config push with ACK/NACK, proxy status.
- ``agent``: the sidecar's client of the control plane: bootstrap, renewal, registration, config
  watch, keeping the last good config and certificate while the control plane is away.

- ``sidecar``: the data plane (``carbonplane mesh sidecar``) on the proxy engine: inbound mTLS
  (STRICT / PERMISSIVE / DISABLE) with authorization and XFCC in front of an app, outbound by Host
  or ``HTTP_PROXY`` verifying the server's SPIFFE id, admin status, Security/ServiceHealth events.

The mesh never imports ``carbonplane.gateway`` (and the gateway never imports the mesh).
"""
