"""The sidecar as real processes: one control plane, three apps each behind its own sidecar.

frontend, orders and legacy call each other through the mesh (app -> its sidecar's outbound ->
mTLS -> the peer sidecar's inbound -> the peer app). The policy: STRICT mesh-wide, PERMISSIVE
for legacy, and orders allows only frontend. Tests run in file order on one mesh (module
fixture); the last one kills the control plane.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import socket
import ssl
import sys
import tempfile
import time
from pathlib import Path

import pytest
from controlkit import STRICT, ControlProcess, agent_for, tokens_for
from meshidkit import Clock, creds_for
from sidecarkit import APP, Proc, Workload, events_env
from tests.kits.net import wait_until

from carbonplane.mesh.identity import CertificateAuthority, Credentials

TD = "cluster.local"
LEGACY_PERMISSIVE = """\
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: legacy, namespace: default}
spec:
  selector: {matchLabels: {app: legacy}}
  mtls: {mode: PERMISSIVE}
"""


def orders_allow(*services: str) -> str:
    principals = ", ".join(f'"{TD}/ns/default/sa/{s}"' for s in services)
    return f"""\
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {{name: orders-allow, namespace: default}}
spec:
  selector: {{matchLabels: {{app: orders}}}}
  action: ALLOW
  rules:
  - from:
    - source: {{principals: [{principals}]}}
"""


class Mesh:
    pass


@pytest.fixture(scope="module")
def mesh(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sidecar")
    config, data = tmp / "policy", tmp / "data"
    config.mkdir()
    (config / "00-mesh.yaml").write_text(STRICT)
    (config / "10-legacy.yaml").write_text(LEGACY_PERMISSIVE)
    (config / "20-orders.yaml").write_text(orders_allow("frontend"))
    m = Mesh()
    m.tmp, m.config, m.data = tmp, config, data
    m.control = ControlProcess(config, data, "--poll-interval", "0.05").start()
    tokens = tokens_for(data, ["frontend", "orders", "legacy", "ghost"])
    m.tokens = tokens
    env = events_env(tmp / "home")
    m.workloads = []
    try:
        for name in ("frontend", "orders", "legacy"):
            w = Workload(name, m.control, tokens[name], tmp, env)
            m.workloads.append(w)
            setattr(m, name, w)
        # every sidecar sees all three registered before the tests start
        for w in m.workloads:
            wait_until(
                lambda w=w: w.call("legacy", "up")["status"] == 200, 20, f"{w.name} reaching legacy"
            )
        yield m
    finally:
        for w in m.workloads:
            w.stop()
        m.control.stop()


def raw_get(port: int, ctx: ssl.SSLContext | None = None, path: str = "/direct") -> bytes:
    """One HTTP/1.1 request straight to a sidecar inbound; whatever comes back (b"" if closed)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        conn = ctx.wrap_socket(sock) if ctx is not None else sock
        conn.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        out = b""
        while chunk := conn.recv(65536):
            out += chunk
        return out


