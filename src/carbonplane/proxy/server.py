"""``ProxyServer``: one worker's data plane - a listening socket, its connections, upstream pools.

Usable inside any running event loop (tests, the mesh sidecar) or as a worker process of the
``Supervisor``. ``start_tls`` adds an HTTPS listener whose certificates follow the config
(``tls_server.py``). Listening sockets are opened with ``SO_REUSEPORT`` so that every worker of a
host binds the same port and the kernel spreads connections among them.

``swap(config)`` installs a new ``ProxyConfig`` in one assignment (see ``config.py`` for why
that is atomic for requests). Upstream pools are keyed by address and TLS settings and survive
reloads; pools no longer referenced simply drain as their idle connections time out.

``close(drain)`` stops accepting, lets in-flight requests finish for up to ``drain`` seconds,
closes idle keep-alive connections at once, and then the rest.
"""

from __future__ import annotations

import asyncio
import socket

from carbonplane.http.headparser import ResponseHeadParser
from carbonplane.proxy import serverstats
from carbonplane.proxy.config import ProxyConfig
from carbonplane.proxy.downstream import ClientConnection
from carbonplane.proxy.layers.pool import UpstreamPool
from carbonplane.proxy.tls_server import HANDSHAKE_TIMEOUT, listener_context
from carbonplane.proxy.writes import WriteBatch


def listening_socket(
    host: str, port: int, *, reuse_port: bool = True, backlog: int = 2048
) -> socket.socket:
    """A bound, listening, non-blocking TCP socket (IPv6 when ``host`` contains ':')."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(backlog)
    sock.setblocking(False)
    return sock


class TLSClientConnection(ClientConnection):
    """A client connection over TLS: no half-close (TLS has none), so a client's end of input
    does not make asyncio log a warning per connection; the response in flight still ends
    normally, as the TLS layer closes the transport after it."""

    def eof_received(self) -> bool:
        ClientConnection.eof_received(self)
        return False


class ProxyServer:
    """One worker: serve ``config`` on sockets given to ``start``."""

    def __init__(self, config: ProxyConfig, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.loop = loop or asyncio.get_running_loop()
        self.config = config
        self.connections: set[ClientConnection] = set()
        self.pools: dict[tuple, UpstreamPool] = {}
        self._pool_cache: dict[tuple, UpstreamPool] = {}  # (target, upstream) objects -> pool
        self.response_parser = ResponseHeadParser(config.limits)
        self.requests = 0
        self.accepted = 0  # client connections accepted, and those refused (max_connections)
        self.refused = 0
        self.batch = WriteBatch(self.loop)  # every connection's writes of one loop iteration
        self._servers: list[asyncio.AbstractServer] = []
        self._drained: asyncio.Event | None = None
        serverstats.register(self)  # GET /status counts (serverstats.py)

    async def start(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        sock: socket.socket | None = None,
        ssl=None,
        reuse_port: bool = True,
        ssl_handshake_timeout: float | None = None,
        connection: type = ClientConnection,
    ) -> int:
        """Listen (on ``sock`` or a new ``SO_REUSEPORT`` socket); returns the bound port."""
        if sock is None:
            sock = listening_socket(host, port, reuse_port=reuse_port)
        server = await self.loop.create_server(
            lambda: connection(self),
            sock=sock,
            ssl=ssl,
            backlog=2048,
            ssl_handshake_timeout=ssl_handshake_timeout if ssl is not None else None,
        )
        self._servers.append(server)
        return sock.getsockname()[1]

    async def start_tls(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        handshake_timeout: float = HANDSHAKE_TIMEOUT,
        *,
        sock: socket.socket | None = None,
    ) -> int:
        """An HTTPS listener beside the plain one: the certificate is chosen per handshake from
        the current config's ``app.server_tls`` (``tls_server.py``); returns the bound port."""
        context = listener_context(lambda: self.config.app)
        return await self.start(
            host,
            port,
            sock=sock,
            ssl=context,
            ssl_handshake_timeout=handshake_timeout,
            connection=TLSClientConnection,
        )

    async def adopt(
        self, sock: socket.socket, *, ssl=None, ssl_handshake_timeout: float | None = None
    ) -> None:
        """Serve one already-accepted connection (plaintext, or TLS with ``ssl`` handshaken
        first). For listeners that decide per connection, e.g. the mesh sidecar's inbound port:
        a context picked at accept time (swapped in place on renewal), TLS or plaintext by the
        first byte. Raises what the handshake raises (``ssl.SSLError``, ``OSError``)."""
        await self.loop.connect_accepted_socket(
            lambda: ClientConnection(self),
            sock,
            ssl=ssl,
            ssl_handshake_timeout=ssl_handshake_timeout if ssl is not None else None,
        )

    @property
    def ports(self) -> list[int]:
        return [s.sockets[0].getsockname()[1] for s in self._servers if s.sockets]

    def swap(self, config: ProxyConfig) -> None:
        """Install ``config`` for every request whose head is parsed from now on."""
        self.config = config
        self._pool_cache = {}  # the new config's targets are new objects

    def pool_for(self, target, upstream) -> UpstreamPool:
        """The pool for ``target`` reached as ``upstream`` says (address and TLS settings).

        Targets are treated as immutable addresses: a changed address must be a new object.
        """
        try:
            pool = self._pool_cache.get((target, upstream))  # identity-hashed: the fast path
        except TypeError:  # an unhashable target type: use the address key only
            return self._pool_by_address(target, upstream)
        if pool is not None:
            return pool
        pool = self._pool_by_address(target, upstream)
        if len(self._pool_cache) > 4096:
            self._pool_cache.clear()
        self._pool_cache[(target, upstream)] = pool
        return pool

    def _pool_by_address(self, target, upstream) -> UpstreamPool:
        key = (
            target.host,
            target.port,
            id(upstream.ssl) if upstream.ssl is not None else 0,
            upstream.server_hostname,
        )
        pool = self.pools.get(key)
        if pool is None:
            config = self.config
            pool = UpstreamPool(
                self.loop,
                self.response_parser,
                target.host,
                target.port,
                ssl=upstream.ssl,
                server_hostname=upstream.server_hostname,
                max_idle=config.upstream_keepalive_pool,
                max_requests=config.upstream_keepalive_requests,
                idle_timeout=config.upstream_keepalive_timeout,
                batch=self.batch,
            )
            self.pools[key] = pool
        return pool

    @property
    def in_flight(self) -> int:
        return sum(1 for c in self.connections if c.exchange is not None)

    def forget(self, conn: ClientConnection) -> None:
        """A client connection closed (called from its ``connection_lost``)."""
        self.connections.discard(conn)
        if self._drained is not None and not self.in_flight:
            self._drained.set()

    async def close(self, drain: float = 10.0) -> None:
        """Stop accepting; let in-flight requests finish (up to ``drain`` s); close the rest."""
        for server in self._servers:
            server.close()
        self._drained = asyncio.Event()
        for conn in list(self.connections):
            conn.draining = True  # in-flight responses get connection: close
            if conn.exchange is None:
                conn.closing = True
                conn.close_transport()
        if self.in_flight:
            try:
                await asyncio.wait_for(self._drained.wait(), drain)
            except asyncio.TimeoutError:
                pass
        for conn in list(self.connections):
            conn.abort()
        self.connections.clear()
        for pool in self.pools.values():
            pool.close()
