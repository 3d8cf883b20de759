"""The WSGI middleware on Flask (``instrument``) and on a bare WSGI app under werkzeug's server on
loopback, on the embedded log and Kafka: events read back field by field (``url_rule`` templates,
user, sizes, trace context), the health events of ``started()``/``stopped()``, a streaming body
timed to its end, spoofed X-Forwarded-For, malformed traceparent, a huge path, and a refused broker.
"""

from __future__ import annotations

import statistics
import time

import pytest
from flask import Flask, Response, abort, jsonify
from frameworkkit import VALID_TRACEPARENT, get, wait_idle, wait_submitted
from msgspec import UNSET

from carbonplane.events.config import EventsConfig
from carbonplane.events.producer import EventProducer
from carbonplane.integrations import AuditSettings, Emitter
from carbonplane.integrations.flask import instrument
from carbonplane.integrations.wsgi import CarbonplaneWSGIMiddleware


def flask_app(backend, trusted) -> tuple[Flask, CarbonplaneWSGIMiddleware]:
    app = Flask("pricing")

    @app.get("/items/<int:item_id>")
    def item(item_id):
        return jsonify(id=item_id)

    @app.post("/items")
    def create():
        return jsonify(ok=True)

    @app.get("/health")
    def health():
        return "ok"

    @app.get("/boom")
    def boom():
        raise RuntimeError("the handler failed")

    @app.get("/teapot")
    def teapot():
        abort(418)

    @app.get("/stream")
    def stream():
        def chunks():
            for _ in range(5):
                time.sleep(0.02)
                yield b"x" * 1000

        return Response(chunks(), mimetype="application/octet-stream")

    settings = AuditSettings(
        "pricing-flask",
        namespace="pricing",
        trusted_proxies=trusted,
        audit_topic=backend.audit_topic,
        health_topic=backend.health_topic,
    )
    emitter = Emitter(settings, backend.factory("pricing-flask"))
    middleware = instrument(
        app, emitter=emitter, announce=False, user_getter=lambda r: r.headers.get("x-user")
    )
    middleware.started()
    return app, middleware


def flask_round(serve_wsgi, backend, trusted, client_ip):
    app, middleware = flask_app(backend, trusted)
    url = serve_wsgi(app)
    headers = {
        "traceparent": VALID_TRACEPARENT,
        "x-user": "alice",
        "x-forwarded-for": "198.51.100.7, 203.0.113.9",
    }
    assert get(url + "/items/7", headers)[0] == 200
    body = b'{"name": "gas"}'
    assert get(url + "/items", {"content-type": "application/json"}, "POST", body)[0] == 200
    assert get(url + "/health")[0] == 200
    assert get(url + "/boom")[0] == 500
    assert get(url + "/teapot")[0] == 418
    status, streamed, took = get(url + "/stream")
    assert (status, len(streamed)) == (200, 5000)
    assert get(url + "/nothing/here")[0] == 404
    wait_submitted(middleware.emitter, 6)
    middleware.stopped()

    calls = {(e.method, e.endpoint): (e, h) for e, h in backend.read(backend.audit_topic, 6)}
    assert set(calls) == {
        ("GET", "/items/<int:item_id>"),
        ("POST", "/items"),
        ("GET", "/boom"),
        ("GET", "/teapot"),
        ("GET", "/stream"),
        ("GET", "/nothing/here"),
    }
    item, h = calls["GET", "/items/<int:item_id>"]
    assert (item.service, item.status_code, item.user_id) == ("pricing-flask", 200, "alice")
    assert item.ip_address == client_ip
    assert item.response_size_bytes == len(b'{"id":7}\n')  # Flask's compact jsonify
    assert h["ce_traceparent"] == VALID_TRACEPARENT and "ce_tracestate" not in h
    post, _ = calls["POST", "/items"]
    assert (post.request_size_bytes, post.user_id, post.ip_address) == (
        len(body),
        UNSET,
        "127.0.0.1",
    )
    boom, _ = calls["GET", "/boom"]
    assert (boom.status_code, boom.error_message) == (500, "HTTP 500")
    teapot, _ = calls["GET", "/teapot"]
    assert (teapot.status_code, teapot.error_message) == (418, UNSET)
    stream, _ = calls["GET", "/stream"]
    # recorded at close(), after the last chunk: the five 20 ms pauses are inside its latency
    assert stream.response_size_bytes == 5000 and stream.latency_ms >= 100
    assert calls["GET", "/nothing/here"][0].status_code == 404
    health = backend.read(backend.health_topic, 2)
    assert [(e.service_name, e.health_status) for e, _ in health] == [
        ("pricing-flask", "HEALTHY"),
        ("pricing-flask", "UNKNOWN"),
    ]


def test_flask_on_the_embedded_log(serve_wsgi, local_events):
    flask_round(serve_wsgi, local_events, ["127.0.0.1"], "203.0.113.9")


@pytest.mark.kafka
def test_flask_on_kafka(serve_wsgi, kafka_events):
    flask_round(serve_wsgi, kafka_events, ["127.0.0.1", "203.0.113.0/24"], "198.51.100.7")


def test_bare_wsgi_adversarial(serve_wsgi, local_events):
    def hello(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"hello"]

    emitter = Emitter(
        AuditSettings("bare-wsgi", trusted_proxies=["10.0.0.0/8"]),
        local_events.factory("bare-wsgi"),
    )
    url = serve_wsgi(CarbonplaneWSGIMiddleware(hello, emitter=emitter, announce=False))
    assert get(url + "/a", {"x-forwarded-for": "1.2.3.4"})[0] == 200  # untrusted peer: ignored
    assert get(url + "/b", {"traceparent": VALID_TRACEPARENT[:-1] + "x"})[0] == 200
    assert get(url + "/c", {"traceparent": VALID_TRACEPARENT + " "})[0] == 200
    assert get(url + "/" + "z" * 6000)[0] == 200
    wait_submitted(emitter, 4)
    wait_idle(emitter)
    emitter.close()
    events = local_events.read("audit-api-calls", 4)
    assert len(events) == 4
    for event, headers in events:
        assert event.ip_address == "127.0.0.1" and event.response_size_bytes == 5
        assert "ce_traceparent" not in headers
    assert [len(e.endpoint) for e, _ in events] == [2, 2, 2, 256]


def test_refused_broker_keeps_flask_fast(serve_wsgi, cp_home):
    cfg = EventsConfig.from_env(
        {}, bootstrap_servers="127.0.0.1:1", home=cp_home, overrides={"message.timeout.ms": 1500}
    )
    producers = []

    def factory():
        producers.append(EventProducer(source_service="down-flask", config=cfg))
        return producers[-1]

    app = Flask("down")
    app.add_url_rule("/q/<sym>", "q", lambda sym: sym)
    middleware = instrument(
        app, emitter=Emitter(AuditSettings("down-flask"), factory), announce=False
    )
    url = serve_wsgi(app)
    seconds = []
    for i in range(40):
        status, _, took = get(url + f"/q/s{i}")
        assert status == 200
        seconds.append(took)
    assert max(seconds) < 1.0 and statistics.median(seconds) < 0.05, seconds
    wait_submitted(middleware.emitter, 40)
    wait_idle(middleware.emitter)
    middleware.emitter.close()
    [producer] = producers
    stats = producer.get_stats()
    assert (stats["produced"], stats["delivered"], stats["errors"]) == (40, 0, 40), stats
