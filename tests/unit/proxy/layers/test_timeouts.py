"""The timeouts layer: every deadline must be a number > 0 seconds; a bad one is refused naming
the field and where it came from, both by ``check`` and by the ``Upstream`` built from a stack.
(The deadlines over real sockets: test_engine_failures.py and test_engine_slow_clients.py.)"""

from __future__ import annotations

import pytest

from carbonplane.errors import ConfigError
from carbonplane.proxy.app import FixedTarget, Upstream
from carbonplane.proxy.layers import timeouts


@pytest.mark.parametrize(
    "field,values",
    [
        ("connect_timeout", (0, 1, 1)),
        ("read_timeout", (1, -0.5, 1)),
        ("write_timeout", (1, 1, float("nan"))),
        ("connect_timeout", ("5", 1, 1)),
        ("read_timeout", (1, None, 1)),
        ("write_timeout", (1, 1, True)),
    ],
)
def test_a_bad_deadline_is_refused_naming_the_field_and_where(field, values):
    with pytest.raises(ConfigError, match=field) as err:
        timeouts.check(*values, where="services[billing]")
    assert "services[billing]" in str(err.value)


def test_fractions_and_integers_are_accepted_and_kept_as_seconds():
    timeouts.check(0.001, 60, 3600.5)
    up = Upstream(
        "svc", FixedTarget("127.0.0.1", 1), connect_timeout=0.25, read_timeout=2, write_timeout=3.5
    )
    assert (up.connect_timeout, up.read_timeout, up.write_timeout) == (0.25, 2.0, 3.5)


def test_an_upstream_refuses_a_bad_deadline_naming_itself():
    with pytest.raises(ConfigError, match="read_timeout must be > 0 seconds, got 0") as err:
        Upstream("billing", FixedTarget("127.0.0.1", 1), read_timeout=0)
    assert "billing" in str(err.value)


def test_defaults_are_sixty_seconds():
    up = Upstream("svc", FixedTarget("127.0.0.1", 1))
    assert up.connect_timeout == up.read_timeout == up.write_timeout == timeouts.DEFAULT_S
