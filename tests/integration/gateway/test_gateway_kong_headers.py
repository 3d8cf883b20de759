"""Kong's headers, request ids and error pages, through a real gateway process (two workers).

Covers: ``X-Kong-*`` latency headers, ``X-Kong-Request-Id`` both ways, ``Via`` and ``Server``
with the ``carbonplane/<version>`` product token, the client's own ``X-Request-ID`` passing
untouched (and correlation-id with ``header_name: X-Request-ID`` keeping it), ``--headers`` /
``--headers-upstream off``, and error bodies negotiated by ``Accept`` (Kong's rules).
"""

from __future__ import annotations

import re
import uuid
import xml.etree.ElementTree as ET
from http import client as httpclient

import pytest
from gwharness import GatewayProcess, http, write_config
from tests.kits.standin import StandIn, header

from carbonplane import __version__

PRODUCT = f"carbonplane/{__version__}"
HEX32 = re.compile(r"^[0-9a-f]{32}$")


def kong_yml(up: StandIn, down_port: int) -> dict:
    return {
        "_format_version": "3.0",
        "services": [
            {
                "name": "api",
                "url": f"http://127.0.0.1:{up.port}",
                "routes": [{"name": "api", "paths": ["/api"]}],
            },
            {
                "name": "traced",
                "url": f"http://127.0.0.1:{up.port}",
                "routes": [{"name": "traced", "paths": ["/traced"]}],
                "plugins": [
                    {
                        "name": "correlation-id",
                        "config": {
                            "header_name": "X-Request-ID",
                            "generator": "uuid",
                            "echo_downstream": True,
                        },
                    }
                ],
            },
            {
                "name": "tracked",
                "url": f"http://127.0.0.1:{up.port}",
                "routes": [{"name": "tracked", "paths": ["/tracked"]}],
                "plugins": [{"name": "correlation-id", "config": {"generator": "tracker"}}],
            },
            {
                "name": "down",
                "url": f"http://127.0.0.1:{down_port}",
                "retries": 0,
                "routes": [{"name": "down", "paths": ["/down"]}],
            },
        ],
    }


@pytest.fixture(scope="module")
def upstream():
    up = StandIn("kong-headers").start()
    yield up
    up.stop()


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def gateway(upstream, tmp_path_factory):
    path = write_config(
        tmp_path_factory.mktemp("kh") / "kong.yml", kong_yml(upstream, _closed_port())
    )
    with GatewayProcess(path, workers=2) as gw:
        yield gw


@pytest.fixture(scope="module")
def quiet_gateway(upstream, tmp_path_factory):
    path = write_config(
        tmp_path_factory.mktemp("kh-off") / "kong.yml", kong_yml(upstream, _closed_port())
    )
    extra = ["--headers", "off", "--headers-upstream", "off"]
    with GatewayProcess(path, workers=1, extra=extra) as gw:
        yield gw


def test_a_proxied_response_carries_kongs_headers(gateway):
    status, headers, doc = http(gateway.proxy_port, "GET", "/api/x")
    assert status == 200
    rid = headers["x-kong-request-id"]
    assert HEX32.match(rid)
    assert int(headers["x-kong-upstream-latency"]) >= 0
    assert int(headers["x-kong-proxy-latency"]) >= 0
    assert "x-kong-response-latency" not in headers  # only on the gateway's own responses
    assert headers["via"] == f"1.1 {PRODUCT}"
    # upstream side: the same id, and our Via
    assert header(doc, "x-kong-request-id") == rid
    assert header(doc, "via") == f"1.1 {PRODUCT}"
    ids = {http(gateway.proxy_port, "GET", "/api/x")[1]["x-kong-request-id"] for _ in range(20)}
    assert len(ids) == 20 and rid not in ids


def test_the_latencies_are_measured(gateway, upstream):
    status, headers, _ = http(gateway.proxy_port, "GET", "/api/__sleep/0.3")
    assert status == 200
    assert 290 <= int(headers["x-kong-upstream-latency"]) < 3000
    assert int(headers["x-kong-proxy-latency"]) < 290


def test_the_clients_x_request_id_is_never_touched(gateway):
    status, headers, doc = http(
        gateway.proxy_port, "GET", "/api/x", headers={"X-Request-ID": "client-id-1"}
    )
    assert status == 200 and header(doc, "x-request-id") == "client-id-1"
    assert header(doc, "x-kong-request-id") == headers["x-kong-request-id"] != "client-id-1"
    # a client's X-Kong-Request-Id is replaced by ours (the header is Kong's, as in Kong)
    _, headers, doc = http(
        gateway.proxy_port, "GET", "/api/x", headers={"X-Kong-Request-Id": "forged"}
    )
    assert header(doc, "x-kong-request-id") == headers["x-kong-request-id"] != "forged"


