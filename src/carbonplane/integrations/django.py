"""Django middleware: one AuditAPICallEvent per request, from Django's own view of it.

    # settings.py
    MIDDLEWARE = ["carbonplane.integrations.django.CarbonplaneMiddleware", ...]
    CARBONPLANE_AUDIT = {"service": "pricing-api", "trusted_proxies": ["10.0.0.0/8"]}

``CARBONPLANE_AUDIT`` holds ``AuditSettings``' keyword arguments (``service`` is required; a missing
or invalid setting raises ``ImproperlyConfigured`` naming it). Put the middleware first, so that
its time covers the others. What it reads: the method; the path template from
``request.resolver_match.route`` (with a leading ``/``; the clipped path when no URL pattern
matched); the response's status and length; ``request.user`` when
``django.contrib.auth``'s middleware set an authenticated one (``get_username()``);
``REMOTE_ADDR``, ``X-Forwarded-For``, ``traceparent`` and ``tracestate`` from ``request.META``.

Invariants: one emitter per process, shared by every instance of the middleware (Django builds the
chain once per handler). A streaming response is recorded when its content has been iterated to the
end or closed (its bytes counted as sent). An exception from the view chain is recorded as a 500 and
re-raised. Recording cannot fail the request. Health: ``started()`` runs when the middleware chain
is built (ServiceHealthEvent HEALTHY) and ``stopped()`` at interpreter exit
(``Emitter.close_at_exit``: UNKNOWN, then the emitter is flushed and closed); call them yourself
from other hooks if you prefer. A process killed by an unhandled SIGTERM runs no exit hook.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from time import perf_counter
from typing import Any

from carbonplane.errors import ConfigError
from carbonplane.integrations.core import AuditSettings, Call, Emitter, clip, trace_context

_emitter: Emitter | None = None
_lock = threading.Lock()


def emitter() -> Emitter:
    """The process's emitter, made from ``settings.CARBONPLANE_AUDIT`` on first use."""
    global _emitter
    if _emitter is None:
        with _lock:
            if _emitter is None:
                from django.conf import settings
                from django.core.exceptions import ImproperlyConfigured

                options = getattr(settings, "CARBONPLANE_AUDIT", None)
                if not isinstance(options, dict):
                    raise ImproperlyConfigured(
                        "settings.CARBONPLANE_AUDIT: a dict of the audit settings, at least "
                        '{"service": "<name>"}'
                    )
                try:
                    made = Emitter(AuditSettings(**options))
                except (ConfigError, TypeError) as exc:
                    raise ImproperlyConfigured(f"settings.CARBONPLANE_AUDIT: {exc}") from None
                made.health("HEALTHY", "started")
                made.close_at_exit()
                _emitter = made
    return _emitter


def started() -> None:
    emitter().health("HEALTHY", "started")


def stopped() -> None:
    if _emitter is not None:
        _emitter.health("UNKNOWN", "stopping")
        _emitter.close()


class CarbonplaneMiddleware:
    """Django middleware recording every request through the event library."""

    sync_capable = True
    async_capable = False

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response
        self.emitter = emitter()
        self.settings = self.emitter.settings

    def __call__(self, request: Any) -> Any:
        path = request.path_info or "/"
        if not self.settings.wants(path):
            return self.get_response(request)
        start = perf_counter()
        try:
            response = self.get_response(request)
        except BaseException as exc:
            self._record(request, path, start, 500, 0, type(exc).__name__)
            raise
        if response.streaming:
            response.streaming_content = self._counted(
                response.streaming_content, request, path, start, response.status_code
            )
        else:
            self._record(request, path, start, response.status_code, len(response.content), None)
        return response

    def _counted(
        self, content: Any, request: Any, path: str, start: float, status: int
    ) -> Iterator[bytes]:
        sent, error = 0, None
        try:
            for chunk in content:
                sent += len(chunk)
                yield chunk
        except BaseException as exc:
            error = type(exc).__name__
            raise
        finally:
            self._record(request, path, start, status, sent, error)

    def _record(
        self, request: Any, path: str, start: float, status: int, sent: int, error: str | None
    ) -> None:
        try:
            latency = (perf_counter() - start) * 1000.0
            meta = request.META
            match = getattr(request, "resolver_match", None)
            route = getattr(match, "route", None) if match is not None else None
            endpoint = ("/" + route.lstrip("^/") if route else None) or clip(path)
            try:
                received = int(meta.get("CONTENT_LENGTH") or 0)
            except ValueError:
                received = 0
            traceparent, tracestate = trace_context(
                meta.get("HTTP_TRACEPARENT"), meta.get("HTTP_TRACESTATE")
            )
            self.emitter.submit(
                Call(
                    clip(request.method or "GET"),
                    clip(endpoint),
                    status,
                    latency,
                    max(received, 0),
                    sent,
                    _user(request),
                    self.settings.client_ip(
                        meta.get("REMOTE_ADDR"), meta.get("HTTP_X_FORWARDED_FOR")
                    ),
                    traceparent,
                    tracestate,
                    error if error else ("HTTP " + str(status) if status >= 500 else None),
                )
            )
        except Exception:  # recording never fails a request
            self.emitter.count_error()


def _user(request: Any) -> str | None:
    user = getattr(request, "user", None)  # set by AuthenticationMiddleware, lazily
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    name = user.get_username()
    return clip(str(name)) if name else None
