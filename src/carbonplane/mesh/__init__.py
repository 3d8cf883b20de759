"""Personality A of the proxy engine: the service mesh (control plane, identity, policy, sidecar)."""
