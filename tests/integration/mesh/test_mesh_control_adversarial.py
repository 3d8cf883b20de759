"""The control plane process against hostile or broken clients: garbage on the wire, a wrong
admin token, a watch or registration for someone else's proxy, an impostor control plane, and
a policy directory that does not load."""

from __future__ import annotations

import asyncio
import socket
import ssl
import struct

import pytest
from controlkit import STRICT, agent_for, cli, tokens_for

from carbonplane.mesh.agent import client
from carbonplane.mesh.control import ControlUnavailable, RequestRefused, wire
from carbonplane.mesh.identity import MeshServer, MeshTLS


def raw_tls(control, payload: bytes) -> bytes:
    """Send raw bytes over TLS (pinned root, no client cert); return all the server answers."""
    host, port = client.split_address(control.address)
    ctx = client.bootstrap_context((control.data / "trust-bundle.pem").read_bytes())
    with socket.create_connection((host, port), timeout=10) as sock:
        with ctx.wrap_socket(sock) as tls:
            tls.sendall(payload)
            out = b""
            try:
                while chunk := tls.recv(65536):
                    out += chunk
            except (ssl.SSLError, ConnectionError):
                pass
            return out


def answer_of(raw: bytes) -> dict:
    import json

    (size,) = struct.unpack(">I", raw[:4])
    return json.loads(raw[4 : 4 + size])


def test_garbage_is_answered_and_the_server_keeps_serving(control):
    assert answer_of(raw_tls(control, struct.pack(">I", 5) + b"nope!"))["error"] == "bad_request"
    assert answer_of(raw_tls(control, struct.pack(">I", 2**31)))["error"] == "bad_request"
    assert answer_of(raw_tls(control, wire.encode({"op": "launch"})))["error"] == "bad_request"
    assert (
        answer_of(raw_tls(control, wire.encode({"op": "bootstrap", "token": 5})))["error"]
        == "bad_request"
    )
    refused = answer_of(
        raw_tls(
            control,
            wire.encode({"op": "bootstrap", "token": "cpjt.000000000000." + "A" * 43, "csr": "x"}),
        )
    )
    assert refused["error"] == "token_rejected" and "unknown" in refused["message"]
    with socket.create_connection(client.split_address(control.address), timeout=5) as s:
        s.sendall(b"GET / HTTP/1.1\r\n\r\n")  # not even TLS
        assert s.recv(100) == b""
    assert control.status()["proxies"] == []  # still serving


def test_admin_needs_the_token(control, tmp_path):
    async def run():
        root = (control.data / "trust-bundle.pem").read_bytes()
        with pytest.raises(RequestRefused) as info:
            await client.admin(control.address, root, "cluster.local", "wrong", "status")
        assert info.value.code == "unauthenticated"

    asyncio.run(run())
    res = cli("mesh", "status", "--data", str(tmp_path / "nowhere"))
    assert res.returncode == 2 and "control.json does not exist" in res.stderr


def test_no_watch_or_registration_for_someone_elses_proxy(control, tmp_path):
    tokens = tokens_for(control.data, ["orders", "payments"])

    async def run():
        orders = await agent_for(control, tmp_path, "orders", tokens["orders"]).start()
        payments = await agent_for(control, tmp_path, "payments", tokens["payments"]).start()
        await orders.wait_for(lambda a: a.connected, 10)
        with pytest.raises(RequestRefused) as info:  # payments takes over orders' entry
            await client.request(
                control.address,
                payments.tls.client,
                "cluster.local",
                {
                    "op": "register",
                    "proxy_id": orders.proxy_id,
                    "service": "payments",
                    "namespace": "default",
                    "address": "127.0.0.1:1",
                },
            )
        assert info.value.code == "identity_mismatch"
        reader, writer = await client.connect(control.address, payments.tls.client, "cluster.local")
        writer.write(wire.encode({"op": "watch", "proxy_id": orders.proxy_id}))
        with pytest.raises(RequestRefused) as info:
            wire.check_answer(await wire.read_frame(reader))
        assert info.value.code == "not_registered"
        writer.close()
        await orders.stop()
        await payments.stop()

    asyncio.run(run())


def test_agent_refuses_an_impostor_control_plane(control, tmp_path):
    tokens = tokens_for(control.data, ["orders", "thief"])

    async def run():
        thief = await agent_for(control, tmp_path, "thief", tokens["thief"]).start()
        await thief.stop()
        seen = []

        async def handler(reader, writer, peer):
            seen.append(await wire.read_frame(reader))

        # a mesh workload with a valid certificate posing as the control plane
        server = MeshTLS(thief.tls.credentials)
        server._pair = (_optional(server.server), server.client)
        fake = await MeshServer(server, handler).start()
        victim = agent_for(control, tmp_path, "orders", tokens["orders"])
        victim.control_addr = f"127.0.0.1:{fake.port}"
        with pytest.raises(ControlUnavailable, match="not the control plane"):
            await victim.start()
        await fake.close()
        assert seen == []  # the token never left the victim

    asyncio.run(run())


def _optional(ctx: ssl.SSLContext) -> ssl.SSLContext:
    ctx.verify_mode = ssl.CERT_OPTIONAL
    return ctx


def test_control_refuses_to_start_on_invalid_policy(tmp_path):
    config = tmp_path / "policy"
    config.mkdir()
    (config / "10-bad.yaml").write_text(STRICT.replace("mode: STRICT", "mode: STRICTEST"))
    res = cli(
        "mesh",
        "control",
        "--config",
        str(config),
        "--data",
        str(tmp_path / "d"),
        "--listen",
        "127.0.0.1:0",
        timeout=60,
    )
    assert res.returncode == 2 and "10-bad.yaml:5" in res.stderr, res.stderr


def test_a_bad_policy_file_on_disk_keeps_the_last_good_version(control):
    from tests.kits.net import wait_until

    before = control.status()
    (control.config / "20-bad.yaml").write_text(
        STRICT.replace("mtls:", "mtlz:").replace("name: default", "name: other")
    )
    status = wait_until(
        lambda: (s := control.status())["policy_error"] and s, 10, what="policy error in status"
    )
    assert "20-bad.yaml:" in status["policy_error"]
    assert status["version"] == before["version"]
    (control.config / "20-bad.yaml").unlink()
    wait_until(lambda: control.status()["policy_error"] is None, 10, what="error cleared")


def test_a_garbage_csr_is_refused_and_does_not_use_up_the_token(control, tmp_path):
    tokens = tokens_for(control.data, ["orders"])
    token = tokens["orders"].read_text().strip()
    for csr in (
        "not a csr",
        "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n",
    ):
        answer = answer_of(
            raw_tls(control, wire.encode({"op": "bootstrap", "token": token, "csr": csr}))
        )
        assert answer["error"] == "identity_rejected", answer

    async def run():
        agent = await agent_for(control, tmp_path, "orders", tokens["orders"]).start()
        await agent.stop()

    asyncio.run(run())
