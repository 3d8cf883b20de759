"""Config schema of the key-auth plugin: Kong 3's fields and defaults
(``kong/plugins/key-auth/schema.lua``).

``key_in_body`` exists for compatibility and must stay false: the engine streams request bodies
and runs the access phase before any body byte is read, so a key in the body cannot
authenticate the request (send it in a header or the query string instead).
"""

from __future__ import annotations

from carbonplane.gateway.config import typedefs as t
from carbonplane.gateway.config.schema import record
from carbonplane.gateway.plugins.pdk.authn import check_realm

NO_CONSUMER = True


def _no_body_keys(value: bool) -> str | None:
    if value:
        return (
            "not supported: request bodies are streamed and authentication runs before "
            "they are read; send the key in a header (key_in_header) or the query string "
            "(key_in_query)"
        )
    return None


CONFIG = record(
    (
        "key_names",
        t.array(
            t.string(check=t.check_header_name),
            "Header and query parameter names that may carry the key, in order.",
            default=["apikey"],
            required=True,
            len_min=1,
        ),
    ),
    (
        "hide_credentials",
        t.boolean("Remove the key (header and query parameter) before proxying.", default=False),
    ),
    (
        "anonymous",
        t.string(
            "Consumer id or username used when authentication fails; unset "
            "means the request is rejected."
        ),
    ),
    ("key_in_header", t.boolean("Look for the key in request headers.", default=True)),
    ("key_in_query", t.boolean("Look for the key in the query string.", default=True)),
    (
        "key_in_body",
        t.boolean(
            "Look for the key in the request body (not supported; must be false).",
            default=False,
            check=_no_body_keys,
        ),
    ),
    (
        "run_on_preflight",
        t.boolean("Authenticate CORS preflight (OPTIONS) requests too.", default=True),
    ),
    (
        "realm",
        t.string("Realm of the `WWW-Authenticate` challenge on 401 answers.", check=check_realm),
    ),
)
