"""ASGI middleware (FastAPI, Starlette, any ASGI 3 app): one AuditAPICallEvent per HTTP request.

    from carbonplane.integrations.asgi import CarbonplaneASGIMiddleware
    app.add_middleware(CarbonplaneASGIMiddleware, service="pricing-api")   # FastAPI / Starlette
    app = CarbonplaneASGIMiddleware(app, service="pricing-api")            # any ASGI app

Keyword arguments other than ``emitter`` are ``AuditSettings``'. What this adapter reads: the
method; the path template from ``scope["route"].path`` (Starlette and FastAPI set it when a route
matched; under a ``Mount`` it is prefixed with the mount's part of ``root_path``, as matched; the
raw path, clipped, when no route matched); the status of ``http.response.start``; body bytes both
ways; ``scope["user"]`` when an authentication middleware set one that is authenticated; the peer
from ``scope["client"]``; ``X-Forwarded-For``, ``traceparent`` and ``tracestate`` headers.

Invariants: the wrapped app sees the very ``scope``, ``receive`` and ``send`` semantics it would
without this middleware (``send`` is wrapped only to observe); recording happens after the response
ended (the last body chunk sent, or the app returned or raised) and cannot fail the request; an
exception from the app is re-raised after a 500 is recorded. The ``lifespan`` scope is passed on
and produces a ServiceHealthEvent HEALTHY at ``startup.complete`` and UNKNOWN ("stopping") at
shutdown, then the emitter is closed. Not used on ``websocket`` scopes.

Spec: the ASGI 3.0 HTTP connection scope and the Lifespan protocol (asgi.readthedocs.io).
"""

from __future__ import annotations

import asyncio
from time import perf_counter
from typing import Any

from carbonplane.integrations.core import AuditSettings, Call, Emitter, clip, trace_context


class CarbonplaneASGIMiddleware:
    """Records every HTTP request of the wrapped ASGI app through the event library."""

    def __init__(self, app: Any, *, emitter: Emitter | None = None, **settings: Any) -> None:
        self.app = app
        self.emitter = emitter if emitter is not None else Emitter(AuditSettings(**settings))
        self.settings = self.emitter.settings

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        kind = scope["type"]
        if kind == "http":
            path = scope.get("path") or "/"
            if self.settings.wants(path):
                await self._http(scope, receive, send, path)
                return
        elif kind == "lifespan":
            await self._lifespan(scope, receive, send)
            return
        await self.app(scope, receive, send)

    async def _http(self, scope: dict, receive: Any, send: Any, path: str) -> None:
        start = perf_counter()
        root = scope.get("root_path", "")
        state = [0, 0, 0]  # status, response body bytes, request body bytes

        async def counting_receive() -> dict:
            message = await receive()
            body = message.get("body")
            if body:
                state[2] += len(body)
            return message

        async def observing_send(message: dict) -> None:
            kind = message["type"]
            if kind == "http.response.body":
                body = message.get("body")
                if body:
                    state[1] += len(body)
            elif kind == "http.response.start":
                state[0] = message["status"]
            await send(message)

        error = None
        try:
            await self.app(scope, counting_receive, observing_send)
        except BaseException as exc:
            error = type(exc).__name__
            raise
        finally:
            self._record(scope, path, root, start, state, error)

    def _record(
        self, scope: dict, path: str, root: str, start: float, state: list, error: str | None
    ) -> None:
        try:
            latency = (perf_counter() - start) * 1000.0
            status = state[0] or 500
            template = getattr(scope.get("route"), "path", None)
            if template is None:
                endpoint = clip(path)
            else:  # under a Mount the route is the mounted app's: put the mount's prefix back
                mounted = scope.get("root_path", "")
                prefix = mounted[len(root) :] if mounted.startswith(root) else ""
                endpoint = clip(prefix + template) if prefix else template
            forwarded = traceparent = tracestate = None
            for name, value in scope.get("headers") or ():
                if name == b"x-forwarded-for":  # several lines form one list, in order
                    text = value.decode("latin-1")
                    forwarded = text if forwarded is None else f"{forwarded},{text}"
                elif name == b"traceparent":  # W3C: two traceparent headers are invalid
                    traceparent = "" if traceparent is not None else value.decode("latin-1")
                elif name == b"tracestate":
                    text = value.decode("latin-1")
                    tracestate = text if tracestate is None else f"{tracestate},{text}"
            client = scope.get("client")
            ip = self.settings.client_ip(client[0] if client else None, forwarded)
            if traceparent is not None:
                traceparent, tracestate = trace_context(traceparent, tracestate)
            self.emitter.submit(
                Call(
                    clip(scope.get("method") or "GET"),
                    endpoint,
                    status,
                    latency,
                    state[2],
                    state[1],
                    _user(scope),
                    ip,
                    traceparent,
                    tracestate,
                    error if error else ("HTTP " + str(status) if status >= 500 else None),
                )
            )
        except Exception:  # recording never fails a request
            self.emitter.count_error()

    async def _lifespan(self, scope: dict, receive: Any, send: Any) -> None:
        emitter = self.emitter

        async def observing_send(message: dict) -> None:
            kind = message["type"]
            if kind == "lifespan.startup.complete":
                emitter.health("HEALTHY", "started")
            elif kind == "lifespan.shutdown.complete":
                emitter.health("UNKNOWN", "stopping")
                # flushing may wait on the backend: off the event loop
                await asyncio.get_running_loop().run_in_executor(None, emitter.close)
            await send(message)

        await self.app(scope, receive, observing_send)


def _user(scope: dict) -> str | None:
    """The authenticated user's name from Starlette's ``scope["user"]``, if any."""
    if "user" not in scope:
        return None
    user = scope["user"]
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    name = getattr(user, "display_name", None) or getattr(user, "identity", None)
    return clip(str(name)) if name else None
