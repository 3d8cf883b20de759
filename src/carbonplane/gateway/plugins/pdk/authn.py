"""Who a request is: consumer and credential lookups for the authentication plugins (jwt,
key-auth, basic-auth, hmac-auth) and the access-control plugin (acl), and the identity headers
upstreams receive.

Auth plugins find consumers and credentials in ``PluginServices.credentials``, the
``CredentialIndex`` of the configuration version they were built for (``credentials.py``; the
runtime builds one per version); a handler that needs it and does not get it fails at
construction with a message saying so (``credentials_of``).

Kong's identity contract (``kong/plugins/*/handler.lua`` ``set_consumer``), enforced here:
- on success the upstream request carries ``X-Consumer-ID``, ``X-Consumer-Custom-ID`` and
  ``X-Consumer-Username`` (each only when the consumer has that field),
  ``X-Credential-Identifier`` (credential id for key-auth, key for jwt, username for
  basic-auth and hmac-auth) and no
  ``X-Anonymous-Consumer``; an anonymous fallback carries the anonymous consumer's fields and
  ``X-Anonymous-Consumer: true``;
- whatever the client sent under these names - and under ``X-Consumer-Groups`` /
  ``X-Authenticated-Groups``, which only the acl plugin may set - is removed first, including
  spellings with underscores (``X_Consumer_ID``), which many upstream servers fold into the
  same name;
- ``ctx.vars["consumer"]`` / ``ctx.vars["credential"]`` hold the entities (read-only
  mappings); a credential is never set for an anonymous consumer.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Mapping
from typing import Any

from carbonplane.errors import ConfigError
from carbonplane.gateway.plugins.pdk.base import PluginHandler
from carbonplane.gateway.plugins.pdk.credentials import CredentialIndex
from carbonplane.proxy.app import LocalResponse

log = logging.getLogger("carbonplane.gateway.plugins")

CONSUMER_ID = b"x-consumer-id"
CONSUMER_CUSTOM_ID = b"x-consumer-custom-id"
CONSUMER_USERNAME = b"x-consumer-username"
CREDENTIAL_IDENTIFIER = b"x-credential-identifier"
ANONYMOUS = b"x-anonymous-consumer"
CONSUMER_GROUPS = b"x-consumer-groups"
AUTHENTICATED_GROUPS = b"x-authenticated-groups"

IDENTITY_NAMES = (
    CONSUMER_ID,
    CONSUMER_CUSTOM_ID,
    CONSUMER_USERNAME,
    CREDENTIAL_IDENTIFIER,
    ANONYMOUS,
)


def spellings(names: tuple[bytes, ...]) -> frozenset[bytes]:
    """Every spelling of ``names`` with any mix of ``-`` and ``_`` (lowercase)."""
    out: set[bytes] = set()
    for name in names:
        parts = name.split(b"-")
        for seps in itertools.product((b"-", b"_"), repeat=len(parts) - 1):
            out.add(parts[0] + b"".join(s + p for s, p in zip(seps, parts[1:])))
    return frozenset(out)


SPOOFABLE_GROUPS = spellings((CONSUMER_GROUPS, AUTHENTICATED_GROUPS))
SPOOFABLE_IDENTITY = spellings(IDENTITY_NAMES) | SPOOFABLE_GROUPS


def credentials_of(services: Any, plugin: str) -> CredentialIndex:
    """The consumers and credentials a handler authenticates against (``services.credentials``,
    set by the runtime for each config version), or a ConfigError saying how to provide them."""
    credentials = getattr(services, "credentials", None)
    if credentials is None:
        raise ConfigError(
            f"the {plugin} plugin needs the consumers and credentials of the gateway config; "
            "build its handler with PluginServices(credentials=CredentialIndex(config)) "
            "(carbonplane.gateway.plugins.pdk.credentials)",
            where=plugin,
        )
    return credentials


def check_realm(value: str) -> str | None:
    """Schema check of a ``realm``: it is quoted inside ``WWW-Authenticate``."""
    if not value.isprintable() or '"' in value or "\\" in value or not value.isascii():
        return "must be printable ASCII without '\"' or '\\' (it is quoted in WWW-Authenticate)"
    return None


class Identity:
    """A resolved identity: the entities and the upstream header lines they produce."""

    __slots__ = ("consumer", "credential", "headers")

    def __init__(
        self,
        consumer: Mapping[str, Any] | None,
        credential: Mapping[str, Any] | None,
        credential_identifier: str | None,
    ) -> None:
        self.consumer = consumer
        self.credential = credential
        self.headers = identity_headers(consumer, credential_identifier, credential is None)


def identity_headers(
    consumer: Mapping[str, Any] | None, credential_identifier: str | None, anonymous: bool
) -> tuple[tuple[bytes, bytes], ...]:
    out = []
    if consumer is not None:
        for name, field in (
            (CONSUMER_ID, "id"),
            (CONSUMER_CUSTOM_ID, "custom_id"),
            (CONSUMER_USERNAME, "username"),
        ):
            value = consumer.get(field)
            if value:
                out.append((name, header_value(value)))
    if credential_identifier and not anonymous:
        out.append((CREDENTIAL_IDENTIFIER, header_value(credential_identifier)))
    if anonymous:
        out.append((ANONYMOUS, b"true"))
    return tuple(out)


def header_value(text: str) -> bytes:
    """``text`` as a header value; control characters (CR, LF, NUL ...) become spaces."""
    raw = str(text).encode("utf-8")
    if any(b < 0x20 and b != 0x09 or b == 0x7F for b in raw):
        raw = bytes(0x20 if (b < 0x20 and b != 0x09) or b == 0x7F else b for b in raw)
    return raw.strip()


def authenticate(ctx: Any, identity: Identity) -> None:
    """Record ``identity`` on the request and rewrite its identity headers (see module doc)."""
    variables = ctx.vars
    variables["consumer"] = identity.consumer
    if identity.credential is not None:
        variables["credential"] = identity.credential
    else:
        variables.pop("credential", None)
    request = ctx.request
    spoof = SPOOFABLE_IDENTITY
    kept = [h for h in request.headers if h[0] not in spoof]
    kept.extend(identity.headers)
    request.headers = kept


def replace_header(ctx: Any, names: frozenset[bytes], line: tuple[bytes, bytes] | None) -> None:
    """Drop every request header in ``names`` and add ``line`` (if any)."""
    request = ctx.request
    kept = [h for h in request.headers if h[0] not in names]
    if line is not None:
        kept.append(line)
    request.headers = kept


class Anonymous:
    """An auth plugin's ``anonymous`` fallback, resolved once per config version.

    Kong loads the consumer by id or username when authentication fails; a name that matches
    no consumer is a server error (500) at request time, and is logged once at construction.
    """

    __slots__ = ("ref", "identity")

    def __init__(self, index: CredentialIndex, ref: str | None, plugin: str) -> None:
        self.ref = ref
        consumer = index.consumer(ref)
        self.identity = Identity(consumer, None, None) if consumer is not None else None
        if ref and consumer is None:
            log.error(
                "%s plugin: anonymous consumer %r not found (no consumer has that id or "
                "username); failed authentications will answer 500",
                plugin,
                ref,
            )

    def apply(self, ctx: Any) -> LocalResponse | None:
        if self.identity is None:
            return LocalResponse.error(500, "An unexpected error occurred")
        authenticate(ctx, self.identity)
        return None


class AuthHandler(PluginHandler):
    """The access phase Kong's authentication plugins share: skip preflights unless
    ``run_on_preflight``; with ``anonymous`` set, step aside when another auth plugin already
    authenticated (logical OR) and fall back to the anonymous consumer instead of refusing.
    Subclasses set ``self.preflight`` and ``self.anonymous`` and implement ``authenticate``."""

    preflight: bool
    anonymous: Anonymous

    def on_request(self, ctx: Any) -> LocalResponse | None:
        if not self.preflight and ctx.request.method == b"OPTIONS":
            return None
        anonymous = self.anonymous.ref
        if anonymous and ctx.vars.get("credential") is not None:
            return None  # another auth plugin already authenticated: logical OR
        refusal = self.authenticate(ctx)
        if refusal is None:
            return None
        return self.anonymous.apply(ctx) if anonymous else refusal

    def authenticate(self, ctx: Any) -> LocalResponse | None:
        """None when ``ctx`` carries valid credentials (identity applied), else the refusal."""
        raise NotImplementedError
