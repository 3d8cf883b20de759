"""The client TLS context of an https service: Kong's ``tls_verify``, ``ca_certificates`` and
``client_certificate`` (``kong/runloop/upstream_ssl.lua``, nginx's ``proxy_ssl_*``).

- ``tls_verify`` true: the upstream's chain must verify and its name must match the SNI sent
  (the service host, or the upstream entity's ``host_header``); the trust store is the
  service's ``ca_certificates`` when it lists any (only those, as Kong), else the system store.
  ``tls_verify`` false or null: no verification (Kong's default ``proxy_ssl_verify off``).
- ``tls_verify_depth``: accepted; Python's ``ssl`` module cannot limit the chain depth, so
  OpenSSL's default (100) applies (listed in docs/gateway.md's differences).
- ``client_certificate``: that certificate and key are presented to the upstream (mTLS); the
  service's, else the one of the upstream entity the service host names (Kong's order).

Contexts are shared by identical settings (``_CONTEXTS``, keyed by the PEM texts): pooled
upstream connections are keyed by context, so an unchanged service keeps its pool across
reloads. A failed verification fails the connection attempt: the client gets Kong's 502.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from typing import Any

from carbonplane.gateway.runtime.sni import load_pair
from carbonplane.proxy.stack import tls_context

_CONTEXTS: dict[tuple, ssl.SSLContext] = {}
_MAX_CONTEXTS = 1024


def upstream_context(service: Mapping[str, Any], config: Any) -> ssl.SSLContext:
    """The client context for an https ``service`` of ``config`` (see the module docstring)."""
    verify = bool(service.get("tls_verify"))
    cas = tuple(
        ca["cert"]
        for ca_id in service.get("ca_certificates") or ()
        if (ca := config.get("ca_certificates", ca_id)) is not None
    )
    client = None
    ref = service.get("client_certificate")
    if ref is None:  # Kong: the service's, else the upstream entity's it balances over
        upstream = config.upstream_named(service["host"])
        ref = upstream.get("client_certificate") if upstream is not None else None
    if ref is not None:
        cert = config.get("certificates", ref["id"])
        if cert is not None:
            client = (cert["cert"], cert["key"])
    if not client and not (verify and cas):
        return tls_context(verify)  # the engine's shared contexts: system store or none
    key = (verify, cas if verify else (), client)
    ctx = _CONTEXTS.get(key)
    if ctx is None:
        ctx = _build(verify, cas, client)
        if len(_CONTEXTS) >= _MAX_CONTEXTS:
            _CONTEXTS.clear()
        _CONTEXTS[key] = ctx
    return ctx


def _build(verify: bool, cas: tuple[str, ...], client: tuple[str, str] | None) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if verify:
        if cas:
            ctx.load_verify_locations(cadata="\n".join(cas))
        else:
            ctx.load_default_certs()
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if client is not None:
        load_pair(ctx, *client)
    return ctx
