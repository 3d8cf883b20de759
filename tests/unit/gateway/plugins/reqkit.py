"""Helpers for the auth/transform plugin unit tests: request contexts parsed from raw HTTP,
configs with consumers and credentials, validated plugin configs, handlers built the way the
gateway builds them, and JWTs signed with real keys."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from carbonplane.gateway.config.entities import validate_plugin
from carbonplane.gateway.config.loader import load_config_data
from carbonplane.gateway.plugins import PluginServices, load_bundled, plugin_def
from carbonplane.gateway.plugins.pdk.credentials import CredentialIndex
from carbonplane.http import Limits, RequestHeadParser
from carbonplane.proxy.app import Client, LocalResponse, RequestContext

load_bundled()
_PARSER = RequestHeadParser(Limits())


def request(
    method: str = "GET",
    target: str = "/",
    headers: dict | list | None = None,
    *,
    client_ip: str = "203.0.113.7",
    body_framing: str | None = None,
) -> RequestContext:
    """A context for ``method target`` as the engine makes it (head parsed by the real parser).
    ``body_framing``: None, ``"length:N"`` or ``"chunked"``."""
    items = list(headers.items()) if isinstance(headers, dict) else list(headers or [])
    lines = [f"{method} {target} HTTP/1.1", "Host: gw.test"]
    lines += [f"{k}: {v}" for k, v in items]
    if body_framing == "chunked":
        lines.append("Transfer-Encoding: chunked")
    elif body_framing:
        lines.append(f"Content-Length: {body_framing.split(':')[1]}")
    head = _PARSER.parse(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
    client = Client(client_ip, 40000, False, b"http", 8000)
    ctx = RequestContext(head, client, client_ip, b"req-1", 0.0, int(time.time() * 1000))
    ctx.upstream_target = head.path + head.query
    return ctx


def upstream_headers(ctx: RequestContext) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name, value in ctx.request.headers:
        out.setdefault(name.decode(), []).append(value.decode())
    return out


def gateway(consumers: list[dict] | None = None, **lists: Any) -> Any:
    data = {"_format_version": "3.0", "consumers": consumers or [], **lists}
    return load_config_data(data, now=1_700_000_000)


def handler(name: str, config: dict | None = None, gw: Any = None, **plugin: Any) -> Any:
    """A handler built like the gateway builds it: config validated by the plugin's schema."""
    row, problems = validate_plugin({"name": name, "config": config or {}, **plugin})
    assert not problems, problems
    services = PluginServices()
    if gw is not None:
        services = PluginServices(credentials=CredentialIndex(gw))
    defn = plugin_def(name)
    row["id"] = "00000000-0000-4000-8000-000000000001"
    return defn.handler(row["config"], row, services)


def problems_of(name: str, config: dict) -> list[str]:
    _, problems = validate_plugin({"name": name, "config": config})
    return [f"{'.'.join(str(p) for p in path)}: {msg}" for path, msg in problems]


def refusal(verdict: Any) -> tuple[int, Any, dict[str, str]]:
    """(status, decoded JSON body, headers) of a LocalResponse verdict."""
    assert isinstance(verdict, LocalResponse), verdict
    headers, body = verdict.render(b"req-1")
    return verdict.status, json.loads(body), {k.decode(): v.decode() for k, v in headers}


# -- JWTs ------------------------------------------------------------------------------------


def b64url(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def sign(claims: dict, key: Any, alg: str, header: dict | None = None) -> str:
    """A compact JWS signed with a real key (HMAC secret bytes or a private key object)."""
    head = header if header is not None else {"typ": "JWT", "alg": alg}
    signing_input = b64url(json.dumps(head).encode()) + b"." + b64url(json.dumps(claims).encode())
    return (signing_input + b"." + b64url(raw_signature(signing_input, key, alg))).decode()


def raw_signature(data: bytes, key: Any, alg: str) -> bytes:
    import hmac

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
    if alg[:2] in ("RS", "PS"):
        return RSA_KEY
    if alg.startswith("ES"):
        return EC_KEYS[alg]
    return ED_KEY
