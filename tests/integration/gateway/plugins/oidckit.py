"""A real, independently written OpenID provider for the openid-connect plugin's tests: the npm
``oidc-provider`` package run by ``tests/integration/gateway/oidc/provider.js`` on a free
127.0.0.1 port, with signing keys the test makes (so it can rotate them by restarting the
provider on the same port, and forge tokens with a key of its own).

``OidcProvider().start(keys)`` waits for the provider's "ready" line; ``token(resource, scope)``
runs a real client_credentials grant (RFC 8707 resource indicator decides JWT or opaque).
A provider that is not installed or does not start fails the test saying how to fix it.
"""

from __future__ import annotations

import base64
import json
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

PROVIDER_DIR = Path(__file__).resolve().parents[1] / "oidc"
CLIENT = ("gateway-test", "gateway-secret")
JWT_API = "https://api.test/"
SHORT_API = "https://short.test/"
OPAQUE_API = "urn:opaque:api"


def rsa_key(kid: str) -> tuple[rsa.RSAPrivateKey, dict]:
    """A fresh RSA key and its private JWK (what provider.js signs with)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(RSAAlgorithm.to_jwk(key))
    jwk.update(kid=kid, alg="RS256", use="sig")
    return key, jwk


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class OidcProvider:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self, jwks: list[dict]) -> OidcProvider:
        if shutil.which("node") is None:
            pytest.fail(
                "node is not installed: install Node.js 20.19+ and npm, then run "
                "scripts/oidc-provider.sh install (make test does it)"
            )
        if not (PROVIDER_DIR / "node_modules" / "oidc-provider").is_dir():
            pytest.fail(
                "the test OpenID provider is not installed: run "
                "scripts/oidc-provider.sh install (make test does it)"
            )
        path = self.workdir / f"jwks-{time.monotonic_ns()}.json"
        path.write_text(json.dumps({"keys": jwks}))
        self.process = subprocess.Popen(
            ["node", "provider.js", str(self.port), str(path)],
            cwd=PROVIDER_DIR,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        line = self.process.stdout.readline()  # "ready ISSUER", or EOF when it died
        if not line.startswith("ready "):
            self.process.kill()
            err = self.process.stderr.read()[-2000:]
            pytest.fail(f"the test OpenID provider did not start (port {self.port}): {err}")
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
            self.process = None

    def restart(self, jwks: list[dict]) -> None:
        self.stop()
        self.start(jwks)

    def token(self, resource: str, scope: str = "read write") -> str:
        form = urllib.parse.urlencode(
            {"grant_type": "client_credentials", "resource": resource, "scope": scope}
        ).encode()
        request = urllib.request.Request(f"{self.issuer}/token", data=form, method="POST")
        basic = base64.b64encode(f"{CLIENT[0]}:{CLIENT[1]}".encode()).decode()
        request.add_header("Authorization", f"Basic {basic}")
        with urllib.request.urlopen(request, timeout=10) as answer:
            return json.load(answer)["access_token"]


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def segment(token: str, index: int) -> dict:
    part = token.split(".")[index]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
