"""The stack: layers pushed once each, folded into the flat ``Upstream`` the hot path reads;
no balance layer or a layer pushed twice is refused naming the stack; unpushed layers take the
engine's defaults; bad values are refused by the layers when the stack is built."""

from __future__ import annotations

import ssl

import pytest

from carbonplane.errors import ConfigError
from carbonplane.proxy.app import FixedTarget, Upstream
from carbonplane.proxy.layers import retries, timeouts
from carbonplane.proxy.stack import Stack, tls_context


def test_layers_fold_into_the_upstream_fields():
    picker = FixedTarget("10.0.0.1", 8080)
    context = ssl.create_default_context()
    host_header = lambda target: b"api.internal"  # noqa: E731
    up = (
        Stack("billing")
        .balance(picker, host_header)
        .retries(2)
        .timeouts(1.5, 30, 45)
        .tls(context, "api.internal")
        .build()
    )
    assert isinstance(up, Upstream)
    assert up.name == "billing" and up.picker is picker and up.host_header is host_header
    assert (up.retries, up.connect_timeout, up.read_timeout, up.write_timeout) == (2, 1.5, 30, 45)
    assert up.ssl is context and up.server_hostname == "api.internal"


def test_unpushed_layers_take_the_defaults():
    stack = Stack("plain").balance(FixedTarget("10.0.0.1", 80))
    assert stack.layers == ["balance"]
    up = stack.build()
    assert up.retries == retries.DEFAULT
    assert up.connect_timeout == up.read_timeout == up.write_timeout == timeouts.DEFAULT_S
    assert up.ssl is None and up.server_hostname is None
    assert up.host_header(FixedTarget("10.0.0.1", 80)) == b"10.0.0.1"


def test_a_stack_without_a_balance_layer_is_refused():
    with pytest.raises(ConfigError, match="needs a balance layer") as err:
        Stack("orphan").retries(1).build()
    assert "orphan" in str(err.value)


def test_a_layer_pushed_twice_is_refused():
    stack = Stack("twice").balance(FixedTarget("10.0.0.1", 80)).timeouts(1, 1, 1)
    with pytest.raises(ConfigError, match="timeouts layer is pushed twice"):
        stack.timeouts(2, 2, 2)
    assert stack.layers == ["balance", "timeouts"]


@pytest.mark.parametrize(
    "push,message",
    [
        (lambda s: s.retries(-1), "retries must be an integer >= 0"),
        (lambda s: s.timeouts(1, 0, 1), "read_timeout must be > 0"),
    ],
)
def test_bad_values_are_refused_at_build_naming_the_stack(push, message):
    stack = push(Stack("svc-a").balance(FixedTarget("10.0.0.1", 80)))
    with pytest.raises(ConfigError, match=message) as err:
        stack.build()
    assert "svc-a" in str(err.value)


def test_tls_contexts_are_shared_per_verification_mode():
    verified, unverified = tls_context(True), tls_context(False)
    assert tls_context(True) is verified and tls_context(False) is unverified
    assert verified.verify_mode == ssl.CERT_REQUIRED and verified.check_hostname
    assert unverified.verify_mode == ssl.CERT_NONE and not unverified.check_hostname
