"""WebSocket over TLS through the gateway, over real sockets: a ``wss://`` client on the HTTPS
listener (certificate chosen by SNI, verified by the client against the test CA), ``wss``
services reached over TLS with ``tls_verify`` and ``ca_certificates``, half-close over TLS, and
a plain ``ws://`` handshake on a ``wss``-only route.

Routes: ``/wss`` (protocols wss, plain ws upstream), ``/close-after`` (wss), ``/raw`` (wss, a
raw-socket upstream that half-closes), ``/trusted`` and ``/untrusted`` (ws routes to wss
services: a TLS upstream signed by the CA the service trusts, and a self-signed one).
"""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import ssl
import threading
import time

import pytest
from gwharness import InProcessGateway, write_config
from tests.tlskit import TestCA, self_signed_leaf
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect
from wskit import WsUpstream, handshake, masked_text_frame

from carbonplane.gateway.runtime.sni import load_pair

CA = TestCA()
SERVED = CA.issue("ws.example.com")  # what the gateway shows for SNI ws.example.com
OTHER = CA.issue("*.other.test")
CA_ID = "7b1e4c2a-3d5f-4a6b-8c9d-0e1f2a3b4c5d"
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 §1.3


def _server_context(issued) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    load_pair(ctx, issued.cert, issued.key)
    return ctx


def _client_context() -> ssl.SSLContext:
    """Trusts only the test CA and checks the host name, as a browser would."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cadata=CA.cert)
    return ctx


class HalfClosingUpstream:
    """A raw WebSocket upstream for one connection: answers 101, waits for the client's first
    10 bytes (a masked 4-byte text frame), sends one text frame, then a FIN
    (``shutdown(SHUT_WR)``) and keeps reading; records what it read and whether it got EOF."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.received = b""
        self.got_eof = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.listener.accept()
        conn.settimeout(15)
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(65536)
            head, _, self.received = data.partition(b"\r\n\r\n")
            key = next(
                line.split(b":", 1)[1].strip()
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"sec-websocket-key:")
            )
            accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
            conn.sendall(
                b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
                b"Upgrade: websocket\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
            )
            while len(self.received) < 10:
                self.received += conn.recv(65536)
            conn.sendall(b"\x81\x04last")
            conn.shutdown(socket.SHUT_WR)
            while piece := conn.recv(65536):
                self.received += piece
            self.got_eof.set()

    def close(self) -> None:
        self.listener.close()


def _doc(plain: WsUpstream, raw: HalfClosingUpstream, trusted, untrusted) -> dict:
    wss_route = {"protocols": ["wss"], "strip_path": False}
    return {
        "_format_version": "3.0",
        "certificates": [
            {"cert": SERVED.cert, "key": SERVED.key, "snis": ["ws.example.com"]},
            {"cert": OTHER.cert, "key": OTHER.key, "snis": ["*.other.test"]},
        ],
        "ca_certificates": [{"id": CA_ID, "cert": CA.cert}],
        "services": [
            {
                "name": "echo",
                "url": f"ws://127.0.0.1:{plain.port}",
                "routes": [
                    {"name": "wss", "paths": ["/wss", "/close-after"], **wss_route},
                ],
            },
            {
                "name": "half",
                "url": f"ws://127.0.0.1:{raw.port}",
                "routes": [{"name": "raw", "paths": ["/raw"], **wss_route}],
            },
            *(
                {
                    "name": name,
                    "url": f"wss://localhost:{up.port}",
                    "tls_verify": True,
                    "ca_certificates": [CA_ID],
                    "retries": 0,
                    "routes": [{"protocols": ["ws"], "paths": [f"/{name}"], "strip_path": False}],
                }
                for name, up in (("trusted", trusted), ("untrusted", untrusted))
            ),
        ],
    }


