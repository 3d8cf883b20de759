"""The ASGI middleware on FastAPI and Starlette under uvicorn on loopback, on the embedded log and
Kafka: every event read back and checked field by field, the lifespan's ServiceHealthEvents, the
W3C trace context in the CloudEvents extension headers, a broker that is down (requests stay fast,
drops are counted and exported), and adversarial requests (spoofed X-Forwarded-For, malformed
traceparent, a huge path, a streaming response).
"""

from __future__ import annotations

import http.client
import statistics
from urllib.parse import urlsplit

import pytest
from fastapi import FastAPI, HTTPException
from fastapi.responses import StreamingResponse
from frameworkkit import VALID_TRACEPARENT, get, wait_idle
from prometheus_client import REGISTRY, generate_latest
from starlette.applications import Starlette
from starlette.authentication import AuthCredentials, AuthenticationBackend, SimpleUser
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route

from carbonplane.events.config import EventsConfig
from carbonplane.events.producer import EventProducer
from carbonplane.integrations import AuditSettings, Emitter
from carbonplane.integrations.asgi import CarbonplaneASGIMiddleware


class BearerUser(AuthenticationBackend):
    """``Authorization: Bearer <name>`` -> an authenticated SimpleUser (the framework's auth)."""

    async def authenticate(self, conn):
        auth = conn.headers.get("authorization", "")
        if auth.startswith("Bearer "):
            return AuthCredentials(["authenticated"]), SimpleUser(auth[7:])
        return None


def fastapi_app(emitter: Emitter) -> FastAPI:
    app = FastAPI()

    @app.get("/items/{item_id}")
    async def item(item_id: int):
        return {"id": item_id}

    @app.post("/items")
    async def create(payload: dict):
        return {"ok": True}

    @app.get("/health")
    async def health():
        return {"status": "ok"}

    @app.get("/boom")
    async def boom():
        raise RuntimeError("the handler failed")

    @app.get("/teapot")
    async def teapot():
        raise HTTPException(status_code=418)

    @app.get("/stream")
    async def stream():
        async def chunks():
            for i in range(5):
                yield b"x" * 1000

        return StreamingResponse(chunks(), media_type="application/octet-stream")

    app.add_middleware(AuthenticationMiddleware, backend=BearerUser())
    app.add_middleware(CarbonplaneASGIMiddleware, emitter=emitter)  # outermost
    return app


def by_endpoint(events) -> dict:
    return {(e.method, e.endpoint): (e, h) for e, h in events}


def run_fastapi_round(serve_asgi, backend, trusted):
    settings = AuditSettings(
        "pricing-api",
        namespace="pricing",
        trusted_proxies=trusted,
        audit_topic=backend.audit_topic,
        health_topic=backend.health_topic,
    )
    emitter = Emitter(settings, backend.factory("pricing-api"))
    url = serve_asgi(fastapi_app(emitter))
    headers = {
        "traceparent": VALID_TRACEPARENT,
        "tracestate": "vendor=abc",
        "authorization": "Bearer alice",
        "x-forwarded-for": "198.51.100.7, 203.0.113.9",
    }
    assert get(url + "/items/42", headers)[0] == 200
    body = b'{"name": "gas"}'
    post_headers = {"content-type": "application/json"}
    assert get(url + "/items", post_headers, "POST", body)[0] == 200
    assert get(url + "/health")[0] == 200  # excluded by default
    assert get(url + "/boom")[0] == 500
    assert get(url + "/teapot")[0] == 418
    status, streamed, _ = get(url + "/stream")
    assert (status, len(streamed)) == (200, 5000)
    assert get(url + "/no/such/route")[0] == 404
    serve_asgi.stop()  # lifespan shutdown: the stopping event, then the emitter closes
    return emitter, body


def check_fastapi_round(backend, emitter, body, client_ip):
    events = backend.read(backend.audit_topic, 6)
    assert len(events) == 6, [e.endpoint for e, _ in events]  # /health was not recorded
    calls = by_endpoint(events)
    assert set(calls) == {
        ("GET", "/items/{item_id}"),
        ("POST", "/items"),
        ("GET", "/boom"),
        ("GET", "/teapot"),
        ("GET", "/stream"),
        ("GET", "/no/such/route"),
    }
    item, h = calls["GET", "/items/{item_id}"]
    assert item.service == "pricing-api" and item.source == "pricing-api"
    assert item.status_code == 200
    assert 0 < item.latency_ms < 5000
    assert item.request_size_bytes == 0 and item.response_size_bytes == len(b'{"id":42}')
    assert item.user_id == "alice"
    assert item.ip_address == client_ip
    assert h["ce_traceparent"] == VALID_TRACEPARENT and h["ce_tracestate"] == "vendor=abc"
    assert h["ce_type"] == "com.carbon254.audit.api_call" and h["ce_id"] == item.event_id
    post, h = calls["POST", "/items"]
    assert (post.status_code, post.request_size_bytes) == (200, len(body))
    assert "ce_traceparent" not in h and post.user_id is msgspec_unset()
    boom, _ = calls["GET", "/boom"]
    assert boom.status_code == 500 and boom.error_message == "RuntimeError"
    teapot, _ = calls["GET", "/teapot"]
    assert teapot.status_code == 418 and teapot.error_message is msgspec_unset()
    stream, _ = calls["GET", "/stream"]
    assert (stream.status_code, stream.response_size_bytes) == (200, 5000)
    missing, _ = calls["GET", "/no/such/route"]
    assert missing.status_code == 404
    health = backend.read(backend.health_topic, 2)
    assert [(e.service_name, e.namespace, e.health_status, e.message) for e, _ in health] == [
        ("pricing-api", "pricing", "HEALTHY", "started"),
        ("pricing-api", "pricing", "UNKNOWN", "stopping"),
    ]
    assert emitter.stats() == {
        "submitted": 6,
        "sent": 8,  # and the two health events
        "dropped_queue_full": 0,
        "dropped_error": 0,
        "queued": 0,
    }


