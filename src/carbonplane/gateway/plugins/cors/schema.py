"""Config schema of the cors plugin (Kong 3.x ``kong/plugins/cors/schema.lua``).

``origins``: ``*``, literal origins (``https://example.com``, default ports dropped when
compared) or regular expressions (any entry with a character outside ``A-Za-z0-9.:/-``;
anchored; matched against the request's host when the entry has no ``:``, else against
``scheme://host[:port]``). Empty means every origin. ``methods`` defaults to all nine methods
Kong lists; ``headers`` empty echoes ``Access-Control-Request-Headers``. The plugin cannot be
scoped to a consumer (it runs before authentication).
"""

from __future__ import annotations

import re

from carbonplane.gateway.config import typedefs as t
from carbonplane.gateway.config.schema import record

METHODS = ("GET", "HEAD", "PUT", "PATCH", "POST", "DELETE", "OPTIONS", "TRACE", "CONNECT")


def _asterisk_or_regex(value: str) -> str | None:
    if value == "*":
        return None
    try:
        re.compile(t.pcre_to_python(value))
    except re.error:
        return f"'{value}' is not a valid regex"
    return None


CONFIG = record(
    (
        "origins",
        t.array(
            t.string(check=_asterisk_or_regex),
            "Allowed origins: '*', literal origins or regexes. Empty allows every origin.",
        ),
    ),
    (
        "headers",
        t.array(
            t.string(),
            "Value of Access-Control-Allow-Headers; empty echoes the "
            "preflight's Access-Control-Request-Headers.",
        ),
    ),
    ("exposed_headers", t.array(t.string(), "Value of Access-Control-Expose-Headers.")),
    (
        "methods",
        t.array(
            t.string(one_of=METHODS),
            "Value of Access-Control-Allow-Methods.",
            default=list(METHODS),
        ),
    ),
    ("max_age", t.number("Seconds a preflight answer may be cached (Access-Control-Max-Age).")),
    (
        "credentials",
        t.boolean("Send Access-Control-Allow-Credentials: true.", default=False, required=True),
    ),
    (
        "private_network",
        t.boolean(
            "Answer Access-Control-Request-Private-Network preflights "
            "with Access-Control-Allow-Private-Network: true.",
            default=False,
            required=True,
        ),
    ),
    (
        "preflight_continue",
        t.boolean(
            "Proxy preflight requests to the upstream instead of answering them.",
            default=False,
            required=True,
        ),
    ),
    (
        "allow_origin_absent",
        t.boolean(
            "Add the CORS response headers also when the request has no Origin header.",
            default=True,
            required=True,
        ),
    ),
)
