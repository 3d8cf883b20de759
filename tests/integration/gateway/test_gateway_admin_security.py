"""The Admin API against hostile clients, over real sockets: browser pages (cross-site writes,
DNS rebinding), unauthenticated bodies, connection floods, slow clients, YAML alias bombs and
deeply nested JSON. Each case is answered with a clear refusal, promptly and in bounded memory."""

from __future__ import annotations

import base64
import http.client
import json
import socket
import threading
import time
import tracemalloc
import urllib.parse

import pytest
from adminkit import RunningAdmin, closed_after, connect, read_response, request
from gwharness import GatewayProcess, write_config
from gwharness import http as gw_http
from plugins.proxykit import ChainProxy
from tests.kits.plugins import handler

CONFIG = b"_format_version: '3.0'\nservices:\n- name: planted\n  url: http://127.0.0.1:9/\n"
TOKEN = "s3cret-admin-token-0123456789"


@pytest.fixture(scope="module")
def admin():
    with RunningAdmin() as running:
        yield running


def services(admin) -> list[str]:
    status, _, doc = request(admin.port, "GET", "/services")
    assert status == 200
    return [s["name"] for s in doc["data"]]


# -- cross-origin writes --------------------------------------------------------------------
CROSS_SITE = {
    "text_plain_config": (
        "/config",
        {"Origin": "http://evil.example", "Content-Type": "text/plain"},
        CONFIG,
    ),
    "form_service": (
        "/services",
        {"Origin": "http://evil.example", "Content-Type": "application/x-www-form-urlencoded"},
        b"name=planted&url=http://127.0.0.1:9/",
    ),
    "null_origin": (
        "/services",
        {"Origin": "null", "Content-Type": "application/json"},
        b'{"name":"planted","url":"http://127.0.0.1:9/"}',
    ),
    "other_port_origin": (
        "/config",
        {"Origin": "http://127.0.0.1:1", "Content-Type": "text/plain"},
        CONFIG,
    ),
    "fetch_metadata_only": (
        "/config",
        {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "no-cors", "Content-Type": "text/plain"},
        CONFIG,
    ),
    "referer_only_old_browser": ("/config", {"Referer": "http://evil.example/page"}, CONFIG),
    "multipart": (
        "/config",
        {"Origin": "http://evil.example", "Content-Type": "multipart/form-data; boundary=x"},
        b"--x\r\nContent-Disposition: form-data; name=config\r\n\r\n" + CONFIG + b"--x--\r\n",
    ),
}


@pytest.mark.parametrize("case", CROSS_SITE.values(), ids=CROSS_SITE.keys())
def test_cross_origin_writes_are_refused_and_change_nothing(admin, case):
    path, headers, body = case
    status, _, doc = request(admin.port, "POST", path, headers=headers, body=body)
    assert status == 403 and "cross-origin write refused" in doc["message"], doc
    assert "planted" not in services(admin)


def test_non_browser_and_same_origin_writes_still_work(admin):
    port = admin.port
    form = urllib.parse.urlencode({"name": "curl-form", "url": "http://127.0.0.1:9/"}).encode()
    status, _, doc = request(
        port,
        "POST",
        "/services",
        body=form,
        headers={"Content-Type": "application/x-www-form-urlencoded", "User-Agent": "curl/8.5.0"},
    )
    assert status == 201, doc
    status, _, doc = request(
        port,
        "POST",
        "/services",
        body=json.dumps({"name": "same-origin", "url": "http://127.0.0.1:9/"}).encode(),
        headers={
            "Content-Type": "application/json",
            "Origin": f"http://127.0.0.1:{port}",
            "Sec-Fetch-Site": "same-origin",
        },
    )
    assert status == 201, doc
    status, _, doc = request(
        port,
        "DELETE",
        "/services/same-origin",
        headers={"Origin": f"http://localhost:{port}"},
        host=f"localhost:{port}",
    )
    assert status == 204, doc
    assert {"curl-form"} <= set(services(admin)) and "same-origin" not in services(admin)


def test_curl_multipart_config_upload_still_works():
    boundary = "------------------------d74496d66958873e"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="config"; filename="kong.yml"'
            f"\r\nContent-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + CONFIG
        + f"\r\n--{boundary}--\r\n".encode()
    )
    with RunningAdmin() as running:  # what `curl -F config=@kong.yml :8001/config` sends
        status, _, doc = request(
            running.port,
            "POST",
            "/config",
            body=body,
            headers={
                "User-Agent": "curl/8.5.0",
                "Accept": "*/*",
                "Content-Type": f"multipart/form-data; boundary={boundary}",
            },
        )
        assert status == 201, doc
        assert services(running) == ["planted"]
        status, _, doc = request(
            running.port,
            "POST",
            "/config",
            body=body.replace(b"config", b"other"),
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        )
        assert status == 400 and "no 'config' field" in doc["message"]