def client_ctx(creds: Credentials, trust_pem: bytes) -> ssl.SSLContext:
    """A TLS 1.3 client presenting ``creds`` and trusting ``trust_pem`` (the mesh's roots)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.check_hostname = False
    ctx.load_verify_locations(cadata=trust_pem.decode())
    with tempfile.TemporaryDirectory() as d:
        key, chain = Path(d) / "k.pem", Path(d) / "c.pem"
        key.write_bytes(creds.key_pem)
        chain.write_bytes(creds.chain_pem)
        ctx.load_cert_chain(chain, key)
    return ctx


def refused(port: int, ctx: ssl.SSLContext | None) -> bool:
    try:
        return raw_get(port, ctx) == b""
    except (ssl.SSLError, ConnectionResetError, BrokenPipeError):
        return True


def test_apps_call_each_other_through_the_mesh_with_the_callers_identity(mesh):
    forged = (
        "By=spiffe://cluster.local/ns/default/sa/x;URI=spiffe://cluster.local/ns/default/sa/admin"
    )
    r = mesh.frontend.call("orders", "hello?x=1", headers={"x-forge-xfcc": forged})
    assert r["status"] == 200, r
    seen = json.loads(r["body"])
    assert seen["service"] == "orders" and seen["path"] == "/hello?x=1"
    # the forged XFCC is gone; the sidecar's own says who called, verified by mTLS
    [xfcc] = seen["xfcc"]
    assert xfcc.startswith(f"By=spiffe://{TD}/ns/default/sa/orders;Hash=")
    assert xfcc.endswith(f";URI=spiffe://{TD}/ns/default/sa/frontend")
    for host in ("legacy.default", "legacy.default.svc.cluster.local"):
        r = mesh.orders.call(host, "x")
        assert r["status"] == 200 and json.loads(r["body"])["service"] == "legacy", (host, r)


def test_authorization_policy_denies_a_valid_identity_with_envoys_403(mesh):
    before = mesh.orders.status()["inbound"]["denied"]
    r = mesh.legacy.call("orders", "secret")
    assert r == {"status": 403, "body": "RBAC: access denied"}
    status = mesh.orders.status()
    assert status["inbound"]["denied"] == before + 1
    wait_until(
        lambda: mesh.orders.status()["events"]["by_kind"].get("AUTHZ_DENIED"),
        5,
        "an AUTHZ_DENIED event",
    )


def test_strict_refuses_plaintext_another_ca_and_an_expired_certificate(mesh, tmp_path):
    port = mesh.orders.inbound_port
    bundle = (mesh.data / "trust-bundle.pem").read_bytes()
    ca = CertificateAuthority(mesh.data)
    # the positive control: a valid frontend certificate from the mesh CA is served
    good = raw_get(port, client_ctx(creds_for(ca, "frontend"), bundle))
    assert good.startswith(b"HTTP/1.1 200"), good[:200]
    failures = mesh.orders.status()["inbound"]
    assert refused(port, None)  # plaintext on a STRICT port: closed, no answer
    other = CertificateAuthority(tmp_path / "other-ca")
    assert refused(port, client_ctx(creds_for(other, "frontend"), bundle))
    clock = Clock(dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=2))
    old_ca = CertificateAuthority(mesh.data, clock=clock)
    expired = creds_for(old_ca, "frontend", ttl=dt.timedelta(hours=1))
    assert expired.certificate.not_valid_after_utc < dt.datetime.now(dt.timezone.utc)
    assert refused(port, client_ctx(expired, bundle))
    after = wait_until(
        lambda: (
            (s := mesh.orders.status()["inbound"])["tls_failures"] >= failures["tls_failures"] + 2
            and s
        ),
        5,
        "two TLS failures counted",
    )
    assert after["refused_plaintext"] == failures["refused_plaintext"] + 1
    wait_until(
        lambda: mesh.orders.status()["events"]["by_kind"].get("TLS_ERROR", 0) >= 3,
        5,
        "TLS_ERROR events",
    )


def test_permissive_accepts_plaintext_and_mtls_on_one_port(mesh):
    port = mesh.legacy.inbound_port
    plain = raw_get(port, None, "/plain")
    assert plain.startswith(b"HTTP/1.1 200"), plain[:200]
    body = json.loads(plain.split(b"\r\n\r\n", 1)[1])
    assert body["service"] == "legacy" and body["xfcc"] is None
    bundle = (mesh.data / "trust-bundle.pem").read_bytes()
    tls = raw_get(port, client_ctx(creds_for(CertificateAuthority(mesh.data), "orders"), bundle))
    body = json.loads(tls.split(b"\r\n\r\n", 1)[1])
    assert body["xfcc"][0].endswith(f"URI=spiffe://{TD}/ns/default/sa/orders")
    assert mesh.legacy.status()["mtls_mode"] == "PERMISSIVE"
    assert mesh.orders.status()["mtls_mode"] == "STRICT"


def test_unknown_service_is_404_with_a_clear_body(mesh):
    r = mesh.frontend.call("nosuch", "x")
    assert r["status"] == 404 and "unknown service 'nosuch'" in r["body"], r


def test_a_server_with_the_wrong_identity_gets_503_never_the_request(mesh):
    """ghost registers the address of orders' inbound: calling ghost reaches a server whose
    certificate says orders, so the sidecar refuses it after the handshake."""

    async def scenario():
        agent = agent_for(
            mesh.control,
            mesh.tmp,
            "ghost",
            mesh.tokens["ghost"],
            address=f"127.0.0.1:{mesh.orders.inbound_port}",
        )
        await agent.start()
        try:

            def ghost_known():
                r = mesh.frontend.call("ghost", "x")
                return r if r["status"] != 404 else None

            r = await asyncio.to_thread(wait_until, ghost_known, 10, "ghost in the registry")
            return r
        finally:
            await agent.stop()

    before = mesh.orders.status()["inbound"]["allowed"]
    r = asyncio.run(scenario())
    assert r["status"] == 503, r
    assert "orders" not in r["body"]  # orders never answered
    assert mesh.orders.status()["inbound"]["allowed"] == before
    wait_until(
        lambda: mesh.frontend.status()["events"]["by_kind"].get("TLS_ERROR"),
        5,
        "a TLS_ERROR event on the caller",
    )


def test_a_policy_change_reaches_every_sidecar_and_takes_effect(mesh):
    assert mesh.legacy.call("orders", "x")["status"] == 403
    (mesh.config / "20-orders.yaml").write_text(orders_allow("frontend", "legacy"))
    start = time.monotonic()

    def synced():
        rows = [
            r
            for r in mesh.control.status()["proxies"]
            if r["service"] != "ghost" and r["connected"]
        ]
        versions = {w.status()["config_version"] for w in mesh.workloads}
        return (
            len(rows) == 3
            and all(r["state"] == "SYNCED" for r in rows)
            and versions == {rows[0]["config_version"]}
            and mesh.legacy.call("orders", "x")["status"] == 200
        )

    wait_until(synced, 10, "SYNCED with the new policy", interval=0.1)
    assert time.monotonic() - start < 10
    assert mesh.frontend.call("orders", "x")["status"] == 200


def test_port_level_disable_serves_plaintext_and_refuses_tls(mesh):
    legacy = mesh.legacy
    (mesh.config / "10-legacy.yaml").write_text(
        LEGACY_PERMISSIVE
        + f"""\
  portLevelMtls:
    {legacy.app_port}: {{mode: DISABLE}}
