"""Config schema of the oauth2 plugin: Kong 3's fields, defaults and checks
(``kong/plugins/oauth2/schema.lua``), plus where issued tokens are kept.

Kong keeps tokens in its database; here ``token_store`` chooses ``embedded`` (default: one
SQLite file under ``$CARBONPLANE_HOME/gateway/``, shared by the workers of one host) or
``redis`` (the ``redis`` record, as the rate-limiting plugin's, for several gateways).
``provision_key`` is generated when absent (Kong's ``auto``); set it in the file to keep it
across reloads.
"""

from __future__ import annotations

from typing import Any

from carbonplane.gateway.config import typedefs as t
from carbonplane.gateway.config.schema import ENTITY, record
from carbonplane.gateway.plugins.pdk.authn import check_realm
from carbonplane.gateway.plugins.rate_limiting.schema import REDIS

NO_CONSUMER = True
FLOWS = (
    "enable_authorization_code",
    "enable_implicit_grant",
    "enable_client_credentials",
    "enable_password_grant",
)
STORES = ("embedded", "redis")


def _checks(conf: dict[str, Any]) -> list[tuple[str, str]]:
    out = []
    if not any(conf.get(f) for f in FLOWS):
        out.append((ENTITY, "at least one of these fields must be true: " + ", ".join(FLOWS)))
    if conf.get("mandatory_scope") and not conf.get("scopes"):
        out.append(("scopes", "required field missing"))
    if conf.get("token_store") == "redis" and not (conf.get("redis") or {}).get("host"):
        out.append(("redis.host", "required field missing (token_store is 'redis')"))
    return out


def _flag(name: str, text: str, default: bool = False) -> tuple[str, Any]:
    return name, t.boolean(text, default=default, required=True)


CONFIG = record(
    (
        "scopes",
        t.array(t.string(), "Scope names clients may ask for (required with mandatory_scope)."),
    ),
    _flag("mandatory_scope", "Require at least one scope to be authorized."),
    (
        "provision_key",
        t.string(
            "The key the authorization server sends to /oauth2/authorize and the password "
            "grant; generated when absent.",
            required=True,
            auto=True,
        ),
    ),
    (
        "token_expiration",
        t.number(
            "Seconds an access token lasts; 0 disables expiration (and refresh tokens).",
            default=7200,
            required=True,
        ),
    ),
    _flag("enable_authorization_code", "Enable the Authorization Code flow (RFC 6749 4.1)."),
    _flag("enable_implicit_grant", "Enable the Implicit Grant flow (RFC 6749 4.2)."),
    _flag("enable_client_credentials", "Enable the Client Credentials flow (RFC 6749 4.4)."),
    _flag("enable_password_grant", "Enable the Resource Owner Password flow (RFC 6749 4.3)."),
    _flag("hide_credentials", "Remove the access token before proxying."),
    _flag(
        "accept_http_if_already_terminated",
        "Accept plain-HTTP requests carrying X-Forwarded-Proto: https from a trusted peer.",
    ),
    (
        "anonymous",
        t.string("Consumer id or username used when authentication fails; unset refuses."),
    ),
    _flag(
        "global_credentials",
        "Tokens are valid on every service whose oauth2 plugin also sets this.",
    ),
    (
        "auth_header_name",
        t.string(
            "Header carrying the access token (and HTTP Basic client credentials).",
            default="authorization",
            check=t.check_header_name,
        ),
    ),
    (
        "refresh_token_ttl",
        t.number(
            "Seconds a refresh token (and its access token row) is kept; 0 keeps it forever.",
            default=1209600,
            required=True,
            between=(0, 100000000),
        ),
    ),
    _flag("reuse_refresh_token", "Keep the same refresh token when refreshing."),
    (
        "pkce",
        t.string(
            "PKCE: 'none', 'lax' (public clients must use it) or 'strict' (every client).",
            default="lax",
            one_of=("none", "lax", "strict"),
        ),
    ),
    ("realm", t.string("Realm of the WWW-Authenticate challenge.", check=check_realm)),
    (
        "token_store",
        t.string(
            "Where issued tokens live: 'embedded' (SQLite under $CARBONPLANE_HOME, one host) "
            "or 'redis' (several gateways).",
            default="embedded",
            one_of=STORES,
        ),
    ),
    ("redis", t.nested(REDIS, "Redis connection (token_store: redis).")),
    checks=[_checks],
)
