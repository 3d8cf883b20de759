"""One-shot requests to the control plane over TLS, and the contexts that pin its identity.

- ``bootstrap_context(root_pem)``: TLS 1.3, trusting only the pinned mesh root given with the join
  token, no client certificate (the workload has none yet).
- ``MeshTLS.client`` (the workload's own credentials) for everything after bootstrap.

Either way, after the handshake the server must present the control plane's SPIFFE id
(``spiffe://<td>/ns/mesh-system/sa/control``); anything else is ``ControlUnavailable``, so a
workload never hands a token or CSR to an impostor that happens to hold a mesh certificate.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

from carbonplane.mesh.control import wire
from carbonplane.mesh.control.wire import ControlUnavailable
from carbonplane.mesh.identity import peer_identity, workload_id
from carbonplane.mesh.identity.errors import PeerIdentityError

CONTROL_NAMESPACE, CONTROL_SERVICE = "mesh-system", "control"
TIMEOUT = 10.0


def bootstrap_context(root_pem: bytes) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(cadata=root_pem.decode("ascii"))
    return ctx


def split_address(address: str) -> tuple[str, int]:
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"control plane address {address!r} is not HOST:PORT")
    return host.strip("[]"), int(port)


async def connect(
    address: str, ctx: ssl.SSLContext, trust_domain: str
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Open TLS to the control plane and check it is the control plane."""
    host, port = split_address(address)
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port, ssl=ctx, limit=wire.MAX_FRAME), TIMEOUT
        )
    except (OSError, ssl.SSLError, asyncio.TimeoutError) as exc:
        raise ControlUnavailable(address, f"{type(exc).__name__}: {exc}") from None
    try:
        peer_identity(
            writer.get_extra_info("ssl_object"),
            trust_domain=trust_domain,
            expected=workload_id(trust_domain, CONTROL_NAMESPACE, CONTROL_SERVICE),
        )
    except PeerIdentityError as exc:
        writer.close()
        raise ControlUnavailable(address, f"the server is not the control plane: {exc}") from None
    return reader, writer


async def request(
    address: str, ctx: ssl.SSLContext, trust_domain: str, message: dict[str, Any]
) -> dict[str, Any]:
    """Send one request, return its answer (``RequestRefused`` if refused)."""
    reader, writer = await connect(address, ctx, trust_domain)
    try:
        try:
            writer.write(wire.encode(message))
            await writer.drain()
            answer = await asyncio.wait_for(wire.read_frame(reader), TIMEOUT)
        except (ConnectionError, ssl.SSLError, asyncio.TimeoutError) as exc:
            # a client certificate the server refuses surfaces here, after the TLS 1.3 handshake
            raise ControlUnavailable(address, f"{type(exc).__name__}: {exc}") from None
        if answer is None:  # e.g. the server refused our client certificate after the handshake
            raise ControlUnavailable(
                address,
                "the connection closed without an answer (a client "
                "certificate the control plane does not trust?)",
            )
        return wire.check_answer(answer)
    finally:
        writer.close()


async def admin(
    address: str, root_pem: bytes, trust_domain: str, token: str, action: str, **fields: Any
) -> dict[str, Any]:
    """An admin request (status, reload, rotate) authenticated by the admin token."""
    return await request(
        address,
        bootstrap_context(root_pem),
        trust_domain,
        {"op": "admin", "token": token, "action": action, **fields},
    )
