"""Kong's error-body negotiation (``carbonplane.http.errorpages``) and ``LocalResponse.render``."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest
from hypothesis import given
from hypothesis import strategies as st

from carbonplane.http.errorpages import HTML, JSON, PLAIN, XML, negotiate, render
from carbonplane.http.headparser import RequestHeadParser
from carbonplane.http.model import Limits
from carbonplane.proxy.app import LocalResponse


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, JSON),
        (b"", JSON),
        (b"application/json", JSON),
        (b"text/html", HTML),
        (b"application/xml", XML),
        (b"text/plain", PLAIN),
        (b"text/*", PLAIN),  # Kong's MIME_TYPES["text"]
        (b"application/*", JSON),
        (b"*/*", JSON),
        (b"image/png", JSON),  # unknown types fall back to JSON
        (b"text/csv", JSON),
        (b"text/html;q=0.5, application/xml;q=0.9", XML),  # highest q wins
        (b"text/html, application/xml", HTML),  # a tie keeps the first
        (b"text/html;q=0, text/plain;q=0.1", PLAIN),  # q=0 never wins
        (b"text/html;q=0", JSON),
        (b"garbage, text/html", HTML),  # an entry that is not type/subtype is skipped
        (b"text/html; charset=utf-8; q=0.2, application/xml; q=0.3", XML),
        (b"TEXT/HTML", JSON),  # Kong compares media types as written
        (b"text/html;q=2", HTML),  # an out-of-range q is not read: the entry counts as q=1
    ],
)
def test_accept_negotiation_follows_kong(accept, expected):
    assert negotiate(accept) == expected


def test_the_four_bodies_are_kongs_templates():
    assert (
        render(JSON, "Not found", "abc") == b'{\n  "message":"Not found",\n  "request_id":"abc"\n}'
    )
    assert render(PLAIN, "Not found", "abc") == b"Not found\nrequest_id: abc\n"
    html = render(HTML, "Not found", "abc").decode()
    assert "<title>Error</title>" in html and "<p>Not found.</p>" in html
    assert "<p>request_id: abc</p>" in html and html.startswith("<!doctype html>")
    root = ET.fromstring(render(XML, "Not found", "abc"))
    assert root.tag == "error" and root.findtext("message") == "Not found"
    assert root.findtext("requestid") == "abc"


@pytest.mark.parametrize("kind", [JSON, HTML, XML])
def test_hostile_messages_cannot_break_the_document(kind):
    message = '"}<script>alert(1)</script>&<x/>\\'
    body = render(kind, message, "r")
    if kind == JSON:
        assert json.loads(body)["message"] == message
    elif kind == XML:
        assert ET.fromstring(body).findtext("message") == message
    else:
        assert b"<script>" not in body and b"&lt;script&gt;" in body


def _head(*fields: bytes):
    raw = b"GET / HTTP/1.1\r\nHost: x\r\n" + b"".join(f + b"\r\n" for f in fields) + b"\r\n"
    return RequestHeadParser(Limits(), "reject").parse(raw)


def test_plugin_errors_default_to_json_and_engine_errors_to_error_default_type():
    plugin = LocalResponse.error(429, "API rate limit exceeded")
    engine = LocalResponse.engine_error(502, "An invalid response was received")
    bare = _head()
    headers, body = plugin.render(b"r1", bare, b"text/plain")
    assert dict(headers)[b"content-type"] == JSON and json.loads(body)["request_id"] == "r1"
    headers, body = engine.render(b"r1", bare, b"text/plain")
    assert dict(headers)[b"content-type"] == PLAIN
    assert body == b"An invalid response was received\nrequest_id: r1\n"
    # without Accept the engine looks at the request's Content-Type (Kong's error handler)
    headers, _ = engine.render(b"r1", _head(b"Content-Type: application/xml"), b"text/plain")
    assert dict(headers)[b"content-type"] == XML
    headers, _ = engine.render(b"r1", bare, b"text/html")
    assert dict(headers)[b"content-type"] == HTML
    # Accept decides for both, and replaces a content type given with the message
    given = LocalResponse.error(401, "Unauthorized", [(b"content-type", b"x/y")])
    headers, body = given.render(b"r1", _head(b"Accept: text/html"))
    assert [v for n, v in headers if n == b"content-type"] == [HTML]
    assert b"<p>Unauthorized.</p>" in body


def test_a_response_with_a_body_is_sent_as_given():
    local = LocalResponse(200, b"ok", [(b"content-type", b"text/x")])
    assert local.render(b"r", _head(b"Accept: text/html")) == (
        [(b"content-type", b"text/x")],
        b"ok",
    )


@given(st.text(), st.sampled_from([JSON, HTML, XML, PLAIN]))
def test_any_message_renders(message, kind):
    body = render(kind, message, "rid")
    assert body.decode("utf-8") and b"rid" in body
    if kind == JSON:
        assert isinstance(json.loads(body)["message"], str)


@given(st.binary(max_size=200))
def test_any_accept_value_negotiates_to_one_of_four(accept):
    assert negotiate(accept) in (JSON, HTML, XML, PLAIN)
