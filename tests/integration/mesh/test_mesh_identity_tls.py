"""mTLS between mesh workloads over real TLS 1.3 on loopback: who is accepted, who is refused,
what each side learns about the other, and certificate swap without dropping connections."""

from __future__ import annotations

import asyncio
import datetime as dt
import ssl

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import ExtendedKeyUsageOID
from meshidkit import Clock, creds_for, exchange, refused, start_echo

from carbonplane.mesh.identity import (
    CertificateAuthority,
    Credentials,
    MeshTLS,
    PeerIdentityError,
    build_csr,
    client_context,
    generate_key,
    key_pem,
    peer_identity,
    workload_id,
)
from carbonplane.mesh.identity.certificates import cert_pem, random_serial


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 30))


@pytest.fixture
def ca(tmp_path):
    return CertificateAuthority(tmp_path / "ca1")


def test_two_workloads_complete_mtls_and_see_each_others_spiffe_ids(ca):
    a, b = creds_for(ca, "orders", "shop"), creds_for(ca, "billing", "shop")

    async def go():
        server = await start_echo(MeshTLS(a), trust_domain="cluster.local")
        try:
            server_id, answer, _ = await exchange(server.port, MeshTLS(b).client)
            return server_id, answer, server.rejected
        finally:
            await server.close()

    server_id, answer, rejected = run(go())
    assert str(server_id) == "spiffe://cluster.local/ns/shop/sa/orders"
    assert answer == b"spiffe://cluster.local/ns/shop/sa/billing ping\n"
    assert rejected == 0


def test_client_certificate_from_another_ca_is_refused(ca, tmp_path):
    other = CertificateAuthority(tmp_path / "ca2")
    server_creds = creds_for(ca, "orders")
    # the intruder trusts our root, so the failure can only be the server refusing its cert
    intruder = creds_for(other, "orders")
    intruder = intruder.with_bundle(intruder.bundle_pem + ca.trust_bundle_pem())

    async def go():
        server = await start_echo(MeshTLS(server_creds))
        try:
            how = await refused(server.port, client_context(intruder))
            await asyncio.sleep(0)
            return how, server.rejected, server.last_error
        finally:
            await server.close()

    how, rejected, err = run(go())
    assert rejected == 1
    assert "certificate verify failed" in str(err) or "unknown ca" in str(err).lower(), err


def test_server_certificate_from_another_ca_is_refused_by_the_client(ca, tmp_path):
    other = CertificateAuthority(tmp_path / "ca2")
    impostor = creds_for(other, "orders")
    impostor = impostor.with_bundle(impostor.bundle_pem + ca.trust_bundle_pem())
    client = creds_for(ca, "billing")

    async def go():
        server = await start_echo(MeshTLS(impostor))
        try:
            return await refused(server.port, client_context(client))
        finally:
            await server.close()

    how = run(go())
    assert how.startswith("client:") and "certificate verify failed" in how, how


def test_expired_client_certificate_is_refused(tmp_path):
    clock = Clock(dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=2))
    ca = CertificateAuthority(tmp_path / "ca", clock=clock)
    expired = creds_for(ca, "billing", ttl=dt.timedelta(hours=1))  # ended ~47 h ago
    clock.now = dt.datetime.now(dt.timezone.utc)
    server_creds = creds_for(ca, "orders")
    assert expired.certificate.not_valid_after_utc < clock.now

    async def go():
        server = await start_echo(MeshTLS(server_creds))
        try:
            await refused(server.port, client_context(expired))
            return server.rejected, server.last_error
        finally:
            await server.close()

    rejected, err = run(go())
    assert rejected == 1 and "expired" in str(err), err


def test_tls12_and_certless_clients_are_refused(ca):
    server_creds = creds_for(ca, "orders")
    tls12 = client_context(creds_for(ca, "billing"))
    tls12.minimum_version = tls12.maximum_version = ssl.TLSVersion.TLSv1_2
    certless = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    certless.check_hostname = False
    certless.load_verify_locations(cadata=ca.trust_bundle_pem().decode())

    async def go():
        server = await start_echo(MeshTLS(server_creds))
        try:
            await refused(server.port, tls12)
            first = str(server.last_error)
            await refused(server.port, certless)
            return first, str(server.last_error), server.rejected
        finally:
            await server.close()

    first, second, rejected = run(go())
    assert "unsupported protocol" in first.lower(), first
    assert "certificate" in second.lower(), second
    assert rejected == 2


def _forged_two_uri_cert(ca: CertificateAuthority) -> Credentials:
    """A certificate signed by the real mesh root that carries two URI SANs."""
    key = generate_key()
    root = ca.active
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([]))
        .issuer_name(root.cert.subject)
        .public_key(key.public_key())
        .serial_number(random_serial())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.UniformResourceIdentifier("spiffe://cluster.local/ns/default/sa/billing"),
                    x509.UniformResourceIdentifier("spiffe://cluster.local/ns/default/sa/admin"),
                ]
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.SERVER_AUTH]
            ),
            critical=False,
        )
        .sign(root.key, hashes.SHA256())
    )
    return Credentials(key_pem(key), cert_pem(cert), ca.trust_bundle_pem())


def test_verified_certificate_with_two_uri_sans_is_refused_by_peer_identity(ca):
    server_creds = creds_for(ca, "orders")
    forged = _forged_two_uri_cert(ca)

    async def go():
        server = await start_echo(MeshTLS(server_creds))
        try:
            how = await refused(server.port, client_context(forged))
            return how, server.rejected, server.last_error
        finally:
            await server.close()

    how, rejected, err = run(go())
    assert rejected == 1
    assert isinstance(err, PeerIdentityError) and "exactly one" in str(err)


