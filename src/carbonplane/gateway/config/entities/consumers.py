"""The ``consumers`` entity and the credentials that identify them (Kong's ``consumers.lua`` and
the key-auth, jwt, acl, basic-auth and hmac-auth plugins' ``daos.lua``).

A consumer needs a ``username`` or a ``custom_id`` (both unique). Credentials belong to one
consumer and are deleted with it:
- ``keyauth_credentials``: ``key`` unique, generated (32 hex chars) when absent;
- ``jwt_secrets``: ``key`` unique and ``secret`` generated when absent, ``algorithm`` HS256 by
  default; RS*/ES*/PS*/EdDSA need a PEM ``rsa_public_key`` (checked to parse);
- ``acls``: one ``group`` per row, unique per consumer;
- ``basicauth_credentials``: ``username`` unique, ``password`` stored hashed
  (``sha1(password .. consumer_id)``, as Kong) unless ``_transform: false``;
- ``hmacauth_credentials``: ``username`` unique, ``secret`` generated when absent.
"""

from __future__ import annotations

from typing import Any

from carbonplane.gateway.config import typedefs as t
from carbonplane.gateway.config.problems import ENTITY
from carbonplane.gateway.config.schema import record

JWT_ALGORITHMS = (
    "HS256",
    "HS384",
    "HS512",
    "RS256",
    "RS384",
    "RS512",
    "ES256",
    "ES384",
    "ES512",
    "PS256",
    "PS384",
    "PS512",
    "EdDSA",
)


def _consumer_checks(c: dict[str, Any]) -> list[tuple[str, str]]:
    if not c.get("username") and not c.get("custom_id"):
        return [(ENTITY, "at least one of these fields must be non-empty: 'custom_id', 'username'")]
    return []


CONSUMER = record(
    ("id", t.uuid()),
    ("created_at", t.timestamp_s("Unix epoch seconds when the consumer was created.")),
    ("updated_at", t.timestamp_s("Unix epoch seconds of the last change.")),
    (
        "username",
        t.string("Unique user name; usable instead of the id in Admin API paths.", unique=True),
    ),
    ("custom_id", t.string("Unique id from an external user store.", unique=True)),
    ("tags", t.tags()),
    checks=[_consumer_checks],
)


def _consumer_fk() -> Any:
    return t.foreign("consumers", "The consumer this credential identifies.", required=True)


KEYAUTH_CREDENTIAL = record(
    ("id", t.uuid()),
    ("created_at", t.timestamp_s("Unix epoch seconds when the key was created.")),
    ("consumer", _consumer_fk()),
    ("key", t.string("The API key; generated when absent.", unique=True, auto=True)),
    ("tags", t.tags()),
)


def _jwt_checks(j: dict[str, Any]) -> list[tuple[str, str]]:
    if j["algorithm"][:2] in ("RS", "ES", "PS") or j["algorithm"] == "EdDSA":
        if not j.get("rsa_public_key"):
            return [("rsa_public_key", "required field missing")]
        message = t.check_pem_public_key(j["rsa_public_key"])
        if message:
            return [("rsa_public_key", message)]
    return []


JWT_SECRET = record(
    ("id", t.uuid()),
    ("created_at", t.timestamp_s("Unix epoch seconds when the secret was created.")),
    ("consumer", _consumer_fk()),
    (
        "key",
        t.string(
            "Value of the token claim (iss by default) naming this credential; "
            "generated when absent.",
            unique=True,
            auto=True,
        ),
    ),
    ("secret", t.string("HMAC secret; generated when absent.", auto=True)),
    ("rsa_public_key", t.string("PEM public key for RS/ES/PS/EdDSA algorithms.")),
    (
        "algorithm",
        t.string(
            "The only algorithm tokens for this credential may use.",
            default="HS256",
            one_of=JWT_ALGORITHMS,
        ),
    ),
    ("tags", t.tags()),
    checks=[_jwt_checks],
)

ACL = record(
    ("id", t.uuid()),
    ("created_at", t.timestamp_s("Unix epoch seconds when the group was granted.")),
    ("consumer", _consumer_fk()),
    (
        "group",
        t.string("Group name used by the acl plugin's allow/deny lists.", required=True, len_min=1),
    ),
    ("tags", t.tags()),
)

BASICAUTH_CREDENTIAL = record(
    ("id", t.uuid()),
    ("created_at", t.timestamp_s("Unix epoch seconds when the credential was created.")),
    ("consumer", _consumer_fk()),
    (
        "username",
        t.string("Unique user name for HTTP Basic authentication.", required=True, unique=True),
    ),
    ("password", t.string("Password; stored hashed.", required=True)),
    ("tags", t.tags()),
)

HMACAUTH_CREDENTIAL = record(
    ("id", t.uuid()),
    ("created_at", t.timestamp_s("Unix epoch seconds when the credential was created.")),
    ("consumer", _consumer_fk()),
    (
        "username",
        t.string(
            "Unique user name given in the `username` parameter of HMAC signatures.",
            required=True,
            unique=True,
        ),
    ),
    ("secret", t.string("HMAC signing secret; generated when absent.", auto=True)),
    ("tags", t.tags()),
)
