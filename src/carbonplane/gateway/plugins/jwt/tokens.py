"""JSON Web Tokens as the jwt plugin reads them: compact JWS parsing (RFC 7515 §7.1) and
signature verification (RFC 7518 §3) with the algorithm chosen by the credential, never by
the token.

Parsing follows Kong's ``jwt_parser.lua``: the token is cut at its first two dots (anything
after the second dot belongs to the signature, so a 5-part JWE fails as a bad signature);
header and claims must be base64url JSON objects; every segment must be unpadded, canonical
base64url (RFC 7515 §2): an ``=``, a character outside the alphabet or non-zero unused bits in
the last character refuse the token, so no token has a second spelling; the header's ``alg``
must be a string naming a supported algorithm - ``none`` is not one, there is no unsigned
verifier at all.
Failures come back as Kong's reasons (``invalid JSON``, ``invalid alg``, ``invalid claims``,
``invalid signature``), which the handler prefixes with ``Bad token; ``.

Verification (``make_verifier``) is built once per credential: HMAC secrets compared with
``hmac.compare_digest``; public keys parsed once from PEM and checked to be of the family the
algorithm needs (an RSA key for RS*/PS*, the right curve for ES*, Ed25519/Ed448 for EdDSA), so
an HS256 token can never be checked against a public key used as an HMAC secret (key
confusion) and an ES256 credential cannot verify with a P-384 key. ECDSA signatures are the
JWS raw ``r || s`` form of exactly twice the curve's byte size.
"""

from __future__ import annotations

import binascii
import hmac
import re
from collections.abc import Callable
from typing import Any

import msgspec
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from carbonplane.gateway.config.entities.consumers import JWT_ALGORITHMS

Verifier = Callable[[bytes, bytes], bool]

_HASHES = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}
_HMAC_NAMES = {"HS256": "sha256", "HS384": "sha384", "HS512": "sha512"}
_CURVES = {"ES256": (ec.SECP256R1, 32), "ES384": (ec.SECP384R1, 48), "ES512": (ec.SECP521R1, 66)}
ALGORITHMS = frozenset(JWT_ALGORITHMS)  # the jwt_secrets entity's list (Kong's)
_B64URL = re.compile(rb"[A-Za-z0-9_-]*")
_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
# the last character of a 2- or 3-character final group carries 4 or 2 unused low bits: zero
# in the one canonical encoding of the bytes (RFC 4648 §3.5)
_CANONICAL_LAST = {2: frozenset(_ALPHABET[::16]), 3: frozenset(_ALPHABET[::4])}
_json = msgspec.json.Decoder()


def b64url_decode(data: bytes) -> bytes | None:
    """Strict, unpadded, canonical base64url (RFC 7515 §2: JWS segments carry no ``=``); None
    for anything else - a padded, re-encoded or otherwise altered segment is not the same
    token, so a signed token has exactly one spelling."""
    if not _B64URL.fullmatch(data):
        return None
    tail = len(data) % 4
    if tail == 1 or (tail and data[-1] not in _CANONICAL_LAST[tail]):
        return None
    data = data.replace(b"-", b"+").replace(b"_", b"/") + b"=" * (-len(data) % 4)
    try:
        return binascii.a2b_base64(data, strict_mode=True)
    except binascii.Error:
        return None


class ParsedToken:
    """A structurally valid JWS: decoded header and claims, the signed bytes, the signature."""

    __slots__ = ("header", "claims", "signing_input", "signature", "alg")

    def __init__(self, header: dict, claims: dict, signing_input: bytes, signature: bytes) -> None:
        self.header = header
        self.claims = claims
        self.signing_input = signing_input
        self.signature = signature
        self.alg: str = header["alg"]


