"""X.509 building blocks of the mesh: workload keys and CSRs, CSR checks, certificate profiles.

Profiles (what the CA signs; X509-SVID.md and Istio's workload certificates):

- **Workload (leaf)**: empty subject; exactly one URI SAN, the SPIFFE id, marked critical because
  the subject is empty (RFC 5280 4.2.1.6); ``BasicConstraints CA=false`` (critical);
  ``KeyUsage`` critical: ``digitalSignature`` for EC keys, ``digitalSignature+keyEncipherment`` for
  RSA keys (only RSA can encipher a key); ``ExtendedKeyUsage serverAuth+clientAuth`` (the same
  certificate serves inbound and outbound mTLS); SKI/AKI; a random 159-bit serial.
- **Root** (generated): self-signed ECDSA P-256, ``CA=true pathlen=0`` (it signs workloads
  directly), ``keyCertSign+cRLSign``, the trust domain in its common name.

Keys: workloads generate ECDSA P-256 (``generate_key``): a signature costs a fraction of RSA-2048's,
keys and certificates are a few hundred bytes, every TLS 1.3 stack supports it, and generating
one per renewal (every ~12 h) is instant. The CA also accepts P-384 and RSA >= 2048 CSRs.

CSR rule: the CA signs the identity the control plane tells it, never one the CSR chooses. A CSR
must carry a valid self-signature, an empty subject, and at most one extension: a SAN holding
exactly that one URI. Anything else (a CN, DNS names, a different URI, a CA request, key usages)
is refused with ``CSRRejectedError`` saying what to remove.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from carbonplane.mesh.identity.errors import CSRRejectedError, PeerIdentityError, SpiffeIdError
from carbonplane.mesh.identity.spiffe import WorkloadId, parse, parse_workload

SERIAL_BITS = 159
_EC_CURVES = (ec.SECP256R1, ec.SECP384R1)
MIN_RSA_BITS = 2048

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


def generate_key() -> ec.EllipticCurvePrivateKey:
    """A new ECDSA P-256 private key (the workload keeps it; only the CSR leaves)."""
    return ec.generate_private_key(ec.SECP256R1())


def random_serial() -> int:
    """A random positive serial of at most 159 bits (fits RFC 5280's 20 octets, never 0)."""
    while True:
        serial = secrets.randbits(SERIAL_BITS)
        if serial:
            return serial


def build_csr(
    key: PrivateKey, identity: WorkloadId | str | None = None
) -> x509.CertificateSigningRequest:
    """A CSR with an empty subject and, if ``identity`` is given, that one URI SAN."""
    builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name([]))
    if identity is not None:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.UniformResourceIdentifier(str(identity))]),
            critical=True,
        )
    return builder.sign(key, hashes.SHA256())


