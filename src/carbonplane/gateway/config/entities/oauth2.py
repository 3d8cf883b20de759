"""The ``oauth2_credentials`` entity: an OAuth 2.0 client application of a consumer (Kong's
oauth2 plugin ``daos.lua``), and how its secret is stored.

- ``client_id`` unique (usable instead of the id in Admin API paths, ``/oauth2/{client_id}``)
  and ``client_secret`` generated (32 hex characters) when absent;
- ``redirect_uris``: each must parse with a scheme and a host and carry no fragment;
- ``client_type`` ``confidential`` (default: must present its secret) or ``public`` (must not,
  and must use PKCE unless the plugin's ``pkce`` is ``none``);
- ``hash_secret: true`` stores the secret as Kong does: a PHC string
  ``$pbkdf2-sha512$i=10000,l=32$<salt>$<hash>`` (``hash_client_secret``); a value that already
  is such a string is kept (a file exported from a gateway stays loadable).

Invariant: ``verify_client_secret`` compares in constant time whatever the stored form.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from typing import Any
from urllib.parse import urlsplit

from carbonplane.gateway.config import typedefs as t
from carbonplane.gateway.config.schema import record

PBKDF2_PREFIX = "$pbkdf2-sha512$"
PBKDF2_ITERATIONS = 10000
PBKDF2_LENGTH = 32
PBKDF2_SALT = 16


def check_redirect_uri(uri: str) -> str | None:
    try:
        parts = urlsplit(uri)
    except ValueError:
        return f"cannot parse '{uri}'"
    if not parts.scheme or not parts.hostname:
        return f"cannot parse '{uri}'"
    if parts.fragment or "#" in uri:
        return f"fragment not allowed in '{uri}'"
    return None


OAUTH2_CREDENTIAL = record(
    ("id", t.uuid()),
    ("created_at", t.timestamp_s("Unix epoch seconds when the application was created.")),
    ("consumer", t.foreign("consumers", "The consumer owning this application.", required=True)),
    ("name", t.string("Name of the client application.", required=True)),
    (
        "client_id",
        t.string("The OAuth 2.0 client id; generated when absent.", unique=True, auto=True),
    ),
    ("client_secret", t.string("The client secret; generated when absent.", auto=True)),
    (
        "hash_secret",
        t.boolean("Store the client secret hashed (PBKDF2-SHA512).", default=False, required=True),
    ),
    (
        "redirect_uris",
        t.array(
            t.string(check=check_redirect_uri),
            "Where the authorization endpoint may send the user back (the first is the default).",
        ),
    ),
    ("tags", t.tags()),
    (
        "client_type",
        t.string(
            "confidential clients authenticate with their secret; public ones cannot.",
            default="confidential",
            required=True,
            one_of=("confidential", "public"),
        ),
    ),
)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4))


def hash_client_secret(secret: str, salt: bytes | None = None) -> str:
    """Kong's PBKDF2 PHC string of ``secret``."""
    salt = salt if salt is not None else os.urandom(PBKDF2_SALT)
    digest = hashlib.pbkdf2_hmac("sha512", secret.encode(), salt, PBKDF2_ITERATIONS, PBKDF2_LENGTH)
    return f"{PBKDF2_PREFIX}i={PBKDF2_ITERATIONS},l={PBKDF2_LENGTH}${_b64(salt)}${_b64(digest)}"


def is_hashed(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(PBKDF2_PREFIX)


def store_secret(entity: dict[str, Any]) -> dict[str, Any]:
    """``entity`` with its secret hashed when ``hash_secret`` asks and it is not yet."""
    secret = entity.get("client_secret")
    if entity.get("hash_secret") and isinstance(secret, str) and not is_hashed(secret):
        entity["client_secret"] = hash_client_secret(secret)
    return entity


def verify_client_secret(given: str | None, credential: Any) -> bool:
    """Whether ``given`` is the credential's secret (constant time for equal lengths)."""
    stored = credential.get("client_secret") or ""
    given_bytes = (given or "").encode("utf-8", "surrogateescape")
    if credential.get("hash_secret") and is_hashed(stored):
        try:
            params, salt, digest = stored[len(PBKDF2_PREFIX) :].split("$")
            fields = dict(p.split("=", 1) for p in params.split(","))
            rounds, length = int(fields["i"]), int(fields["l"])
            expected = _unb64(digest)
            got = hashlib.pbkdf2_hmac("sha512", given_bytes, _unb64(salt), rounds, length)
        except (ValueError, KeyError):
            return False
        return hmac.compare_digest(got, expected) and given is not None
    # compare digests: equal-length inputs, so timing says nothing about the stored secret
    a = hashlib.sha256(given_bytes).digest()
    b = hashlib.sha256(stored.encode("utf-8", "surrogateescape")).digest()
    return hmac.compare_digest(a, b) and given is not None
