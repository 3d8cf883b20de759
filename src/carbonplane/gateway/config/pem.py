"""PEM certificates and keys as Kong's ``certificates`` and ``ca_certificates`` entities check
them (``kong/db/schema/entities/certificates.lua``, ``ca_certificates.lua``), and the
self-signed default certificate the TLS listener serves when no SNI matches.

Checks (each returns a message, or None when fine): ``cert`` parses as one PEM certificate
(a chain is allowed on ``certificates``: the first is the leaf), ``key`` parses as a PEM private
key without a passphrase and its public key is the certificate's ("certificate does not match
key", Kong's wording), ``cert_alt``/``key_alt`` the same for a second key type that must differ
from the first. ``ca_certificates``: exactly one certificate, not expired, with the CA basic
constraint; ``cert_digest`` is the hex SHA-256 of its DER form. Expiry of a served certificate
is a warning (``expiry_warning``), not an error: Kong serves it too.

Pure functions over strings (``cryptography``); nothing here touches files or sockets.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

CERT_TAG = "-----BEGIN CERTIFICATE-----"


@functools.lru_cache(maxsize=256)
def load_certificate(pem: str) -> x509.Certificate | None:
    """The first certificate of ``pem``, or None when it does not parse."""
    try:
        return x509.load_pem_x509_certificates(pem.encode())[0]
    except (ValueError, IndexError, TypeError):
        return None


@functools.lru_cache(maxsize=256)
def _load_key(pem: str) -> tuple[object | None, str | None]:
    try:
        return serialization.load_pem_private_key(pem.encode(), password=None), None
    except TypeError:
        return None, "invalid key: the key is encrypted; give it without a passphrase"
    except (ValueError, Exception) as exc:  # unsupported types raise UnsupportedAlgorithm
        return None, f"invalid key: {str(exc).splitlines()[0] if str(exc) else 'not a PEM key'}"


def check_certificate(pem: str) -> str | None:
    if CERT_TAG not in pem or load_certificate(pem) is None:
        return "invalid certificate: cannot parse PEM (expected -----BEGIN CERTIFICATE-----)"
    return None


def check_key(pem: str) -> str | None:
    return _load_key(pem)[1]


def _public_pem(obj: object) -> bytes:
    return obj.public_key().public_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def key_matches(cert_pem: str, key_pem: str) -> bool:
    cert = load_certificate(cert_pem)
    key = _load_key(key_pem)[0]
    return cert is not None and key is not None and _public_pem(cert) == _public_pem(key)


def key_type(cert_pem: str) -> str | None:
    """``rsa``, ``ec``, ``ed25519`` or another class name of the certificate's public key."""
    cert = load_certificate(cert_pem)
    if cert is None:
        return None
    pub = cert.public_key()
    if isinstance(pub, rsa.RSAPublicKey):
        return "rsa"
    if isinstance(pub, ec.EllipticCurvePublicKey):
        return "ec"
    if isinstance(pub, ed25519.Ed25519PublicKey):
        return "ed25519"
    return type(pub).__name__


def not_after(cert_pem: str) -> float | None:
    cert = load_certificate(cert_pem)
    return cert.not_valid_after_utc.timestamp() if cert is not None else None


def expiry_warning(cert_pem: str, now: float) -> str | None:
    """A warning when the certificate has expired (served anyway, as Kong does)."""
    end = not_after(cert_pem)
    if end is not None and end < now:
        when = dt.datetime.fromtimestamp(end, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")
        return f'certificate expired on {when} ("Not After"); clients will refuse it'
    return None


def check_ca_certificate(pem: str, now: float) -> str | None:
    """Kong's checks of a ``ca_certificates`` entity, in Kong's wording."""
    problem = check_certificate(pem)
    if problem:
        return problem
    first = pem.find(CERT_TAG)
    if pem.find(CERT_TAG, first + len(CERT_TAG) + 1) != -1:
        return "please submit only one certificate at a time"
    cert = load_certificate(pem)
    assert cert is not None
    if cert.not_valid_after_utc.timestamp() < now:
        return 'certificate expired, "Not After" time is in the past'
    try:
        is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    if not is_ca:
        return (
            'certificate does not appear to be a CA because it is missing the "CA" basic constraint'
        )
    return None


def cert_digest(pem: str) -> str | None:
    cert = load_certificate(pem)
    if cert is None:
        return None
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def self_signed(common_name: str = "localhost", days: int = 3650) -> tuple[str, str]:
    """A new self-signed ECDSA P-256 certificate and key (PEM), as Kong's generated default
    certificate (``CN=localhost``, ten years)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(common_name)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem.decode()
