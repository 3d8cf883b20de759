"""carbonplane's service mesh (personality A of the proxy engine).

What exists now:

- ``identity``: SPIFFE workload ids, the mesh certificate authority (self-generated or supplied
  root, CA rotation with an overlap), join tokens, the certificate renewal schedule and mTLS
  ``ssl`` contexts with in-place swap. Pure library code; see ``docs/mesh.md``.

The sidecar and the control plane are not built yet. The mesh never imports
``carbonplane.gateway`` (and the gateway never imports the mesh).
"""
