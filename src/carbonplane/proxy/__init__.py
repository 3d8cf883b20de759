"""The shared HTTP/1.1 data-plane engine: asyncio + uvloop protocols over the sans-IO HTTP layer.

Layers, bottom up (each module's docstring holds its invariants):

- ``timers``      lazy per-connection deadlines;
- ``pool``        upstream connections (``asyncio.Protocol``) and per-address keep-alive pools;
- ``exchange``    one request's trip: filters, upstream attempts and retries, response relay;
- ``downstream``  the client connection: reading requests, timeouts, writing responses;
- ``server``      one worker: listening socket (SO_REUSEPORT), connections, pools, config swap;
- ``supervisor``  the master: worker processes, config fan-out with acknowledgements;
- ``app``         THE SEAM: ``ProxyApp.route(ctx) -> RouteDecision | LocalResponse``, filters;
- ``config``      ``ProxyConfig``, compiled once, swapped atomically;
- ``static``      a tiny built-in app (static prefix routes) for tests and benchmarks.

See docs/proxy-engine.md for the design and measured performance.
"""

from carbonplane.proxy.app import (
    EMPTY_CHAIN,
    FAILURE_CONNECT,
    FAILURE_RESET,
    FAILURE_TIMEOUT,
    Client,
    Filter,
    FilterChain,
    FixedTarget,
    LocalResponse,
    ProxyApp,
    RequestContext,
    RouteDecision,
    Target,
    TargetPicker,
    Upstream,
)
from carbonplane.proxy.config import ProxyConfig
from carbonplane.proxy.server import ProxyServer, listening_socket
from carbonplane.proxy.static import StaticApp

__all__ = [
    "EMPTY_CHAIN",
    "FAILURE_CONNECT",
    "FAILURE_RESET",
    "FAILURE_TIMEOUT",
    "Client",
    "Filter",
    "FilterChain",
    "FixedTarget",
    "LocalResponse",
    "ProxyApp",
    "ProxyConfig",
    "ProxyServer",
    "RequestContext",
    "RouteDecision",
    "StaticApp",
    "Target",
    "TargetPicker",
    "Upstream",
    "listening_socket",
]
