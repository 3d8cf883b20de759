"""TLS termination over real sockets: certificates chosen by SNI (exact, wildcard, default),
protocol versions and ALPN, https-only routes and their redirects, route ``snis``, certificates
changed through the Admin API while clients keep connecting, upstream verification, and a client
that never finishes its handshake."""

from __future__ import annotations

import signal
import socket
import ssl
import threading
import time

import pytest
import yaml
from gwharness import GatewayProcess, InProcessGateway, admin, http, write_config
from tests.kits.net import wait_until
from tests.kits.standin import StandIn, header
from tests.tlskit import TestCA, client_context, https_request, self_signed_leaf

from carbonplane.gateway.runtime.sni import load_pair

CA = TestCA()
EXACT = CA.issue("api.example.com")
WILD = CA.issue("*.example.com", kind="rsa")
SUFFIX = CA.issue("shop.example.*")


@pytest.fixture
def upstream():
    stand_in = StandIn("plain").start()
    yield stand_in
    stand_in.stop()


def _config(tmp_path, upstream, **extra):
    doc = {
        "_format_version": "3.0",
        "certificates": [
            {"cert": EXACT.cert, "key": EXACT.key, "snis": ["api.example.com"]},
            {"cert": WILD.cert, "key": WILD.key, "snis": ["*.example.com"]},
            {"cert": SUFFIX.cert, "key": SUFFIX.key, "snis": ["shop.example.*"]},
        ],
        "services": [
            {
                "name": "svc",
                "url": f"http://{upstream.address}",
                "routes": [
                    {"name": "both", "paths": ["/both"]},
                    {"name": "secure", "paths": ["/secure"], "protocols": ["https"]},
                    {
                        "name": "moved",
                        "paths": ["/moved"],
                        "protocols": ["https"],
                        "https_redirect_status_code": 308,
                    },
                    {
                        "name": "by-sni",
                        "paths": ["/sni"],
                        "protocols": ["https"],
                        "snis": ["*.sni.test"],
                    },
                ],
            }
        ],
        **extra,
    }
    return write_config(tmp_path / "kong.yml", doc)


@pytest.fixture
def gateway(tmp_path, upstream):
    with InProcessGateway(_config(tmp_path, upstream), https=True) as gw:
        yield gw


def test_certificate_chosen_by_sni_exact_wildcard_suffix_default(gateway):
    port = gateway.https_port
    assert https_request(port, "/both", sni="api.example.com").fingerprint == EXACT.fingerprint
    assert https_request(port, "/both", sni="www.example.com").fingerprint == WILD.fingerprint
    assert https_request(port, "/both", sni="shop.example.org").fingerprint == SUFFIX.fingerprint
    default = gateway.node.runtime["default_certificate"][0]
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    default_fp = x509.load_pem_x509_certificate(default.encode()).fingerprint(hashes.SHA256())
    for sni in ("unknown.test", None):
        answer = https_request(port, "/both", sni=sni, host="whatever")
        assert answer.fingerprint == default_fp, sni
        assert answer.status == 200


def test_tls_versions_alpn_and_forwarded_proto(gateway):
    port = gateway.https_port
    answer = https_request(port, "/both", sni="api.example.com")
    assert answer.status == 200
    assert answer.version == "TLSv1.3" and answer.alpn == "http/1.1"
    assert header(answer.json(), "x-forwarded-proto") == "https"
    tls12 = client_context(maximum=ssl.TLSVersion.TLSv1_2)
    assert https_request(port, "/both", sni="api.example.com", context=tls12).version == "TLSv1.2"
    # a client that speaks TLS 1.0-1.1 (and any cipher) is refused; the same up to 1.2 is not
    old = client_context(maximum=ssl.TLSVersion.TLSv1_1)
    old.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    old.set_ciphers("ALL:@SECLEVEL=0")
    with pytest.raises((ssl.SSLError, ConnectionError)):
        https_request(port, "/both", sni="api.example.com", context=old)
    old.maximum_version = ssl.TLSVersion.TLSv1_2
    assert https_request(port, "/both", sni="api.example.com", context=old).version == "TLSv1.2"
    status, _, body = http(gateway.proxy_port, "GET", "/both")
    assert status == 200 and header(body, "x-forwarded-proto") == "http"


