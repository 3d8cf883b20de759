"""Header syntax, Host, Connection, Expect, versions and size limits on raw request bytes."""

from __future__ import annotations

import pytest
from rawhttp import read_requests, rejected

from carbonplane.errors import HttpError
from carbonplane.http import END_OF_MESSAGE, Limits, RequestHead, rules


def req(*lines: bytes, start: bytes = b"GET /x HTTP/1.1") -> bytes:
    return start + b"\r\n" + b"".join(line + b"\r\n" for line in lines) + b"\r\n"


BAD = {
    "space_before_colon": req(b"Host: a", b"X-Token : 1"),
    "tab_before_colon": req(b"Host: a", b"X-Token\t: 1"),
    "obs_fold_space": req(b"Host: a", b"X-Token: a", b" b"),
    "obs_fold_tab": req(b"Host: a", b"X-Token: a", b"\tb"),
    "cr_in_value": req(b"Host: a", b"X-Token: a\rb"),
    "lf_in_value": req(b"Host: a", b"X-Token: a\nb"),
    "nul_in_value": req(b"Host: a", b"X-Token: a\x00b"),
    "nul_in_name": req(b"Host: a", b"X-To\x00ken: a"),
    "ctl_in_value": req(b"Host: a", b"X-Token: a\x1bb"),
    "del_in_value": req(b"Host: a", b"X-Token: a\x7fb"),
    "empty_name": req(b"Host: a", b": value"),
    "no_colon": req(b"Host: a", b"X-Token"),
    "non_token_name": req(b"Host: a", b"X(Token): 1"),
    "missing_host_11": req(b"Accept: */*"),
    "two_hosts": req(b"Host: a", b"Host: b"),
    "host_with_space": req(b"Host: a b"),
    "host_with_at": req(b"Host: user@a"),
    "host_with_slash": req(b"Host: a/b"),
    "underscore_te": req(b"Host: a", b"Transfer_Encoding: chunked"),
    "bad_connection_token": req(b"Host: a", b"Connection: close, (x)"),
    "lowercase_method": req(b"Host: a", start=b"get /x HTTP/1.1"),
    "double_space_start_line": req(b"Host: a", start=b"GET  /x HTTP/1.1"),
    "no_version": req(b"Host: a", start=b"GET /x"),
    "target_with_space": req(b"Host: a", start=b"GET /a b HTTP/1.1"),
    "target_relative": req(b"Host: a", start=b"GET x HTTP/1.1"),
    "star_not_options": req(b"Host: a", start=b"GET * HTTP/1.1"),
    "absolute_with_userinfo": req(b"Host: a", start=b"GET http://u@h/ HTTP/1.1"),
    "fragment": req(b"Host: a", start=b"GET /a#frag HTTP/1.1"),
    "non_ascii_target": req(b"Host: a", start=b"GET /\xc3\xa9 HTTP/1.1"),
}


@pytest.mark.parametrize("raw", BAD.values(), ids=BAD.keys())
def test_malformed_heads_are_400(raw):
    assert rejected(raw) == 400


def test_unsupported_version_is_505():
    assert rejected(req(b"Host: a", start=b"GET /x HTTP/2.0")) == 505


def test_connect_is_405():
    assert rejected(req(b"Host: a:443", start=b"CONNECT a:443 HTTP/1.1")) == 405


def test_unknown_expectation_is_417():
    assert rejected(req(b"Host: a", b"Expect: teapot")) == 417


def test_expect_continue_is_recognised():
    head = read_requests(req(b"Host: a", b"Expect: 100-Continue"))[0]
    assert head.expect_continue


def test_too_many_headers_is_431():
    lines = [b"Host: a"] + [b"X-%d: v" % i for i in range(20)]
    assert rejected(req(*lines), limits=Limits(max_headers=10)) == 431


def test_head_too_large_is_431_even_when_incomplete():
    raw = b"GET /x HTTP/1.1\r\nHost: a\r\nX-Big: " + b"a" * 5000
    assert rejected(raw, limits=Limits(max_head_bytes=4096)) == 431