def test_correlation_id_on_x_request_id_keeps_the_incoming_id_and_generates_uuids(gateway):
    _, headers, doc = http(
        gateway.proxy_port, "GET", "/traced/x", headers={"X-Request-ID": "from-the-client"}
    )
    assert header(doc, "x-request-id") == "from-the-client"
    assert headers["x-request-id"] == "from-the-client"  # echo_downstream
    _, headers, doc = http(gateway.proxy_port, "GET", "/traced/x")
    generated = header(doc, "x-request-id")
    assert str(uuid.UUID(generated)) == generated and headers["x-request-id"] == generated


def test_tracker_ids_have_kongs_format(gateway):
    conn = httpclient.HTTPConnection("127.0.0.1", gateway.proxy_port, timeout=10)
    try:
        ids = [header(http(0, "GET", "/tracked/x", conn=conn)[2], "kong-request-id") for _ in "ab"]
    finally:
        conn.close()
    other = header(http(gateway.proxy_port, "GET", "/tracked/x")[2], "kong-request-id")
    pattern = rf"127\.0\.0\.1-{gateway.proxy_port}-(\d+)-(\d+)-(\d+)-\d+\.\d{{3}}"
    first, second = (re.fullmatch(pattern, value).groups() for value in ids)
    # one connection: same worker and serial, its 1st then 2nd request
    assert first[:2] == second[:2] and (first[2], second[2]) == ("1", "2")
    assert re.fullmatch(pattern, other).group(3) == "1"


def test_a_gateway_made_response_has_server_response_latency_and_request_id(gateway):
    status, headers, doc = http(gateway.proxy_port, "GET", "/nowhere")
    assert status == 404 and headers["server"] == PRODUCT
    assert int(headers["x-kong-response-latency"]) >= 0
    assert doc == {
        "message": "no Route matched with those values",
        "request_id": headers["x-kong-request-id"],
    }
    assert "via" not in headers and "x-kong-upstream-latency" not in headers


@pytest.mark.parametrize(
    ("accept", "content_type"),
    [
        ("text/html", "text/html; charset=utf-8"),
        ("application/xml;q=0.9, text/html;q=0.1", "application/xml; charset=utf-8"),
        ("text/*", "text/plain; charset=utf-8"),
        ("image/png", "application/json; charset=utf-8"),
    ],
)
def test_router_errors_follow_accept(gateway, accept, content_type):
    status, headers, body = http(gateway.proxy_port, "GET", "/nowhere", headers={"Accept": accept})
    rid = headers["x-kong-request-id"]
    assert status == 404 and headers["content-type"] == content_type
    if content_type.startswith("text/html"):
        assert b"<p>no Route matched with those values.</p>" in body
        assert f"<p>request_id: {rid}</p>".encode() in body
    elif content_type.startswith("application/xml"):
        root = ET.fromstring(body)
        assert root.findtext("message") == "no Route matched with those values"
        assert root.findtext("requestid") == rid
    elif content_type.startswith("text/plain"):
        assert body == f"no Route matched with those values\nrequest_id: {rid}\n".encode()
    else:
        assert body["request_id"] == rid


def test_engine_errors_default_to_plain_text_then_follow_content_type(gateway):
    status, headers, body = http(gateway.proxy_port, "GET", "/down/x")
    rid = headers["x-kong-request-id"]
    assert status == 502 and headers["content-type"] == "text/plain; charset=utf-8"
    assert (
        body
        == (
            f"An invalid response was received from the upstream server\nrequest_id: {rid}\n"
        ).encode()
    )
    status, headers, body = http(
        gateway.proxy_port,
        "POST",
        "/down/x",
        body=b"{}",
        headers={"Content-Type": "application/json"},
    )
    assert status == 502 and body["request_id"] == headers["x-kong-request-id"]
    status, headers, body = http(
        gateway.proxy_port, "GET", "/down/x", headers={"Accept": "text/html"}
    )
    assert headers["content-type"] == "text/html; charset=utf-8" and b"<h1>Error</h1>" in body


def test_headers_off_sends_none_of_them(quiet_gateway):
    status, headers, doc = http(
        quiet_gateway.proxy_port, "GET", "/api/x", headers={"X-Kong-Request-Id": "lb-7"}
    )
    assert status == 200
    assert not [name for name in headers if name.startswith("x-kong-")]
    assert "via" not in headers
    # upstream: no id of ours, so the client's header is just a header; Via still goes up
    assert header(doc, "x-kong-request-id") == "lb-7"
    assert header(doc, "via") == f"1.1 {PRODUCT}"
    status, headers, body = http(quiet_gateway.proxy_port, "GET", "/nowhere")
    assert status == 404 and "server" not in headers and "x-kong-request-id" not in headers
    assert body["request_id"]  # the body still names the request (Kong: its request id)


def test_a_bad_headers_value_stops_the_start_naming_the_option(upstream, tmp_path):
    path = write_config(tmp_path / "kong.yml", kong_yml(upstream, _closed_port()))
    gw = GatewayProcess(path, workers=1, extra=["--headers", "server_tokens,X-Powered-By"])
    with pytest.raises(AssertionError) as err:
        gw.start()
    assert "headers" in str(err.value) and "x-powered-by" in str(err.value)
