"""request-termination: Kong's error body with default or given message, raw body with content
type, echo of the request, trigger by header or query argument, and the config checks."""

from __future__ import annotations

import json

from reqkit import body_json, request
from tests.kits.plugins import config, handler, problem_at

from carbonplane.gateway.config.schema import freeze


def test_defaults_answer_503_with_kongs_message():
    assert config("request-termination", {})["status_code"] == 503
    verdict = handler("request-termination", {}).on_request(request())
    assert verdict.status == 503
    # the plugin's own default text, in {"message"} without a request id (kong.response.exit)
    assert body_json(verdict) == {"message": "Service unavailable"}


def test_status_and_message():
    verdict = handler(
        "request-termination", {"status_code": 403, "message": "closed for maintenance"}
    ).on_request(request())
    assert verdict.status == 403 and body_json(verdict)["message"] == "closed for maintenance"
    unknown = handler("request-termination", {"status_code": 299}).on_request(request())
    assert unknown.render(b"req-1") == ([], b"")  # no default text for 299: no body
    verdict = handler("request-termination", {"status_code": 502}).on_request(request())
    assert body_json(verdict) == {"message": "Bad Gateway"}


def test_raw_body_with_content_type():
    verdict = handler(
        "request-termination",
        {"status_code": 200, "body": "<h1>down</h1>", "content_type": "text/html"},
    ).on_request(request())
    headers, body = verdict.render(b"id")
    assert (verdict.status, body, headers) == (
        200,
        b"<h1>down</h1>",
        [(b"content-type", b"text/html")],
    )


def test_trigger_by_header_or_query_argument():
    h = handler("request-termination", {"trigger": "X-Maintenance"})
    assert h.on_request(request("GET", "/a")) is None
    assert h.on_request(request("GET", "/a", {"x-maintenance": "1"})).status == 503
    assert h.on_request(request("GET", "/a?X-Maintenance")).status == 503
    assert h.on_request(request("GET", "/a?other=1")) is None


def test_echo_describes_the_request():
    h = handler("request-termination", {"echo": True, "status_code": 200})
    ctx = request("GET", "/api/x?a=1", {"X-Probe": "yes"})
    ctx.vars["route"] = freeze({"id": "r1", "name": "api"})
    verdict = h.on_request(ctx)
    doc = json.loads(verdict.body)
    assert verdict.status == 200 and doc["message"] is None  # no message, no default text for 200
    assert doc["request"]["method"] == "GET" and doc["request"]["path"] == "/api/x"
    assert doc["request"]["query"] == {"a": "1"} and doc["request"]["headers"]["x-probe"] == "yes"
    assert doc["request"]["host"] == "gw.test" and doc["matched_route"] == {
        "id": "r1",
        "name": "api",
    }
    assert doc["kong"]["worker_pid"] > 0


def test_config_checks():
    assert (
        problem_at("request-termination", {"message": "a", "body": "b"}, "config.@entity")
        == "message cannot be used with content_type or body"
    )
    assert (
        problem_at("request-termination", {"content_type": "text/plain"}, "config.@entity")
        == "content_type requires a body"
    )
    assert (
        problem_at("request-termination", {"echo": True, "body": "x"}, "config.@entity")
        == "echo cannot be used with content_type and body"
    )
    assert (
        problem_at("request-termination", {"status_code": 600}, "config.status_code")
        == "value should be between 100 and 599"
    )
