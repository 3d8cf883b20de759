"""The identity provider of the gateway benchmark's openid-connect configuration: a discovery
document and a JWKS answered by an nginx of their own (the gateway fetches them
once, then validates every request's RS256 token on the cached key), and the token wrk sends.

It listens on 127.0.0.1 only; the key is made here for the run and never leaves it.
"""

from __future__ import annotations

import json
import time

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

AUDIENCE = "https://bench.api/"
KID = "bench-1"


class BenchIdp:
    def __init__(self, port: int) -> None:
        self.port = port
        self.issuer = f"http://127.0.0.1:{port}"
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        public = json.loads(RSAAlgorithm.to_jwk(self.key.public_key()))
        public.update(kid=KID, alg="RS256", use="sig")
        self.jwks = json.dumps({"keys": [public]})
        self.discovery = json.dumps({"issuer": self.issuer, "jwks_uri": f"{self.issuer}/jwks"})

    def nginx_server(self) -> str:
        """The nginx ``server`` block answering the two documents (JSON holds no ``'``)."""
        return (
            f"server {{ listen 127.0.0.1:{self.port}; default_type application/json; "
            f"location = /.well-known/openid-configuration {{ return 200 '{self.discovery}'; }} "
            f"location = /jwks {{ return 200 '{self.jwks}'; }} }}"
        )

    def plugin(self) -> dict:
        """The openid-connect plugin entity validating this provider's tokens."""
        return {
            "name": "openid-connect",
            "config": {
                "issuer": self.issuer,
                "auth_methods": ["bearer"],
                "audience_required": [AUDIENCE],
                "scopes_required": ["read"],
                "consumer_claim": ["sub"],
            },
        }

    def token(self, subject: str) -> str:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": subject,
            "aud": AUDIENCE,
            "scope": "read write",
            "iat": now,
            "exp": now + 3600,
        }
        return jwt.encode(claims, self.key, "RS256", headers={"kid": KID})
