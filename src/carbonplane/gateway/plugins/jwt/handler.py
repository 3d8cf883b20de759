"""The jwt plugin's handler: Kong's JWT authentication (``kong/plugins/jwt/handler.lua``).

Access phase, in Kong's order; every failure is a 401 with Kong's message and a
``WWW-Authenticate: Bearer`` challenge (``error="invalid_token"`` once a token was found):
1. find the token: query parameters (``uri_param_names``), then cookies (``cookie_names``),
   then ``Bearer <token>`` in ``header_names`` - none: "Unauthorized"; a parameter given twice:
   "Multiple tokens provided"; a parameter without a value: "Unrecognizable token";
2. parse it ("Bad token; invalid JSON|invalid alg|invalid claims|invalid signature");
3. read the credential key from the ``key_claim_name`` claim (else the header field): absent:
   "No mandatory 'iss' in claims"; empty or not a string: "Invalid 'iss' in claims"; no such
   credential: "No credentials found for given 'iss'";
4. the token's ``alg`` must equal the credential's ``algorithm`` ("Invalid algorithm"), so the
   token never chooses how it is verified; a key that cannot serve that algorithm: "Invalid
   key/secret"; then the signature ("Invalid signature");
5. ``claims_to_verify``: ``exp`` must be a number > now ("token expired"), ``nbf`` a number
   <= now ("token not valid yet"); the body is Kong's ``{"exp": "token expired"}``;
   ``maximum_expiration``: ``{"exp": "exceeds maximum allowed expiration"}``;
6. success: consumer, credential and identity headers (``authn.authenticate``); failure with
   ``anonymous`` set: the anonymous consumer instead of the 401.

Cost: a token whose signature was verified is remembered (bounded, per config version, keyed
by the whole token) so a client re-sending it skips steps 2-4; the time-dependent checks of
step 5 run on every request. Failed tokens are never remembered. A remembered token sent as
``Authorization: Bearer`` with no claim or only ``exp`` to check is answered by
``remembered.RememberedTokens`` (built once per config); everything else takes the steps above.
"""

from __future__ import annotations

import binascii
import re
import time
from typing import Any

import msgspec

from carbonplane.gateway.plugins.jwt.remembered import RememberedTokens, plain_bearer
from carbonplane.gateway.plugins.jwt.tokens import Verifier, make_verifier, parse_token
from carbonplane.gateway.plugins.pdk.authn import (
    Anonymous,
    AuthHandler,
    Identity,
    authenticate,
    credentials_of,
)
from carbonplane.gateway.plugins.pdk.reqparts import cookie_values, parse_query
from carbonplane.proxy.app import LocalResponse

_BEARER = re.compile(rb"\s*[Bb]earer\s+(.+)")
_JSON_TYPE = (b"content-type", b"application/json; charset=utf-8")
VERIFIED_KEPT = 4096
_VERIFIERS: dict[tuple[str, bytes], Verifier | str] = {}
_VERIFIERS_KEPT = 1024


class Credential:
    """One jwt_secret ready to verify: its identity and verifier (or why it has none)."""

    __slots__ = ("algorithm", "identity", "verify", "problem")

    def __init__(self, secret: Any, consumer: Any, secret_is_base64: bool) -> None:
        self.algorithm = secret.get("algorithm") or "HS256"
        self.identity = Identity(consumer, secret, secret["key"])
        self.verify: Verifier | None = None
        self.problem: str | None = None
        hmac_family = self.algorithm.startswith("HS")
        material = secret.get("secret") if hmac_family else secret.get("rsa_public_key")
        key = material.encode("utf-8") if material else None
        if key is not None and secret_is_base64:
            key = _b64_any(key)
        if not key:
            self.problem = "no usable key material"
            return
        verifier = _verifier(self.algorithm, key)
        if isinstance(verifier, str):
            self.problem = verifier
        else:
            self.verify = verifier


def _verifier(algorithm: str, key: bytes) -> Verifier | str:
    """Parsed keys are shared across config versions (a reload does not re-parse PEM)."""
    found = _VERIFIERS.get((algorithm, key))
    if found is None:
        found = _VERIFIERS[(algorithm, key)] = make_verifier(algorithm, key)
        if len(_VERIFIERS) > _VERIFIERS_KEPT:
            del _VERIFIERS[next(iter(_VERIFIERS))]
    return found


def _b64_any(data: bytes) -> bytes | None:
    """Kong's lenient base64 of secrets: either alphabet, padding optional."""
    data = data.strip().replace(b"-", b"+").replace(b"_", b"/").rstrip(b"=")
    try:
        return binascii.a2b_base64(data + b"=" * (-len(data) % 4), strict_mode=True)
    except binascii.Error:
        return None


