"""A JSON Web Key Set (RFC 7517) as the openid-connect plugin verifies with it: public signing
keys by ``kid``, each turned into the jwt plugin's verifiers (``jwt.tokens.make_verifier``).

Invariants:
- only public signature keys are kept: ``kty`` RSA, EC (P-256/384/521) or OKP (Ed25519/Ed448),
  ``use`` absent or ``sig``; symmetric (``oct``) keys, encryption keys and keys that do not
  parse are left out (and counted in ``skipped``), so an HS* token can never be checked against
  a public key used as an HMAC secret;
- the token's ``alg`` must be in the plugin's allow-list (which holds no ``none`` and no HS*)
  and, when the key names an ``alg``, equal it; ``make_verifier`` also checks the key's family
  and curve, so a key serves only the algorithms it was made for;
- a key set is immutable once built; ``verified`` remembers tokens verified with this set (a
  new set, after a refetch, starts empty, so a key removed upstream stops accepting tokens).
"""

from __future__ import annotations

import binascii
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from carbonplane.gateway.plugins.jwt.tokens import Verifier, b64url_decode, make_verifier

_CURVES = {"P-256": ec.SECP256R1, "P-384": ec.SECP384R1, "P-521": ec.SECP521R1}
VERIFIED_KEPT = 4096


class JsonWebKey:
    """One public signing key: its PEM form, the ``alg`` it names (if any), its verifiers."""

    __slots__ = ("kid", "alg", "pem", "verifiers")

    def __init__(self, kid: str | None, alg: str | None, pem: bytes) -> None:
        self.kid = kid
        self.alg = alg
        self.pem = pem
        self.verifiers: dict[str, Verifier | str] = {}

    def verifier(self, alg: str) -> Verifier | str:
        """A verifier of ``alg`` with this key, or why this key cannot serve ``alg``."""
        if self.alg is not None and alg != self.alg:
            return f"the key {self.kid!r} is for {self.alg}, the token says {alg}"
        found = self.verifiers.get(alg)
        if found is None:
            found = self.verifiers[alg] = make_verifier(alg, self.pem)
        return found


class KeySet:
    """The keys of one JWKS document, fetched at ``fetched_at`` (``time.monotonic()``)."""

    __slots__ = ("keys", "unnamed", "skipped", "fetched_at", "verified")

    def __init__(self, document: Any, fetched_at: float) -> None:
        self.keys: dict[str, JsonWebKey] = {}
        self.unnamed: list[JsonWebKey] = []
        self.skipped: list[str] = []
        self.fetched_at = fetched_at
        self.verified: dict[bytes, dict] = {}
        entries = document.get("keys") if isinstance(document, dict) else None
        if not isinstance(entries, list):
            raise ValueError("a JWKS document is an object with a 'keys' array")
        for i, entry in enumerate(entries):
            problem = self._add(entry)
            if problem is not None:
                self.skipped.append(f"keys[{i}]: {problem}")

    def _add(self, entry: Any) -> str | None:
        if not isinstance(entry, dict):
            return "not an object"
        if entry.get("use", "sig") != "sig":
            return f"use {entry.get('use')!r} (not a signing key)"
        kid = entry.get("kid")
        alg = entry.get("alg")
        if (kid is not None and type(kid) is not str) or (alg is not None and type(alg) is not str):
            return "kid and alg must be strings"
        try:
            pem = public_pem(entry)
        except (ValueError, TypeError, KeyError) as exc:
            return str(exc) or type(exc).__name__
        key = JsonWebKey(kid, alg, pem)
        if kid is None:
            self.unnamed.append(key)
        elif kid in self.keys:
            return f"kid {kid!r} appears twice (the first one is kept)"
        else:
            self.keys[kid] = key
        return None

    def key_for(self, kid: Any) -> JsonWebKey | None:
        """The key a token's ``kid`` names; a token without ``kid`` uses the set's only key."""
        if kid is None:
            every = list(self.keys.values()) + self.unnamed
            return every[0] if len(every) == 1 else None
        if type(kid) is not str:
            return None
        return self.keys.get(kid)

    def remember(self, token: bytes, claims: dict) -> None:
        verified = self.verified
        if len(verified) >= VERIFIED_KEPT:
            del verified[next(iter(verified))]
        verified[token] = claims


def public_pem(jwk: dict) -> bytes:
    """The SubjectPublicKeyInfo PEM of a public JWK (RFC 7518 §6.2, §6.3; RFC 8037 §2)."""
    kty = jwk.get("kty")
    if kty == "RSA":
        n, e = _int(jwk, "n"), _int(jwk, "e")
        if n.bit_length() < 2048:
            raise ValueError(f"RSA key of {n.bit_length()} bits (2048 at least)")
        public: Any = rsa.RSAPublicNumbers(e, n).public_key()
    elif kty == "EC":
        curve = _CURVES.get(jwk.get("crv"))
        if curve is None:
            raise ValueError(f"EC curve {jwk.get('crv')!r} is not P-256, P-384 or P-521")
        numbers = ec.EllipticCurvePublicNumbers(_int(jwk, "x"), _int(jwk, "y"), curve())
        public = numbers.public_key()
    elif kty == "OKP":
        raw = _bytes(jwk, "x")
        if jwk.get("crv") == "Ed25519":
            public = ed25519.Ed25519PublicKey.from_public_bytes(raw)
        elif jwk.get("crv") == "Ed448":
            public = ed448.Ed448PublicKey.from_public_bytes(raw)
        else:
            raise ValueError(f"OKP curve {jwk.get('crv')!r} is not Ed25519 or Ed448")
    else:
        raise ValueError(f"kty {kty!r} is not a public signature key type (RSA, EC, OKP)")
    return public.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)


def _bytes(jwk: dict, name: str) -> bytes:
    value = jwk.get(name)
    raw = b64url_decode(value.encode("ascii")) if type(value) is str and value.isascii() else None
    if not raw:
        raise ValueError(f"{name!r} is not base64url")
    return raw


def _int(jwk: dict, name: str) -> int:
    try:
        return int.from_bytes(_bytes(jwk, name), "big")
    except binascii.Error as exc:
        raise ValueError(f"{name!r} is not base64url") from exc
