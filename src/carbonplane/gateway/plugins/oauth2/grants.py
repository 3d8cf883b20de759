"""The oauth2 plugin's grants (RFC 6749 sections 4.1-4.4 and 6, RFC 7636), with Kong's checks
in Kong's order and Kong's error documents (``kong/plugins/oauth2/access.lua``). Sans-IO: a
request's parameters in, ``(status, document, headers)`` out; the token store is the only
side effect.

Token endpoint (``issue_token``), in order: HTTPS (else ``access_denied``); ``grant_type`` one
of authorization_code, refresh_token, client_credentials (when enabled), password (when
enabled), else ``unsupported_grant_type``; the client by ``client_id`` - for grants other than
client_credentials it must have ``redirect_uris`` and the given ``redirect_uri`` (default: the
first) must be one of them; a confidential client proves its secret (constant time), a public
one must send none; then per grant:

- authorization_code: the code must exist, be for this service (unless global) and this client
  and plugin; PKCE is checked when the code carries a challenge, the client is public (``pkce``
  not ``none``) or the client is confidential and ``pkce`` is ``strict``; on success the code is
  spent atomically (a replay, even a concurrent one, gets ``invalid_request``);
- client_credentials: ``provision_key`` must match when ``authenticated_userid`` is given; no
  refresh token;
- password: ``provision_key`` and ``authenticated_userid`` required;
- refresh_token: the token must exist for this service and this client; its scope (never a
  requested one: no escalation) must still be allowed; the old token is deleted atomically
  (a second use of the same refresh token fails) unless ``reuse_refresh_token``, which
  replaces only the access token.

Errors answer 400, except a client that authenticated through the Authorization header and
failed: 401 with ``WWW-Authenticate: Basic realm="OAuth2.0"``.
"""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from carbonplane.gateway.config.entities.oauth2 import verify_client_secret
from carbonplane.gateway.plugins.oauth2 import params as p
from carbonplane.gateway.plugins.oauth2.store import CODE_TTL, TokenStore

Answer = tuple[int, dict[str, Any], list[tuple[bytes, bytes]]]
NO_STORE = [(b"cache-control", b"no-store"), (b"pragma", b"no-cache")]
BASIC_CHALLENGE = (b"www-authenticate", b'Basic realm="OAuth2.0"')
INVALID_CLIENT = ("invalid_client", "Invalid client authentication")
REDIRECT_MISMATCH = (
    "Invalid redirect_uri that does not match with any redirect_uri created with the application"
)


def random_token() -> str:
    """32 URL-safe characters from 24 random bytes (Kong's ``random_string`` size)."""
    return secrets.token_urlsafe(24)