"""
    )
    try:
        wait_until(lambda: legacy.status()["mtls_mode"] == "DISABLE", 10, "DISABLE in effect")
        assert raw_get(legacy.inbound_port).startswith(b"HTTP/1.1 200")
        bundle = (mesh.data / "trust-bundle.pem").read_bytes()
        ctx = client_ctx(creds_for(CertificateAuthority(mesh.data), "orders"), bundle)
        assert refused(legacy.inbound_port, ctx)
        # the mesh always calls with mTLS, so a DISABLE port is not served through it: a new
        # connection is refused (502), one accepted before the change gets 403 per request
        for _ in range(3):
            assert mesh.orders.call("legacy", "x")["status"] in (403, 502)
    finally:
        (mesh.config / "10-legacy.yaml").write_text(LEGACY_PERMISSIVE)
    wait_until(lambda: legacy.status()["mtls_mode"] == "PERMISSIVE", 10, "PERMISSIVE again")
    assert mesh.orders.call("legacy", "x")["status"] == 200


def test_sidecars_keep_serving_while_the_control_plane_is_down(mesh):
    mesh.control.kill()
    try:
        wait_until(
            lambda: all(w.status()["state"] == "DEGRADED" for w in mesh.workloads),
            20,
            "sidecars DEGRADED",
        )
        for _ in range(5):
            assert mesh.frontend.call("orders", "x")["status"] == 200
            assert mesh.orders.call("legacy", "x")["status"] == 200
        assert mesh.frontend.admin_get("/healthz/ready")[0] == 200
    finally:
        mesh.control.start(listen=mesh.control.address)
    try:
        wait_until(
            lambda: all(w.status()["state"] == "SERVING" for w in mesh.workloads),
            30,
            "sidecars SERVING again",
        )
    except AssertionError:
        raise AssertionError(
            [w.status() for w in mesh.workloads],
            mesh.control.stderr[-5:],
            mesh.frontend.sidecar.stderr[-5:],
        ) from None
    assert mesh.frontend.call("orders", "x")["status"] == 200


def test_app_lost_and_back_are_health_events_and_readiness(mesh):
    legacy = mesh.legacy
    assert legacy.admin_get("/healthz/ready")[0] == 200
    kinds = lambda: legacy.status()["events"]["by_kind"].get("ServiceHealthEvent", 0)  # noqa: E731
    before = kinds()
    legacy.app.stop()
    wait_until(lambda: legacy.admin_get("/healthz/ready")[0] == 503, 10, "not ready without app")
    assert legacy.status()["app_up"] is False and kinds() == before + 1
    assert mesh.orders.call("legacy", "x")["status"] == 502  # the sidecar answers, the app is gone
    legacy.app = Proc(
        [sys.executable, APP, "legacy", str(legacy.app_port), f"127.0.0.1:{legacy.outbound_port}"]
    )
    assert legacy.app.line().startswith("app ")
    wait_until(lambda: legacy.admin_get("/healthz/ready")[0] == 200, 10, "ready again")
    assert kinds() == before + 2
    assert mesh.orders.call("legacy", "x")["status"] == 200
    produced = wait_until(
        lambda: (e := legacy.status()["events"])["produced"] == e["emitted"] and e,
        10,
        "events produced to the log",
    )
    assert produced["failed"] == 0 and produced["dropped"] == 0
