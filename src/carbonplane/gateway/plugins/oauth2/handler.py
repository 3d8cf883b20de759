"""The oauth2 plugin's handler (Kong's ``oauth2`` plugin, PRIORITY 1400): serves the OAuth 2.0
endpoints on the routes it is attached to and authenticates every other request by its access
token.

Access phase, by the request path (one trailing ``/`` allowed):

- ``.../oauth2/token``: POST only (else 405 ``invalid_method``); the parameters are the query
  merged with the body, so the answer is made from the whole body (``proxy.bodyread.ReadBody``:
  no upstream is contacted and later plugins do not run); ``grants.Grants.issue_token``;
- ``.../oauth2/authorize``: POST only, ``grants.Grants.authorize``;
- anything else: the access token from the ``auth_header_name`` header (``Bearer <t>`` or
  ``Token <t>``; another value is taken whole, as Kong) or the ``access_token`` query parameter;
  missing: 401 ``invalid_request``; unknown, expired, for another service, or global on a
  plugin without ``global_credentials``: 401 ``invalid_token``, each with Kong's
  ``WWW-Authenticate: Bearer ...``. Success: Kong's identity headers, ``X-Credential-Identifier``
  = the client_id, ``X-Authenticated-Scope`` and ``X-Authenticated-Userid`` (client-sent
  copies of both removed first); ``hide_credentials`` removes the header or the query parameter.
  With ``anonymous``: logical OR with other auth plugins, as ``authn.AuthHandler``.

Tokens are read from the store on every request (no cache), so a revocation through the Admin
API holds at once on every worker and gateway sharing the store. A store failure is a 500.
"""

from __future__ import annotations

import json
from typing import Any

from carbonplane.errors import TokenStoreError
from carbonplane.gateway.plugins.oauth2 import params as p
from carbonplane.gateway.plugins.oauth2.grants import Grants
from carbonplane.gateway.plugins.oauth2.stores import store_for
from carbonplane.gateway.plugins.pdk.authn import (
    Anonymous,
    AuthHandler,
    Identity,
    authenticate,
    credentials_of,
    header_value,
    log,
    replace_header,
    spellings,
)
from carbonplane.gateway.plugins.pdk.reqparts import parse_query, without_params
from carbonplane.proxy.app import LocalResponse
from carbonplane.proxy.bodyread import ReadBody

SCOPE = b"x-authenticated-scope"
USERID = b"x-authenticated-userid"
SCOPE_NAMES = spellings((SCOPE,))
USERID_NAMES = spellings((USERID,))
INVALID_TOKEN = "The access token is invalid or has expired"
JSON_CT = (b"content-type", b"application/json; charset=utf-8")


def json_answer(status: int, doc: dict[str, Any], headers: list | None = None) -> LocalResponse:
    body = json.dumps(doc, separators=(",", ":")).encode()
    return LocalResponse(status, body, [JSON_CT, *(headers or ())])


