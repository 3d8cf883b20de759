"""What the CA signs: the workload certificate profile, and every CSR it refuses."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carbonplane.mesh.identity import (
    CertificateAuthority,
    CSRRejectedError,
    IdentityError,
    build_csr,
    generate_key,
    workload_id,
)

ORDERS = workload_id("cluster.local", "default", "orders")


class Clock:
    def __init__(self):
        self.now = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.timezone.utc)

    def __call__(self):
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def ca(tmp_path, clock):
    return CertificateAuthority(tmp_path, clock=clock)


def test_workload_certificate_profile(ca, clock):
    cert = ca.issue(build_csr(generate_key(), ORDERS), ORDERS).certificate
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert san.critical and list(san.value) == [x509.UniformResourceIdentifier(str(ORDERS))]
    assert len(cert.subject) == 0
    assert cert.not_valid_after_utc == clock.now + dt.timedelta(hours=24)
    assert cert.not_valid_before_utc == clock.now - dt.timedelta(minutes=1)
    ku = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert ku.critical and ku.value.digital_signature and not ku.value.key_encipherment
    assert not ku.value.key_cert_sign
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert set(eku) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
    bc = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and not bc.value.ca
    assert 0 < cert.serial_number < 2**159
    assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)
    cert.verify_directly_issued_by(ca.active.cert)


def test_serials_are_random(ca):
    serials = {
        ca.issue(build_csr(generate_key()), ORDERS).certificate.serial_number for _ in range(20)
    }
    assert len(serials) == 20 and max(serials).bit_length() > 150


def test_rsa_keys_get_key_encipherment(ca):
    key = rsa.generate_private_key(65537, 2048)
    ku = (
        ca.issue(build_csr(key, ORDERS), ORDERS)
        .certificate.extensions.get_extension_for_class(x509.KeyUsage)
        .value
    )
    assert ku.digital_signature and ku.key_encipherment


def test_ttl_is_configurable_and_bounded(tmp_path, clock):
    ca = CertificateAuthority(tmp_path, clock=clock, workload_ttl=dt.timedelta(minutes=5))
    cert = ca.issue(build_csr(generate_key()), ORDERS).certificate
    assert cert.not_valid_after_utc == clock.now + dt.timedelta(minutes=5)
    cert = ca.issue(build_csr(generate_key()), ORDERS, ttl=dt.timedelta(hours=48)).certificate
    assert cert.not_valid_after_utc == clock.now + dt.timedelta(hours=48)
    for ttl in (dt.timedelta(hours=49), dt.timedelta(0), dt.timedelta(seconds=-1)):
        with pytest.raises(IdentityError, match="TTL"):
            ca.issue(build_csr(generate_key()), ORDERS, ttl=ttl)
    with pytest.raises(IdentityError, match="max_ttl"):
        CertificateAuthority(tmp_path, workload_ttl=dt.timedelta(hours=72))


def test_a_certificate_never_outlives_its_root(tmp_path, clock):
    ca = CertificateAuthority(tmp_path, clock=clock, root_validity=dt.timedelta(hours=3))
    cert = ca.issue(build_csr(generate_key()), ORDERS).certificate
    assert cert.not_valid_after_utc == ca.active.cert.not_valid_after_utc
    clock.now += dt.timedelta(hours=4)
    with pytest.raises(IdentityError, match="expired.*rotate"):
        ca.issue(build_csr(generate_key()), ORDERS)


def _csr(key, subject=(), extensions=()):
    b = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(list(subject)))
    for ext, critical in extensions:
        b = b.add_extension(ext, critical=critical)
    return b.sign(key, hashes.SHA256())


def _san(*names):
    return (x509.SubjectAlternativeName(list(names)), False)


@pytest.mark.parametrize(
    "make,problem",
    [
        (
            lambda k: build_csr(k, workload_id("cluster.local", "default", "payments")),
            "asks for identity 'spiffe://cluster.local/ns/default/sa/payments'",
        ),
        (
            lambda k: build_csr(k, workload_id("cluster.local", "other", "orders")),
            "may only obtain",
        ),
        (
            lambda k: _csr(
                k,
                extensions=[
                    _san(
                        x509.UniformResourceIdentifier(str(ORDERS)),
                        x509.UniformResourceIdentifier(str(ORDERS)),
                    )
                ],
            ),
            "exactly one URI",
        ),
        (
            lambda k: _csr(
                k,
                extensions=[
                    _san(
                        x509.UniformResourceIdentifier(str(ORDERS)),
                        x509.DNSName("orders.default.svc"),
                    )
                ],
            ),
            "exactly one URI",
        ),
        (lambda k: _csr(k, extensions=[_san(x509.DNSName("orders"))]), "exactly one URI"),
        (lambda k: _csr(k, [x509.NameAttribute(NameOID.COMMON_NAME, "orders")]), "subject"),
        (
            lambda k: _csr(
                k, extensions=[(x509.BasicConstraints(ca=True, path_length=None), True)]
            ),
            "extension 2.5.29.19",
        ),
        (
            lambda k: _csr(
                k, extensions=[(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), False)]
            ),
            "CA sets every extension",
        ),
    ],
)
def test_csrs_asking_for_anything_else_are_refused(ca, make, problem):
    with pytest.raises(CSRRejectedError, match=problem.replace("(", r"\(")):
        ca.issue(make(generate_key()), ORDERS)


def test_a_csr_with_a_broken_signature_is_refused(ca):
    der = bytearray(build_csr(generate_key(), ORDERS).public_bytes(serialization.Encoding.DER))
    der[-5] ^= 0x01  # inside the signature value
    with pytest.raises(CSRRejectedError, match="signature"):
        ca.issue(bytes(der), ORDERS)


@pytest.mark.parametrize(
    "key,problem",
    [
        (lambda: rsa.generate_private_key(65537, 1024), "1024 bits"),
        (lambda: ec.generate_private_key(ec.SECP521R1()), "secp521r1"),
        (lambda: ed25519.Ed25519PrivateKey.generate(), "key type"),
    ],
)
def test_weak_or_unsupported_keys_are_refused(ca, key, problem):
    k = key()
    algo = None if isinstance(k, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    csr = x509.CertificateSigningRequestBuilder().subject_name(x509.Name([])).sign(k, algo)
    with pytest.raises(CSRRejectedError, match=problem):
        ca.issue(csr, ORDERS)


@pytest.mark.parametrize("data", [b"", b"garbage", "-----BEGIN CERTIFICATE REQUEST-----\nxx\n"])
def test_unparseable_csrs_are_refused(ca, data):
    with pytest.raises(CSRRejectedError, match="does not parse"):
        ca.issue(data, ORDERS)


def test_pem_csrs_are_accepted_and_the_identity_must_be_in_the_trust_domain(ca):
    pem = build_csr(generate_key()).public_bytes(serialization.Encoding.PEM)
    assert ca.issue(pem, ORDERS).identity == ORDERS
    assert ca.issue(pem.decode(), ORDERS).identity == ORDERS
    with pytest.raises(IdentityError, match="trust domain"):
        ca.issue(pem, workload_id("other.example", "default", "orders"))
    with pytest.raises(TypeError):
        ca.issue(pem, "spiffe://cluster.local/ns/default/sa/orders")


@pytest.mark.parametrize("data", ["-----BEGIN CERTIFICATE REQUEST-----\nä\n", 42, None])
def test_a_csr_that_is_neither_pem_text_nor_der_bytes_is_refused(ca, data):
    with pytest.raises(CSRRejectedError, match="not PEM text or DER bytes"):
        ca.issue(data, ORDERS)


def test_a_der_csr_is_accepted(ca):
    der = build_csr(generate_key(), ORDERS).public_bytes(serialization.Encoding.DER)
    assert ca.issue(der, ORDERS).identity == ORDERS


_VALID_DER = build_csr(generate_key(), ORDERS).public_bytes(serialization.Encoding.DER)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.one_of(
        st.binary(max_size=600),
        st.tuples(st.integers(0, len(_VALID_DER) - 1), st.integers(1, 255)).map(
            lambda m: _VALID_DER[: m[0]] + bytes([_VALID_DER[m[0]] ^ m[1]]) + _VALID_DER[m[0] + 1 :]
        ),
    )
)
def test_garbage_and_mutated_csrs_raise_only_csr_rejected(ca, data):
    try:
        issued = ca.issue(data, ORDERS)
    except CSRRejectedError:
        return
    assert issued.identity == ORDERS  # a mutation that left a valid CSR still gets only ORDERS
