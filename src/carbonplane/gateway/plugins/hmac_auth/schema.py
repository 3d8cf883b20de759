"""Config schema of the hmac-auth plugin: Kong 3's fields and defaults
(``kong/plugins/hmac-auth/schema.lua``).

``validate_request_body`` checks the ``Digest: SHA-256=<base64>`` header against the body as
it arrives; bodies larger than ``MAX_SIGNED_BODY`` (handler) are refused.
"""

from __future__ import annotations

from carbonplane.gateway.config import typedefs as t
from carbonplane.gateway.config.schema import record
from carbonplane.gateway.plugins.pdk.authn import check_realm

NO_CONSUMER = True

ALGORITHMS = ("hmac-sha1", "hmac-sha256", "hmac-sha384", "hmac-sha512")


def _positive(value: float) -> str | None:
    return "value must be greater than 0" if value <= 0 else None


def _signed_header(value: str) -> str | None:
    if not value or not value.isascii() or not value.isprintable() or " " in value:
        return "must be a header name (printable ASCII without spaces)"
    return None


CONFIG = record(
    (
        "hide_credentials",
        t.boolean(
            "Remove the signature header (`Authorization` or `Proxy-Authorization`) before "
            "proxying.",
            default=False,
            required=True,
        ),
    ),
    (
        "clock_skew",
        t.number(
            "Largest difference, in seconds, between the request's `X-Date` or `Date` and "
            "the gateway's clock (limits replays).",
            default=300,
            check=_positive,
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
        "validate_request_body",
        t.boolean(
            "Require a `Digest: SHA-256=<base64>` header matching the request body.",
            default=False,
            required=True,
        ),
    ),
    (
        "enforce_headers",
        t.array(
            t.string(check=_signed_header),
            "Headers every signature must cover.",
            default=[],
        ),
    ),
    (
        "algorithms",
        t.array(
            t.string(one_of=ALGORITHMS),
            "HMAC algorithms clients may sign with.",
            default=list(ALGORITHMS),
        ),
    ),
    (
        "realm",
        t.string(
            "Realm of the `WWW-Authenticate: hmac` challenge on 401 answers.", check=check_realm
        ),
    ),
)
