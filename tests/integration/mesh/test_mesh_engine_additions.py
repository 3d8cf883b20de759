"""The two engine additions the sidecar uses, over real sockets and real TLS on loopback:
``Client.tls`` (the connection's SSLObject, so an app can read the client's certificate) and
``ProxyServer.adopt`` (serve one accepted socket as plaintext or TLS, decided by the caller)."""

from __future__ import annotations

import asyncio

from meshidkit import creds_for

from carbonplane.mesh.identity import (
    CertificateAuthority,
    client_context,
    peer_identity,
    server_context,
)
from carbonplane.proxy import LocalResponse, ProxyConfig, ProxyServer, listening_socket


class WhoApp:
    """Answers with the client's SPIFFE id, or ``plaintext``."""

    def route(self, ctx):
        tls = ctx.client.tls
        who = str(peer_identity(tls)) if tls is not None else "plaintext"
        return LocalResponse(200, f"{who} {ctx.client.scheme.decode()}".encode())


async def _get(port: int, ssl_ctx=None) -> bytes:
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", port, ssl=ssl_ctx, server_hostname="x" if ssl_ctx else None
    )
    writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    data = await reader.read()
    writer.close()
    return data.split(b"\r\n\r\n", 1)[1]


def test_client_tls_carries_the_peer_certificate_and_adopt_serves_both(tmp_path):
    ca = CertificateAuthority(tmp_path / "ca")
    server_creds, client_creds = creds_for(ca, "orders"), creds_for(ca, "frontend")

    async def scenario():
        server = ProxyServer(ProxyConfig(app=WhoApp()))
        tls_port = await server.start("127.0.0.1", 0, ssl=server_context(server_creds))
        assert await _get(tls_port, client_context(client_creds)) == (
            b"spiffe://cluster.local/ns/default/sa/frontend https"
        )
        # adopt: the caller accepts and chooses per connection
        lsock = listening_socket("127.0.0.1", 0, reuse_port=False)
        port = lsock.getsockname()[1]
        loop = asyncio.get_running_loop()

        async def accept(n, ssl_ctx):
            for _ in range(n):
                conn, _ = await loop.sock_accept(lsock)
                await server.adopt(conn, ssl=ssl_ctx, ssl_handshake_timeout=5)

        acceptor = loop.create_task(accept(1, None))
        assert await _get(port) == b"plaintext http"
        await acceptor
        acceptor = loop.create_task(accept(1, server_context(server_creds)))
        assert await _get(port, client_context(client_creds)) == (
            b"spiffe://cluster.local/ns/default/sa/frontend https"
        )
        await acceptor
        lsock.close()
        await server.close(1)

    asyncio.run(scenario())
