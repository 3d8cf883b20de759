"""Everything that turns a declarative file or Admin API input into a validated gateway config.

- ``schema`` (+ ``typedefs``): typed field schemas, one declaration per entity field;
- ``entities/``: Kong's entity definitions (services, routes, upstreams, consumers, plugins...);
- ``source``: YAML/JSON text -> plain data with the line of every node;
- ``loader``: Kong's ``_format_version: "3.0"`` file -> a compiled ``GatewayConfig``;
- ``model``: the compiled, immutable ``GatewayConfig`` every request of a worker shares;
- ``docgen``: the entity reference of docs/gateway.md, generated from the schemas.

Invariant: nothing here serves traffic or opens sockets; the Admin API and the runtime import
from here, never the other way round (``model`` uses the runtime's ``Router`` to compile routes).
"""