class Handler(AuthHandler):
    NAME = "jwt"
    PRIORITY = 1450
    VERSION = "1.0.0"

    def __init__(self, config: Any, plugin: Any, services: Any) -> None:
        super().__init__(config, plugin, services)
        self.index = credentials_of(services, self.NAME)
        self.anonymous = Anonymous(self.index, config.get("anonymous"), self.NAME)
        self.params = tuple(config["uri_param_names"])
        # a query holding none of these bytes (and nothing percent- or plus-encoded) cannot
        # carry a token parameter: it is not parsed
        self.param_probes = tuple(n.encode("latin-1") for n in self.params if _latin1(n))
        self.cookies = tuple(config["cookie_names"])
        self.headers = tuple(n.lower().encode("latin-1") for n in config["header_names"])
        self.claim = config["key_claim_name"]
        self.check_exp = "exp" in config["claims_to_verify"]
        self.check_nbf = "nbf" in config["claims_to_verify"]
        self.max_exp = config["maximum_expiration"]
        self.preflight = config["run_on_preflight"]
        self.base64 = config["secret_is_base64"]
        realm = config.get("realm")
        self.challenge = f'Bearer realm="{realm}"'.encode() if realm else b"Bearer"
        self.invalid = (
            f'Bearer realm="{realm}", error="invalid_token"'.encode()
            if realm
            else b'Bearer error="invalid_token"'
        )
        self.credentials: dict[str, Credential] = {}
        self.verified: dict[bytes, tuple[Credential, dict]] = {}
        self.remembered = RememberedTokens.for_handler(self)

    # -- access -------------------------------------------------------------------------
    def on_request(self, ctx: Any) -> LocalResponse | None:
        """A remembered token in the common form is answered at once; else AuthHandler's steps
        (preflight, anonymous, ``authenticate``)."""
        remembered = self.remembered
        if remembered is not None and remembered.answer(ctx):
            return None
        return AuthHandler.on_request(self, ctx)

    def authenticate(self, ctx: Any) -> LocalResponse | None:
        token = self.find_token(ctx)
        if type(token) is not bytes:
            return token
        hit = self.verified.get(token)
        if hit is None:
            hit = self.verify(token)
            if type(hit) is not tuple:
                return hit
        credential, claims = hit
        refusal = self.check_claims(claims)
        if refusal is not None:
            return refusal
        authenticate(ctx, credential.identity)
        ctx.vars["authenticated_jwt_token"] = token.decode("latin-1")
        return None

    def find_token(self, ctx: Any) -> bytes | LocalResponse:
        request = ctx.request
        query = request.query
        if self.params and query and self._may_hold_param(query):
            params = parse_query(query)
            for name in self.params:
                values = [v for n, v in params if n == name]
                if len(values) > 1:
                    return self.refuse("Multiple tokens provided")
                if values:
                    if values[0] is None:
                        return self.refuse("Unrecognizable token")
                    return values[0].encode("utf-8", "surrogateescape")
        for name in self.cookies:
            values = cookie_values(request.headers, name)
            if values and values[0]:
                return values[0].encode("latin-1")
        for name in self.headers:
            for n, value in request.headers:
                if n == name:
                    token = plain_bearer(value)  # the common case, without the regex
                    if token is not None:
                        return token
                    found = _BEARER.search(value)
                    if found is not None:
                        return found.group(1)
                    break  # Kong reads the first header of that name only
        return self.refuse("Unauthorized", self.challenge)

    def _may_hold_param(self, query: bytes) -> bool:
        if b"%" in query or b"+" in query:
            return True
        for probe in self.param_probes:
            if probe in query:
                return True
        return False

    def verify(self, token: bytes) -> tuple[Credential, dict] | LocalResponse:
        parsed = parse_token(token)
        if type(parsed) is str:
            return self.refuse(f"Bad token; {parsed}")
        key = parsed.claims.get(self.claim)
        if key is None:
            key = parsed.header.get(self.claim)
        if key is None:
            return self.refuse(f"No mandatory '{self.claim}' in claims")
        if type(key) is not str or not key:
            return self.refuse(f"Invalid '{self.claim}' in claims")
        credential = self.credential(key)
        if credential is None:
            return self.refuse(f"No credentials found for given '{self.claim}'")
        if parsed.alg != credential.algorithm:
            return self.refuse("Invalid algorithm")
        if credential.verify is None:
            return self.refuse("Invalid key/secret")
        if not credential.verify(parsed.signing_input, parsed.signature):
            return self.refuse("Invalid signature")
        hit = (credential, parsed.claims)
        verified = self.verified
        if len(verified) >= VERIFIED_KEPT:
            del verified[next(iter(verified))]
        verified[token] = hit
        return hit

    def credential(self, key: str) -> Credential | None:
        """The prepared credential for ``key``; only existing ones are memoised (a stream of
        unknown keys cannot grow this handler's memory)."""
        found = self.credentials.get(key)
        if found is None:
            secret = self.index.jwt_secrets.get(key)
            consumer = self.index.owner(secret) if secret is not None else None
            if consumer is None:
                return None
            found = self.credentials[key] = Credential(secret, consumer, self.base64)
        return found

    def check_claims(self, claims: dict) -> LocalResponse | None:
        if not (self.check_exp or self.check_nbf or self.max_exp):
            return None
        now = time.time()
        exp = claims.get("exp")
        if (
            self.check_exp
            and not self.check_nbf
            and not self.max_exp
            and _is_number(exp)
            and exp > now
        ):
            return None  # the common configuration (exp only), valid: no error map to build
        errors: dict[str, str] = {}
        if self.check_nbf:
            nbf = claims.get("nbf")
            if not _is_number(nbf):
                errors["nbf"] = "must be a number"
            elif nbf > now:
                errors["nbf"] = "token not valid yet"
        if self.check_exp:
            if not _is_number(exp):
                errors["exp"] = "must be a number"
            elif exp <= now:
                errors["exp"] = "token expired"
        if not errors and self.max_exp and (not _is_number(exp) or exp - now > self.max_exp):
            errors["exp"] = "exceeds maximum allowed expiration"
        if not errors:
            return None
        body = msgspec.json.encode(dict(sorted(errors.items())))
        return LocalResponse(401, body, [_JSON_TYPE, (b"www-authenticate", self.invalid)])

    def refuse(self, message: str, challenge: bytes | None = None) -> LocalResponse:
        return LocalResponse.error(401, message, [(b"www-authenticate", challenge or self.invalid)])


def _latin1(name: str) -> bool:
    try:
        name.encode("latin-1")
    except UnicodeEncodeError:
        return False  # only a percent-encoded query can hold it
    return True


def _is_number(value: Any) -> bool:
    return (type(value) is int or type(value) is float) and value == value