class Grants:
    """One plugin instance's grant logic. ``clients(client_id)`` finds an oauth2 credential
    in the current config; ``service_id`` is None for ``global_credentials``."""

    def __init__(
        self,
        conf: Mapping[str, Any],
        plugin_id: str,
        clients: Callable[[str], Mapping[str, Any] | None],
        store: TokenStore,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.conf = conf
        self.plugin_id = plugin_id
        self.clients = clients
        self.store = store
        self.clock = clock
        self.scopes = tuple(conf.get("scopes") or ())

    # -- tokens -----------------------------------------------------------------------------
    def generate(
        self,
        service_id: str | None,
        credential: Mapping[str, Any],
        userid: str | None,
        scope: str | None,
        state: str | None,
        *,
        refresh: bool = True,
        existing: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        conf = self.conf
        expiration = int(conf["token_expiration"])
        refresh_ttl = conf.get("refresh_token_ttl") or 0
        now = self.clock()
        purge_at = now + refresh_ttl if expiration > 0 and refresh_ttl > 0 else None
        if existing is not None and conf["reuse_refresh_token"]:
            existing.update(expires_in=expiration, purge_at=purge_at)
            if not self.store.replace_access(existing, random_token(), now):
                return p.error("invalid_request", "Invalid refresh_token")
            token = existing
        else:
            token = {
                "id": str(uuid.uuid4()),
                "created_at": now,
                "service_id": None if conf["global_credentials"] else service_id,
                "credential_id": credential["id"],
                "token_type": "bearer",
                "expires_in": expiration,
                "access_token": random_token(),
                "refresh_token": random_token() if refresh and expiration > 0 else None,
                "authenticated_userid": userid,
                "scope": scope,
                "purge_at": purge_at,
            }
            self.store.add_token(token)
        out: dict[str, Any] = {"access_token": token["access_token"], "token_type": "bearer"}
        if expiration > 0:
            out["expires_in"] = expiration
        if token.get("refresh_token"):
            out["refresh_token"] = token["refresh_token"]
        if state is not None:
            out["state"] = state
        return out

    def issue_token(
        self,
        params: p.Params,
        auth_header: bytes | None,
        https: tuple[bool, str | None],
        service_id: str | None,
    ) -> Answer:
        doc, status, challenge = self._issue(params, auth_header, https, service_id)
        if "error" in doc and params.get("state") is not None:
            doc["state"] = params["state"]
        headers = list(NO_STORE)
        if challenge:
            headers.append(BASIC_CHALLENGE)
        return status, doc, headers

    def _issue(self, params, auth_header, https, service_id) -> tuple[dict, int, bool]:
        conf = self.conf
        if not https[0]:
            return p.error("access_denied", https[1] or "You must use HTTPS"), 400, False
        state = params.get("state")
        grant = params.get("grant_type")
        doc: dict[str, Any] = {}
        if grant not in ("authorization_code", "refresh_token") and not (
            (grant == "client_credentials" and conf["enable_client_credentials"])
            or (grant == "password" and conf["enable_password_grant"])
        ):
            doc = p.error("unsupported_grant_type", "Invalid grant_type")
        client_id, secret, from_header = p.client_credentials(params, auth_header)
        client = self.clients(client_id) if client_id else None
        unauthorized = False
        if grant != "client_credentials":
            uris = client.get("redirect_uris") if client is not None else None
            if uris is not None:
                if params.get("redirect_uri", uris[0] if uris else None) not in uris:
                    doc = p.error("invalid_request", REDIRECT_MISMATCH)
            else:
                doc, unauthorized = p.error(*INVALID_CLIENT), from_header
                client = None
        if client is not None:
            if client["client_type"] == "confidential":
                if not verify_client_secret(secret, client):
                    doc, unauthorized = p.error(*INVALID_CLIENT), from_header
            elif (secret or "").strip():
                doc = p.error("invalid_request", "client_secret is disallowed for public clients")
        if "error" in doc:
            return doc, 401 if unauthorized else 400, unauthorized
        if grant == "authorization_code":
            doc = self._code_grant(params, client, service_id, state)
        elif grant == "client_credentials":
            doc = self._client_grant(params, client, service_id, state)
        elif grant == "password":
            doc = self._password_grant(params, client, service_id, state)
        else:
            doc = self._refresh_grant(params, client, service_id, state)
        return doc, 400 if "error" in doc else 200, False

    def _code_grant(self, params, client, service_id, state) -> dict[str, Any]:
        invalid = p.error("invalid_request", "Invalid code")
        code = params.get("code")
        found = self.store.code(code) if code else None
        if found is None or client is None or found["credential_id"] != client["id"]:
            return invalid
        if not self.conf["global_credentials"] and found.get("service_id") != service_id:
            return invalid
        if requires_pkce(self.conf, client, bool(found.get("challenge_method"))):
            failed = p.verify_pkce(params, found.get("challenge"))
            if failed is not None:
                return failed
        if self.conf["global_credentials"] and found.get("plugin_id") not in (
            None,
            self.plugin_id,
        ):
            return invalid
        if not self.store.take_code(code):  # spent meanwhile: a replay
            return invalid
        return self.generate(
            service_id, client, found.get("authenticated_userid"), found.get("scope"), state
        )

    def _client_grant(self, params, client, service_id, state) -> dict[str, Any]:
        if params.get("authenticated_userid") and not self._provisioned(params):
            return p.error("invalid_provision_key", "Invalid provision_key")
        if client is None:
            return p.error(*INVALID_CLIENT)
        scope, failed = p.scope_of(params, self.scopes, self.conf["mandatory_scope"])
        if failed is not None:
            return failed
        userid = params.get("authenticated_userid")
        return self.generate(service_id, client, userid, scope, state, refresh=False)

    def _password_grant(self, params, client, service_id, state) -> dict[str, Any]:
        if not self._provisioned(params):
            return p.error("invalid_provision_key", "Invalid provision_key")
        userid = params.get("authenticated_userid")
        if not userid or not userid.strip():
            return p.error("invalid_authenticated_userid", "Missing authenticated_userid parameter")
        scope, failed = p.scope_of(params, self.scopes, self.conf["mandatory_scope"])
        if failed is not None:
            return failed
        return self.generate(service_id, client, userid, scope, state)

    def _refresh_grant(self, params, client, service_id, state) -> dict[str, Any]:
        invalid = p.error("invalid_request", "Invalid refresh_token")
        refresh = params.get("refresh_token")
        token = self.store.token_by_refresh(refresh) if refresh else None
        if token is None or (
            not self.conf["global_credentials"] and token.get("service_id") != service_id
        ):
            return invalid
        if client is None or token["credential_id"] != client["id"]:
            return p.error(*INVALID_CLIENT)
        for item in (token.get("scope") or "").split():
            if item not in self.scopes:
                return p.error("invalid_scope", "Scope mismatch")
        if not self.conf["reuse_refresh_token"] and not self.store.remove_token(token["id"]):
            return invalid  # spent meanwhile
        return self.generate(
            service_id,
            client,
            token.get("authenticated_userid"),
            token.get("scope"),
            state,
            existing=token,
        )

    def _provisioned(self, params: p.Params) -> bool:
        given = (params.get("provision_key") or "").encode()
        return secrets.compare_digest(given, str(self.conf["provision_key"]).encode())

    # -- the authorization endpoint ---------------------------------------------------------
    def authorize(
        self, params: p.Params, https: tuple[bool, str | None], service_id: str | None
    ) -> Answer:
        doc, redirect_uri, implicit = self._authorize(params, https, service_id)
        state = params.get("state")
        if state is not None:
            doc["state"] = state
        status = 400 if "error" in doc else 200
        if redirect_uri is not None:
            doc = {"redirect_uri": p.with_params(redirect_uri, doc, implicit)}
        return status, doc, list(NO_STORE)

    def _authorize(self, params, https, service_id) -> tuple[dict, str | None, bool]:
        conf = self.conf
        if not https[0]:
            return p.error("access_denied", https[1] or "You must use HTTPS"), None, False
        if not self._provisioned(params):
            return p.error("invalid_provision_key", "Invalid provision_key"), None, False
        userid = params.get("authenticated_userid")
        if not userid or not userid.strip():
            doc = p.error("invalid_authenticated_userid", "Missing authenticated_userid parameter")
            return doc, None, False
        doc: dict[str, Any] = {}
        response_type = params.get("response_type")
        if not (
            (response_type == "code" and conf["enable_authorization_code"])
            or (response_type == "token" and conf["enable_implicit_grant"])
        ):
            doc = p.error("unsupported_response_type", "Invalid response_type")
        scope, failed = p.scope_of(params, self.scopes, conf["mandatory_scope"])
        if failed is not None:
            doc = failed
        client_id = params.get("client_id")
        client = self.clients(client_id) if client_id else None
        uris = client.get("redirect_uris") if client is not None else None
        redirect_uri = None
        if uris is None:
            doc = p.error(*INVALID_CLIENT)
        else:
            redirect_uri = params.get("redirect_uri", uris[0] if uris else None)
            if redirect_uri not in uris:
                doc = p.error("invalid_request", REDIRECT_MISMATCH)
                redirect_uri = uris[0] if uris else None
        challenge, bad, method = p.code_challenge(params)
        if bad:
            doc = p.error("invalid_request", bad)
        elif client is not None and not challenge and requires_pkce(conf, client, False):
            kind = client["client_type"]
            doc = p.error("invalid_request", f"code_challenge is required for {kind} clients")
        if "error" in doc:
            return doc, redirect_uri, False
        if response_type == "code":
            now = self.clock()
            code = random_token()
            self.store.add_code(
                {
                    "code": code,
                    "created_at": now,
                    "service_id": None if conf["global_credentials"] else service_id,
                    "credential_id": client["id"],
                    "plugin_id": self.plugin_id,
                    "authenticated_userid": userid,
                    "scope": scope,
                    "challenge": challenge,
                    "challenge_method": method if challenge else None,
                    "purge_at": now + CODE_TTL,
                }
            )
            return {"code": code}, redirect_uri, False
        token = self.generate(service_id, client, userid, scope, None, refresh=False)
        return token, redirect_uri, True


def requires_pkce(conf: Mapping[str, Any], client: Mapping[str, Any], used: bool) -> bool:
    """Kong's rule: a code made with a challenge, a public client (unless ``pkce`` is
    ``none``), or a confidential client under ``pkce: strict``."""
    kind = client.get("client_type")
    return (
        used
        or (kind == "public" and conf.get("pkce") != "none")
        or (kind == "confidential" and conf.get("pkce") == "strict")
    )