def test_https_only_routes_answer_plain_http_with_kongs_426_or_redirect(gateway):
    status, headers, body = http(gateway.proxy_port, "GET", "/secure/x", headers={"host": "h.test"})
    assert status == 426
    assert body["message"] == "Please use HTTPS protocol" and len(body["request_id"]) == 32
    assert headers["upgrade"] == "TLS/1.2, HTTP/1.1"
    status, headers, _ = http(gateway.proxy_port, "GET", "/moved/a?b=1", headers={"host": "h.test"})
    assert status == 308 and headers["location"] == "https://h.test/moved/a?b=1"
    assert https_request(gateway.https_port, "/secure/x", sni="api.example.com").status == 200
    assert https_request(gateway.https_port, "/moved/a", sni="api.example.com").status == 200


def test_route_snis_match_only_that_server_name(gateway):
    port = gateway.https_port
    assert https_request(port, "/sni", sni="a.sni.test").status == 200
    assert https_request(port, "/sni", sni="api.example.com", host="a.sni.test").status == 404
    assert https_request(port, "/sni", sni=None, host="a.sni.test").status == 404


def test_certificate_replaced_through_admin_api_while_clients_connect(gateway):
    port = gateway.https_port
    _, _, certs = admin(gateway.admin_port, "GET", "/certificates")
    exact_id = next(c["id"] for c in certs["data"] if c["snis"] == ["api.example.com"])
    fresh = CA.issue("api.example.com", kind="rsa")
    seen: list[bytes] = []
    failures: list[BaseException] = []
    stop = threading.Event()

    def hammer() -> None:
        while not stop.is_set():
            try:
                answer = https_request(port, "/both", sni="api.example.com")
                assert answer.status == 200
                seen.append(answer.fingerprint)
            except BaseException as exc:  # noqa: BLE001 - every failure is reported below
                failures.append(exc)

    clients = [threading.Thread(target=hammer) for _ in range(3)]
    for client in clients:
        client.start()
    try:
        time.sleep(0.3)
        status, body = admin(
            gateway.admin_port,
            "PATCH",
            f"/certificates/{exact_id}",
            {"cert": fresh.cert, "key": fresh.key},
        )[::2]
        assert status == 200, body
        after = https_request(port, "/both", sni="api.example.com").fingerprint
        time.sleep(0.3)
    finally:
        stop.set()
        for client in clients:
            client.join(10)
    assert not failures, failures[:3]
    assert after == fresh.fingerprint
    assert EXACT.fingerprint in seen and fresh.fingerprint in seen
    assert len(seen) > 10


def test_handshake_never_finished_is_dropped_after_the_timeout(tmp_path, upstream):
    gw = InProcessGateway(_config(tmp_path, upstream), https=True)
    gw.settings.ssl_handshake_timeout = 0.5
    with gw:
        started = time.monotonic()
        with socket.create_connection(("127.0.0.1", gw.https_port), timeout=10) as sock:
            sock.sendall(b"\x16\x03\x01\x00\x50")  # a ClientHello header, then silence
            assert sock.recv(1024) == b""  # closed by the gateway
        waited = time.monotonic() - started
        assert 0.4 < waited < 5, waited
        assert https_request(gw.https_port, "/both", sni="api.example.com").status == 200


# -- upstream verification -------------------------------------------------------------------


def _tls_upstream(issued) -> StandIn:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    load_pair(ctx, issued.cert, issued.key)
    return StandIn("tls", tls=ctx).start()


