"""The basic-auth plugin's handler: Kong's HTTP Basic authentication
(``kong/plugins/basic-auth/access.lua``, Kong 3 behaviour; RFC 7617 credentials).

Access phase:
1. neither ``Authorization`` nor ``Proxy-Authorization`` present: 401 "Unauthorized";
2. ``Proxy-Authorization`` is read first, then ``Authorization``: the first ``Basic <base64>``
   in the header value (scheme case-insensitive on its first letter, as Kong's ``[Bb]asic``),
   decoded, split at the first ``:`` into username (non-empty) and password (may be empty).
   A proxy credential whose username is unknown falls through to ``Authorization``; an
   ``Authorization`` header that does not parse is 401;
3. ``hide_credentials``: each header read is removed from what goes upstream
   (``Proxy-Authorization`` always, ``Authorization`` when it was consulted);
4. the stored password is Kong's ``sha1(password .. consumer_id)`` in hex; the given one is
   hashed the same way and compared with ``hmac.compare_digest``. An unknown username still
   costs one hash and one comparison, so timing does not tell which usernames exist;
5. success: consumer and identity headers (``X-Credential-Identifier`` = the credential's
   username); failure with ``anonymous`` set: the anonymous consumer instead.

Every 401 carries ``WWW-Authenticate: Basic realm="<realm>"`` (realm ``service`` by default).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from typing import Any

from carbonplane.gateway.plugins.pdk.authn import (
    Anonymous,
    AuthHandler,
    Identity,
    authenticate,
    credentials_of,
)
from carbonplane.proxy.app import LocalResponse

AUTHORIZATION = b"authorization"
PROXY_AUTHORIZATION = b"proxy-authorization"

# Kong's patterns, searched anywhere in the value. Python's backtracking engine takes quadratic
# time on them when they fail (a 32 KB header of spaces: seconds), so scheme_token() and
# split_pair() compute the same groups in linear time; the unit tests compare them.
KONG_SCHEME = re.compile(rb"\s*[Bb]asic\s*(.+)")
KONG_PAIR = re.compile(rb"([^:]+):(.*)")
_BASIC = re.compile(rb"[Bb]asic(\s*)")
_NO_SUCH_USER = "0" * 40  # compared against when the username is unknown


def scheme_token(value: bytes) -> bytes | None:
    """``KONG_SCHEME.search(value).group(1)``: the rest of the line after the first ``Basic``
    and its whitespace; when only whitespace follows, its last byte that is not a newline."""
    for found in _BASIC.finditer(value):
        after = found.end()
        if after < len(value):
            end = value.find(b"\n", after)
            return value[after : end if end != -1 else len(value)]
        space = found.group(1).rstrip(b"\n")
        if space:
            last = found.start(1) + len(space) - 1
            return value[last : last + 1]
    return None


def split_pair(decoded: bytes) -> tuple[bytes, bytes] | None:
    """``KONG_PAIR.search(decoded).groups()``: text before the first ``:`` that follows a
    non-colon byte, and the rest of that line."""
    start = len(decoded) - len(decoded.lstrip(b":"))
    colon = decoded.find(b":", start)
    if start == len(decoded) or colon == -1:
        return None
    end = decoded.find(b"\n", colon + 1)
    return decoded[start:colon], decoded[colon + 1 : end if end != -1 else len(decoded)]


def password_digest(password: bytes, consumer_id: str) -> str:
    """Kong's stored form of a basic-auth password: ``sha1(password .. consumer_id)`` in hex."""
    return hashlib.sha1(password + consumer_id.encode(), usedforsecurity=False).hexdigest()


def parse_basic(value: bytes) -> tuple[str, bytes] | None:
    """(username, password) of a ``Basic`` header value, or None when it does not parse."""
    token = scheme_token(value)
    if token is None:
        return None
    token = token.strip()
    try:  # nginx's decoder accepts missing padding; a length of 4n+1 cannot be base64
        decoded = base64.b64decode(token + b"=" * (-len(token) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None
    pair = split_pair(decoded)
    if pair is None:
        return None
    try:
        username = pair[0].decode("utf-8")
    except UnicodeDecodeError:
        return None
    return username, pair[1]


def first_header(headers: Any, name: bytes) -> bytes | None:
    for n, v in headers:
        if n == name:
            return v
    return None


class Handler(AuthHandler):
    NAME = "basic-auth"
    PRIORITY = 1100
    VERSION = "1.0.0"

    def __init__(self, config: Any, plugin: Any, services: Any) -> None:
        super().__init__(config, plugin, services)
        self.index = credentials_of(services, self.NAME)
        self.anonymous = Anonymous(self.index, config.get("anonymous"), self.NAME)
        self.hide = config["hide_credentials"]
        self.preflight = True  # Kong's basic-auth has no run_on_preflight: always checks
        self.challenge = [(b"www-authenticate", f'Basic realm="{config["realm"]}"'.encode())]
        self.identities: dict[str, Identity] = {}

    def refuse(self) -> LocalResponse:
        return LocalResponse.error(401, "Unauthorized", list(self.challenge))

    def authenticate(self, ctx: Any) -> LocalResponse | None:
        headers = ctx.request.headers
        authorization = first_header(headers, AUTHORIZATION)
        proxy_authorization = first_header(headers, PROXY_AUTHORIZATION)
        if authorization is None and proxy_authorization is None:
            return self.refuse()
        users = self.index.basic_users
        credential = given = None
        if proxy_authorization is not None:
            given = parse_basic(proxy_authorization)
            if given is not None:
                credential = users.get(given[0])
        if self.hide:
            self.drop(ctx, PROXY_AUTHORIZATION)
        if credential is None:
            given = parse_basic(authorization) if authorization is not None else None
            if self.hide:
                self.drop(ctx, AUTHORIZATION)
            if given is None:
                return self.refuse()
            credential = users.get(given[0])
        return self.verify(ctx, credential, given[1])

    def verify(self, ctx: Any, credential: Any, password: bytes) -> LocalResponse | None:
        if credential is None:
            hmac.compare_digest(password_digest(password, ""), _NO_SUCH_USER)
            return self.refuse()
        stored = str(credential["password"])
        if not hmac.compare_digest(
            password_digest(password, credential["consumer"]["id"]).encode(),
            stored.encode("utf-8", "surrogateescape"),
        ):
            return self.refuse()
        consumer = self.index.owner(credential)
        if consumer is None:
            return self.refuse()
        identity = self.identities.get(credential["id"])
        if identity is None:
            identity = self.identities[credential["id"]] = Identity(
                consumer, credential, credential["username"]
            )
        authenticate(ctx, identity)
        return None

    @staticmethod
    def drop(ctx: Any, name: bytes) -> None:
        request = ctx.request
        request.headers = [h for h in request.headers if h[0] != name]
