"""The request-size-limiting plugin's handler on hand-built request contexts: declared sizes,
units, 417 with Expect, require_content_length, and chunked bodies counted as they stream."""

from __future__ import annotations

import pytest
from reqkit import refusal, request
from tests.kits.plugins import handler, problems


def rsl(**config):
    return handler("request-size-limiting", config)


@pytest.mark.parametrize(
    "size,unit,length,refused",
    [
        (128, "megabytes", 128 * 1048576, False),
        (128, "megabytes", 128 * 1048576 + 1, True),
        (10, "kilobytes", 10240, False),
        (10, "kilobytes", 10241, True),
        (5, "bytes", 5, False),
        (5, "bytes", 6, True),
        (0, "bytes", 0, False),
        (0, "bytes", 1, True),
    ],
)
def test_declared_content_length(size, unit, length, refused):
    verdict = rsl(allowed_payload_size=size, size_unit=unit).on_request(
        request("POST", body_framing=f"length:{length}")
    )
    if refused:
        status, body, _ = refusal(verdict)
        assert (status, body["message"]) == (413, "Request size limit exceeded")
    else:
        assert verdict is None


def test_expect_continue_gets_417():
    ctx = request("PUT", headers={"Expect": "100-continue"}, body_framing="length:2048")
    status, body, _ = refusal(rsl(allowed_payload_size=1, size_unit="kilobytes").on_request(ctx))
    assert (status, body["message"]) == (417, "Request size limit exceeded")


def test_require_content_length():
    h = rsl(require_content_length=True)
    status, body, _ = refusal(h.on_request(request("GET")))
    assert (status, body["message"]) == (411, "A valid Content-Length header is required")
    assert h.on_request(request("POST", body_framing="chunked")) is None
    assert h.on_request(request("POST", body_framing="length:10")) is None
    assert rsl().on_request(request("GET")) is None


def test_chunked_bodies_are_counted_while_streaming():
    h = rsl(allowed_payload_size=10, size_unit="bytes")
    ctx = request("POST", body_framing="chunked")
    assert h.on_request(ctx) is None
    assert h.on_request_body(ctx, b"12345", False) == b"12345"
    assert h.on_request_body(ctx, b"67890", False) == b"67890"
    status, body, _ = refusal(h.on_request_body(ctx, b"x", False))
    assert (status, body["message"]) == (413, "Request size limit exceeded")
    fresh = request("POST", body_framing="chunked")
    assert h.on_request_body(fresh, b"0123456789", True) == b"0123456789"  # exactly the limit


def test_length_framed_bodies_pass_the_body_hook_untouched():
    ctx = request("POST", body_framing="length:4")
    assert (
        rsl(allowed_payload_size=1, size_unit="bytes").on_request_body(ctx, b"abcd", True)
        == b"abcd"
    )


def test_config_schema():
    h = rsl()
    assert h.limit == 128 * 1048576 and not h.require_length
    assert problems("request-size-limiting", {"size_unit": "gigabytes"}) == [
        "config.size_unit: expected one of: megabytes, kilobytes, bytes"
    ]
    assert problems("request-size-limiting", {"allowed_payload_size": -1}) == [
        "config.allowed_payload_size: value should be between 0 and 1099511627776"
    ]