def test_cors_preflight_gets_no_permissive_headers(admin):
    status, headers, doc = request(
        admin.port,
        "OPTIONS",
        "/config",
        headers={
            "Origin": "http://evil.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert status == 403 and "CORS" in doc["message"]
    assert not [h for h in headers if h.startswith("access-control-")]
    _, headers, _ = request(admin.port, "GET", "/config", headers={"Origin": "http://evil.example"})
    assert not [h for h in headers if h.startswith("access-control-")]


# -- DNS rebinding --------------------------------------------------------------------------
def test_rebinding_host_cannot_read_the_config():
    with RunningAdmin(hosts=("admin.internal",)) as running:
        port = running.port
        running.api.handle(
            "POST",
            "/consumers",
            None,
            {"content-type": "application/json"},
            b'{"username":"alice"}',
        )
        running.api.handle(
            "POST",
            "/consumers/alice/key-auth",
            None,
            {"content-type": "application/json"},
            b'{"key":"alice-secret-key"}',
        )
        for host in (
            f"rebind.evil.example:{port}",
            "rebind.evil.example",
            f"127.0.0.1.evil:{port}",
            f"admin.internal.evil.example:{port}",
        ):
            status, _, doc = request(port, "GET", "/config", host=host)
            assert status == 421 and "DNS rebinding" in doc["message"], (host, doc)
            assert b"alice-secret-key" not in json.dumps(doc).encode()
        for host in (
            f"127.0.0.1:{port}",
            "127.0.0.1",
            f"localhost:{port}",
            "LOCALHOST",
            "[::1]",
            f"[::1]:{port}",
            "admin.internal",
            f"Admin.Internal:{port}",
        ):
            status, _, doc = request(port, "GET", "/config", host=host)
            assert status == 200 and "alice-secret-key" in doc["config"], host


def test_admin_host_flag_reaches_the_running_gateway(tmp_path):
    config = write_config(tmp_path / "kong.yml", {"_format_version": "3.0"})
    with GatewayProcess(
        config, workers=1, extra=["--admin-host", "gw.internal, ops.internal"]
    ) as gw:
        port = gw.admin_port
        assert request(port, "GET", "/status", host="gw.internal")[0] == 200
        assert request(port, "GET", "/status", host=f"ops.internal:{port}")[0] == 200
        assert request(port, "GET", "/status", host=f"localhost:{port}")[0] == 200
        assert request(port, "GET", "/config", host=f"evil.example:{port}")[0] == 421
        status, _, doc = request(
            port,
            "POST",
            "/config",
            body=CONFIG,
            headers={"Origin": "http://evil.example", "Content-Type": "text/plain"},
        )
        assert status == 403 and "cross-origin" in doc["message"]


# -- token before body, size, connections, slow clients --------------------------------------
@pytest.mark.parametrize("length", [10 * 1024 * 1024, 10**12])
def test_token_is_checked_before_any_body_is_read(length):
    with RunningAdmin(token=TOKEN) as running, connect(running.port) as sock:
        start = time.monotonic()
        sock.sendall(
            b"POST /config HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/yaml\r\n"
            b"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n" % length
        )
        status, headers, doc = read_response(sock)
        assert status == 401 and "Kong-Admin-Token" in doc["message"]
        assert headers["connection"] == "close"
        assert time.monotonic() - start < 1.0
        closed_after(sock, 5.0)  # closed without waiting for the body


def test_a_refused_client_still_sending_its_body_receives_the_answer():
    with RunningAdmin(token=TOKEN) as running, connect(running.port) as sock:
        sock.sendall(b"POST /config HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 4000000\r\n\r\n")
        sock.sendall(b"x" * 200_000)  # more than the socket buffers take before the server reads
        status, _, _ = read_response(sock)
        assert status == 401


def test_authenticated_bodies_are_bounded():
    with RunningAdmin(token=TOKEN, max_body=1024) as running:
        status, _, doc = request(
            running.port,
            "POST",
            "/config",
            body=b"x" * 2048,
            headers={"Kong-Admin-Token": TOKEN, "Content-Type": "text/yaml"},
        )
        assert status == 413 and "1024" in doc["message"]
        with connect(running.port) as sock:  # chunked: counted as it arrives
            sock.sendall(
                b"POST /config HTTP/1.1\r\nHost: 127.0.0.1\r\nKong-Admin-Token: "
                + TOKEN.encode()
                + b"\r\nTransfer-Encoding: chunked\r\n\r\n"
                + b"400\r\n"
                + b"y" * 1024
                + b"\r\n"
                + b"10\r\n"
                + b"y" * 16
                + b"\r\n"
            )
            assert read_response(sock)[0] == 413


def test_a_connection_flood_is_bounded():
    with RunningAdmin(max_connections=8) as running:
        held = [connect(running.port) for _ in range(8)]
        deadline = time.monotonic() + 5
        while running.open_connections() < 8 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert running.open_connections() == 8
        extra = [connect(running.port) for _ in range(20)]
        for sock in extra:
            assert closed_after(sock, 2.0) < 2.0
            sock.close()
        assert running.open_connections() == 8 and running.server.refused_connections == 20
        held[0].sendall(b"GET /status HTTP/1.1\r\nHost: localhost\r\n\r\n")
        assert read_response(held[0])[0] == 200  # the admitted ones are served
        for sock in held:
            sock.close()
        deadline = time.monotonic() + 5
        while running.open_connections() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert request(running.port, "GET", "/status")[0] == 200


def test_a_client_that_never_reads_its_answers_stops_being_served():
    with RunningAdmin(idle_timeout=2.0) as running:
        for i in range(100):  # GET /services?size=1000 answers of ~60 KB
            running.api.handle(
                "POST",
                "/services",
                None,
                {"content-type": "application/json"},
                json.dumps(
                    {"name": f"s{i:03}", "url": f"http://10.0.0.{i}:80/", "tags": ["padding" * 40]}
                ).encode(),
            )
        served = []
        inner = running.api.handle
        running.api.handle = lambda *a: served.append(1) or inner(*a)
        with connect(running.port) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.setblocking(False)
            one = b"GET /services?size=1000 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
            sent, deadline = 0, time.monotonic() + 5
            while sent < 2000 and time.monotonic() < deadline:  # ~120 MB asked for, none read
                try:
                    sent += sock.send(one * 50) // len(one)
                except BlockingIOError:
                    time.sleep(0.05)
            before = -1
            while len(served) != before:  # wait until the server stops taking requests
                before = len(served)
                time.sleep(0.5)
            assert sent > 1000 and len(served) < sent // 2, (sent, len(served))
            deadline = time.monotonic() + 6  # dropped at idle_timeout (2 s), still not reading
            while running.open_connections() and time.monotonic() < deadline:
                time.sleep(0.05)
            assert running.open_connections() == 0


@pytest.mark.slow
def test_slowloris_one_byte_every_four_seconds_is_closed_by_the_header_deadline(admin):
    head = b"GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 64
    with connect(admin.port, timeout=20) as sock:
        start = time.monotonic()
        closed_at = None
        for byte in head:
            try:
                sock.sendall(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                break
            sock.settimeout(4.0)
            try:
                if sock.recv(1) == b"":
                    closed_at = time.monotonic() - start
                    break
            except TimeoutError:
                continue
            except ConnectionResetError:
                closed_at = time.monotonic() - start
                break
        assert closed_at is not None and 9.0 < closed_at < 13.0, closed_at  # header_timeout 10 s


def test_a_trickled_body_is_closed_by_the_body_deadline():
    with (
        RunningAdmin(body_timeout=1.0, min_body_rate=1024) as running,
        connect(running.port) as sock,
    ):
        sock.sendall(
            b"POST /services HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json"
            b"\r\nContent-Length: 100000\r\n\r\n"
        )
        start = time.monotonic()
        sock.settimeout(0.25)
        while time.monotonic() - start < 6:
            try:
                sock.sendall(b"{")
                if sock.recv(1) == b"":
                    break
            except TimeoutError:
                continue
            except (BrokenPipeError, ConnectionResetError):
                break
        elapsed = time.monotonic() - start
        assert 0.9 < elapsed < 2.5, elapsed  # 1 s + (bytes received / 1024) s


# -- parser bombs ---------------------------------------------------------------------------
ALIAS_BOMB = (
    b'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    + "".join(
        f"{c}: &{c} [{','.join(['*' + p] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi")
    ).encode()
)


@pytest.mark.parametrize("form", ["raw", "json_field", "form_field"])
def test_yaml_alias_bomb_is_refused_fast_and_small(admin, form):
    assert len(ALIAS_BOMB) < 400
    body, ctype = {
        "raw": (ALIAS_BOMB, "text/yaml"),
        "json_field": (json.dumps({"config": ALIAS_BOMB.decode()}).encode(), "application/json"),
        "form_field": (
            urllib.parse.urlencode({"config": ALIAS_BOMB}).encode(),
            "application/x-www-form-urlencoded",
        ),
    }[form]
    tracemalloc.start()
    try:
        start = time.monotonic()
        status, _, doc = request(
            admin.port, "POST", "/config", body=body, headers={"Content-Type": ctype}
        )
        elapsed = time.monotonic() - start
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert status == 400 and doc["name"] == "invalid declarative configuration", doc
    assert "aliases would add" in doc["message"] and "limit 10000" in doc["message"]
    assert "POST /config:9" in doc["message"]  # the line of the alias that blows up
    assert elapsed < 0.5, elapsed
    assert peak < 4 * 1024 * 1024, peak


def test_recursive_alias_is_refused(admin):
    status, _, doc = request(
        admin.port,
        "POST",
        "/config",
        body=b"_format_version: '3.0'\na: &a [*a]\n",
        headers={"Content-Type": "text/yaml"},
    )
    assert status == 400 and "recursive alias" in doc["message"]


def test_small_aliases_still_load(admin):
    text = (
        b"_format_version: '3.0'\nservices:\n- &svc {name: anchored, url: 'http://127.0.0.1:9/'}\n"
        b"- {<<: *svc, name: merged}\n"
    )
    status, _, doc = request(
        admin.port, "POST", "/config", body=text, headers={"Content-Type": "text/yaml"}
    )
    assert status == 201, doc
    assert {"anchored", "merged"} <= set(services(admin))


DEEP = 100_000


@pytest.mark.parametrize(
    "path,ctype",
    [
        ("/services", "application/json"),
        ("/config", "application/json"),
        ("/config", "text/yaml"),
        ("/schemas/services/validate", "application/json"),
    ],
)
def test_json_nested_100000_deep_is_a_400_naming_the_limit(admin, path, ctype):
    body = b'{"a":' * DEEP + b"1" + b"}" * DEEP
    status, _, doc = request(admin.port, "POST", path, body=body, headers={"Content-Type": ctype})
    assert status == 400, doc
    assert "nested deeper than" in doc["message"] and "64" in doc["message"], doc


def test_nesting_past_the_limit_in_yaml_names_the_line(admin):
    text = b"_format_version: '3.0'\nx: 1\ndeep: " + b"[" * 70 + b"]" * 70 + b"\n"
    status, _, doc = request(
        admin.port, "POST", "/config", body=text, headers={"Content-Type": "text/yaml"}
    )
    assert status == 400 and "POST /config:3" in doc["message"], doc
    assert "nested deeper than 64 levels" in doc["message"], doc


def test_request_transformer_passes_100000_deep_json_through_untouched(upstream):
    body = b'{"a":' * DEEP + b"1" + b"}" * DEEP
    with ChainProxy(
        upstream.port, [handler("request-transformer", {"add": {"body": ["x:y"]}})]
    ) as p:
        status, _, doc = gw_http(
            p.port, "POST", "/", body=body, headers={"Content-Type": "application/json"}
        )
    assert status == 200 and doc["body"].encode() == body  # as for any body it cannot parse


def test_response_transformer_passes_100000_deep_json_through_untouched():
    deep = b"[" * DEEP + b"]" * DEEP
    listener = socket.create_server(("127.0.0.1", 0))

    def serve_once():
        conn, _ = listener.accept()
        with conn:
            while b"\r\n\r\n" not in conn.recv(65536):
                pass
            conn.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\n\r\n%s" % (len(deep), deep)
            )

    thread = threading.Thread(target=serve_once, daemon=True)
    thread.start()
    try:
        config = {"add": {"json": ["gateway:true"]}}
        with ChainProxy(listener.getsockname()[1], [handler("response-transformer", config)]) as p:
            conn = http.client.HTTPConnection("127.0.0.1", p.port, timeout=10)
            conn.request("GET", "/")
            resp = conn.getresponse()
            status, raw = resp.status, resp.read()
            conn.close()
    finally:
        thread.join(5)
        listener.close()
    assert status == 200 and raw == deep


def test_deeply_nested_paging_offset_is_a_400(admin):
    token = base64.urlsafe_b64encode(b"[" * 3000 + b"]" * 3000).decode().rstrip("=")
    status, _, doc = request(admin.port, "GET", f"/services?offset={token}")
    assert status == 400 and doc["name"] == "invalid offset"


def test_the_listen_address_is_a_valid_host():
    with RunningAdmin(listen="127.0.0.2") as running:
        status, _, _ = request(
            running.port, "GET", "/status", host=f"127.0.0.2:{running.port}", address="127.0.0.2"
        )
        assert status == 200
    with RunningAdmin() as running:  # 127.0.0.2 is neither loopback by name nor this listener
        status, _, _ = request(running.port, "GET", "/status", host=f"127.0.0.2:{running.port}")
        assert status == 421
