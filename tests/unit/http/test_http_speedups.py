"""The compiled ``_speedups.split_fields`` against the Python rules it stands in for.

Whenever the compiled function answers, its answer equals ``split_fields_py``'s; whenever the Python
rules refuse a head, the compiled function declines (None) rather than accepting it. Checked on
hand-picked lines and on generated ones (hypothesis), including the bytes that matter: colons,
SP/HTAB around values, underscores, upper case, non-token characters, obs-text, empty names.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carbonplane.errors import HttpError
from carbonplane.http import headparser

speedups = pytest.importorskip("carbonplane.http._speedups",
                               reason="the C extension was not built (no compiler at install time)")
SPECIAL = frozenset((b"host", b"content-length", b"transfer-encoding", b"connection", b"expect"))


def _python(lines):
    try:
        return headparser.split_fields_py(list(lines), SPECIAL, 400)
    except HttpError:
        return "refused"


def _compiled(lines):
    return speedups.split_fields(list(lines), SPECIAL)


@pytest.mark.parametrize("lines", [
    [b"Host: example.com", b"Content-Length: 12", b"X-Custom:  a b \t"],
    [b"host:x", b"HOST: y", b"Connection: keep-alive, Upgrade", b"Expect: 100-continue"],
    [b"x-empty:", b"x-spaces:   ", b"Accept: */*", b"a!#$%&'*+-.^`|~z: v:w:x"],
    [b"X\xff: v"], [b"Bad Name: v"], [b": empty name"], [b"no colon"], [b" folded: v"],
    [b"content_length: 5"], [b"x_custom: ok"], [b"Transfer-Encoding: chunked", b"transfer-encoding: gzip"],
    [b"x-obs-text: caf\xc3\xa9"], [b"x" * 300 + b": long name"], [],
])
def test_compiled_equals_python_or_declines(lines):
    compiled, python = _compiled(lines), _python(lines)
    if compiled is None:
        return  # the rules decide (possibly accepting: underscores, long names)
    assert python != "refused", f"the compiled path accepted what the rules refuse: {lines!r}"
    assert compiled == python


def test_the_common_case_is_answered_in_c():
    assert _compiled([b"Host: a", b"User-Agent: wrk", b"Accept: */*"]) is not None
    assert _compiled([b"x_y: 1"]) is None and _compiled([b"Bad Name: 1"]) is None


_BYTE = st.sampled_from(list(b"aZ09-_:; \t!~\x7f\x80\xff(\"/@"))
_LINE = st.lists(_BYTE, max_size=24).map(bytes) | st.sampled_from(
    [b"Host: h", b"Content-Length: 1", b"connection: close", b"X-A: b", b"a:b"])


@settings(max_examples=1500, deadline=None)
@given(st.lists(_LINE, max_size=8))
def test_generated_lines(lines):
    test_compiled_equals_python_or_declines(lines)


def test_split_fields_uses_the_compiled_path_and_keeps_the_limits():
    assert headparser._fast_split is speedups.split_fields
    with pytest.raises(HttpError) as info:
        headparser.split_fields([b"a: 1"] * 3, SPECIAL, 2, 400)
    assert info.value.status == 431
    with pytest.raises(HttpError, match="aliases a framing header"):
        headparser.split_fields([b"content_length: 1"], SPECIAL, 100, 400)