class Handler(AuthHandler):
    NAME = "oauth2"
    PRIORITY = 1400
    VERSION = "1.0.0"

    def __init__(self, config: Any, plugin: Any, services: Any) -> None:
        super().__init__(config, plugin, services)
        self.index = credentials_of(services, self.NAME)
        self.by_client_id = self.index.oauth2_clients
        self.by_id = {c["id"]: c for c in self.by_client_id.values()}
        self.anonymous = Anonymous(self.index, config.get("anonymous"), self.NAME)
        self.preflight = True  # Kong's oauth2 has no run_on_preflight
        self.store = store_for(config)
        self.lookup_async = getattr(self.store, "token_by_access_async", None)
        self.grants = Grants(config, plugin.get("id") or "", self.by_client_id.get, self.store)
        self.header = config["auth_header_name"].lower().encode("latin-1")
        self.hide = config["hide_credentials"]
        self.global_credentials = config["global_credentials"]
        self.realm = config.get("realm")
        self.identities: dict[str, Identity] = {}

    # -- dispatch -------------------------------------------------------------------------
    def on_request(self, ctx: Any) -> Any:
        path = ctx.request.path
        if path.endswith(b"/"):
            path = path[:-1]
        if path.endswith(b"/oauth2/token"):
            return self.endpoint(ctx, "token", self.token_answer)
        if path.endswith(b"/oauth2/authorize"):
            return self.endpoint(ctx, "authorization", self.authorize_answer)
        try:
            return self.access(ctx)
        except TokenStoreError as exc:
            return self.store_failed(exc)

    def access(self, ctx: Any) -> Any:
        """``AuthHandler``'s logical AND / OR, clearing the scope and user id headers whenever
        the request goes on without this plugin's token (Kong's ``set_consumer``). With a Redis
        store the lookup is awaited (the worker serves other requests meanwhile)."""
        if self.anonymous.ref and ctx.vars.get("credential") is not None:
            self.clear_token_headers(ctx)
            return None
        access = self.find_token(ctx)
        if not access:
            doc = p.error("invalid_request", "The access token is missing")
            return self.conclude(ctx, json_answer(401, doc, [self.challenge()]))
        if self.lookup_async is not None:
            return self.access_async(ctx, access)
        return self.conclude(ctx, self.admit(ctx, self.store.token_by_access(access)))

    async def access_async(self, ctx: Any, access: str) -> LocalResponse | None:
        try:
            token = await self.lookup_async(access)
        except TokenStoreError as exc:
            return self.store_failed(exc)
        return self.conclude(ctx, self.admit(ctx, token))

    def conclude(self, ctx: Any, refusal: LocalResponse | None) -> LocalResponse | None:
        if refusal is None or not self.anonymous.ref:
            return refusal
        self.clear_token_headers(ctx)
        return self.anonymous.apply(ctx)

    def endpoint(self, ctx: Any, name: str, answer: Any) -> Any:
        method = ctx.request.method
        if method != b"POST":
            text = f"The HTTP method {method.decode('latin-1')} is invalid for the {name} endpoint"
            challenge = self.challenge("invalid_method", text)
            return json_answer(405, p.error("invalid_method", text), [challenge])
        return ReadBody(answer)

    def request_params(self, ctx: Any, body: bytes) -> p.Params:
        request = ctx.request
        query = p.parse_form(request.query[1:] if request.query[:1] == b"?" else request.query)
        content_type = p.header(request.headers, b"content-type")
        return {**query, **p.body_params(body, content_type)}

    def https(self, ctx: Any) -> tuple[bool, str | None]:
        client = ctx.client
        return p.is_https(
            client.scheme,
            client.trusted,
            ctx.request.headers,
            self.config["accept_http_if_already_terminated"],
        )

    def service_id(self, ctx: Any) -> str | None:
        service = ctx.vars.get("service")
        return service.get("id") if service else None

    def token_answer(self, ctx: Any, body: bytes) -> LocalResponse:
        params = self.request_params(ctx, body)
        auth = p.header(ctx.request.headers, self.header)
        try:
            status, doc, headers = self.grants.issue_token(
                params, auth, self.https(ctx), self.service_id(ctx)
            )
        except TokenStoreError as exc:
            return self.store_failed(exc)
        return json_answer(status, doc, headers)

    def authorize_answer(self, ctx: Any, body: bytes) -> LocalResponse:
        params = self.request_params(ctx, body)
        try:
            status, doc, headers = self.grants.authorize(
                params, self.https(ctx), self.service_id(ctx)
            )
        except TokenStoreError as exc:
            return self.store_failed(exc)
        return json_answer(status, doc, headers)

    @staticmethod
    def store_failed(exc: TokenStoreError) -> LocalResponse:
        log.error("oauth2 plugin: %s", exc)
        return LocalResponse.error(500, "An unexpected error occurred")

    # -- authentication -------------------------------------------------------------------
    def challenge(self, code: str | None = None, text: str | None = None) -> tuple[bytes, bytes]:
        parts = []
        if self.realm:
            parts.append(f'realm="{self.realm}"')
        if code:
            parts.append(f'error="{code}"')
        if text:
            parts.append(f'error_description="{text}"')
        value = "Bearer " + ", ".join(parts) if parts else "Bearer"
        return (b"www-authenticate", value.encode())

    def invalid(self, text: str = INVALID_TOKEN) -> LocalResponse:
        challenge = self.challenge("invalid_token", INVALID_TOKEN)
        return json_answer(401, p.error("invalid_token", text), [challenge])

    def find_token(self, ctx: Any) -> str | None:
        request = ctx.request
        raw = p.header(request.headers, self.header)
        if raw is not None:
            value = raw.decode("latin-1")
            parts = value.split()
            in_header = len(parts) == 2 and parts[0].lower() in ("bearer", "token")
            token = parts[1] if in_header else value
            if self.hide and in_header:
                request.headers = [h for h in request.headers if h[0] != self.header]
            return token
        if not request.query:
            return None
        values = [v for n, v in parse_query(request.query) if n == "access_token"]
        if len(values) != 1 or not isinstance(values[0], str):
            return None  # Kong reads a repeated parameter as a table: no token
        if self.hide:
            ctx.upstream_target = without_params(ctx.upstream_target, frozenset(("access_token",)))
        return values[0]

    def admit(self, ctx: Any, token: dict[str, Any] | None) -> LocalResponse | None:
        """None when ``token`` (the stored row, or None) lets the request in (identity
        applied), else the refusal."""
        if token is None:
            return self.invalid()
        service_id = token.get("service_id")
        if not self.global_credentials:
            if service_id is None:
                return self.invalid(
                    "The access token is global, but the current plugin is configured "
                    "without 'global_credentials'"
                )
            if service_id != self.service_id(ctx):
                return self.invalid()
        elif service_id is not None and service_id != self.service_id(ctx):
            return self.invalid()
        expires_in = token.get("expires_in") or 0
        if expires_in > 0 and self.grants.clock() - token["created_at"] > expires_in:
            return self.invalid()
        credential = self.by_id.get(token["credential_id"])
        consumer = self.index.owner(credential) if credential is not None else None
        if consumer is None:
            return self.invalid()  # the application or its consumer was deleted
        identity = self.identities.get(credential["id"])
        if identity is None:
            identity = Identity(consumer, credential, credential["client_id"])
            self.identities[credential["id"]] = identity
        authenticate(ctx, identity)
        scope, userid = token.get("scope"), token.get("authenticated_userid")
        replace_header(ctx, SCOPE_NAMES, (SCOPE, header_value(scope)) if scope else None)
        replace_header(ctx, USERID_NAMES, (USERID, header_value(userid)) if userid else None)
        return None

    @staticmethod
    def clear_token_headers(ctx: Any) -> None:
        replace_header(ctx, SCOPE_NAMES, None)
        replace_header(ctx, USERID_NAMES, None)
