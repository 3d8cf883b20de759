"""Test certificates: a throwaway CA and leaf certificates it signs (PEM strings), for the
gateway's TLS tests. Importable from any test (pytest puts the repository root on sys.path).

``TestCA().issue("a.example.com", "*.b.example.com")`` -> ``Issued(cert, key)``; ``kind="rsa"``
for an RSA key (ECDSA P-256 by default); ``expired=True`` for a certificate whose validity ended
yesterday. ``self_signed_leaf`` is a certificate no CA vouches for. ``https_request`` sends one
request over a real TLS connection with a chosen SNI and reports the certificate it was shown.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import socket
import ssl
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID


@dataclass(frozen=True)
class Issued:
    cert: str
    key: str

    @property
    def fingerprint(self) -> bytes:
        """SHA-256 of the certificate's DER (compare with ``getpeercert(True)``)."""
        cert = x509.load_pem_x509_certificate(self.cert.encode())
        return cert.fingerprint(hashes.SHA256())


def _key(kind: str):
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ec.generate_private_key(ec.SECP256R1())


def _pem_key(key) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


class TestCA:
    __test__ = False  # not a pytest class

    def __init__(self, cn: str = "carbonplane test CA") -> None:
        self.key = _key("ec")
        now = dt.datetime.now(dt.timezone.utc)
        self.certificate = (
            x509.CertificateBuilder()
            .subject_name(_name(cn))
            .issuer_name(_name(cn))
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        self.cert = self.certificate.public_bytes(serialization.Encoding.PEM).decode()

    def issue(self, *names: str, kind: str = "ec", expired: bool = False) -> Issued:
        key = _key(kind)
        now = dt.datetime.now(dt.timezone.utc)
        start, end = (
            (now - dt.timedelta(days=10), now - dt.timedelta(days=1))
            if expired
            else (now - dt.timedelta(minutes=5), now + dt.timedelta(days=1))
        )
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(names[0]))
            .issuer_name(self.certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(
                x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False
            )
            .sign(self.key, hashes.SHA256())
        )
        return Issued(cert.public_bytes(serialization.Encoding.PEM).decode(), _pem_key(key))


def self_signed_leaf(name: str = "localhost") -> Issued:
    """A leaf certificate signed by its own key (trusted by nobody)."""
    return TestCA(name).issue(name)


@dataclass
class TLSAnswer:
    status: int
    headers: dict[str, str]
    body: bytes
    peer_cert: bytes  # DER of the certificate the server presented
    version: str | None
    alpn: str | None

    @property
    def fingerprint(self) -> bytes:
        return hashlib.sha256(self.peer_cert).digest()

    def json(self) -> Any:
        return json.loads(self.body)


def client_context(
    *, minimum: ssl.TLSVersion | None = None, maximum: ssl.TLSVersion | None = None
) -> ssl.SSLContext:
    """A client context that accepts any certificate (the tests check which one came)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["h2", "http/1.1"])
    if minimum is not None:
        ctx.minimum_version = minimum
    if maximum is not None:
        ctx.maximum_version = maximum
    return ctx


def https_request(
    port: int,
    path: str = "/",
    *,
    sni: str | None = None,
    host: str | None = None,
    context: ssl.SSLContext | None = None,
    timeout: float = 10.0,
) -> TLSAnswer:
    """One HTTP/1.1 request over a fresh TLS connection to 127.0.0.1:``port`` with ``sni``."""
    ctx = context or client_context()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as raw:
        with ctx.wrap_socket(raw, server_hostname=sni) as tls:
            head = f"GET {path} HTTP/1.1\r\nhost: {host or sni or 'localhost'}\r\n"
            tls.sendall((head + "connection: close\r\n\r\n").encode())
            data = b""
            while chunk := tls.recv(65536):
                data += chunk
            peer = tls.getpeercert(binary_form=True) or b""
            version, alpn = tls.version(), tls.selected_alpn_protocol()
    head_bytes, _, body = data.partition(b"\r\n\r\n")
    lines = head_bytes.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return TLSAnswer(int(lines[0].split()[1]), headers, body, peer, version, alpn)
