"""Helpers for the mesh identity tests: a settable clock, workload credentials from a CA, and one
real mTLS exchange on loopback (a ``MeshServer`` echoing a line with the identity it saw)."""

from __future__ import annotations

import asyncio
import datetime as dt
import ssl

from cryptography import x509

from carbonplane.mesh.identity import (
    CertificateAuthority,
    Credentials,
    MeshServer,
    MeshTLS,
    build_csr,
    generate_key,
    peer_identity,
    workload_id,
)


class Clock:
    """A clock tests move by hand (aware UTC)."""

    def __init__(self, now: dt.datetime | None = None) -> None:
        self.now = now or dt.datetime.now(dt.timezone.utc)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **kw) -> None:
        self.now += dt.timedelta(**kw)


def creds_for(
    ca: CertificateAuthority,
    service: str,
    namespace: str = "default",
    ttl: dt.timedelta | None = None,
) -> Credentials:
    """A workload's key (generated here, never sent) and the certificate the CA signs for it."""
    ident = workload_id(ca.trust_domain, namespace, service)
    key = generate_key()
    return Credentials.from_issued(key, ca.issue(build_csr(key, ident), ident, ttl))


async def start_echo(holder: MeshTLS, trust_domain: str | None = None) -> MeshServer:
    """An mTLS server answering each line with ``<client spiffe id> <line>``."""

    async def handle(reader, writer, peer):
        while line := await reader.readline():
            writer.write(f"{peer} ".encode() + line)
            await writer.drain()

    return await MeshServer(holder, handle, trust_domain=trust_domain).start()


async def exchange(port: int, ctx: ssl.SSLContext, line: bytes = b"ping\n"):
    """Connect with ``ctx``, send ``line``; return (server identity, answer, server cert)."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port, ssl=ctx), 10)
    try:
        sslobj = writer.get_extra_info("ssl_object")
        server_id = peer_identity(sslobj)
        cert = x509.load_der_x509_certificate(sslobj.getpeercert(binary_form=True))
        writer.write(line)
        await writer.drain()
        answer = await asyncio.wait_for(reader.readline(), 10)
        return server_id, answer, cert
    finally:
        writer.close()


async def refused(port: int, ctx: ssl.SSLContext) -> str:
    """Connect with ``ctx`` expecting the handshake to fail on either side; return the error
    text ("eof" when the server closed after the client's side of the handshake completed)."""
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", port, ssl=ctx), 10
        )
    except (ssl.SSLError, ConnectionError) as exc:
        return f"client: {exc!r}"
    try:
        writer.write(b"ping\n")
        await writer.drain()
        answer = await asyncio.wait_for(reader.readline(), 10)
    except (ssl.SSLError, ConnectionError) as exc:
        return f"server: {exc!r}"
    finally:
        writer.close()
    assert answer == b"", f"the connection was accepted: {answer!r}"
    return "eof"
