"""Which certificate the HTTPS listener serves for a ClientHello's server name (Kong's
``kong/runloop/certificate.lua``), compiled once per config version.

Lookup order, as Kong: the exact name; the leftmost label replaced by ``*`` (``*.example.com``
for ``api.example.com``); the rightmost label replaced by ``*`` (``api.example.*``); the SNI
named ``*``; and last the node's default certificate (self-signed ``CN=localhost``, generated
when the gateway starts, as Kong does; ``runtime["default_certificate"]`` carries it to every
worker so they all serve the same one). A client that sends no server name gets the SNI ``*``
or the default certificate. Names compare case-insensitively, without a trailing dot.

Contexts: Python's ``ssl`` loads certificates only from files, so each certificate's PEMs are
written to a private temporary directory (mode 0700, files 0600), loaded, and deleted at once.
Contexts are cached by the certificate's PEM text (``_CONTEXTS``, bounded): a reload that keeps a
certificate keeps its context (and its TLS session cache); a changed certificate gets a new
one. The selector never changes after it is built; a new config builds a new selector.
"""

from __future__ import annotations

import os
import ssl
import tempfile
from collections.abc import Mapping, Sequence
from typing import Any

from carbonplane.errors import ConfigError
from carbonplane.gateway.config import pem
from carbonplane.proxy.tls_server import certificate_context

_CONTEXTS: dict[tuple[str, ...], ssl.SSLContext] = {}
_MAX_CONTEXTS = 4096
_DEFAULT: list[tuple[str, str]] = []  # this process's generated default, when none was given


def load_pair(ctx: ssl.SSLContext, cert: str, key: str) -> None:
    """``ctx.load_cert_chain`` from PEM strings (through short-lived private files)."""
    with tempfile.TemporaryDirectory(prefix="carbonplane-tls-") as tmp:
        os.chmod(tmp, 0o700)
        cert_path = os.path.join(tmp, "cert.pem")
        key_path = os.path.join(tmp, "key.pem")
        for path, text in ((cert_path, cert), (key_path, key)):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(text)
        ctx.load_cert_chain(cert_path, key_path)


def context_for(certificate: Mapping[str, Any]) -> ssl.SSLContext:
    """The (cached) server context serving ``certificate`` and its alternative, if any."""
    key = tuple(certificate.get(f) or "" for f in ("cert", "key", "cert_alt", "key_alt"))
    ctx = _CONTEXTS.get(key)
    if ctx is None:
        ctx = certificate_context()
        try:
            load_pair(ctx, certificate["cert"], certificate["key"])
            if certificate.get("cert_alt"):
                load_pair(ctx, certificate["cert_alt"], certificate["key_alt"])
        except ssl.SSLError as exc:
            raise ConfigError(
                f"cannot load certificate: {exc.reason or exc}",
                where=f"certificates/{certificate.get('id')}",
            ) from None
        if len(_CONTEXTS) >= _MAX_CONTEXTS:
            _CONTEXTS.clear()
        _CONTEXTS[key] = ctx
    return ctx


def default_certificate(given: Sequence[str] | None) -> tuple[str, str]:
    """The node's default (cert, key): the one the master generated, else this process's own."""
    if given:
        return given[0], given[1]
    if not _DEFAULT:
        _DEFAULT.append(pem.self_signed())
    return _DEFAULT[0]


def wildcard_names(name: str) -> tuple[str | None, str | None]:
    """Kong's two wildcard forms of ``name``: ``*.rest`` (needs 3+ labels) and ``first.*``."""
    labels = name.split(".")
    prefix = "*." + ".".join(labels[1:]) if len(labels) >= 3 else None
    suffix = ".".join(labels[:-1]) + ".*" if len(labels) >= 2 else None
    return prefix, suffix


class CertificateSelector:
    """``select(server_name) -> ssl.SSLContext`` for one config (``proxy/tls_server`` seam)."""

    __slots__ = ("by_name", "default", "memo")

    def __init__(self, config: Any, default_pair: Sequence[str] | None = None) -> None:
        certificates = {c["id"]: c for c in config.entities("certificates")}
        self.by_name: dict[str, ssl.SSLContext] = {}
        for sni in config.entities("snis"):
            cert = certificates.get(sni["certificate"]["id"])
            if cert is not None:
                self.by_name[sni["name"].lower()] = context_for(cert)
        cert, key = default_certificate(default_pair)
        self.default = self.by_name.get("*") or context_for({"cert": cert, "key": key})
        self.memo: dict[str | None, ssl.SSLContext] = {}

    def select(self, server_name: str | None) -> ssl.SSLContext:
        ctx = self.memo.get(server_name)
        if ctx is None:
            ctx = self._lookup(server_name)
            if len(self.memo) >= 4096:
                self.memo.clear()
            self.memo[server_name] = ctx
        return ctx

    def _lookup(self, server_name: str | None) -> ssl.SSLContext:
        if not server_name or not self.by_name:
            return self.default
        name = server_name.lower().rstrip(".")
        ctx = self.by_name.get(name)
        if ctx is not None:
            return ctx
        for wild in wildcard_names(name):
            if wild is not None and wild in self.by_name:
                return self.by_name[wild]
        return self.default
