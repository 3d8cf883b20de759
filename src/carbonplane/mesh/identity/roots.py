"""The mesh CA's signing roots: what a root is, and loading and checking its files.

A ``Root`` is one signing authority of ``authority.CertificateAuthority``: its certificate and key,
and for a supplied intermediate the ``chain`` up to the organisation's self-signed root (the
``anchor`` workloads trust). ``SuppliedRoot`` names the files of a root the operator provides.

Invariants: a root that loads has a key (ECDSA or RSA) matching its certificate, the certificate
is a CA (BasicConstraints CA=true), each certificate of its chain is signed by the next, and the
chain ends with a self-signed root; otherwise ``CAStateError`` names the file and the fix. Private
keys are read only from files no group/other can access (``files.read_private``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from carbonplane.mesh.identity import files
from carbonplane.mesh.identity.certificates import PrivateKey, fingerprint, keys_match
from carbonplane.mesh.identity.errors import CAStateError


@dataclass(frozen=True)
class SuppliedRoot:
    """Signing certificate and key files, plus ``chain`` when ``cert`` is an intermediate."""

    cert: Path
    key: Path
    chain: Path | None = None


@dataclass(frozen=True)
class Root:
    """One signing authority: ``cert`` signs, ``chain`` goes between it and ``anchor``."""

    id: str
    cert: x509.Certificate
    key: PrivateKey
    chain: tuple[x509.Certificate, ...]
    added: dt.datetime
    trusted_until: dt.datetime | None

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.cert)

    @property
    def anchor(self) -> x509.Certificate:
        return self.chain[-1] if self.chain else self.cert

    def trusted_at(self, now: dt.datetime) -> bool:
        return self.trusted_until is None or now < self.trusted_until


def load_pem_certs(path: Path, what: str) -> list[x509.Certificate]:
    try:
        certs = x509.load_pem_x509_certificates(path.read_bytes())
    except FileNotFoundError:
        raise CAStateError(path, f"the {what} file is missing") from None
    except ValueError as exc:
        raise CAStateError(path, f"the {what} is not PEM certificates: {exc}") from None
    return certs


def load_key(path: Path) -> PrivateKey:
    data = files.read_private(path, "CA private key")
    try:
        return serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise CAStateError(
            path, f"the CA private key does not load (unencrypted PEM expected): {exc}"
        ) from None


def check_signing_pair(
    cert: x509.Certificate, key: PrivateKey, chain: list[x509.Certificate], where: Path
) -> None:
    """The key matches, the certificate may sign, and the chain links up to a self-signed root."""
    if not isinstance(key, (ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey)):
        raise CAStateError(where, f"the CA key is {type(key).__name__}; ECDSA or RSA is required")
    if not keys_match(cert, key):
        raise CAStateError(
            where,
            "the CA certificate and private key do not match (the key is "
            "not the certificate's); supply the key that belongs to it",
        )
    try:
        bc = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        bc = None
    if bc is None or not bc.ca:
        raise CAStateError(
            where, "the certificate is not a CA certificate (BasicConstraints CA=true is required)"
        )
    links = [cert, *chain]
    for child, parent in zip(links, links[1:]):
        try:
            child.verify_directly_issued_by(parent)
        except Exception:
            raise CAStateError(
                where,
                f"the chain is broken: {child.subject.rfc4514_string()!r} "
                f"is not signed by {parent.subject.rfc4514_string()!r}",
            ) from None
    top = links[-1]
    try:
        top.verify_directly_issued_by(top)
    except Exception:
        raise CAStateError(
            where,
            "the chain does not end with a self-signed root; for an "
            "intermediate, supply the chain up to the organisation's root",
        ) from None


def key_bytes(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
