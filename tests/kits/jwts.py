"""Compact JWS tokens (RFC 7515 section 7.1) signed with real keys, for the jwt plugin's tests:
HMAC secrets (HS*), RSA PKCS#1 v1.5 and PSS (RS*, PS*), ECDSA with the raw r||s signature of
RFC 7518 section 3.4 (ES*), Ed25519 (EdDSA), and the unsigned ``none``.

Invariants: segments are base64url without padding; the header is exactly the dict given (or
``{"typ": "JWT", "alg": alg}``), so a test can send any header, including a lying one. The keys
below are generated once per test session.
"""

from __future__ import annotations

import base64
import hmac
import json
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature


def b64url(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def sign(claims: dict, key: Any, alg: str, header: dict | None = None) -> str:
    """A compact JWS signed with a real key (HMAC secret bytes or a private key object)."""
    head = header if header is not None else {"typ": "JWT", "alg": alg}
    signing_input = b64url(json.dumps(head).encode()) + b"." + b64url(json.dumps(claims).encode())
    return (signing_input + b"." + b64url(raw_signature(signing_input, key, alg))).decode()


def raw_signature(data: bytes, key: Any, alg: str) -> bytes:
    """The signature bytes of ``data`` under ``alg`` (empty for ``none``)."""
    if alg.startswith("HS"):
        return hmac.digest(key, data, {"256": "sha256", "384": "sha384", "512": "sha512"}[alg[2:]])
    if alg == "none":
        return b""
    if alg == "EdDSA":
        return key.sign(data)
    digest = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}[alg[2:]]()
    if alg.startswith("RS"):
        return key.sign(data, padding.PKCS1v15(), digest)
    if alg.startswith("PS"):
        return key.sign(data, padding.PSS(padding.MGF1(digest), padding.PSS.DIGEST_LENGTH), digest)
    r, s = decode_dss_signature(key.sign(data, ec.ECDSA(digest)))
    size = (key.curve.key_size + 7) // 8
    return r.to_bytes(size, "big") + s.to_bytes(size, "big")


def public_pem(private: Any) -> str:
    """The SubjectPublicKeyInfo PEM of a private key's public half."""
    return (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEYS = {
    "ES256": ec.generate_private_key(ec.SECP256R1()),
    "ES384": ec.generate_private_key(ec.SECP384R1()),
    "ES512": ec.generate_private_key(ec.SECP521R1()),
}
ED_KEY = ed25519.Ed25519PrivateKey.generate()


def private_key_for(alg: str) -> Any:
    """The session's private key for an asymmetric ``alg``."""
    if alg[:2] in ("RS", "PS"):
        return RSA_KEY
    if alg.startswith("ES"):
        return EC_KEYS[alg]
    return ED_KEY
