"""TLS termination for a listener: one server context whose SNI callback picks a certificate
from the *current* config on every handshake, so certificates change with a config swap and no
listener restarts.

Policy (every context made here): TLS 1.2 and 1.3 only; TLS 1.2 ciphers are ECDHE with AEAD
(AES-GCM, ChaCha20-Poly1305; Mozilla's "intermediate" list, which is Kong's default
``ssl_cipher_suite``, minus the DHE suites that need dhparams), in the client's order of
preference as that suite says; ALPN offers ``http/1.1`` only; no renegotiation; no compression
(OpenSSL's default); session tickets on (OpenSSL's default; keys per process, so a resumed
session needs the same worker).

The seam: ``ProxyServer.config.app`` may carry ``server_tls``, an object with
``select(server_name: str | None) -> ssl.SSLContext`` (contexts built with ``certificate_context``
so they share the policy). The callback stores the client's server name on the connection's
``SSLObject`` (``server_name(sslobj)`` reads it back for routing by SNI). An app without
``server_tls``, or a selector that raises, fails the handshake with an alert; nothing is served
without a certificate the app chose.

Hostile clients: the listener's ``ssl_handshake_timeout`` (``HANDSHAKE_TIMEOUT`` by default)
drops a connection whose handshake does not finish in time.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Callable
from typing import Any

log = logging.getLogger("carbonplane.proxy")

HANDSHAKE_TIMEOUT = 10.0
CIPHERS = ":".join(
    (
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "ECDHE-RSA-CHACHA20-POLY1305",
    )
)
ALPN = ("http/1.1",)
_SNI_ATTR = "carbonplane_server_name"


def certificate_context() -> ssl.SSLContext:
    """A server context with the policy above and no certificate yet (``load_cert_chain``)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.maximum_version = ssl.TLSVersion.TLSv1_3
    ctx.set_ciphers(CIPHERS)
    ctx.set_alpn_protocols(list(ALPN))
    ctx.options |= ssl.OP_NO_RENEGOTIATION
    return ctx


def listener_context(current_app: Callable[[], Any]) -> ssl.SSLContext:
    """The listener's context: its SNI callback asks ``current_app().server_tls`` for the
    certificate's context on every handshake (see the module docstring)."""
    base = certificate_context()

    def on_server_name(sslobj: Any, server_name: str | None, _base: ssl.SSLContext) -> Any:
        selector = getattr(current_app(), "server_tls", None)
        if selector is None:
            return ssl.ALERT_DESCRIPTION_UNRECOGNIZED_NAME
        try:
            sslobj.context = selector.select(server_name)
            setattr(sslobj, _SNI_ATTR, server_name)
        except Exception:  # a broken selector must not take the listener down
            log.exception("no certificate for server name %r", server_name)
            return ssl.ALERT_DESCRIPTION_INTERNAL_ERROR
        return None

    base.sni_callback = on_server_name
    return base


def server_name(sslobj: Any) -> str | None:
    """The server name the client sent in its ClientHello (None without SNI or TLS)."""
    return getattr(sslobj, _SNI_ATTR, None) if sslobj is not None else None
