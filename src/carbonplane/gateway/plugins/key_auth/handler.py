"""The key-auth plugin's handler: Kong's API-key authentication
(``kong/plugins/key-auth/handler.lua``, Kong 3 wording).

Access phase:
1. for each name in ``key_names``, in order: the request header of that name (when
   ``key_in_header``), else the query parameter (when ``key_in_query``); the first name found
   decides. The same name given twice (two headers, or two parameters) is
   401 "Duplicate API key found"; nothing found, or an empty key, is 401 "No API key found in
   request";
2. ``hide_credentials``: the header and the query parameter of that name are removed from what
   is sent upstream (other parameters keep their bytes and order);
3. the key is looked up through its SHA-256 digest (``credentials.hash_key``), so neither a string
   comparison nor the hash table probes depend on the stored keys' bytes; unknown: 401
   "Unauthorized";
4. success: consumer, credential and identity headers (``X-Credential-Identifier`` = the
   credential id); failure with ``anonymous`` set: the anonymous consumer instead.

Every 401 carries ``WWW-Authenticate: Key`` (``Key realm="<realm>"`` when configured).
"""

from __future__ import annotations

from typing import Any

from carbonplane.gateway.plugins.pdk.authn import (
    Anonymous,
    AuthHandler,
    Identity,
    authenticate,
    credentials_of,
)
from carbonplane.gateway.plugins.pdk.credentials import hash_key
from carbonplane.gateway.plugins.pdk.reqparts import parse_query, without_params
from carbonplane.proxy.app import LocalResponse


class Handler(AuthHandler):
    NAME = "key-auth"
    PRIORITY = 1250
    VERSION = "1.0.0"

    def __init__(self, config: Any, plugin: Any, services: Any) -> None:
        super().__init__(config, plugin, services)
        self.index = credentials_of(services, self.NAME)
        self.anonymous = Anonymous(self.index, config.get("anonymous"), self.NAME)
        self.names = tuple((n, n.lower().encode("latin-1")) for n in config["key_names"])
        self.in_header = config["key_in_header"]
        self.in_query = config["key_in_query"]
        self.hide = config["hide_credentials"]
        self.preflight = config["run_on_preflight"]
        realm = config.get("realm")
        self.challenge = [
            (b"www-authenticate", f'Key realm="{realm}"'.encode() if realm else b"Key")
        ]
        self.identities: dict[str, Identity] = {}

    def authenticate(self, ctx: Any) -> LocalResponse | None:
        found = self.find_key(ctx.request)
        if type(found) is not tuple:
            return found
        key, name, raw_name = found
        if self.hide:
            self.hide_key(ctx, name, raw_name)
        credential = self.index.api_keys.get(hash_key(key))
        consumer = self.index.owner(credential) if credential is not None else None
        if consumer is None:
            return LocalResponse.error(401, "Unauthorized", list(self.challenge))
        identity = self.identities.get(credential["id"])
        if identity is None:
            identity = self.identities[credential["id"]] = Identity(
                consumer, credential, credential["id"]
            )
        authenticate(ctx, identity)
        return None

    def find_key(self, request: Any) -> tuple[str | bytes, str, bytes] | LocalResponse:
        params = None
        for name, raw_name in self.names:
            values: list = []
            if self.in_header:
                values = [v for n, v in request.headers if n == raw_name]
            if not values and self.in_query and request.query:
                if params is None:
                    params = parse_query(request.query)
                values = [v for n, v in params if n == name]
            if len(values) > 1:
                return LocalResponse.error(401, "Duplicate API key found", list(self.challenge))
            if values:
                key = values[0]
                if not key:  # an empty header, or "?apikey" / "?apikey="
                    break
                return key, name, raw_name
        return LocalResponse.error(401, "No API key found in request", list(self.challenge))

    @staticmethod
    def hide_key(ctx: Any, name: str, raw_name: bytes) -> None:
        request = ctx.request
        request.headers = [h for h in request.headers if h[0] != raw_name]
        ctx.upstream_target = without_params(ctx.upstream_target, frozenset((name,)))
