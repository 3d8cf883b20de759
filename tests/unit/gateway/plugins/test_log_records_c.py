"""The compiled log record writers (``_records.c``) against log_serializer's Python code.

``header_json`` is ``header_map`` as msgspec encodes it (plus the ``head_size`` of the lines);
whenever it answers, the bytes equal the Python code's; it declines (None) for a repeated name or
a pair that is not a tuple of bytes. Checked on every byte value and on generated header lists.
``log_line`` is checked against ``encode(serialize(ctx))`` in test_file_log.py.
"""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carbonplane.gateway.plugins import log_serializer

records = pytest.importorskip("carbonplane.gateway.plugins._records",
                              reason="the C extension was not built (no compiler at install time)")
speedups = records

names = st.binary(min_size=1, max_size=6).map(lambda b: b.lower()) | st.sampled_from(
    [b"host", b"connection", b"authorization", b"proxy-authorization", b"x-a"])
header_lists = st.lists(st.tuples(names, st.binary(max_size=8)), max_size=12)


def _python_json(headers, redact):
    return msgspec.json.encode(log_serializer.header_map(headers, redact))


def test_every_byte_value_is_encoded_as_msgspec_encodes_its_latin1_text():
    for redact in (False, True):
        headers = [(b"n%d" % b, bytes([b, 65, b])) for b in range(256)]
        json, size = speedups.header_json(headers, redact)
        assert json == _python_json(headers, redact)
        assert size + 19 == log_serializer.head_size(17, headers)


def test_credentials_are_redacted_only_when_asked():
    headers = [(b"authorization", b"Bearer x"), (b"proxy-authorization", b"Basic y"), (b"a", b"1")]
    assert speedups.header_json(headers, True)[0] == \
        b'{"authorization":"REDACTED","proxy-authorization":"REDACTED","a":"1"}'
    assert b"Bearer x" in speedups.header_json(headers, False)[0]


@pytest.mark.parametrize("headers", [
    [(b"a", b"1"), (b"a", b"2")],  # repeated: the Python code makes a list
    [[b"a", b"1"]],  # a list pair
    [(b"a", "text")],  # not bytes
    [(b"a", b"1", b"2")],
])
def test_header_json_declines_what_python_handles(headers):
    assert speedups.header_json(headers, False) is None
    assert speedups.header_json(tuple(map(tuple, headers)), False) is None  # not a list


@settings(max_examples=400, deadline=None)
@given(header_lists, st.booleans())
def test_generated_header_maps(headers, redact):
    found = speedups.header_json(headers, redact)
    if len({n for n, _ in headers}) < len(headers):
        assert found is None
        return
    assert found[0] == _python_json(headers, redact)
    assert found[1] + 19 == log_serializer.head_size(17, headers)


def test_the_serializer_gives_the_same_record_with_and_without_the_c_encoder(monkeypatch):
    cache = log_serializer._HeadersCache(redact=True)
    headers = [(b"host", b"gw"), (b"authorization", b"Bearer t"), (b"x-\xe9", b"caf\xe9\x01")]
    fast = cache.get(headers, 30)
    monkeypatch.setattr(log_serializer, "_fast_json", None)
    slow = log_serializer._HeadersCache(redact=True).get(headers, 30)
    assert (bytes(fast[0]), fast[1]) == (bytes(slow[0]), slow[1])


