"""What serves traffic: a compiled gateway config as the proxy engine's app, per worker.

- ``router``: Kong's route matching, compiled once per config, run per request;
- ``resolve``: which plugin instances run for a route (Kong's scoping precedence);
- ``chains``: the plugin handlers of a config version, one filter chain per route;
- ``balancing``: Kong's services and upstreams -> the engine's layer stack, hash input;
- ``app``: ``GatewayApp``, the engine's ``ProxyApp`` for one config version (compiled);
- ``worker``: the config factory a proxy worker runs and the state that outlives versions.

Invariant: per-config objects are built once and never changed; per-request state lives in
the request context only.
"""