def test_head_too_large_complete_is_431():
    assert (
        rejected(req(b"Host: a", b"X-Big: " + b"a" * 5000), limits=Limits(max_head_bytes=4096))
        == 431
    )


def test_headers_keep_order_duplicates_and_lowercase_names():
    head = read_requests(req(b"Host: a", b"X-A: 1", b"Cookie: c=1", b"x-a: 2", b"Cookie: d=2"))[0]
    assert head.headers == [
        (b"host", b"a"),
        (b"x-a", b"1"),
        (b"cookie", b"c=1"),
        (b"x-a", b"2"),
        (b"cookie", b"d=2"),
    ]
    assert head.get_all(b"x-a") == [b"1", b"2"] and head.get(b"cookie") == b"c=1"


def test_values_are_stripped_of_ows_and_keep_inner_spaces_and_obs_text():
    head = read_requests(req(b"Host: a", b"X-A: \t a  b\t ", b"X-B: caf\xc3\xa9"))[0]
    assert head.get(b"x-a") == b"a  b" and head.get(b"x-b") == b"caf\xc3\xa9"


def test_keep_alive_rules():
    assert read_requests(req(b"Host: a"))[0].keep_alive
    assert not read_requests(req(b"Host: a", b"Connection: close"))[0].keep_alive
    assert not read_requests(req(start=b"GET / HTTP/1.0"))[0].keep_alive
    assert read_requests(req(b"Connection: Keep-Alive", start=b"GET / HTTP/1.0"))[0].keep_alive


def test_http10_without_host_is_accepted():
    head, end = read_requests(req(start=b"GET /x HTTP/1.0"))
    assert head.host == b"" and head.version == b"1.0" and end is END_OF_MESSAGE


def test_absolute_form_authority_replaces_host():
    head = read_requests(
        req(b"Host: ignored", start=b"GET http://api.example:81/a/./b?q=1 HTTP/1.1")
    )[0]
    assert head.host == b"api.example:81" and head.path == b"/a/b" and head.query == b"?q=1"


def test_options_star():
    head = read_requests(req(b"Host: a", start=b"OPTIONS * HTTP/1.1"))[0]
    assert head.path == b"*"


def test_leading_empty_lines_are_ignored():
    head, _ = read_requests(b"\r\n\r\n" + req(b"Host: a"))
    assert isinstance(head, RequestHead) and head.path == b"/x"


@pytest.mark.parametrize(
    "value", [b"", b" 1", b"1 ", b"+1", b"-1", b"1,1", b"0x10", b"1" * 19, b"\xd9\xa1"]
)
def test_content_length_rule_on_values(value):
    with pytest.raises(HttpError) as info:
        rules.parse_content_length([value])
    assert info.value.status == 400


def test_content_length_rule_accepts_18_digits():
    assert rules.parse_content_length([b"9" * 18]) == 10**18 - 1


@pytest.mark.parametrize("value", [b"a\rb", b"a\nb", b"a\x00b", b" a", b"a\t", b"a\x01"])
def test_header_value_rule(value):
    with pytest.raises(HttpError):
        rules.check_header_value(b"x", value)


@pytest.mark.parametrize("name", [b"", b"a b", b"a:b", b"a\x00", b"\xc3\xa9", b"(x)", b"a/b"])
def test_header_name_rule(name):
    with pytest.raises(HttpError):
        rules.check_header_name(name)


@pytest.mark.parametrize(
    "first",
    [
        b"GET /a HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        b"GET /a HTTP/1.0\r\n\r\n",
        b"GET /a HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: h2c\r\n\r\n",
        b"POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\n",
    ],
)
def test_a_shared_parser_serves_the_next_head_whatever_the_previous_one_was(first):
    from carbonplane.http import RequestHeadParser

    parser = RequestHeadParser()  # one per worker: shared by every connection
    parser.parse(first)
    head = parser.parse(b"GET /b HTTP/1.1\r\nHost: b\r\n\r\n")
    assert head.path == b"/b" and head.keep_alive
