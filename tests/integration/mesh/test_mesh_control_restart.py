"""Survival: the control plane SIGKILLed and restarted loses no registration while the agents
keep their certificates and config, then resync; CA rotation under running agents (short TTLs)
ends with every agent on a certificate from the new root and the old root pruned everywhere."""

from __future__ import annotations

import asyncio

from controlkit import (
    STRICT,
    ControlProcess,
    agent_for,
    allow_policy,
    cli,
    status_until,
    tokens_for,
)
from cryptography import x509

from carbonplane.mesh.identity import fingerprint


def synced(n):
    return lambda s: (
        len(s["proxies"]) == n
        and all(p["state"] == "SYNCED" and p["connected"] for p in s["proxies"])
    )


def make_config(tmp_path):
    config = tmp_path / "policy"
    config.mkdir()
    (config / "10-strict.yaml").write_text(STRICT)
    return config


def test_sigkill_and_restart_loses_no_registration(tmp_path):
    control = ControlProcess(make_config(tmp_path), tmp_path / "data").start()
    services = ["orders", "payments", "ledger"]
    tokens = tokens_for(control.data, services)

    async def run():
        agents = [
            await agent_for(
                control, tmp_path, s, tokens[s], address=f"127.0.0.1:{21000 + i}", labels={"app": s}
            ).start()
            for i, s in enumerate(services)
        ]
        before = await status_until(control, synced(3), 20, "3 SYNCED")
        held = {a.service: (a.config_version, a.certificate.serial_number) for a in agents}
        await asyncio.to_thread(control.kill)
        await asyncio.gather(*(a.wait_for(lambda a: not a.connected, 5) for a in agents))
        await asyncio.sleep(1.0)  # the agents retry with backoff meanwhile
        assert {a.service: (a.config_version, a.certificate.serial_number) for a in agents} == held
        assert all(a.reconnects >= 1 and a.current_config is not None for a in agents)
        assert {a.health()["state"] for a in agents} == {"DEGRADED"}
        # an agent restarted while the control plane is down comes up from its data directory
        await agents[0].stop()
        agents[0] = await agent_for(
            control, tmp_path, "orders", None, address="127.0.0.1:21000", labels={"app": "orders"}
        ).start()
        assert (agents[0].config_version, agents[0].certificate.serial_number) == held["orders"]
        assert agents[0].health()["state"] == "DEGRADED"
        # the registry survived on disk; the same port is reused so the agents find it again
        await asyncio.to_thread(control.start, control.address)
        after = await status_until(control, synced(3), 20, "3 SYNCED after restart")
        assert {p["proxy_id"] for p in after["proxies"]} == {
            p["proxy_id"] for p in before["proxies"]
        }
        assert after["version"] == before["version"]  # same state, same content version
        assert {p["service"]: p["address"] for p in after["proxies"]} == {
            f"default/{s}": f"127.0.0.1:{21000 + i}" for i, s in enumerate(services)
        }
        # and a change after the restart reaches them
        (control.config / "20-allow.yaml").write_text(
            allow_policy("after", "cluster.local/ns/default/sa/orders")
        )
        await status_until(
            control,
            lambda s: s["version"] != before["version"] and synced(3)(s),
            10,
            "a change after restart SYNCED",
        )
        for a in agents:
            await a.stop()

    try:
        asyncio.run(run())
    finally:
        control.stop()


def test_registration_ttl_marks_a_silent_proxy_unhealthy(tmp_path):
    control = ControlProcess(
        make_config(tmp_path), tmp_path / "data", "--registration-ttl", "1"
    ).start()
    tokens = tokens_for(control.data, ["orders", "payments"])

    def orders_healthy(agent):
        if agent.current_config is None:
            return None
        eps = agent.current_config.endpoints("orders", healthy_only=False)
        return eps[0]["healthy"] if eps else None

    async def run():
        orders = await agent_for(
            control, tmp_path, "orders", tokens["orders"], address="127.0.0.1:22001"
        ).start()
        payments = await agent_for(control, tmp_path, "payments", tokens["payments"]).start()
        await payments.wait_for(lambda a: orders_healthy(a) is True, 10)
        assert payments.current_config.endpoints("orders")[0]["address"] == "127.0.0.1:22001"
        await orders.stop()  # no more heartbeats: unhealthy after the 1 s TTL, still listed
        await payments.wait_for(lambda a: orders_healthy(a) is False, 10)
        assert payments.current_config.endpoints("orders") == ()
        status = await asyncio.to_thread(control.status)
        row = next(p for p in status["proxies"] if p["service"] == "default/orders")
        assert not row["connected"]
        # a restart of the agent reuses its certificate (no token) and revives the entry
        again = await agent_for(
            control, tmp_path, "orders", None, address="127.0.0.1:22001"
        ).start()
        await payments.wait_for(lambda a: orders_healthy(a) is True, 10)
        await again.stop()
        await payments.stop()

    try:
        asyncio.run(run())
    finally:
        control.stop()


def test_ca_rotation_under_running_agents(tmp_path):
    control = ControlProcess(
        make_config(tmp_path), tmp_path / "data", "--workload-ttl", "4"
    ).start()
    services = ["orders", "payments", "ledger"]
    tokens = tokens_for(control.data, services)

    def issuer_fp(agent) -> str:
        bundle = x509.load_pem_x509_certificates(agent.tls.credentials.bundle_pem)
        return next(fingerprint(r) for r in bundle if r.subject == agent.certificate.issuer)

    async def run():
        agents = [await agent_for(control, tmp_path, s, tokens[s]).start() for s in services]
        before = await status_until(control, synced(3), 20, "3 SYNCED")
        old_root = before["active_root"]
        res = await asyncio.to_thread(
            cli, "mesh", "ca", "rotate", "--overlap", "6", "--data", str(control.data)
        )
        assert res.returncode == 0, res.stderr
        status = await asyncio.to_thread(control.status)
        new_root = status["active_root"]
        assert new_root != old_root and set(status["trust_roots"]) == {old_root, new_root}
        # the two-root bundle reaches every agent
        await asyncio.gather(
            *(
                a.wait_for(
                    lambda a: (
                        len(x509.load_pem_x509_certificates(a.tls.credentials.bundle_pem)) == 2
                    ),
                    5,
                )
                for a in agents
            )
        )
        # each renews (half-life of 4 s) onto the new root, then the old root is pruned
        await asyncio.gather(
            *(
                a.wait_for(
                    lambda a: (
                        len(x509.load_pem_x509_certificates(a.tls.credentials.bundle_pem)) == 1
                        and issuer_fp(a) == new_root
                    ),
                    20,
                )
                for a in agents
            )
        )
        final = await status_until(
            control,
            lambda s: s["trust_roots"] == [new_root] and synced(3)(s),
            10,
            "old root pruned, SYNCED",
        )
        assert all(p["cert_expiry"] for p in final["proxies"])
        assert not any(
            p.name.startswith(f"root-{old_root[:16]}") for p in (control.data / "ca").iterdir()
        )
        # agents still renew against the control plane's new-root certificate
        for a in agents:
            await a.renew()
            assert issuer_fp(a) == new_root
            await a.stop()

    try:
        asyncio.run(run())
    finally:
        control.stop()
