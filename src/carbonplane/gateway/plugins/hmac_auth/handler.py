"""The hmac-auth plugin's handler: Kong's HMAC signature authentication
(``kong/plugins/hmac-auth/access.lua``, Kong 3 behaviour; wire format in ``signature.py``).

Access phase, in Kong's order (each refusal is a 401 with ``WWW-Authenticate: hmac``, or
``hmac realm="<realm>"``):
1. neither ``Authorization`` nor ``Proxy-Authorization``: "Unauthorized";
2. ``X-Date``, else ``Date``, must be an HTTP date within ``clock_skew`` seconds of the
   gateway's clock: "HMAC signature cannot be verified, a valid date or x-date header is
   required for HMAC Authentication";
3. the parameters come from ``Proxy-Authorization`` when it carries a username, else from
   ``Authorization``; ``hide_credentials`` removes the header they came from;
4. "HMAC signature cannot be verified" when the username or signature is missing, an
   ``enforce_headers`` name is not among the signed headers, the algorithm is not in
   ``algorithms``, or no credential has that username;
5. "HMAC signature does not match" when the HMAC of the signing string with the
   credential's secret differs (``hmac.compare_digest`` on the raw bytes);
6. ``validate_request_body``: the ``Digest`` header must be ``SHA-256=<base64 of the body's
   SHA-256>`` (no body and no Digest is fine); a mismatch is "HMAC signature does not match".

Bodies: the engine runs the access phase before any body byte is read, so step 6 runs in
``on_request_body``: the body is hashed as it arrives and held back until its end, so nothing
of an unverified body reaches the upstream; a mismatch then answers 401 and the connection
closes. Bodies over ``MAX_SIGNED_BODY`` are refused the same way. Only configs with
``validate_request_body`` get a handler class that has ``on_request_body`` at all. A body that
fails its Digest is refused even with ``anonymous`` set (the identity was already decided).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from typing import Any

from carbonplane.gateway.plugins.hmac_auth.params import parse_params
from carbonplane.gateway.plugins.hmac_auth.signature import (
    body_digest,
    decode_signature,
    parse_http_date,
    sign,
    signing_string,
)
from carbonplane.gateway.plugins.pdk.authn import (
    Anonymous,
    AuthHandler,
    Identity,
    authenticate,
    credentials_of,
)
from carbonplane.http import FRAMING_NONE
from carbonplane.proxy.app import LocalResponse

log = logging.getLogger("carbonplane.gateway.plugins")

AUTHORIZATION = b"authorization"
PROXY_AUTHORIZATION = b"proxy-authorization"
DIGEST = b"digest"
NO_DATE = (
    "HMAC signature cannot be verified, a valid date or x-date header is required for "
    "HMAC Authentication"
)
NOT_VALID = "HMAC signature cannot be verified"
NOT_SAME = "HMAC signature does not match"
MAX_SIGNED_BODY = 8 * 1024 * 1024
_BODY = "hmac_auth.body"  # ctx.vars: the BodyCheck of a request whose body must match Digest
_EMPTY_DIGEST = body_digest(hashlib.sha256(b"").digest())


def first_header(headers: Any, name: bytes) -> bytes | None:
    for n, v in headers:
        if n == name:
            return v
    return None


class BodyCheck:
    """Per request: the expected Digest (None: no Digest was sent), the running hash and the
    pieces held back."""

    __slots__ = ("expected", "sha", "pieces", "size")

    def __init__(self, expected: bytes | None) -> None:
        self.expected = expected
        self.sha = hashlib.sha256()
        self.pieces: list[bytes] = []
        self.size = 0


class Handler(AuthHandler):
    NAME = "hmac-auth"
    PRIORITY = 1030
    VERSION = "1.0.0"

    clock = staticmethod(time.time)

    def __new__(cls, config: Any, plugin: Any = None, services: Any = None) -> Handler:
        if cls is Handler and config["validate_request_body"]:
            cls = BodyHandler
        return super().__new__(cls)

    def __init__(self, config: Any, plugin: Any, services: Any) -> None:
        super().__init__(config, plugin, services)
        self.index = credentials_of(services, self.NAME)
        self.anonymous = Anonymous(self.index, config.get("anonymous"), self.NAME)
        self.preflight = True  # Kong's hmac-auth has no run_on_preflight: always checks
        self.hide = config["hide_credentials"]
        self.skew = config["clock_skew"]
        self.enforced = frozenset(h.encode("latin-1") for h in config["enforce_headers"])
        self.algorithms = frozenset(a.encode("ascii") for a in config["algorithms"])
        self.check_body = config["validate_request_body"]
        realm = config.get("realm")
        challenge = f'hmac realm="{realm}"'.encode() if realm else b"hmac"
        self.challenge = [(b"www-authenticate", challenge)]
        self.identities: dict[str, Identity] = {}

    def refuse(self, message: str) -> LocalResponse:
        return LocalResponse.error(401, message, list(self.challenge))

    def fresh(self, value: bytes | None) -> bool:
        stamp = parse_http_date(value) if value is not None else None
        return stamp is not None and abs(int(self.clock()) - stamp) <= self.skew

    def authenticate(self, ctx: Any) -> LocalResponse | None:
        request = ctx.request
        headers = request.headers
        authorization = first_header(headers, AUTHORIZATION)
        proxy_authorization = first_header(headers, PROXY_AUTHORIZATION)
        if authorization is None and proxy_authorization is None:
            return self.refuse("Unauthorized")
        if not (
            self.fresh(first_header(headers, b"x-date"))
            or self.fresh(first_header(headers, b"date"))
        ):
            return self.refuse(NO_DATE)
        params = parse_params(proxy_authorization)
        used = PROXY_AUTHORIZATION
        if params is None:
            params = parse_params(authorization)
            used = AUTHORIZATION
        if self.hide:
            request.headers = [h for h in request.headers if h[0] != used]
        if params is None or params.algorithm not in self.algorithms:
            return self.refuse(NOT_VALID)
        if self.enforced and not self.enforced.issubset(params.headers):
            return self.refuse(NOT_VALID)
        try:
            credential = self.index.hmac_users.get(params.username.decode("utf-8"))
        except UnicodeDecodeError:
            credential = None
        if credential is None:
            return self.refuse(NOT_VALID)
        expected = sign(
            params.algorithm.decode("ascii"),
            str(credential.get("secret") or "").encode("utf-8"),
            signing_string(
                params.headers, headers, request.method, request.target, request.version
            ),
        )
        given = decode_signature(params.signature)
        if given is None or not hmac.compare_digest(expected, given):
            return self.refuse(NOT_SAME)
        if self.check_body:
            refusal = self.expect_body(ctx)
            if refusal is not None:
                return refusal
        consumer = self.index.owner(credential)
        if consumer is None:
            return self.refuse(NOT_VALID)
        identity = self.identities.get(credential["id"])
        if identity is None:
            identity = self.identities[credential["id"]] = Identity(
                consumer, credential, credential["username"]
            )
        authenticate(ctx, identity)
        return None

    def expect_body(self, ctx: Any) -> LocalResponse | None:
        """Step 6 for a request without a body now; otherwise arm the body check."""
        digest = first_header(ctx.request.headers, DIGEST)
        if ctx.request.framing == FRAMING_NONE:
            if digest is None or hmac.compare_digest(digest, _EMPTY_DIGEST):
                return None
            return self.refuse(NOT_SAME)
        ctx.vars[_BODY] = BodyCheck(digest)
        return None


class BodyHandler(Handler):
    """A hmac-auth handler with ``validate_request_body``: checks bodies as they arrive."""

    request_body_keeps_length = True  # pieces are held back, never changed

    def on_request_body(self, ctx: Any, data: bytes, end: bool) -> bytes | LocalResponse:
        check = ctx.vars.get(_BODY)
        if check is None:  # not authenticated by this plugin (anonymous, another plugin)
            return data
        if data:
            check.size += len(data)
            if check.size > MAX_SIGNED_BODY:
                log.debug("hmac-auth: body over %d bytes refused", MAX_SIGNED_BODY)
                return self.refuse(NOT_SAME)
            check.sha.update(data)
            check.pieces.append(data)
        if not end:
            return b""
        if check.expected is None:
            ok = check.size == 0
        else:
            ok = hmac.compare_digest(body_digest(check.sha.digest()), check.expected)
        if not ok:
            return self.refuse(NOT_SAME)
        del ctx.vars[_BODY]
        return b"".join(check.pieces)
