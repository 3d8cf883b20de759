"""The seam between the proxy engine and what runs on it (the gateway, later the mesh sidecar).

Per request, after the head is read and validated, the engine calls ONE method::

    app.route(ctx) -> RouteDecision | LocalResponse

``RouteDecision`` names an ``Upstream`` (compiled once: target picker, timeouts, retries, TLS),
the request-target and Host to send, and a ``FilterChain``. ``LocalResponse`` answers at once
(404 no route, 426, ...). Filters are envoy-style: hooks return *verdicts*, never raise for
control flow::

    on_request(ctx)        -> None (continue) | LocalResponse (answer now)
                              | an awaitable resolving to either (the request waits; e.g. Redis)
    on_request_body(ctx, data, end) -> bytes | LocalResponse; present => the request body is
                              re-framed chunked upstream (unless every such filter declares
                              ``request_body_keeps_length = True``); b"" holds data back;
                              LocalResponse answers at once (the connection then closes)
    on_response_head(ctx)  -> None; may edit ctx.response (status, headers) before it is sent
    on_response_body(ctx, data, end) -> bytes; present => the body is re-framed (chunked)
    on_log(ctx)            -> None; runs after the response was written, off the critical path

Invariants:
- everything reachable from a decision (Upstream, FilterChain, filters) is built once per
  configuration and shared, immutable, by all requests; per-request state lives only in
  ``RequestContext``;
- ``Upstream.picker.pick(ctx)`` returns an object with ``host`` (str) and ``port`` (int), or
  None (-> 503). ``picker.release(ctx, target, status, failure)`` is called exactly once per
  pick, with the HTTP status (0 if none) and ``failure`` in ``FAILURES`` or None;
- a filter hook exception is a bug: the engine answers 500 and logs it, it never kills the
  connection loop.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

from carbonplane.http import errorpages
from carbonplane.http.model import Headers, RequestHead, ResponseHead
from carbonplane.proxy.layers import retries as retries_layer
from carbonplane.proxy.layers import timeouts

FAILURE_CONNECT = "connect"  # could not connect (refused, unreachable, TLS failure)
FAILURE_TIMEOUT = "timeout"  # connect/read/write timeout
FAILURE_RESET = "reset"  # the connection broke or the upstream answered garbage
FAILURES = (FAILURE_CONNECT, FAILURE_TIMEOUT, FAILURE_RESET)


class Target(Protocol):
    host: str
    port: int


class TargetPicker(Protocol):
    def pick(self, ctx: RequestContext) -> Target | None: ...

    def release(
        self, ctx: RequestContext, target: Target, status: int, failure: str | None
    ) -> None: ...


class FixedTarget:
    """A picker for one address (the built-in app, tests, a sidecar's local service)."""

    __slots__ = ("host", "port")

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port

    def pick(self, ctx: RequestContext) -> FixedTarget:
        return self

    def release(self, ctx: RequestContext, target: Target, status: int, failure: str | None):
        return None

    def __repr__(self) -> str:
        return f"FixedTarget({self.host}:{self.port})"


class Upstream:
    """Where and how to send: the layers of ``proxy/stack.py`` flattened, once per service.

    ``picker`` (balance layer), ``retries`` (retries layer: further attempts after a failed
    connect), ``connect_timeout``/``read_timeout``/``write_timeout`` in seconds (timeouts layer),
    ``ssl`` and ``server_hostname`` (TLS to https upstreams); ``host_header(target)`` gives the
    Host to send when the decision leaves it to the target. Values are checked by the layers.
    """

    __slots__ = (
        "name",
        "picker",
        "connect_timeout",
        "read_timeout",
        "write_timeout",
        "retries",
        "ssl",
        "server_hostname",
        "host_header",
    )

    def __init__(
        self,
        name: str,
        picker: TargetPicker,
        *,
        connect_timeout: float = 60.0,
        read_timeout: float = 60.0,
        write_timeout: float = 60.0,
        retries: int = 5,
        ssl: Any = None,
        server_hostname: str | None = None,
        host_header: Callable[[Target], bytes] | None = None,
    ) -> None:
        timeouts.check(connect_timeout, read_timeout, write_timeout, where=name)
        retries_layer.check(retries, where=name)
        self.name = name
        self.picker = picker
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.write_timeout = write_timeout
        self.retries = retries
        self.ssl = ssl
        self.server_hostname = server_hostname
        self.host_header = host_header or default_host_header

    def __repr__(self) -> str:
        return f"Upstream({self.name!r}, {self.picker!r}, retries={self.retries})"


_host_headers: dict[tuple[str, int], bytes] = {}


def default_host_header(target: Target) -> bytes:
    """``host[:port]`` of a target (port omitted when 80), IDNA-encoded, cached."""
    key = (target.host, target.port)
    value = _host_headers.get(key)
    if value is None:
        host = target.host.encode("idna")
        if b":" in host:
            host = b"[%s]" % host
        value = host if target.port == 80 else b"%s:%d" % (host, target.port)
        if len(_host_headers) > 4096:
            _host_headers.clear()
        _host_headers[key] = value
    return value


class Filter:
    """Base class: override only the hooks you need (the chain calls only overridden ones).

    ``on_request_body(ctx, data, end) -> bytes | LocalResponse`` is optional and deliberately
    not defined here: a filter has it only when it needs it (``hasattr`` tells), since its
    presence makes the engine re-frame request bodies chunked - unless the filter sets
    ``request_body_keeps_length = True`` (it only observes, or never changes a piece's length),
    in which case Content-Length framing is kept (some upstreams refuse chunked uploads).
    """

    name = "filter"

    def on_request(self, ctx: RequestContext) -> None | LocalResponse | Awaitable[Any]:
        return None

    def on_response_head(self, ctx: RequestContext) -> None:
        return None

    def on_response_body(self, ctx: RequestContext, data: bytes, end: bool) -> bytes:
        return data

    def on_log(self, ctx: RequestContext) -> None:
        return None


class FilterChain:
    """Filters in execution order, with each hook's overriding methods precomputed."""

    __slots__ = (
        "filters",
        "request",
        "request_body",
        "request_body_reframes",
        "response_head",
        "response_body",
        "log",
    )

    def __init__(self, filters: Sequence[Filter] = ()) -> None:
        self.filters = tuple(filters)
        self.request = self._hooks("on_request")
        self.request_body = self._hooks("on_request_body")
        self.request_body_reframes = any(
            not getattr(f, "request_body_keeps_length", False)
            for f in self.filters
            if hasattr(f, "on_request_body")
        )
        self.response_head = self._hooks("on_response_head")
        self.response_body = self._hooks("on_response_body")
        self.log = self._hooks("on_log")

    def _hooks(self, name: str) -> tuple:
        base = getattr(Filter, name, None)
        return tuple(
            getattr(f, name) for f in self.filters if getattr(type(f), name, base) is not base
        )

    def __len__(self) -> int:
        return len(self.filters)

    def __repr__(self) -> str:
        return f"FilterChain({[getattr(f, 'name', type(f).__name__) for f in self.filters]})"


EMPTY_CHAIN = FilterChain()


class RouteDecision:
    """Send this request to ``upstream``: ``target`` (path + query) with Host ``host``
    (None: ``upstream.host_header(picked target)``), through ``filters``. ``route`` is opaque
    to the engine (for filters and logs); ``prefix`` becomes X-Forwarded-Prefix.
    ``buffer_request`` (Kong's ``request_buffering``): read the whole request body from the
    client before taking an upstream connection (bounded by ``ProxyConfig.request_buffer_bytes``,
    413 beyond); otherwise the body streams upstream as it arrives."""

    __slots__ = ("upstream", "target", "host", "filters", "route", "prefix", "buffer_request")

    def __init__(
        self,
        upstream: Upstream,
        target: bytes,
        host: bytes | None = None,
        filters: FilterChain = EMPTY_CHAIN,
        route: Any = None,
        prefix: bytes | None = None,
        buffer_request: bool = False,
    ) -> None:
        self.upstream = upstream
        self.target = target
        self.host = host
        self.filters = filters
        self.route = route
        self.prefix = prefix
        self.buffer_request = buffer_request


class LocalResponse:
    """A response made by the proxy or a filter. ``message`` renders Kong's error body in the
    format the request's ``Accept`` asks for (``carbonplane.http.errorpages``: JSON, HTML, XML or
    plain text, with the request id); ``body`` is sent as given. ``engine``: an error the engine
    itself made (upstream failures, bad requests, timeouts), which without ``Accept`` follows the
    request's ``Content-Type``, then ``error_default_type`` (Kong's error handler); the others
    (router, plugins) default to JSON. ``filters``: the chain whose response-head and log hooks
    still run (e.g. logging a 404)."""

    __slots__ = ("status", "headers", "body", "message", "filters", "engine")

    def __init__(
        self,
        status: int,
        body: bytes | None = None,
        headers: Headers | None = None,
        *,
        message: str | None = None,
        filters: FilterChain | None = None,
        engine: bool = False,
    ) -> None:
        self.status = status
        self.headers = headers if headers is not None else []
        self.body = body
        self.message = message
        self.filters = filters
        self.engine = engine

    @classmethod
    def error(
        cls,
        status: int,
        message: str,
        headers: Headers | None = None,
        *,
        filters: FilterChain | None = None,
    ) -> LocalResponse:
        return cls(status, None, headers, message=message, filters=filters)

    @classmethod
    def engine_error(cls, status: int, message: str) -> LocalResponse:
        """An error the engine itself produced (Kong: nginx's error pages)."""
        return cls(status, None, None, message=message, engine=True)

    def render(
        self,
        request_id: bytes | None,
        request: RequestHead | None = None,
        error_default_type: bytes = errorpages.PLAIN,
    ) -> tuple[Headers, bytes]:
        """(headers, body) as sent: a ``message`` becomes Kong's error body negotiated by the
        ``request``'s Accept (its content type replaces any given)."""
        if self.body is not None or self.message is None:
            return self.headers, self.body or b""
        accept = request.get(b"accept") if request is not None else None
        if self.engine and not accept:
            accept = request.get(b"content-type") if request is not None else None
            accept = accept or error_default_type
        content_type = errorpages.negotiate(accept)
        rid = request_id.decode("latin-1") if request_id else ""
        body = errorpages.render(content_type, self.message, rid)
        headers = [h for h in self.headers if h[0] != b"content-type"]
        headers.append((b"content-type", content_type))
        return headers, body

    def __repr__(self) -> str:
        return f"LocalResponse({self.status}, {self.message or self.body!r})"


class Client:
    """One client connection as the app sees it (shared by its requests).

    ``tls``: the connection's ``ssl.SSLObject`` when it arrived over TLS (its peer certificate,
    cipher, version; the mesh sidecar reads the client's SPIFFE identity from it), else None.
    ``server_ip``, ``serial`` and ``requests`` are nginx's ``$server_addr``, ``$connection`` and
    ``$connection_requests`` (Kong's correlation-id ``tracker``)."""

    __slots__ = (
        "peer_ip",
        "peer_port",
        "trusted",
        "scheme",
        "server_port",
        "forwarded_base",
        "tls",
        "server_ip",
        "serial",
        "requests",
    )

    def __init__(
        self, peer_ip: str, peer_port: int, trusted: bool, scheme: bytes, server_port: int
    ) -> None:
        self.peer_ip = peer_ip
        self.peer_port = peer_port
        self.trusted = trusted
        self.scheme = scheme
        self.server_port = server_port
        self.forwarded_base: bytes | None = None
        self.tls: Any = None
        self.server_ip = ""  # the local address the connection arrived on
        self.serial = 0  # the connection's number in this worker (nginx's $connection)
        self.requests = 0  # requests started on it so far (nginx's $connection_requests)

    def __repr__(self) -> str:
        return f"Client({self.peer_ip}:{self.peer_port}, trusted={self.trusted})"


class RequestContext:
    """Per-request state, handed to the app and every filter hook.

    Times are ``loop.time()`` seconds; ``started_ms`` is wall-clock epoch milliseconds.
    Filters may edit ``upstream_target``/``upstream_host`` and ``request.headers`` in
    ``on_request``, and ``response`` in ``on_response_head``. ``vars`` is theirs to share.
    """

    def __init__(
        self,
        request: RequestHead,
        client: Client,
        client_ip: str,
        request_id: bytes,
        started: float,
        started_ms: int,
    ) -> None:
        self.request = request
        self.client = client
        self.client_ip = client_ip
        self.request_id = request_id
        self.started = started
        self.started_ms = started_ms
        self.vars: dict[str, Any] = {}  # the app's and the filters' per-request values
        self.decision: RouteDecision | None = None
        self.upstream_target = b""
        self.upstream_host: bytes | None = None
        self.target: Target | None = None
        self.tries = 0
        self.response: ResponseHead | None = None
        self.source = "proxy"  # "upstream" once the upstream's response is relayed
        self.error: str | None = None
        self.upstream_started = 0.0
        self.upstream_answered = 0.0
        self.finished = 0.0
        self.request_bytes = 0
        self.response_bytes = 0

    @property
    def status(self) -> int:
        return self.response.status if self.response is not None else 0

    def __repr__(self) -> str:
        req = self.request
        return f"RequestContext({req.method.decode()} {req.target!r} -> {self.status})"


class ProxyApp(Protocol):
    """What the engine runs. ``route`` must not block; see the module docstring."""

    def route(self, ctx: RequestContext) -> RouteDecision | LocalResponse: ...
