"""Config schema of the basic-auth plugin: Kong 3's fields and defaults
(``kong/plugins/basic-auth/schema.lua``): ``anonymous``, ``hide_credentials`` (false) and
``realm`` (required, ``"service"``)."""

from __future__ import annotations

from carbonplane.gateway.config import typedefs as t
from carbonplane.gateway.config.schema import record
from carbonplane.gateway.plugins.pdk.authn import check_realm

NO_CONSUMER = True

CONFIG = record(
    (
        "anonymous",
        t.string(
            "Consumer id or username used when authentication fails; unset "
            "means the request is rejected."
        ),
    ),
    (
        "hide_credentials",
        t.boolean(
            "Remove the credential header (`Authorization` or `Proxy-Authorization`) "
            "before proxying.",
            default=False,
            required=True,
        ),
    ),
    (
        "realm",
        t.string(
            "Realm of the `WWW-Authenticate: Basic` challenge on 401 answers.",
            default="service",
            required=True,
            check=check_realm,
        ),
    ),
)
