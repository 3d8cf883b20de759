"""Framework integrations: services emit an AuditAPICallEvent per request without glue code.

One shared core (``core.py``: settings, sampling, exclusion, client IP, trace context, the bounded
emitter) and thin adapters, each imported only by its user, so ``import carbonplane`` (and this
package) never needs a web framework:

- ``carbonplane.integrations.asgi.CarbonplaneASGIMiddleware``: FastAPI, Starlette, any ASGI app
  (extras ``carbonplane[fastapi]``, ``carbonplane[starlette]``; a bare ASGI app needs none);
- ``carbonplane.integrations.wsgi.CarbonplaneWSGIMiddleware``: any WSGI app;
  ``carbonplane.integrations.flask.instrument``: Flask (``carbonplane[flask]``);
- ``carbonplane.integrations.django.CarbonplaneMiddleware``: Django (``carbonplane[django]``).

Guide: docs/integrations.md. Metrics: docs/metrics.md ("Framework integrations").
"""

from carbonplane.integrations.core import AuditSettings, Call, Emitter

__all__ = ["AuditSettings", "Call", "Emitter"]
