"""Write a throwaway PKI for the Node TLS tests into the directory given as argv[1].

ca.pem (a self-signed CA), server.pem/server-key.pem (CN localhost, SAN IP 127.0.0.1, signed by the
CA), client.pem/client-key.pem (CN node-test-client, signed by the CA; the key encrypted with the
password "client-pass"), other-ca.pem (a CA that signed nothing here). Uses the `cryptography`
package of the repository's venv.
"""

from __future__ import annotations

import datetime
import ipaddress
import sys
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(
    subject: str, key, issuer: str, issuer_key, *, ca: bool, san=None, usage=None
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
    if usage:
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    pem = serialization.Encoding.PEM
    ca_key, other_key, server_key, client_key = (
        ec.generate_private_key(ec.SECP256R1()) for _ in range(4)
    )
    ca = _cert("node-test-ca", ca_key, "node-test-ca", ca_key, ca=True)
    other = _cert("other-ca", other_key, "other-ca", other_key, ca=True)
    server = _cert(
        "localhost",
        server_key,
        "node-test-ca",
        ca_key,
        ca=False,
        san=[x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))],
        usage=ExtendedKeyUsageOID.SERVER_AUTH,
    )
    client = _cert(
        "node-test-client",
        client_key,
        "node-test-ca",
        ca_key,
        ca=False,
        usage=ExtendedKeyUsageOID.CLIENT_AUTH,
    )
    (out / "ca.pem").write_bytes(ca.public_bytes(pem))
    (out / "other-ca.pem").write_bytes(other.public_bytes(pem))
    (out / "server.pem").write_bytes(server.public_bytes(pem))
    (out / "client.pem").write_bytes(client.public_bytes(pem))
    (out / "server-key.pem").write_bytes(
        server_key.private_bytes(
            pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    (out / "client-key.pem").write_bytes(
        client_key.private_bytes(
            pem,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"client-pass"),
        )
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]))