def key_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 of the DER certificate, lowercase hex."""
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def _spki(public_key) -> bytes:
    return public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def keys_match(cert: x509.Certificate, key: PrivateKey) -> bool:
    return _spki(cert.public_key()) == _spki(key.public_key())


def load_csr(csr: x509.CertificateSigningRequest | bytes | str) -> x509.CertificateSigningRequest:
    """Accept a CSR object or its PEM/DER bytes; ``CSRRejectedError`` if it does not parse."""
    if isinstance(csr, x509.CertificateSigningRequest):
        return csr
    if not isinstance(csr, (str, bytes, bytearray, memoryview)):
        raise CSRRejectedError(f"the CSR is not PEM text or DER bytes but {type(csr).__name__}")
    try:
        data = csr.encode("ascii") if isinstance(csr, str) else bytes(csr)
    except UnicodeEncodeError as exc:
        raise CSRRejectedError(f"the CSR is not PEM text or DER bytes: {exc}") from None
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            return x509.load_pem_x509_csr(data)
        return x509.load_der_x509_csr(data)
    except (ValueError, x509.InvalidVersion) as exc:  # InvalidVersion: a version other than v1
        raise CSRRejectedError(f"the CSR does not parse as PEM or DER: {exc}") from None


def check_csr(csr: x509.CertificateSigningRequest | bytes | str, allowed: WorkloadId):
    """Verify ``csr`` may be signed for ``allowed``; return its public key or raise."""
    csr = load_csr(csr)
    try:
        return _check_csr(csr, allowed)
    except CSRRejectedError:
        raise
    except Exception as exc:  # a field cryptography cannot decode (bad extension, key, name)
        raise CSRRejectedError(
            f"the CSR has a field that does not decode: {type(exc).__name__}: {exc}"
        ) from None


def _check_csr(csr: x509.CertificateSigningRequest, allowed: WorkloadId):
    try:
        valid = csr.is_signature_valid
    except Exception as exc:  # unsupported algorithm in the CSR
        raise CSRRejectedError(f"the CSR's signature cannot be checked: {exc}") from None
    if not valid:
        raise CSRRejectedError(
            "the CSR's signature is invalid (it was not signed by the key it carries)"
        )
    key = csr.public_key()
    if isinstance(key, ec.EllipticCurvePublicKey):
        if not isinstance(key.curve, _EC_CURVES):
            raise CSRRejectedError(
                f"the CSR's EC curve {key.curve.name} is not accepted; use "
                "P-256 (secp256r1) or P-384"
            )
    elif isinstance(key, rsa.RSAPublicKey):
        if key.key_size < MIN_RSA_BITS:
            raise CSRRejectedError(
                f"the CSR's RSA key has {key.key_size} bits; at least {MIN_RSA_BITS} are required"
            )
    else:
        raise CSRRejectedError(
            f"the CSR's key type {type(key).__name__} is not accepted; use ECDSA P-256"
        )
    if len(csr.subject) != 0:
        raise CSRRejectedError(
            f"the CSR asks for subject {csr.subject.rfc4514_string()!r}; leave "
            "the subject empty (the identity is the URI SAN the control "
            "plane assigns)"
        )
    for ext in csr.extensions:
        if not isinstance(ext.value, x509.SubjectAlternativeName):
            raise CSRRejectedError(
                f"the CSR requests extension {ext.oid.dotted_string} "
                f"({getattr(ext.oid, '_name', 'unknown')}); the CA sets every "
                "extension itself, remove it"
            )
        names = list(ext.value)
        uris = ext.value.get_values_for_type(x509.UniformResourceIdentifier)
        if len(names) != 1 or len(uris) != 1:
            raise CSRRejectedError(
                f"the CSR's SAN must be exactly one URI ({allowed}); it has "
                f"{', '.join(repr(str(n.value)) for n in names) or 'none'}"
            )
        if uris[0] != str(allowed):
            raise CSRRejectedError(
                f"the CSR asks for identity {uris[0]!r}, but this caller may "
                f"only obtain {str(allowed)!r}"
            )
    return key


def key_usage_for(public_key) -> x509.KeyUsage:
    is_rsa = isinstance(public_key, rsa.RSAPublicKey)
    return x509.KeyUsage(
        digital_signature=True,
        key_encipherment=is_rsa,
        content_commitment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def build_workload_cert(
    public_key,
    identity: WorkloadId,
    issuer: x509.Certificate,
    issuer_key: PrivateKey,
    not_before: dt.datetime,
    not_after: dt.datetime,
) -> x509.Certificate:
    """Sign a workload certificate per the profile above (the caller checked the CSR)."""
    ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([]))
        .issuer_name(issuer.subject)
        .public_key(public_key)
        .serial_number(random_serial())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(
            x509.SubjectAlternativeName([x509.UniformResourceIdentifier(str(identity))]),
            critical=True,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(key_usage_for(public_key), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
        )
        .sign(issuer_key, hashes.SHA256())
    )


def build_root(
    trust_domain: str, now: dt.datetime, validity: dt.timedelta
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A new self-signed mesh root (ECDSA P-256) valid from ``now`` for ``validity``."""
    key = generate_key()
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "carbonplane mesh"),
            x509.NameAttribute(
                NameOID.COMMON_NAME,
                f"carbonplane mesh root {trust_domain[:32]} {secrets.token_hex(4)}",
            ),
        ]
    )
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(random_serial())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + validity)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                key_encipherment=False,
                content_commitment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ski, critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def spiffe_id_of(cert: x509.Certificate, *, trust_domain: str | None = None) -> WorkloadId:
    """The workload id in ``cert``'s single URI SAN; ``PeerIdentityError`` if there is not
    exactly one, or it is not a mesh workload id (of ``trust_domain``, when given)."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        raise PeerIdentityError("the peer certificate has no SAN, so no SPIFFE id") from None
    except Exception as exc:  # duplicate or undecodable extensions
        raise PeerIdentityError(f"the peer certificate's extensions do not decode: {exc}") from None
    uris = san.get_values_for_type(x509.UniformResourceIdentifier)
    if len(uris) != 1:
        raise PeerIdentityError(
            f"the peer certificate has {len(uris)} URI SANs; an X.509-SVID has exactly one"
        )
    try:
        parse(uris[0])
        return parse_workload(uris[0], trust_domain=trust_domain)
    except SpiffeIdError as exc:
        raise PeerIdentityError(
            f"the peer certificate's URI SAN is not a mesh identity: {exc}"
        ) from None
