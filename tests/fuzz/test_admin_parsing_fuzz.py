"""Bounded fuzzing of what the Admin API parses from clients (hypothesis; a few seconds).

Properties:
1. ``AdminGuard.check`` never raises, on any header values, and never lets a write through whose
   ``Origin`` names another authority than the Host;
2. ``read_source`` raises nothing but ``SourceError`` on any text, including generated anchors,
   aliases and merge keys, and what it accepts is a mapping with a line for its root;
3. ``load_json`` raises nothing but ``BodyError``/``ValueError`` on any bytes, and what it returns
   nests at most ``MAX_NESTING`` levels.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carbonplane.gateway.admin.bodies import BodyError, load_json, nesting
from carbonplane.gateway.admin.guard import AdminGuard
from carbonplane.gateway.config.source import MAX_NESTING, SourceError, read_source

FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
HEADER_VALUE = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=60)
NAMES = st.sampled_from(
    [
        b"host",
        b"origin",
        b"referer",
        b"sec-fetch-site",
        b"sec-fetch-mode",
        b"content-type",
        b"kong-admin-token",
        b"access-control-request-method",
    ]
)


@FAST
@given(
    st.sampled_from([b"GET", b"POST", b"PUT", b"PATCH", b"DELETE", b"OPTIONS", b"HEAD"]),
    st.lists(st.tuples(NAMES, HEADER_VALUE.map(lambda v: v.encode("latin-1"))), max_size=8),
    st.sampled_from([None, "127.0.0.1", "::1", "10.0.0.5"]),
)
def test_guard_never_raises_and_never_admits_a_foreign_origin_write(method, headers, local):
    guard = AdminGuard(hosts=("admin.internal",))
    verdict = guard.check(method, headers, local)
    assert verdict is None or verdict[0] in (401, 403, 421)
    fields = {}
    for name, value in headers:
        fields.setdefault(name, value.decode("latin-1"))
    if verdict is None and method not in (b"GET", b"HEAD", b"OPTIONS") and b"origin" in fields:
        authority = fields["origin"].split("://", 1)[-1].rstrip("/").lower()
        assert authority == fields.get(b"host", "").lower()


YAML_PIECES = st.sampled_from(
    [
        "a: ",
        "&x ",
        "*x",
        "&y ",
        "*y",
        "[",
        "]",
        "{",
        "}",
        ", ",
        "\n",
        "- ",
        "  ",
        "<<: ",
        "lol",
        "'s'",
        ":",
        "1",
        "*x, *x, *x, *x",
    ]
)


@FAST
@given(st.lists(YAML_PIECES, max_size=60).map("".join))
def test_read_source_raises_only_source_errors(text):
    try:
        data, marks = read_source(text)
    except SourceError:
        return
    assert isinstance(data, dict) and marks[()] >= 1


@FAST
@given(
    st.one_of(
        st.binary(max_size=200),
        st.integers(0, 3 * MAX_NESTING).map(lambda n: b"[" * n + b"]" * n),
        st.integers(0, 3 * MAX_NESTING).map(lambda n: b'{"a":' * n + b"1" + b"}" * n),
    )
)
def test_load_json_bounds_nesting(raw):
    try:
        doc = load_json(raw)
    except BodyError as exc:
        assert exc.status == 400 and str(MAX_NESTING) in str(exc)
        return
    except ValueError:
        return
    assert nesting(doc, MAX_NESTING) <= MAX_NESTING
