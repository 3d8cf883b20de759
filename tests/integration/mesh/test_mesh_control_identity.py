"""Bootstrap, renewal and registration against a real ``carbonplane mesh control`` process:
the token decides the identity, once; a foreign CA is refused; renewal keeps the identity."""

from __future__ import annotations

import asyncio

import pytest
from controlkit import agent_for, cli, mode, tokens_for
from cryptography.hazmat.primitives.serialization import Encoding

from carbonplane.mesh.agent import client
from carbonplane.mesh.control import ControlUnavailable, RequestRefused
from carbonplane.mesh.identity import (
    CertificateAuthority,
    Credentials,
    MeshTLS,
    build_csr,
    generate_key,
    spiffe_id_of,
    workload_id,
)


def csr_pem(key, service: str) -> str:
    return (
        build_csr(key, workload_id("cluster.local", "default", service))
        .public_bytes(Encoding.PEM)
        .decode()
    )


def test_token_cli_writes_private_token_and_root(control, tmp_path):
    out = tmp_path / "orders.token"
    res = cli("mesh", "token", "orders", "--data", str(control.data), "--out", str(out))
    assert res.returncode == 0, res.stderr
    assert str(out) in res.stdout and mode(out) == 0o600
    root = out.with_name(out.name + ".root.pem")
    assert root.read_bytes() == (control.data / "trust-bundle.pem").read_bytes()

    async def run():
        agent = agent_for(control, tmp_path, "orders", out)
        agent.root_file = root
        await agent.start()
        await agent.stop()
        return agent

    agent = asyncio.run(run())
    assert spiffe_id_of(agent.certificate) == workload_id("cluster.local", "default", "orders")
    assert mode(agent.data_dir / "credentials.json") == 0o600


def test_token_decides_identity_once(control, tmp_path):
    tokens = tokens_for(control.data, ["orders", "payments"])
    root = (control.data / "trust-bundle.pem").read_bytes()

    async def run():
        ctx = client.bootstrap_context(root)
        # orders' token with a CSR for payments: refused, and nothing is redeemed
        with pytest.raises(RequestRefused) as info:
            await client.request(
                control.address,
                ctx,
                "cluster.local",
                {
                    "op": "bootstrap",
                    "token": tokens["orders"].read_text().strip(),
                    "csr": csr_pem(generate_key(), "payments"),
                },
            )
        assert info.value.code == "identity_rejected"
        # an agent calling itself payments with orders' token: refused too
        with pytest.raises(RequestRefused):
            await agent_for(control, tmp_path, "payments", tokens["orders"]).start()
        # the token still works for orders, once
        first = await agent_for(control, tmp_path, "orders", tokens["orders"]).start()
        await first.stop()
        with pytest.raises(RequestRefused) as replay:
            await agent_for(control, tmp_path, "orders", tokens["orders"], n=1).start()
        assert replay.value.code == "token_rejected" and "redeemed" in replay.value.message
        # a restarted agent reuses its persisted certificate: no token needed
        again = agent_for(control, tmp_path, "orders", None)
        await again.start()
        assert again.certificate.serial_number == first.certificate.serial_number
        await again.stop()

    asyncio.run(run())


def test_foreign_ca_refused_and_renew_keeps_identity(control, tmp_path):
    tokens = tokens_for(control.data, ["orders"])

    async def run():
        agent = await agent_for(control, tmp_path, "orders", tokens["orders"]).start()
        try:
            await checks(agent)
        finally:
            await agent.stop()

    async def checks(agent):
        old = agent.certificate
        await agent.renew()
        new = agent.certificate
        assert spiffe_id_of(new) == spiffe_id_of(old) and new.serial_number != old.serial_number
        assert new.public_key().public_numbers() != old.public_key().public_numbers()

        # the same op with a certificate of another CA (trusting the real root): refused
        other = CertificateAuthority(tmp_path / "other-ca")
        key = generate_key()
        ident = workload_id("cluster.local", "default", "orders")
        forged = Credentials.from_issued(key, other.issue(build_csr(key, ident), ident))
        forged = forged.with_bundle(agent.tls.credentials.bundle_pem)
        with pytest.raises(ControlUnavailable):
            await client.request(
                control.address,
                MeshTLS(forged).client,
                "cluster.local",
                {"op": "renew", "csr": csr_pem(generate_key(), "orders")},
            )

        # renew without any client certificate: refused
        with pytest.raises(RequestRefused) as info:
            await client.request(
                control.address,
                client.bootstrap_context(agent.tls.credentials.bundle_pem),
                "cluster.local",
                {"op": "renew", "csr": csr_pem(generate_key(), "orders")},
            )
        assert info.value.code == "unauthenticated"

        # orders' certificate asking for payments: the CSR may only repeat the caller's identity
        with pytest.raises(RequestRefused) as info:
            await client.request(
                control.address,
                agent.tls.client,
                "cluster.local",
                {"op": "renew", "csr": csr_pem(generate_key(), "payments")},
            )
        assert info.value.code == "identity_rejected"

        # orders registering as payments: refused
        with pytest.raises(RequestRefused) as info:
            await client.request(
                control.address,
                agent.tls.client,
                "cluster.local",
                {
                    "op": "register",
                    "proxy_id": "p1",
                    "service": "payments",
                    "namespace": "default",
                    "address": "127.0.0.1:9000",
                },
            )
        assert info.value.code == "identity_mismatch"

    asyncio.run(run())
