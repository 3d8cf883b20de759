"""TLS on both legs: https upstreams (verified) and a TLS listener (X-Forwarded-Proto: https)."""

from __future__ import annotations

import asyncio
import datetime
import ssl

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from enginekit import get, proxy, read_response, run
from tests.kits.standin import StandIn

from carbonplane.proxy import FixedTarget, StaticApp, Upstream


def make_ca_and_server(tmp_path):
    """(ca.pem path, server cert path, server key path) for CN/SAN ``localhost``."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(1)
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(2)
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = tmp_path / "ca.pem", tmp_path / "cert.pem", tmp_path / "key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


def server_context(cert, key) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    return ctx


def client_context(ca) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(ca))


def test_https_upstream_is_verified_and_used(tmp_path):
    ca, cert, key = make_ca_and_server(tmp_path)

    async def scenario():
        up = await StandIn(tls=server_context(cert, key)).listen()
        trusted = Upstream(
            "secure",
            FixedTarget("127.0.0.1", up.port),
            ssl=client_context(ca),
            server_hostname="localhost",
            retries=0,
        )
        untrusted = Upstream(
            "wrong-ca",
            FixedTarget("127.0.0.1", up.port),
            ssl=ssl.create_default_context(),
            server_hostname="localhost",
            retries=0,
        )
        app = StaticApp({"/": trusted, "/untrusted": untrusted})
        async with proxy(app=app) as (_, port):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(get(b"/echo"))
            assert (await read_response(reader)).status == 200
            writer.write(get(b"/untrusted/echo"))
            assert (await read_response(reader)).status == 502  # certificate not verified
            writer.close()
        await up.close()
        assert [r.target for r in up.requests] == [b"/echo"]

    run(scenario())


def test_tls_listener_sets_forwarded_proto_https(tmp_path):
    ca, cert, key = make_ca_and_server(tmp_path)

    async def scenario():
        up = await StandIn().listen()
        async with proxy(up.port) as (server, _):
            port = await server.start("127.0.0.1", 0, ssl=server_context(cert, key))
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", port, ssl=client_context(ca), server_hostname="localhost"
            )
            writer.write(get(b"/echo"))
            response = await read_response(reader)
            writer.close()
        await up.close()
        assert response.status == 200
        assert up.requests[0].get(b"x-forwarded-proto") == b"https"
        assert up.requests[0].get(b"x-forwarded-port") == b"%d" % port

    run(scenario())
