"""Config schema of the jwt plugin: Kong 3's fields, defaults and checks
(``kong/plugins/jwt/schema.lua``), with one deliberate difference.

``claims_to_verify`` defaults to ``["exp"]`` instead of Kong's empty list: with Kong's default
an expired token is accepted unless the operator remembers to list ``exp``. A config that
wants Kong's behaviour says ``claims_to_verify: []`` explicitly. ``maximum_expiration`` (seconds,
0 = off) needs ``exp`` in ``claims_to_verify``, as in Kong.
"""

from __future__ import annotations

from typing import Any

from carbonplane.gateway.config import typedefs as t
from carbonplane.gateway.config.schema import record
from carbonplane.gateway.plugins.pdk.authn import check_realm

NO_CONSUMER = True


def _checks(conf: dict[str, Any]) -> list[tuple[str, str]]:
    if conf.get("maximum_expiration") and "exp" not in (conf.get("claims_to_verify") or ()):
        return [("claims_to_verify", "expected to contain: exp (maximum_expiration is set)")]
    return []


CONFIG = record(
    (
        "uri_param_names",
        t.set_of(t.string(), "Query parameters searched for a token, in order.", default=["jwt"]),
    ),
    (
        "cookie_names",
        t.set_of(t.string(), "Cookies searched for a token (after the query).", default=[]),
    ),
    (
        "key_claim_name",
        t.string(
            "Claim (or header field) naming the credential's `key`.", default="iss", len_min=1
        ),
    ),
    (
        "secret_is_base64",
        t.boolean("Whether credential secrets are base64-encoded.", default=False),
    ),
    (
        "claims_to_verify",
        t.set_of(
            t.string(one_of=("exp", "nbf")),
            "Registered claims checked on every request: `exp` (not "
            "expired) and/or `nbf` (already valid). Default `[exp]`.",
            default=["exp"],
        ),
    ),
    (
        "anonymous",
        t.string(
            "Consumer id or username used when authentication fails; unset "
            "means the request is rejected."
        ),
    ),
    (
        "run_on_preflight",
        t.boolean("Authenticate CORS preflight (OPTIONS) requests too.", default=True),
    ),
    (
        "maximum_expiration",
        t.integer(
            "Longest accepted token lifetime left, in seconds "
            "(0: no limit); needs `exp` in `claims_to_verify`.",
            default=0,
            between=(0, 31536000),
        ),
    ),
    (
        "header_names",
        t.set_of(
            t.string(check=t.check_header_name),
            "Headers searched for `Bearer <token>` (after cookies).",
            default=["authorization"],
        ),
    ),
    (
        "realm",
        t.string("Realm of the `WWW-Authenticate` challenge on 401 answers.", check=check_realm),
    ),
    checks=[_checks],
)
