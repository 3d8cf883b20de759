"""The retries layer's rules: a failed connect is retried while tries <= retries; a broken reused
connection is re-sent once, and only for an idempotent request without a body; counts are
checked naming where they came from. (The rules over real sockets: test_engine_failures.py.)"""

from __future__ import annotations

import pytest

from carbonplane.errors import ConfigError
from carbonplane.http.model import FRAMING_CHUNKED, FRAMING_LENGTH, FRAMING_NONE
from carbonplane.proxy.layers import retries


@pytest.mark.parametrize(
    "tries,count,expected",
    [
        (1, 0, False),
        (1, 1, True),
        (2, 1, False),
        (5, 5, True),
        (6, 5, False),
    ],
)
def test_a_failed_connect_is_retried_while_tries_do_not_exceed_retries(tries, count, expected):
    assert retries.retry_connect(tries, count) is expected


@pytest.mark.parametrize("method", [b"GET", b"HEAD", b"OPTIONS", b"TRACE", b"PUT", b"DELETE"])
def test_an_idempotent_bodiless_request_on_a_broken_reused_connection_is_resent(method):
    assert retries.resend_fresh(True, True, False, method, FRAMING_NONE)


@pytest.mark.parametrize(
    "reused,broken,resent,method,framing",
    [
        (False, True, False, b"GET", FRAMING_NONE),  # a fresh connection failed: a real failure
        (True, False, False, b"GET", FRAMING_NONE),  # a timeout, not a broken idle connection
        (True, True, True, b"GET", FRAMING_NONE),  # only once
        (True, True, False, b"POST", FRAMING_NONE),  # not idempotent
        (True, True, False, b"PATCH", FRAMING_NONE),
        (True, True, False, b"PUT", FRAMING_LENGTH),  # a body was (partly) sent
        (True, True, False, b"GET", FRAMING_CHUNKED),
        (True, True, False, b"get", FRAMING_NONE),  # methods are case-sensitive
    ],
)
def test_no_resend_otherwise(reused, broken, resent, method, framing):
    assert not retries.resend_fresh(reused, broken, resent, method, framing)


@pytest.mark.parametrize("bad", [-1, 1.5, "3", None, True])
def test_a_bad_retry_count_is_refused_naming_where(bad):
    with pytest.raises(ConfigError, match=r"retries must be an integer >= 0") as err:
        retries.check(bad, where="services[billing]")
    assert "services[billing]" in str(err.value)


def test_zero_and_large_counts_are_accepted():
    retries.check(0)
    retries.check(10**6)
