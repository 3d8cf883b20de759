"""Config schema of the openid-connect plugin: a documented subset of Kong Enterprise's
``openid-connect`` settings (same names, types and meaning where Kong has them), for the
resource-server role only: validate access tokens a provider issued, as JWTs (``bearer``) or by
introspection (``introspection``).

Differences, each protecting users (``docs/plugins/openid-connect.md``): ``cache_ttl`` defaults
to 300 s, not 3600, so a key removed upstream stops being accepted within 5 minutes; the signing
algorithms are allow-listed (``signing_algs``: asymmetric only, no ``none``, no HS*).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from carbonplane.gateway.config import typedefs as t
from carbonplane.gateway.config.schema import record
from carbonplane.gateway.plugins.pdk.authn import check_realm

NO_CONSUMER = True
ASYMMETRIC = (
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
    "EdDSA",
)


def check_url(value: str) -> str | None:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "must be an http:// or https:// URL with a host"
    if parts.fragment:
        return "must not have a #fragment"
    return None


def _checks(conf: dict[str, Any]) -> list[tuple[str, str]]:
    problems = []
    claims = conf.get("upstream_headers_claims") or []
    names = conf.get("upstream_headers_names") or []
    if len(claims) != len(names):
        problems.append(("upstream_headers_names", f"expected {len(claims)} names, one per claim"))
    if "introspection" in conf.get("auth_methods", ()) and not (
        conf.get("client_id") and conf.get("client_secret")
    ):
        problems.append(("client_id", "introspection needs client_id and client_secret"))
    return problems


CONFIG = record(
    (
        "issuer",
        t.string(
            "The provider's issuer URL; discovery reads "
            "`<issuer>/.well-known/openid-configuration`.",
            required=True,
            check=check_url,
        ),
    ),
    (
        "auth_methods",
        t.set_of(
            t.string(one_of=("bearer", "introspection")),
            "`bearer`: JWT access tokens verified with the provider's JWKS; `introspection`: "
            "other tokens asked of the introspection endpoint (RFC 7662).",
            default=["bearer", "introspection"],
            len_min=1,
        ),
    ),
    (
        "client_id",
        t.array(t.string(len_min=1), "Client for introspection (the first is used).", default=[]),
    ),
    ("client_secret", t.array(t.string(len_min=1), "Its secret (the first is used).", default=[])),
    (
        "introspection_endpoint",
        t.string("Overrides the discovered introspection endpoint.", check=check_url),
    ),
    (
        "introspection_endpoint_auth_method",
        t.string(
            "How the client authenticates to introspection.",
            default="client_secret_basic",
            one_of=("client_secret_basic", "client_secret_post"),
        ),
    ),
    ("jwks_uri", t.string("Overrides the discovered `jwks_uri`.", check=check_url)),
    (
        "signing_algs",
        t.set_of(
            t.string(one_of=ASYMMETRIC),
            "Accepted JWT signature algorithms.",
            default=list(ASYMMETRIC),
            len_min=1,
        ),
    ),
    (
        "audience_required",
        t.array(
            t.string(len_min=1),
            "The token's `aud` must hold one of these (empty: not checked).",
            default=[],
        ),
    ),
    (
        "scopes_required",
        t.array(
            t.string(len_min=1),
            "Each entry is a space-separated set of "
            "scopes the token must all hold; one entry satisfied is enough "
            "(empty: not checked).",
            default=[],
        ),
    ),
    (
        "leeway",
        t.integer(
            "Clock skew tolerated on `exp`, `nbf` and `iat`, in seconds.",
            default=0,
            between=(0, 3600),
        ),
    ),
    (
        "cache_ttl",
        t.integer(
            "Seconds keys, discovery and introspection results are cached.",
            default=300,
            between=(1, 86400),
        ),
    ),
    (
        "cache_ttl_neg",
        t.integer(
            "Seconds an inactive introspection result is cached.", default=10, between=(0, 3600)
        ),
    ),
    (
        "rediscovery_lifetime",
        t.integer("Least seconds between two fetches of the JWKS.", default=30, between=(0, 86400)),
    ),
    (
        "timeout",
        t.integer(
            "Network timeout to the provider, in milliseconds.", default=10000, between=(1, 600000)
        ),
    ),
    (
        "consumer_claim",
        t.array(
            t.string(len_min=1),
            "Claim path naming the consumer (e.g. `[sub]`); empty: no consumer mapping.",
            default=[],
        ),
    ),
    (
        "consumer_by",
        t.set_of(
            t.string(one_of=("id", "username", "custom_id")),
            "Consumer fields matched against the claim, in order.",
            default=["username", "custom_id"],
            len_min=1,
        ),
    ),
    (
        "consumer_optional",
        t.boolean("A token whose consumer is not found is still accepted.", default=False),
    ),
    ("anonymous", t.string("Consumer id or username used when authentication fails.")),
    (
        "upstream_headers_claims",
        t.array(t.string(len_min=1), "Claims sent upstream...", default=[]),
    ),
    (
        "upstream_headers_names",
        t.array(t.string(check=t.check_header_name), "... under these header names.", default=[]),
    ),
    ("hide_credentials", t.boolean("Remove the token from the upstream request.", default=False)),
    (
        "run_on_preflight",
        t.boolean("Authenticate CORS preflight (OPTIONS) requests too.", default=True),
    ),
    ("realm", t.string("Realm of the `WWW-Authenticate` challenge.", check=check_realm)),
    checks=[_checks],
)
