"""Request pieces as the auth and transformer plugins read and rewrite them: query decoding like
Kong's PDK, parameter removal that keeps other bytes, encodings that cannot break the request
line, cookies, and header values that cannot break the header block."""

from __future__ import annotations

from carbonplane.gateway.plugins.pdk.reqparts import (
    cookie_values,
    encode_query,
    parse_query,
    safe_header_value,
    split_target,
    with_path,
    with_query,
    without_params,
)


def test_parse_query_decodes_like_kong():
    assert parse_query(b"") == [] and parse_query(b"?") == []
    assert parse_query(b"?a=1&b&c=&d=x+y&e=%41%2F&&a=2") == [
        ("a", "1"),
        ("b", None),
        ("c", ""),
        ("d", "x y"),
        ("e", "A/"),
        ("a", "2"),
    ]
    assert parse_query(b"k=%FF") == [("k", "\udcff")]  # undecodable bytes survive


def test_without_params_keeps_the_rest_verbatim():
    assert without_params(b"/p?a=%2F&key=1&b&key=2", frozenset({"key"})) == b"/p?a=%2F&b"
    assert without_params(b"/p?k%65y=1", frozenset({"key"})) == b"/p"
    assert without_params(b"/p", frozenset({"key"})) == b"/p"


def test_encodings_are_request_line_safe():
    assert (
        encode_query([("a b", "c&d"), ("flag", None), ("x", "\r\n")])
        == b"a%20b=c%26d&flag&x=%0D%0A"
    )
    assert with_query(b"/p?old=1", [("n", "1")]) == b"/p?n=1"
    assert with_query(b"/p?old=1", []) == b"/p"
    assert with_path(b"/old?q=1", "/new path/\r\n") == b"/new%20path/%0D%0A?q=1"
    assert with_path(b"/old", "relative") == b"/relative"
    assert split_target(b"/a?b?c") == (b"/a", b"b?c")


def test_cookie_values():
    headers = [(b"cookie", b'a=1; jwt="tok"; b=2'), (b"cookie", b"jwt=second"), (b"x", b"jwt=no")]
    assert cookie_values(headers, "jwt") == ["tok", "second"]
    assert cookie_values(headers, "missing") == []


def test_safe_header_value():
    assert safe_header_value(" v\t") == b"v"
    assert safe_header_value("a\r\nb") is None and safe_header_value("a\x00") is None
    assert safe_header_value("tab\tinside") == b"tab\tinside"