def parse_token(token: bytes) -> ParsedToken | str:
    """Parse a compact JWS; a ``str`` result is Kong's reason why it is a bad token."""
    first = token.find(b".")
    second = token.find(b".", first + 1) if first >= 0 else -1
    if second < 0:
        return "invalid JSON"
    header = _json_object(token[:first])
    claims_raw = b64url_decode(token[first + 1 : second])
    if header is None or claims_raw is None:
        return "invalid JSON"
    try:
        claims = _json.decode(claims_raw)
    except (msgspec.DecodeError, UnicodeDecodeError):
        return "invalid JSON"
    alg = header.get("alg")
    if type(alg) is not str or alg not in ALGORITHMS:
        return "invalid alg"
    if type(claims) is not dict:
        return "invalid claims"
    signature = b64url_decode(token[second + 1 :])
    if signature is None:
        return "invalid signature"
    return ParsedToken(header, claims, token[:second], signature)


def _json_object(segment: bytes) -> dict | None:
    raw = b64url_decode(segment)
    if raw is None:
        return None
    try:
        value = _json.decode(raw)
    except (msgspec.DecodeError, UnicodeDecodeError):
        return None
    return value if type(value) is dict else None


# -- verifiers -------------------------------------------------------------------------------


def make_verifier(algorithm: str, key: bytes) -> Verifier | str:
    """A verifier for ``algorithm`` with ``key`` (an HMAC secret, or PEM public key bytes),
    or a reason why the key cannot serve that algorithm."""
    if algorithm in _HMAC_NAMES:
        return _hmac_verifier(_HMAC_NAMES[algorithm], key)
    try:
        public = load_pem_public_key(key)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        return f"the public key is not a valid PEM public key ({exc})"
    family = algorithm[:2]
    if family in ("RS", "PS"):
        if not isinstance(public, rsa.RSAPublicKey):
            return f"{algorithm} needs an RSA public key, got {_kind(public)}"
        pad = padding.PKCS1v15() if family == "RS" else None
        return _rsa_verifier(public, _HASHES[algorithm[2:]](), pad)
    if family == "ES":
        curve, size = _CURVES[algorithm]
        if not isinstance(public, ec.EllipticCurvePublicKey) or not isinstance(public.curve, curve):
            return f"{algorithm} needs an EC public key on {curve.name}, got {_kind(public)}"
        return _ecdsa_verifier(public, _HASHES[algorithm[2:]](), size)
    if isinstance(public, (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)):
        return _eddsa_verifier(public)
    return f"EdDSA needs an Ed25519 or Ed448 public key, got {_kind(public)}"


def _kind(public: Any) -> str:
    if isinstance(public, ec.EllipticCurvePublicKey):
        return f"an EC key on {public.curve.name}"
    return type(public).__name__.lstrip("_")


def _hmac_verifier(name: str, secret: bytes) -> Verifier:
    digest = hmac.digest
    equal = hmac.compare_digest

    def verify(data: bytes, signature: bytes) -> bool:
        return equal(digest(secret, data, name), signature)

    return verify


def _rsa_verifier(public: Any, algorithm: Any, pad: Any) -> Verifier:
    if pad is None:  # PS*: RSASSA-PSS, MGF1 with the same hash, salt as long as the digest
        pad = padding.PSS(mgf=padding.MGF1(algorithm), salt_length=padding.PSS.DIGEST_LENGTH)

    def verify(data: bytes, signature: bytes) -> bool:
        try:
            public.verify(signature, data, pad, algorithm)
        except InvalidSignature:
            return False
        return True

    return verify


def _ecdsa_verifier(public: Any, algorithm: Any, size: int) -> Verifier:
    scheme = ec.ECDSA(algorithm)

    def verify(data: bytes, signature: bytes) -> bool:
        if len(signature) != 2 * size:
            return False
        r = int.from_bytes(signature[:size], "big")
        s = int.from_bytes(signature[size:], "big")
        try:
            public.verify(encode_dss_signature(r, s), data, scheme)
        except InvalidSignature:
            return False
        return True

    return verify


def _eddsa_verifier(public: Any) -> Verifier:
    def verify(data: bytes, signature: bytes) -> bool:
        try:
            public.verify(signature, data)
        except InvalidSignature:
            return False
        return True

    return verify
