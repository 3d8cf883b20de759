"""The TLS entities: ``certificates``, ``snis`` and ``ca_certificates`` (Kong's
``certificates.lua``, ``snis.lua``, ``ca_certificates.lua``).

- ``certificates``: ``cert`` and ``key`` (PEM, required; the key must match the certificate),
  optional ``cert_alt``/``key_alt`` (both or neither; a second key type, e.g. RSA beside
  ECDSA), ``tags``, and the write-only shorthand ``snis`` (a list of names; the Admin API and a
  declarative file turn each into an ``snis`` entity of this certificate).
- ``snis``: ``name`` (unique; a host name with at most one ``*`` as its leftmost or rightmost
  label, or ``*`` alone: the certificate served when no other name matches), ``certificate``
  (required), ``tags``.
- ``ca_certificates``: ``cert`` (one CA certificate, not expired, CA basic constraint),
  ``cert_digest`` (hex SHA-256 of the DER; computed when absent, unique), ``tags``. Services list
  them by id in ``ca_certificates`` to verify their upstream.

PEM checks live in ``gateway/config/pem.py``; an expired served certificate is a warning at load
time (``config.py``), not an error.
"""

from __future__ import annotations

from typing import Any

from carbonplane.gateway.config import pem
from carbonplane.gateway.config import typedefs as t
from carbonplane.gateway.config.schema import ENTITY, record


def check_sni_name(value: str) -> str | None:
    """Kong's ``wildcard_host`` without a port; ``*`` alone names the fallback certificate."""
    if value == "*":
        return None
    if ":" in value:
        return f"invalid value: {value} (an SNI is a host name, without a port)"
    return t.check_wildcard_host(value)


def _certificate_checks(c: dict[str, Any]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    if (c.get("cert_alt") is None) != (c.get("key_alt") is None):
        out.append((ENTITY, "all or none of these fields must be set: 'cert_alt', 'key_alt'"))
        return out
    if not pem.key_matches(c["cert"], c["key"]):
        out.append((ENTITY, "certificate does not match key"))
    if c.get("cert_alt") is not None:
        if not pem.key_matches(c["cert_alt"], c["key_alt"]):
            out.append((ENTITY, "alternative certificate does not match key"))
        elif pem.key_type(c["cert"]) == pem.key_type(c["cert_alt"]):
            out.append(
                (
                    ENTITY,
                    "certificate and alternative certificate need to have different type "
                    "(e.g. RSA and ECDSA), the provided certificates were both of the same type",
                )
            )
    return out


def _pem_cert(description: str, required: bool) -> Any:
    return t.string(description, required=required, check=pem.check_certificate)


def _pem_key(description: str, required: bool) -> Any:
    return t.string(description, required=required, check=pem.check_key)


CERTIFICATE = record(
    ("id", t.uuid()),
    ("created_at", t.timestamp_s("Unix epoch seconds when the certificate was created.")),
    ("updated_at", t.timestamp_s("Unix epoch seconds of the last change.")),
    ("cert", _pem_cert("PEM certificate (a chain may follow the leaf).", True)),
    ("key", _pem_key("PEM private key of `cert` (no passphrase).", True)),
    ("cert_alt", _pem_cert("A second PEM certificate of another key type.", False)),
    ("key_alt", _pem_key("PEM private key of `cert_alt`.", False)),
    ("tags", t.tags()),
    checks=[_certificate_checks],
)

SNI = record(
    ("id", t.uuid()),
    (
        "name",
        t.string(
            "Server name served with the certificate: exact, '*.example.com', "
            "'example.*', or '*' for any name nothing else matches.",
            required=True,
            unique=True,
            check=check_sni_name,
        ),
    ),
    ("created_at", t.timestamp_s("Unix epoch seconds when the SNI was created.")),
    ("updated_at", t.timestamp_s("Unix epoch seconds of the last change.")),
    ("tags", t.tags()),
    (
        "certificate",
        t.foreign("certificates", "The certificate served for this name.", required=True),
    ),
)


def _ca_checks(c: dict[str, Any]) -> list[tuple[str, str]]:
    import time

    problem = pem.check_ca_certificate(c["cert"], time.time())
    return [("cert", problem)] if problem else []


CA_CERTIFICATE = record(
    ("id", t.uuid()),
    ("created_at", t.timestamp_s("Unix epoch seconds when the CA certificate was created.")),
    ("updated_at", t.timestamp_s("Unix epoch seconds of the last change.")),
    ("cert", _pem_cert("One PEM CA certificate.", True)),
    ("cert_digest", t.string("Hex SHA-256 of the certificate (computed).", unique=True)),
    ("tags", t.tags()),
    checks=[_ca_checks],
)


def expand_ca_digest(data: dict[str, Any]) -> dict[str, Any]:
    """Kong's on-write transformation: ``cert_digest`` from ``cert``."""
    cert = data.get("cert")
    if isinstance(cert, str):
        digest = pem.cert_digest(cert)
        if digest is not None:
            return {**data, "cert_digest": digest}
    return data


__all__ = ["CERTIFICATE", "SNI", "CA_CERTIFICATE", "check_sni_name", "expand_ca_digest"]
