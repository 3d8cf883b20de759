"""Flask: the WSGI middleware plus the route template (``request.url_rule``) and the user.

    from carbonplane.integrations.flask import instrument
    instrument(app, service="pricing-api")

``instrument`` wraps ``app.wsgi_app`` in ``CarbonplaneWSGIMiddleware`` (keyword arguments as
there) and registers a ``teardown_request`` function that puts ``request.url_rule.rule`` and the
user into the WSGI environ for it. The user is ``user_getter(request)`` when given, else
Flask-Login's ``current_user.get_id()`` when Flask-Login is in use and the user is authenticated,
else the server's ``REMOTE_USER``.

Invariant: Flask runs ``teardown_request`` for every request, also after an error and before the
server closes the body, so the middleware's record always sees what the hook stored.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from carbonplane.integrations.core import clip
from carbonplane.integrations.wsgi import CarbonplaneWSGIMiddleware


def instrument(
    app: Any, *, user_getter: Callable[[Any], str | None] | None = None, **options: Any
) -> CarbonplaneWSGIMiddleware:
    """Record every request of the Flask ``app``; returns the middleware (its ``emitter``)."""
    from flask import request

    middleware = CarbonplaneWSGIMiddleware(app.wsgi_app, **options)
    app.wsgi_app = middleware

    @app.teardown_request
    def _carbonplane_route(_exc: BaseException | None) -> None:
        environ = request.environ
        rule = request.url_rule
        if rule is not None:
            environ["carbonplane.route"] = rule.rule
        try:
            user = user_getter(request) if user_getter is not None else _login_user()
        except Exception:  # an auth lookup failing must not fail the request
            user = None
        if user:
            environ["carbonplane.user"] = clip(str(user))

    return middleware


def _login_user() -> str | None:
    login = sys.modules.get("flask_login")
    if login is None:
        return None
    user = login.current_user
    return user.get_id() if getattr(user, "is_authenticated", False) else None
