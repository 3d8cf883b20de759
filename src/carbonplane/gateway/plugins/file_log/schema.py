"""Config schema of the file-log plugin (Kong 3.x ``kong/plugins/file-log/schema.lua``).

``path`` (required; Kong's filename rule: no ``* & % \\ ```), ``reopen`` (default false: reopen
the file for every write, so that rotated logs are followed), ``custom_fields_by_lua`` (Kong runs
Lua snippets to add fields; carbonplane runs no Lua, so setting it is an error).
"""

from __future__ import annotations

from carbonplane.gateway.config import typedefs as t
from carbonplane.gateway.config.schema import Field, record

NO_LUA = (
    "is not supported: carbonplane runs no Lua code; remove it (the log record is Kong's "
    "serializer output, see docs/plugins/file-log.md)"
)


def _no_lua(value: object) -> str | None:
    return f"custom_fields_by_lua {NO_LUA}" if value else None


CONFIG = record(
    (
        "path",
        t.string(
            "File the JSON log lines are appended to (created with mode 0644).",
            required=True,
            pattern=r"[^*&%\\`]+",
            pattern_error="not a valid filename",
        ),
    ),
    (
        "reopen",
        t.boolean(
            "Reopen the file for every write (follows log rotation).", default=False, required=True
        ),
    ),
    (
        "custom_fields_by_lua",
        Field(
            "map",
            "Not supported (Kong's Lua field snippets).",
            keys=t.string(),
            values=t.string(),
            check=_no_lua,
        ),
    ),
)
