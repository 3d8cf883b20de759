"""The gateway's Admin API (Kong-shaped) with its server.

- ``api`` (``AdminAPI.handle(...)``, sans-IO), ``meta`` (node, status, config and schema
  endpoints), ``bodies`` (request bodies and queries), ``store`` (the entity store behind the
  CRUD endpoints);
- ``guard``: who may call the API (token, Host allow-list); ``server``: the small HTTP/1.1
  server that carries it (not on the proxy's hot path).

``check_admin_listen`` is the listen-address rule.
"""

from carbonplane.gateway.admin.api import AdminAPI, check_admin_listen

__all__ = ["AdminAPI", "check_admin_listen"]