def test_peer_identity_checks_the_expected_identity_and_trust_domain(ca):
    a, b = creds_for(ca, "orders"), creds_for(ca, "billing")

    async def go():
        server = await start_echo(MeshTLS(a))
        try:
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", server.port, ssl=client_context(b)
            )
            sslobj = writer.get_extra_info("ssl_object")
            ok = peer_identity(sslobj, expected=workload_id("cluster.local", "default", "orders"))
            with pytest.raises(PeerIdentityError, match="not the expected"):
                peer_identity(sslobj, expected=workload_id("cluster.local", "default", "billing"))
            with pytest.raises(PeerIdentityError, match="not this mesh"):
                peer_identity(sslobj, trust_domain="other.example")
            writer.close()
            return ok
        finally:
            await server.close()

    assert run(go()).service == "orders"
    with pytest.raises(PeerIdentityError, match="not TLS"):
        peer_identity(None)


def test_old_root_is_trusted_during_the_overlap_and_refused_after(tmp_path):
    clock = Clock()
    ca = CertificateAuthority(tmp_path / "ca", clock=clock)
    old_client = creds_for(ca, "billing")  # issued by the first root
    old_root = ca.active.fingerprint
    ca.rotate(overlap=dt.timedelta(hours=2))
    assert ca.active.fingerprint != old_root and len(ca.trust_bundle()) == 2
    # the control plane pushes the two-root bundle to workloads still holding old certificates
    old_client = old_client.with_bundle(ca.trust_bundle_pem())
    server_during = creds_for(ca, "orders")  # issued by the new root, bundle of both
    new_client = creds_for(ca, "billing")
    assert new_client.certificate.issuer == ca.active.cert.subject

    async def during():
        server = await start_echo(MeshTLS(server_during))
        try:
            return [
                (await exchange(server.port, client_context(c)))[1]
                for c in (old_client, new_client)
            ]
        finally:
            await server.close()

    assert run(during()) == [b"spiffe://cluster.local/ns/default/sa/billing ping\n"] * 2

    clock.advance(hours=2, seconds=1)
    assert len(ca.trust_bundle()) == 1
    server_after = server_during.with_bundle(ca.trust_bundle_pem())

    async def after():
        server = await start_echo(MeshTLS(server_after))
        try:
            await refused(server.port, client_context(old_client))
            rejected = server.rejected
            ok = (await exchange(server.port, client_context(new_client)))[1]
            return rejected, server.last_error, ok
        finally:
            await server.close()

    rejected, err, ok = run(after())
    assert rejected == 1 and "certificate verify failed" in str(err)
    assert ok.endswith(b"ping\n")


def test_swapping_the_certificate_keeps_open_connections_and_serves_new_ones_with_it(ca):
    first = creds_for(ca, "orders")
    holder = MeshTLS(first)
    client = client_context(creds_for(ca, "billing"))

    async def go():
        server = await start_echo(holder)
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port, ssl=client)
            old_serial = x509.load_der_x509_certificate(
                writer.get_extra_info("ssl_object").getpeercert(True)
            ).serial_number
            writer.write(b"one\n")
            assert (await reader.readline()).endswith(b"one\n")
            holder.update(creds_for(ca, "orders"))  # renewal
            _, answer, cert = await exchange(server.port, client)
            writer.write(b"two\n")  # the old connection still works
            old_answer = await reader.readline()
            writer.close()
            return old_serial, cert.serial_number, answer, old_answer, holder.generation
        finally:
            await server.close()

    old_serial, new_serial, answer, old_answer, generation = run(go())
    assert old_serial == first.certificate.serial_number
    assert new_serial == holder.credentials.certificate.serial_number != old_serial
    assert answer.endswith(b"ping\n") and old_answer.endswith(b"two\n")
    assert generation == 2


def test_a_failed_update_keeps_the_current_contexts(ca):
    good = creds_for(ca, "orders")
    holder = MeshTLS(good)
    before = holder.server
    wrong_key = Credentials(key_pem(generate_key()), good.chain_pem, good.bundle_pem)
    with pytest.raises(ssl.SSLError):
        holder.update(wrong_key)
    assert holder.server is before and holder.generation == 1
    # the CSR path of a workload: only the CSR leaves, the key stays
    key = generate_key()
    csr = build_csr(key)
    assert csr.public_key().public_numbers() == key.public_key().public_numbers()


def test_a_client_that_never_handshakes_is_dropped_after_the_handshake_timeout(ca):
    holder = MeshTLS(creds_for(ca, "orders"))

    async def go():
        from carbonplane.mesh.identity import MeshServer

        async def never(reader, writer, peer):  # pragma: no cover - must not run
            raise AssertionError("handler ran without a handshake")

        server = await MeshServer(holder, never, handshake_timeout=0.5).start()
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)  # plain TCP
            eof = await asyncio.wait_for(reader.read(), 5)  # the server hangs up on its own
            writer.close()
            return eof, server.rejected, server.last_error
        finally:
            await server.close()

    eof, rejected, err = run(go())
    assert eof == b"" and rejected == 1
    assert "taking longer than 0.5 seconds" in str(err), repr(err)


def test_a_workload_that_joins_with_a_token_is_seen_as_the_tokens_identity(ca, tmp_path):
    from carbonplane.mesh.identity import JoinTokens

    tokens = JoinTokens(tmp_path / "cp", ca)
    token = tokens.issue_token("billing", "shop")
    key = generate_key()  # stays with the workload
    joined = Credentials.from_issued(key, tokens.redeem(token, build_csr(key)))

    async def go():
        server = await start_echo(MeshTLS(creds_for(ca, "orders", "shop")))
        try:
            return (await exchange(server.port, client_context(joined)))[1]
        finally:
            await server.close()

    assert run(go()) == b"spiffe://cluster.local/ns/shop/sa/billing ping\n"
