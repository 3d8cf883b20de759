"""Shared pieces of the oauth2 integration tests: a declarative config with one protected
service, form posts to the plugin's endpoints, and PKCE values."""

from __future__ import annotations

import base64
import hashlib
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from gwharness import http

PROVISION = "provision-key-0123456789"
VERIFIER = "pkce-verifier-" + "x" * 40
CHALLENGE = base64.urlsafe_b64encode(hashlib.sha256(VERIFIER.encode()).digest()).rstrip(b"=")
FORM = {"content-type": "application/x-www-form-urlencoded"}
HTTPS = {"x-forwarded-proto": "https"}


def config(upstream_address: str, **plugin: Any) -> dict[str, Any]:
    conf = {
        "scopes": ["read", "write"],
        "provision_key": PROVISION,
        "enable_authorization_code": True,
        "enable_client_credentials": True,
        "enable_password_grant": True,
        "enable_implicit_grant": True,
        "accept_http_if_already_terminated": True,
        "realm": "platform",
        **plugin,
    }
    return {
        "_format_version": "3.0",
        "services": [
            {
                "name": "api",
                "url": f"http://{upstream_address}",
                "routes": [{"name": "api", "paths": ["/api"]}],
                "plugins": [{"name": "oauth2", "config": conf}],
            },
            {
                "name": "other",
                "url": f"http://{upstream_address}",
                "routes": [{"name": "other", "paths": ["/other"]}],
                "plugins": [{"name": "oauth2", "config": conf}],
            },
        ],
        "consumers": [
            {
                "username": "ana",
                "custom_id": "ana-42",
                "oauth2_credentials": [
                    {
                        "name": "web app",
                        "client_id": "web",
                        "client_secret": "web-secret",
                        "hash_secret": True,
                        "redirect_uris": ["https://app.example/cb"],
                    },
                    {
                        "name": "spa",
                        "client_id": "spa",
                        "client_type": "public",
                        "redirect_uris": ["https://spa.example/cb"],
                    },
                ],
            },
            {
                "username": "bob",
                "oauth2_credentials": [
                    {
                        "name": "bob app",
                        "client_id": "bob",
                        "client_secret": "bob-secret",
                        "redirect_uris": ["https://bob.example/cb"],
                    }
                ],
            },
        ],
    }


def post(port: int, path: str, params: dict[str, Any], headers: dict | None = None):
    return http(
        port,
        "POST",
        path,
        headers={**FORM, **HTTPS, **(headers or {})},
        body=urlencode(params).encode(),
    )


def client_token(port: int, client_id: str = "web", secret: str = "web-secret", **more) -> dict:
    status, _, doc = post(
        port,
        "/api/oauth2/token",
        {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
        | more,
    )
    assert status == 200, doc
    return doc


def password_token(port: int, path: str = "/api", **more) -> dict:
    status, _, doc = post(
        port,
        f"{path}/oauth2/token",
        {
            "grant_type": "password",
            "client_id": "web",
            "client_secret": "web-secret",
            "provision_key": PROVISION,
            "authenticated_userid": "user-1",
            "scope": "read",
        }
        | more,
    )
    assert status == 200, doc
    return doc


def authorize(port: int, client_id: str, **more) -> tuple[int, dict, dict[str, list[str]]]:
    status, _, doc = post(
        port,
        "/api/oauth2/authorize",
        {
            "response_type": "code",
            "client_id": client_id,
            "provision_key": PROVISION,
            "authenticated_userid": "user-9",
            "scope": "read",
        }
        | more,
    )
    query = parse_qs(urlsplit(doc.get("redirect_uri", "")).query)
    return status, doc, query


def call(port: int, token: str, path: str = "/api/data", headers: dict | None = None):
    return http(port, "GET", path, headers={"authorization": f"Bearer {token}", **(headers or {})})