@pytest.fixture(scope="module")
def rig(tmp_path_factory):
    plain = WsUpstream().start()
    trusted = WsUpstream(_server_context(CA.issue("localhost"))).start()
    untrusted = WsUpstream(_server_context(self_signed_leaf("localhost"))).start()
    raw = HalfClosingUpstream()
    doc = _doc(plain, raw, trusted, untrusted)
    path = write_config(tmp_path_factory.mktemp("wss") / "wss.yml", doc)
    try:
        with InProcessGateway(path, https=True) as gw:
            yield gw, plain, raw, trusted, untrusted
    finally:
        raw.close()
        for up in (plain, trusted, untrusted):
            up.stop()


def _wss(gw, path: str, **options):
    """A ``wss://`` client to the HTTPS listener, sending SNI ws.example.com."""
    return connect(
        f"wss://ws.example.com:{gw.https_port}{path}",
        sock=socket.create_connection(("127.0.0.1", gw.https_port), timeout=10),
        ssl=_client_context(),
        open_timeout=10,
        **options,
    )


def _open_connections(gw) -> int:
    return gw.call(lambda: len(gw.node.server.connections))


def _wait(predicate, limit: float = 5.0) -> bool:
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def test_wss_client_echo_through_to_a_plain_ws_upstream(rig):
    gw, plain, *_ = rig
    with _wss(gw, "/wss/room") as ws:
        shown = ws.socket.getpeercert(binary_form=True)
        assert hashlib.sha256(shown).digest() == SERVED.fingerprint  # chosen by SNI
        ws.send("hello over tls")
        assert ws.recv(timeout=5) == "hello over tls"
        ws.send(b"\x00\x01\xff")
        assert ws.recv(timeout=5) == b"\x00\x01\xff"
    assert plain.last_headers["upgrade"] == "websocket"
    assert plain.last_headers["x-forwarded-proto"] == "https"


def test_a_client_trusting_only_the_ca_refuses_a_certificate_for_another_name(rig):
    gw, *_ = rig
    with pytest.raises(ssl.SSLCertVerificationError):
        connect(
            f"wss://nomatch.test:{gw.https_port}/wss/room",
            sock=socket.create_connection(("127.0.0.1", gw.https_port), timeout=10),
            ssl=_client_context(),
            open_timeout=10,
        )


def test_a_large_message_both_ways_over_tls(rig):
    gw, *_ = rig
    big = bytes(range(256)) * (8 * 1024 * 1024 // 256)  # 8 MiB
    with _wss(gw, "/wss/big", max_size=32 * 1024 * 1024) as ws:
        ws.send(big)
        assert ws.recv(timeout=30) == big


def test_close_from_the_wss_client_ends_both_sides(rig):
    gw, plain, *_ = rig
    # earlier tests' connections to this shared upstream may still be closing: let them end first
    assert _wait(lambda: plain.closed == plain.opened)
    closed = plain.closed
    with _wss(gw, "/wss/c") as ws:
        ws.send("x")
        ws.recv(timeout=5)
        ws.close(1000, "client done")
    assert _wait(lambda: plain.closed == closed + 1)
    assert plain.close_codes[-1] == 1000
    assert _wait(lambda: _open_connections(gw) == 0)


def test_close_from_the_upstream_reaches_the_wss_client(rig):
    gw, *_ = rig
    with _wss(gw, "/close-after") as ws:
        assert ws.recv(timeout=5) == "bye"
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=5)
        assert ws.close_code == 4000
        assert ws.close_reason == "server done"
    assert _wait(lambda: _open_connections(gw) == 0)


