"""The engine's layers: small single-purpose steps of an upstream call (balance, health, probes,
retries, pool, timeouts), stacked in ``proxy/stack.py``. Invariant: no layer imports a
personality (``gateway``, ``mesh``); each is configured once per configuration."""
