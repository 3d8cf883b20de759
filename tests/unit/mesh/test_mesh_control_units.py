"""Sans-socket parts of the control plane: frames, the registry on disk, snapshot versions and
the agent's checks behind a NACK, and the SYNCED/STALE/NOT SENT table."""

from __future__ import annotations

import asyncio
import json
import os
import struct

import pytest

from carbonplane.mesh.agent.config import ConfigRejected, MeshConfig
from carbonplane.mesh.control import wire
from carbonplane.mesh.control.registry import RegistrationError, Registry, check_fields
from carbonplane.mesh.control.snapshots import (
    NOT_SENT,
    STALE,
    SYNCED,
    PolicySource,
    ProxyState,
    build,
    content_version,
)
from carbonplane.mesh.identity import CertificateAuthority

STRICT = (
    "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\n"
    "metadata: {name: default, namespace: istio-system}\nspec:\n  mtls: {mode: STRICT}\n"
)


def frames(data: bytes):
    async def run():
        reader = asyncio.StreamReader()
        reader.feed_data(data)
        reader.feed_eof()
        out = []
        while (m := await wire.read_frame(reader)) is not None:
            out.append(m)
        return out

    return asyncio.run(run())


def test_frames_round_trip_and_refuse_garbage():
    assert frames(wire.encode({"a": 1}) + wire.encode({"b": [2]})) == [{"a": 1}, {"b": [2]}]
    assert frames(b"") == []
    for bad, problem in [
        (b"\x00\x00", "inside a frame header"),
        (struct.pack(">I", 10) + b"{}", "inside a 10 byte frame"),
        (struct.pack(">I", wire.MAX_FRAME + 1), "exceeds"),
        (struct.pack(">I", 3) + b"[1]", "not an object"),
        (struct.pack(">I", 2) + b"\xff\xfe", "not JSON"),
    ]:
        with pytest.raises(wire.ProtocolError, match=problem):
            frames(bad)


def test_answers_and_fields():
    assert wire.check_answer({"ok": True, "x": 1})["x"] == 1
    with pytest.raises(wire.RequestRefused) as info:
        wire.check_answer(wire.refusal("token_rejected", "no"))
    assert info.value.code == "token_rejected"
    with pytest.raises(wire.ProtocolError, match="'csr'"):
        wire.text_field({"csr": 5}, "csr")


def test_registry_persists_and_protects_entries(tmp_path):
    now = [1000.0]
    reg = Registry(tmp_path, ttl=10, clock=lambda: now[0])
    _, changed = reg.register(
        "p1",
        "orders",
        "default",
        "127.0.0.1:9000",
        {"app": "o"},
        "spiffe://cluster.local/ns/default/sa/orders",
    )
    assert changed and oct(os.stat(reg.path).st_mode & 0o777) == "0o600"
    with pytest.raises(RegistrationError) as info:  # another identity cannot take p1
        reg.register(
            "p1",
            "payments",
            "default",
            "127.0.0.1:9001",
            {},
            "spiffe://cluster.local/ns/default/sa/payments",
        )
    assert info.value.code == "identity_mismatch"
    again = Registry(tmp_path, ttl=10, clock=lambda: now[0])  # a restarted control plane
    assert again.endpoints() == {
        "default/orders": [
            {
                "proxy_id": "p1",
                "address": "127.0.0.1:9000",
                "labels": {"app": "o"},
                "identity": "spiffe://cluster.local/ns/default/sa/orders",
                "healthy": True,
            }
        ]
    }
    now[0] += 11
    assert again.sweep() is True and again.endpoints()["default/orders"][0]["healthy"] is False
    assert again.seen("p1") is True  # revived by a heartbeat
    (tmp_path / "registry.json").write_text("{not json")
    with pytest.raises(Exception, match="registry.json: the registry is not valid JSON"):
        Registry(tmp_path)


