"""The API gateway (B): Kong's declarative config, entities, router, balancer and Admin API.

Everything here is sans-IO: the proxy engine calls ``GatewayConfig.router.match`` per request and
``Balancer`` per upstream attempt; the Admin API is a pure ``handle(...)`` function. See
docs/gateway.md.
"""
