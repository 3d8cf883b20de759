"""WSGI middleware (Flask, any PEP 3333 app): one AuditAPICallEvent per request.

    from carbonplane.integrations.wsgi import CarbonplaneWSGIMiddleware
    app = CarbonplaneWSGIMiddleware(app, service="pricing-api")

Keyword arguments other than ``emitter`` are ``AuditSettings``'. What it reads from the environ:
``REQUEST_METHOD``; the path template from ``environ["carbonplane.route"]`` when a framework adapter
put it there (``carbonplane.integrations.flask`` does, from ``request.url_rule``), else
``PATH_INFO`` (clipped); ``CONTENT_LENGTH``; ``REMOTE_USER`` or ``environ["carbonplane.user"]``;
``REMOTE_ADDR``; ``HTTP_X_FORWARDED_FOR``, ``HTTP_TRACEPARENT``, ``HTTP_TRACESTATE``.

Invariants: the response is recorded when the server calls ``close()`` on the body (PEP 3333: after
the last chunk was sent, or the client went away), so a streaming body is timed to its end and its
bytes counted as sent. The body is wrapped, so a server's ``wsgi.file_wrapper`` fast path (sendfile)
is not taken for a wrapped response. Recording cannot fail the request. An exception from the app is
recorded as a 500 and re-raised.

WSGI has no lifespan: ``started()`` emits ServiceHealthEvent HEALTHY (call it once the app is
built; the constructor does when ``announce=True``, the default) and ``stopped()`` UNKNOWN and
closes the emitter (at interpreter exit by default, ``Emitter.close_at_exit``: ``announce=False``
to call them yourself, e.g. from gunicorn's ``post_worker_init``/``worker_exit`` hooks). A process
killed by a signal it does not handle (SIGTERM's default) runs no exit hook: turn SIGTERM into
``sys.exit`` (the examples do) or call ``stopped()`` from the server's hook.

Spec: PEP 3333 (the server calls the body's ``close()``; ``REMOTE_ADDR``, ``HTTP_*`` variables).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from time import perf_counter
from typing import Any

from carbonplane.integrations.core import AuditSettings, Call, Emitter, clip, trace_context


class CarbonplaneWSGIMiddleware:
    """Records every request of the wrapped WSGI app through the event library."""

    def __init__(
        self,
        app: Any,
        *,
        emitter: Emitter | None = None,
        announce: bool = True,
        **settings: Any,
    ) -> None:
        self.app = app
        self.emitter = emitter if emitter is not None else Emitter(AuditSettings(**settings))
        self.settings = self.emitter.settings
        if announce:
            self.started()
            self.emitter.close_at_exit()

    def started(self) -> None:
        self.emitter.health("HEALTHY", "started")

    def stopped(self) -> None:
        self.emitter.health("UNKNOWN", "stopping")
        self.emitter.close()

    def __call__(self, environ: dict, start_response: Any) -> Iterable[bytes]:
        path = environ.get("PATH_INFO") or "/"
        if not self.settings.wants(path):
            return self.app(environ, start_response)
        start = perf_counter()
        status = [0]

        def observing_start_response(status_line: str, headers: list, exc_info: Any = None) -> Any:
            try:
                status[0] = int(status_line[:3])
            except ValueError:
                status[0] = 500
            if exc_info is not None:
                return start_response(status_line, headers, exc_info)
            return start_response(status_line, headers)

        try:
            body = self.app(environ, observing_start_response)
        except BaseException as exc:
            self.record(environ, path, start, status[0] or 500, 0, type(exc).__name__)
            raise
        return _Body(self, body, environ, path, start, status)

    def record(
        self,
        environ: dict,
        path: str,
        start: float,
        status: int,
        sent: int,
        error: str | None,
    ) -> None:
        try:
            latency = (perf_counter() - start) * 1000.0
            try:
                received = int(environ.get("CONTENT_LENGTH") or 0)
            except ValueError:
                received = 0
            user = environ.get("carbonplane.user") or environ.get("REMOTE_USER")
            traceparent, tracestate = trace_context(
                environ.get("HTTP_TRACEPARENT"), environ.get("HTTP_TRACESTATE")
            )
            self.emitter.submit(
                Call(
                    clip(environ.get("REQUEST_METHOD") or "GET"),
                    environ.get("carbonplane.route") or clip(path),
                    status or 500,
                    latency,
                    max(received, 0),
                    sent,
                    clip(str(user)) if user else None,
                    self.settings.client_ip(
                        environ.get("REMOTE_ADDR"), environ.get("HTTP_X_FORWARDED_FOR")
                    ),
                    traceparent,
                    tracestate,
                    error if error else ("HTTP " + str(status) if status >= 500 else None),
                )
            )
        except Exception:  # recording never fails a request
            self.emitter.count_error()


class _Body:
    """The app's body, counted as the server iterates it; recorded at ``close()``."""

    __slots__ = ("_mw", "_body", "_environ", "_path", "_start", "_status", "_sent", "_error")

    def __init__(
        self,
        mw: CarbonplaneWSGIMiddleware,
        body: Any,
        environ: dict,
        path: str,
        start: float,
        status: list,
    ) -> None:
        self._mw, self._body, self._environ, self._path = mw, body, environ, path
        self._start, self._status, self._sent, self._error = start, status, 0, None

    def __iter__(self) -> Iterator[bytes]:
        try:
            for chunk in self._body:
                self._sent += len(chunk)
                yield chunk
        except BaseException as exc:
            self._error = type(exc).__name__
            raise

    def close(self) -> None:
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            status = self._status[0]
            if self._error and not status:
                status = 500
            self._mw.record(self._environ, self._path, self._start, status, self._sent, self._error)