def msgspec_unset():
    from msgspec import UNSET

    return UNSET


def test_fastapi_on_the_embedded_log(serve_asgi, local_events):
    emitter, body = run_fastapi_round(serve_asgi, local_events, ["127.0.0.1"])
    # the peer (127.0.0.1) is trusted: the right-most untrusted forwarded address is the client
    check_fastapi_round(local_events, emitter, body, "203.0.113.9")


@pytest.mark.kafka
def test_fastapi_on_kafka(serve_asgi, kafka_events):
    emitter, body = run_fastapi_round(serve_asgi, kafka_events, ["127.0.0.0/8", "203.0.113.9"])
    # 203.0.113.9 is a trusted proxy too: the client is the next address to its left
    check_fastapi_round(kafka_events, emitter, body, "198.51.100.7")


def test_starlette_route_templates_and_adversarial_requests(serve_asgi, local_events):
    async def account(request):
        return PlainTextResponse("acct " + request.path_params["name"])

    emitter = Emitter(
        AuditSettings("ledger", trusted_proxies=["10.0.0.0/8"]), local_events.factory("ledger")
    )
    app = Starlette(
        routes=[Route("/accounts/{name}", account)],
        middleware=[Middleware(CarbonplaneASGIMiddleware, emitter=emitter)],
    )
    url = serve_asgi(app)
    spoofed = {
        "x-forwarded-for": "1.2.3.4",
        "traceparent": "00-" + "0" * 32 + "-" + "1" * 16 + "-01",
    }
    assert get(url + "/accounts/bob", spoofed)[0] == 200
    bad_traces = [
        "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  # unknown version layout
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",  # upper case
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
        "garbage",
    ]
    for trace in bad_traces:
        assert get(url + "/accounts/eve", {"traceparent": trace})[0] == 200
    huge = "/" + "a" * 7000
    assert get(url + huge)[0] == 404
    # two traceparent lines are invalid (W3C), even when each alone is valid
    assert raw_get(url, "/accounts/dup", [("traceparent", VALID_TRACEPARENT)] * 2) == 200
    serve_asgi.stop()
    events = local_events.read("audit-api-calls", 7)
    dup = events.pop()
    assert dup[0].endpoint == "/accounts/{name}" and "ce_traceparent" not in dup[1]
    assert len(events) == 6
    for event, headers in events:
        assert event.ip_address == "127.0.0.1"  # the peer is not a trusted proxy: XFF ignored
        assert "ce_traceparent" not in headers and "ce_tracestate" not in headers
    assert [e.endpoint for e, _ in events[:5]] == ["/accounts/{name}"] * 5
    long_one = events[5][0]
    assert long_one.status_code == 404
    assert len(long_one.endpoint) == 256 and long_one.endpoint.endswith("...")


