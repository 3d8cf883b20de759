"""The one place a personality lists the layers it stacks for an upstream call.

A ``Stack`` is built once per configuration (per Kong service; per destination of the mesh's
sidecar) and folded into the engine's flat ``Upstream``: the per-request path then reads a few
attributes of it, never walks a list of layers. The layers, in the order a request meets them
(``proxy/layers/``; the pool and the timers run in ``exchange.py`` and ``layers/pool.py``)::

    balance   pick a target per attempt; learn from each outcome (passive health, latency)
    retries   another target after a failed connect; one re-send after a stale keep-alive
    pool      reuse an idle connection to the target, else dial (per worker and address)
    timeouts  deadlines of the attempt: connect, then between reads and between writes
    tls       TLS to the upstream: context and SNI / verified name

Invariants: a stack has exactly one balance layer (``build`` refuses none); each layer is pushed
at most once (a second push is a configuration bug, refused naming the stack); a layer not pushed
takes the engine's default (``timeouts.DEFAULT_S``, ``retries.DEFAULT``, plain TCP); values are
checked by the layers' ``check`` when the ``Upstream`` is built. Pooling has no per-stack settings
(``ProxyConfig`` sizes the pools).
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from typing import Any

from carbonplane.errors import ConfigError
from carbonplane.proxy.app import Target, TargetPicker, Upstream

_TLS_CONTEXTS: dict[bool, ssl.SSLContext] = {}


def tls_context(verify: bool) -> ssl.SSLContext:
    """One shared client context per verification mode (the system CA store when ``verify``):
    pooled connections are keyed by context, so sharing it lets them be reused."""
    ctx = _TLS_CONTEXTS.get(verify)
    if ctx is None:
        ctx = _TLS_CONTEXTS[verify] = ssl.create_default_context()
        if not verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
    return ctx


class Stack:
    """Layers of one upstream call, pushed by name; ``build()`` gives the engine's ``Upstream``."""

    __slots__ = ("name", "layers", "_fields")

    def __init__(self, name: str) -> None:
        self.name = name
        self.layers: list[str] = []
        self._fields: dict[str, Any] = {}

    def _push(self, layer: str, **fields: Any) -> Stack:
        if layer in self.layers:
            raise ConfigError(f"the {layer} layer is pushed twice", where=self.name)
        self.layers.append(layer)
        self._fields.update(fields)
        return self

    def balance(
        self, picker: TargetPicker, host_header: Callable[[Target], bytes] | None = None
    ) -> Stack:
        return self._push("balance", picker=picker, host_header=host_header)

    def retries(self, retries: int) -> Stack:
        return self._push("retries", retries=retries)

    def timeouts(self, connect: float, read: float, write: float) -> Stack:
        return self._push(
            "timeouts", connect_timeout=connect, read_timeout=read, write_timeout=write
        )

    def tls(self, context: Any, server_hostname: str | None) -> Stack:
        return self._push("tls", ssl=context, server_hostname=server_hostname)

    def build(self) -> Upstream:
        if "balance" not in self.layers:
            raise ConfigError("a stack needs a balance layer (a target picker)", where=self.name)
        fields = dict(self._fields)
        return Upstream(self.name, fields.pop("picker"), **fields)

    def __repr__(self) -> str:
        return f"Stack({self.name!r}, {' > '.join(self.layers)})"