def _tls_handshake(gw, path: str):
    """A raw TLS socket (no ragged EOF allowed) that sent a WebSocket handshake for ``path``;
    returns (socket, response head, bytes after the head)."""
    raw = socket.create_connection(("127.0.0.1", gw.https_port), timeout=10)
    tls = _client_context().wrap_socket(
        raw, server_hostname="ws.example.com", suppress_ragged_eofs=False
    )
    tls.sendall(
        f"GET {path} HTTP/1.1\r\nHost: ws.example.com\r\nConnection: Upgrade\r\n"
        "Upgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    data = b""
    while b"\r\n\r\n" not in data:
        data += tls.recv(65536)
    head, _, rest = data.partition(b"\r\n\r\n")
    return tls, head, rest


def test_upstream_fin_closes_the_tls_client_cleanly_after_every_byte(rig):
    """TLS has no half-close: the upstream's FIN becomes a TLS close (close_notify) once the
    bytes before it are written, then the tunnel ends and closes the upstream socket."""
    gw, _, raw, *_ = rig
    tls, head, rest = _tls_handshake(gw, "/raw")
    try:
        assert head.startswith(b"HTTP/1.1 101 ")
        frame = masked_text_frame("late")
        tls.sendall(frame)  # the upstream answers it with a frame and its FIN
        while True:  # a ragged TCP close would raise SSLEOFError here
            piece = tls.recv(65536)
            if not piece:
                break
            rest += piece
        assert rest == b"\x81\x04last"
    finally:
        tls.close()
    assert raw.got_eof.wait(5)  # the tunnel's end closes the upstream socket too
    assert raw.received == frame
    assert _wait(lambda: _open_connections(gw) == 0)


def test_tls_close_from_the_client_is_passed_on_as_a_fin(rig):
    """The client's close_notify is its EOF: the plain upstream gets a FIN after the frame sent
    before it, closes, and the tunnel ends."""
    gw, plain, *_ = rig
    # earlier tests' connections to this shared upstream may still be closing: let them end first
    assert _wait(lambda: plain.closed == plain.opened)
    closed = plain.closed
    tls, head, rest = _tls_handshake(gw, "/wss/half")
    try:
        assert head.startswith(b"HTTP/1.1 101 ")
        tls.sendall(masked_text_frame("ping?"))
        while len(rest) < 7:
            rest += tls.recv(65536)
        assert rest == b"\x81\x05ping?"
        tls.settimeout(5)
        raw = tls.unwrap()  # sends close_notify, waits for the gateway's
        raw.settimeout(5)
        assert raw.recv(65536) == b""
        raw.close()
    finally:
        tls.close()
    assert _wait(lambda: plain.closed == closed + 1)
    assert plain.close_codes[-1] == 1006  # EOF without a close frame, as the client sent
    assert _wait(lambda: _open_connections(gw) == 0)


def test_wss_service_verified_against_its_ca_certificates(rig):
    gw, _, _, trusted, untrusted = rig
    with connect(f"ws://127.0.0.1:{gw.proxy_port}/trusted/x", open_timeout=10) as ws:
        ws.send("through tls upstream")
        assert ws.recv(timeout=5) == "through tls upstream"
    assert trusted.last_headers["host"].startswith("localhost")
    before = untrusted.opened
    with pytest.raises(InvalidStatus) as refused:
        connect(f"ws://127.0.0.1:{gw.proxy_port}/untrusted/x", open_timeout=10)
    assert refused.value.response.status_code == 502
    assert b"An invalid response was received from the upstream server" in (
        refused.value.response.body
    )
    assert untrusted.opened == before


def test_plain_ws_handshake_on_a_wss_only_route_gets_kongs_426(rig):
    gw, plain, *_ = rig
    before = plain.opened
    sock, head, rest = handshake(gw.proxy_port, "/wss/room")
    try:
        lines = head.decode("latin-1").lower().split("\r\n")
        assert lines[0].startswith("http/1.1 426 ")
        assert "upgrade: tls/1.2, http/1.1" in lines
        length = int(
            next(v for n, _, v in (x.partition(": ") for x in lines) if n == "content-length")
        )
        while len(rest) < length:
            rest += sock.recv(65536)
        assert json.loads(rest)["message"] == "Please use HTTPS protocol"
    finally:
        sock.close()
    assert plain.opened == before
