"""The Django middleware in a real Django (settings, URL resolver, ``request.user``) served by
werkzeug's WSGI server on loopback, on the embedded log and Kafka: events read back field by field
(``resolver_match.route`` templates, the user of ``django.contrib.auth``, sizes, trace context),
``CARBONPLANE_AUDIT`` mistakes refused by name, a streaming response, spoofed X-Forwarded-For, a
malformed traceparent, a huge path, and a refused broker (requests stay fast, failures counted).
"""

from __future__ import annotations

import statistics

import django
import pytest
from django.conf import settings

if not settings.configured:
    settings.configure(
        DEBUG=False,
        SECRET_KEY="integration-tests-only",
        ALLOWED_HOSTS=["127.0.0.1"],
        ROOT_URLCONF=__name__,
        INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth"],
        DATABASES={},
        MIDDLEWARE=[
            "carbonplane.integrations.django.CarbonplaneMiddleware",
            f"{__name__}.HeaderUser",
        ],
        CARBONPLANE_AUDIT={"service": "unset"},
    )
    django.setup()

from django.core.exceptions import ImproperlyConfigured  # noqa: E402
from django.core.handlers.wsgi import WSGIHandler  # noqa: E402
from django.http import HttpResponse, JsonResponse, StreamingHttpResponse  # noqa: E402
from django.test import override_settings  # noqa: E402
from django.urls import path  # noqa: E402
from frameworkkit import VALID_TRACEPARENT, get, wait_idle, wait_submitted  # noqa: E402
from msgspec import UNSET  # noqa: E402

import carbonplane.integrations.django as cp_django  # noqa: E402


class HeaderUser:
    """Sets ``request.user`` to a django.contrib.auth User named by X-User (a stand-in for the
    session-backed AuthenticationMiddleware, which would need a database)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        from django.contrib.auth.models import AnonymousUser, User

        name = request.headers.get("x-user")
        request.user = User(username=name) if name else AnonymousUser()
        return self.get_response(request)


def item(request, pk):
    return JsonResponse({"id": pk})


def boom(request):
    raise RuntimeError("the view failed")


def stream(request):
    return StreamingHttpResponse(b"y" * 1000 for _ in range(4))


def health(request):
    return HttpResponse("ok")


urlpatterns = [
    path("items/<int:pk>/", item),
    path("boom/", boom),
    path("stream/", stream),
    path("healthz", health),
]


@pytest.fixture
def fresh_emitter():
    cp_django._emitter = None
    yield
    cp_django.stopped()
    cp_django._emitter = None


def django_round(serve_wsgi, backend, audit):
    with override_settings(CARBONPLANE_AUDIT=audit):
        url = serve_wsgi(WSGIHandler())
        headers = {
            "x-user": "carol",
            "traceparent": VALID_TRACEPARENT,
            "tracestate": "k=v",
            "x-forwarded-for": "203.0.113.5",
        }
        assert get(url + "/items/9/", headers)[0] == 200
        assert get(url + "/healthz")[0] == 200  # excluded by default
        assert get(url + "/boom/")[0] == 500
        status, data, _ = get(url + "/stream/")
        assert (status, len(data)) == (200, 4000)
        assert get(url + "/" + "q" * 5000)[0] == 404
        assert get(url + "/items/9/", {"traceparent": "00-abc-01"})[0] == 200
        emitter = cp_django.emitter()
        wait_submitted(emitter, 5)
        cp_django.stopped()
    events = backend.read(backend.audit_topic, 5)
    assert len(events) == 5
    return events, backend.read(backend.health_topic, 2)


def check_round(events, health, service, client_ip):
    first, h = events[0]
    assert (first.service, first.method, first.endpoint) == (service, "GET", "/items/<int:pk>/")
    assert (first.status_code, first.user_id, first.ip_address) == (200, "carol", client_ip)
    assert first.response_size_bytes == len(b'{"id": 9}')
    assert h["ce_traceparent"] == VALID_TRACEPARENT and h["ce_tracestate"] == "k=v"
    by_endpoint = {e.endpoint: (e, h) for e, h in events[1:]}
    boom, _ = by_endpoint["/boom/"]
    assert (boom.status_code, boom.user_id, boom.error_message) == (500, UNSET, "HTTP 500")
    streamed, _ = by_endpoint["/stream/"]
    assert (streamed.status_code, streamed.response_size_bytes) == (200, 4000)
    [huge] = [e for e in by_endpoint if e.startswith("/qqq")]
    assert len(huge) == 256 and by_endpoint[huge][0].status_code == 404
    last, h = events[-1]
    assert last.endpoint == "/items/<int:pk>/" and "ce_traceparent" not in h
    assert [(e.service_name, e.health_status) for e, _ in health] == [
        (service, "HEALTHY"),
        (service, "UNKNOWN"),
    ]


def test_django_on_the_embedded_log(serve_wsgi, local_events, fresh_emitter):
    audit = {"service": "django-svc", "trusted_proxies": ["10.0.0.0/8"]}
    events, health = django_round(serve_wsgi, local_events, audit)
    # the peer 127.0.0.1 is not trusted: its X-Forwarded-For is ignored
    check_round(events, health, "django-svc", "127.0.0.1")


@pytest.mark.kafka
def test_django_on_kafka(serve_wsgi, kafka_events, kafka_bootstrap, fresh_emitter, monkeypatch):
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", kafka_bootstrap)  # the default producer's choice
    audit = {
        "service": "django-kafka",
        "trusted_proxies": ["127.0.0.1"],
        "audit_topic": kafka_events.audit_topic,
        "health_topic": kafka_events.health_topic,
    }
    events, health = django_round(serve_wsgi, kafka_events, audit)
    check_round(events, health, "django-kafka", "203.0.113.5")


@pytest.mark.parametrize(
    ("audit", "named"),
    [
        (None, "CARBONPLANE_AUDIT"),
        ({"service": ""}, "service"),
        ({"service": "s", "sample_rate": 2}, "sample_rate"),
        ({"service": "s", "trusted_proxies": ["10.0.0.300"]}, "trusted_proxies[0]"),
        ({"service": "s", "exclude": ["health"]}, "exclude[0]"),
        ({"service": "s", "colour": "blue"}, "colour"),
    ],
)
def test_bad_settings_are_refused_by_name(audit, named, fresh_emitter):
    with override_settings(CARBONPLANE_AUDIT=audit):
        with pytest.raises(ImproperlyConfigured, match=named.replace("[", r"\[")):
            WSGIHandler()


def test_refused_broker_keeps_django_fast_and_failures_counted(
    serve_wsgi, cp_home, fresh_emitter, monkeypatch
):
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")  # nothing listens there
    with override_settings(CARBONPLANE_AUDIT={"service": "django-down"}):
        url = serve_wsgi(WSGIHandler())
        seconds = []
        for i in range(40):
            status, _, took = get(url + f"/items/{i}/")
            assert status == 200
            seconds.append(took)
        assert max(seconds) < 1.0 and statistics.median(seconds) < 0.05, seconds
        emitter = cp_django.emitter()
        wait_submitted(emitter, 40)
        wait_idle(emitter)
        producer = emitter._producer
        cp_django.stopped()  # the producer's close reports what it still held as failed
    stats = producer.get_stats()
    # 40 calls and the started/stopping events: none delivered, each one counted as an error
    assert (stats["produced"], stats["delivered"], stats["errors"]) == (42, 0, 42), stats
