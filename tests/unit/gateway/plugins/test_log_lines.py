"""file-log's line, both implementations (``impl``: log_serializer's specification and
``_native/records.c``), against ``encode(serialize(ctx)) + b"\\n"`` on header lists of every byte
value, generated ones, repeated names and odd pairs (the native version declines those and the
specification's line is written). The record's fields are checked in test_file_log.py.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reqkit import request, respond

from carbonplane.gateway.plugins.pdk import log_serializer
from carbonplane.gateway.plugins.pdk.log_serializer import LINE_IMPLS, encode, serialize

names = st.binary(min_size=1, max_size=6).map(lambda b: b.lower()) | st.sampled_from(
    [b"host", b"connection", b"authorization", b"proxy-authorization", b"x-a"]
)
header_lists = st.lists(st.tuples(names, st.binary(max_size=8)), max_size=12)


def _with_headers(headers):
    ctx = request("GET", "/p?a=1")
    ctx.request.headers = list(headers)
    respond(ctx, 200)
    ctx.response.headers = list(headers)
    return ctx


def _check(impl, ctx):
    out = bytearray(b"before\n")
    added = LINE_IMPLS[impl](out, ctx)
    line = encode(serialize(ctx)) + b"\n"
    assert bytes(out) == b"before\n" + line and added == len(line)
    return line


def test_every_byte_value_is_encoded_as_msgspec_encodes_its_latin1_text(impl):
    _check(impl, _with_headers([(b"n%d" % b, bytes([b, 65, b])) for b in range(256)]))


def test_credentials_are_redacted_in_the_request_only(impl):
    line = _check(
        impl,
        _with_headers(
            [(b"authorization", b"Bearer x"), (b"proxy-authorization", b"Basic y"), (b"a", b"1")]
        ),
    )
    assert (
        b'"headers":{"authorization":"REDACTED","proxy-authorization":"REDACTED","a":"1"}' in line
    )
    assert b'"authorization":"Bearer x"' in line  # the response's headers are not redacted


@pytest.mark.parametrize(
    "headers",
    [
        [(b"a", b"1"), (b"a", b"2")],  # repeated: the record has a list
        [(b"a", b"1"), (b"b", b"2"), (b"A", b"3")],
    ],
)
def test_repeated_names_give_the_specifications_line(impl, headers):
    line = _check(impl, _with_headers(headers))
    assert b'"a":["1",' in line or b'"A":"3"' in line


def test_the_native_version_declines_what_it_does_not_write(native_plugins):
    ctx = _with_headers([(b"a", b"1"), (b"a", b"2")])
    assert log_serializer._native_line(ctx, None) is None
    wide = _with_headers([(b"a", b"1")])
    wide.vars["correlation_id"] = "\u20ac"  # not latin-1
    assert log_serializer._native_line(wide, None) is None
    single = _with_headers([(b"a", b"1")])
    assert log_serializer._native_line(single, None) == encode(serialize(single)) + b"\n"


@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(headers=header_lists)
def test_generated_header_lists(impl, headers):
    _check(impl, _with_headers(headers))