def test_upstream_verification_with_ca_certificates(tmp_path):
    trusted = _tls_upstream(CA.issue("localhost"))
    untrusted = _tls_upstream(self_signed_leaf("localhost"))
    ca_id = "2d3c4b5a-6f7e-4d8c-9b0a-1f2e3d4c5b6a"
    try:
        doc = {
            "_format_version": "3.0",
            "ca_certificates": [{"id": ca_id, "cert": CA.cert}],
            "services": [
                {
                    "name": name,
                    "url": f"https://localhost:{stand_in.port}",
                    "tls_verify": verify,
                    "ca_certificates": [ca_id] if verify else None,
                    "retries": 0,
                    "routes": [{"paths": [f"/{name}"]}],
                }
                for name, stand_in, verify in (
                    ("good", trusted, True),
                    ("bad", untrusted, True),
                    ("unverified", untrusted, False),
                )
            ],
        }
        with InProcessGateway(write_config(tmp_path / "kong.yml", doc)) as gw:
            status, _, body = http(gw.proxy_port, "GET", "/good")
            assert status == 200 and body["name"] == "tls"
            # an engine error without Accept is text/plain (Kong); ask for Kong's JSON body
            status, _, body = http(
                gw.proxy_port, "GET", "/bad", headers={"Accept": "application/json"}
            )
            assert status == 502
            assert body["message"] == "An invalid response was received from the upstream server"
            assert http(gw.proxy_port, "GET", "/unverified")[0] == 200
    finally:
        trusted.stop()
        untrusted.stop()


def test_workers_serve_https_from_the_cli_and_sighup_switches_the_certificate(tmp_path, upstream):
    config = _config(tmp_path, upstream)
    with GatewayProcess(config, workers=2) as gw:
        assert gw.https_port
        answer = https_request(gw.https_port, "/secure", sni="www.example.com")
        assert answer.status == 200 and answer.fingerprint == WILD.fingerprint
        assert http(gw.proxy_port, "GET", "/secure")[0] == 426
        renewed = CA.issue("*.example.com")
        doc = yaml.safe_load(config.read_text())
        doc["certificates"][1].update(cert=renewed.cert, key=renewed.key)
        write_config(config, doc)
        gw.proc.send_signal(signal.SIGHUP)

        def served() -> set[bytes]:  # a few connections: both workers must have switched
            return {
                https_request(gw.https_port, "/both", sni="www.example.com").fingerprint
                for _ in range(6)
            }

        wait_until(lambda: served() == {renewed.fingerprint}, 30, what="the renewed certificate")


def test_client_certificate_is_presented_to_an_upstream_that_requires_one(tmp_path):
    server = CA.issue("localhost")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    load_pair(ctx, server.cert, server.key)
    ctx.verify_mode = ssl.CERT_REQUIRED  # mTLS: only clients with a certificate from CA
    ctx.load_verify_locations(cadata=CA.cert)
    strict = StandIn("mtls", tls=ctx).start()
    client = CA.issue("gateway-client")
    cert_id = "5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a8b"
    try:
        url = f"https://localhost:{strict.port}"
        doc = {
            "_format_version": "3.0",
            "certificates": [{"id": cert_id, "cert": client.cert, "key": client.key}],
            "upstreams": [
                {
                    "name": "pool",
                    "client_certificate": cert_id,
                    "targets": [{"target": f"localhost:{strict.port}"}],
                }
            ],
            "services": [
                {
                    "name": "with-cert",
                    "url": url,
                    "client_certificate": cert_id,
                    "retries": 0,
                    "routes": [{"paths": ["/with"]}],
                },
                {"name": "by-upstream", "url": "https://pool", "routes": [{"paths": ["/up"]}]},
                {"name": "without", "url": url, "retries": 0, "routes": [{"paths": ["/without"]}]},
            ],
        }
        with InProcessGateway(write_config(tmp_path / "kong.yml", doc)) as gw:
            status, _, body = http(gw.proxy_port, "GET", "/with")
            assert status == 200 and body["name"] == "mtls"
            assert http(gw.proxy_port, "GET", "/up")[0] == 200
            assert http(gw.proxy_port, "GET", "/without")[0] == 502
    finally:
        strict.stop()