@pytest.mark.parametrize(
    "pid,addr,labels",
    [
        ("", "127.0.0.1:1", None),
        ("../x", "127.0.0.1:1", None),
        ("p", "nohost", None),
        ("p", "127.0.0.1:99999", None),
        ("p", "127.0.0.1:1", {"a": 1}),
        ("p", "127.0.0.1:1", []),
    ],
)
def test_registration_fields_are_checked(pid, addr, labels):
    with pytest.raises(RegistrationError):
        check_fields(pid, addr, labels)


@pytest.fixture
def snapshot(tmp_path):
    (tmp_path / "policy").mkdir()
    (tmp_path / "policy" / "10-strict.yaml").write_text(STRICT)
    ca = CertificateAuthority(tmp_path / "data")
    return build(PolicySource(tmp_path / "policy"), {}, ca.trust_bundle_pem())


def test_snapshot_version_is_content_addressed(snapshot):
    assert snapshot["version"] == content_version(snapshot)
    cfg = MeshConfig.from_snapshot(json.loads(json.dumps(snapshot)))
    assert cfg.version == snapshot["version"] and cfg.policy.mtls_mode("x", {}, 80) == "STRICT"


def rebuilt(snapshot, **changes):
    body = {**json.loads(json.dumps(snapshot)), **changes}
    body["version"] = content_version(body)
    return body


@pytest.mark.parametrize(
    "change,reason",
    [
        ({"format": 2}, "snapshot format 2 is not supported"),
        ({"registry": []}, "'registry' is not"),
        ({"trust_bundle": "nope"}, "'trust_bundle' is not PEM"),
        (
            {
                "policy": {
                    "version": "x",
                    "root_namespace": "istio-system",
                    "files": [["a.yaml", STRICT.replace("mtls:", "mtlz:")]],
                }
            },
            "a.yaml:",
        ),
    ],
)
def test_agent_rejects_with_a_reason(snapshot, change, reason):
    with pytest.raises(ConfigRejected, match=reason):
        MeshConfig.from_snapshot(rebuilt(snapshot, **change))


def test_agent_rejects_a_tampered_snapshot(snapshot):
    body = json.loads(json.dumps(snapshot))
    body["registry"] = {"default/evil": [{"address": "10.0.0.1:1"}]}  # version left as it was
    with pytest.raises(ConfigRejected, match="does not match its content"):
        MeshConfig.from_snapshot(body)


def test_sync_states():
    st = ProxyState("p1", "id")
    assert st.state("v2")[0] == NOT_SENT
    st.sent = "v2"
    assert st.state("v2") == (STALE, "holds nothing; waiting for an answer to v2")
    st.acked = "v2"
    assert st.state("v2") == (SYNCED, "")
    st.sent, st.nacked, st.nack_reason = "v3", "v3", "unsupported kind X"
    assert st.state("v3") == (STALE, "rejected v3: unsupported kind X")
    st.sent = "v4"
    assert st.state("v5")[0] == STALE


def test_public_names_and_no_gateway_or_engine_imports():
    import subprocess
    import sys

    import carbonplane.mesh.agent as agent
    import carbonplane.mesh.control as control

    assert sorted(agent.__all__) == ["ALL_KINDS", "Agent", "ConfigRejected", "MeshConfig"]
    assert sorted(control.__all__) == sorted(
        [
            "ControlPlane",
            "ControlPlaneError",
            "ControlUnavailable",
            "NOT_SENT",
            "ProtocolError",
            "Registration",
            "Registry",
            "RequestRefused",
            "STALE",
            "SYNCED",
        ]
    )
    code = (
        "import sys, carbonplane.mesh.control, carbonplane.mesh.agent, carbonplane.cli.mesh;"
        "bad = [m for m in sys.modules if m.startswith(('carbonplane.gateway', "
        "'carbonplane.proxy'))]; print(bad); sys.exit(1 if bad else 0)"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