def raw_get(url: str, target: str, headers: list[tuple[str, str]]) -> int:
    """A GET with header lines sent exactly as listed (repeats kept); returns the status."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        conn.putrequest("GET", target)
        for name, value in headers:
            conn.putheader(name, value)
        conn.endheaders()
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def test_mounted_routes_and_repeated_forwarded_for_lines(serve_asgi, local_events):
    async def ok(request):
        return PlainTextResponse("ok")

    emitter = Emitter(
        AuditSettings("xff", trusted_proxies=["127.0.0.1", "192.0.2.0/24"]),
        local_events.factory("xff"),
    )
    inner = Starlette(routes=[Route("/orders/{oid}", ok)])
    app = Starlette(
        routes=[Route("/", ok), Mount("/api/v1", app=inner)],
        middleware=[Middleware(CarbonplaneASGIMiddleware, emitter=emitter)],
    )
    url = serve_asgi(app)
    assert get(url + "/api/v1/orders/77")[0] == 200
    # the client's own line, then one line per proxy hop: one list, in order (the last line
    # alone would name only the trusted 192.0.2.9)
    lines = [
        ("x-forwarded-for", "6.6.6.6"),
        ("x-forwarded-for", "198.51.100.4"),
        ("x-forwarded-for", "192.0.2.9"),
    ]
    assert raw_get(url, "/", lines) == 200
    serve_asgi.stop()
    mounted, (event, _) = local_events.read("audit-api-calls", 2)
    assert mounted[0].endpoint == "/api/v1/orders/{oid}"  # the mount's prefix put back
    assert event.endpoint == "/" and event.ip_address == "198.51.100.4"


def test_any_asgi_app_and_sampling(serve_asgi, local_events):
    async def bare(scope, receive, send):  # no framework at all
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    settings = AuditSettings("bare", sample_rate=0.0)
    emitter = Emitter(settings, local_events.factory("bare"))
    url = serve_asgi(CarbonplaneASGIMiddleware(bare, emitter=emitter))
    for _ in range(20):
        assert get(url + "/x")[0] == 204
    wait_idle(emitter)
    assert emitter.stats()["submitted"] == 0  # sampled out, not dropped
    sampled = Emitter(AuditSettings("bare2", exclude=["/skip/*"]), local_events.factory("bare2"))
    url2 = serve_asgi(CarbonplaneASGIMiddleware(bare, emitter=sampled))
    assert get(url2 + "/skip/this")[0] == 204
    assert get(url2 + "/keep")[0] == 204
    serve_asgi.stop()
    [(event, _)] = local_events.read("audit-api-calls", 1)
    assert (event.service, event.endpoint, event.status_code) == ("bare2", "/keep", 204)


def quote_app(emitter: Emitter) -> FastAPI:
    app = FastAPI()

    @app.get("/quote/{sym}")
    async def quote(sym: str):
        return {"sym": sym}

    app.add_middleware(CarbonplaneASGIMiddleware, emitter=emitter)
    return app


def hammer(url: str, n: int) -> list[float]:
    """``n`` sequential requests, each answered 200; their durations in seconds."""
    seconds = []
    for i in range(n):
        status, _, took = get(url + f"/quote/s{i}")
        assert status == 200
        seconds.append(took)
    assert max(seconds) < 1.0, max(seconds)
    assert statistics.median(seconds) < 0.05, statistics.median(seconds)
    return seconds


def exported(service: str, outcome: str) -> float:
    text = generate_latest(REGISTRY).decode()
    prefix = f'carbonplane_integration_calls_total{{outcome="{outcome}",service="{service}"}} '
    [line] = [line for line in text.splitlines() if line.startswith(prefix)]
    return float(line[len(prefix) :])


def test_broker_down_requests_stay_fast_and_failures_are_counted(serve_asgi, cp_home):
    # nothing listens on port 1: librdkafka is refused at once, records wait for their timeout
    cfg = EventsConfig.from_env(
        {}, bootstrap_servers="127.0.0.1:1", home=cp_home, overrides={"message.timeout.ms": 1500}
    )
    producers = []

    def factory():
        producers.append(EventProducer(source_service="down-svc", config=cfg))
        return producers[-1]

    emitter = Emitter(AuditSettings("down-svc"), factory)
    url = serve_asgi(quote_app(emitter))
    hammer(url, 60)
    wait_idle(emitter)
    assert emitter.stats()["submitted"] == 60
    serve_asgi.stop()  # the emitter closes: the producer waits out message.timeout.ms
    [producer] = producers
    stats = producer.get_stats()
    # 60 calls and the started/stopping health events: each one failed and counted, none lost
    assert (stats["produced"], stats["delivered"], stats["errors"]) == (62, 0, 62), stats
    assert emitter.stats()["sent"] == 62


def test_slow_broker_fills_the_queue_and_drops_are_counted(serve_asgi, cp_home):
    # a listener that never answers: the producer's first metadata request waits 5 s, so the
    # emitter's thread is stuck there while requests keep coming
    import socket

    black_hole = socket.socket()
    black_hole.bind(("127.0.0.1", 0))
    black_hole.listen(16)
    port = black_hole.getsockname()[1]
    cfg = EventsConfig.from_env(
        {},
        bootstrap_servers=f"127.0.0.1:{port}",
        home=cp_home,
        overrides={"message.timeout.ms": 1500},
    )
    settings = AuditSettings("slow-svc", queue_size=10)
    emitter = Emitter(settings, lambda: EventProducer(source_service="slow-svc", config=cfg))
    try:
        url = serve_asgi(quote_app(emitter))
        hammer(url, 60)
        stats = emitter.stats()
        assert stats["submitted"] + stats["dropped_queue_full"] == 60
        assert stats["dropped_queue_full"] >= 40, stats
        assert exported("slow-svc", "dropped_queue_full") == stats["dropped_queue_full"]
        assert exported("slow-svc", "submitted") == stats["submitted"]
    finally:
        serve_asgi.stop()
        black_hole.close()
