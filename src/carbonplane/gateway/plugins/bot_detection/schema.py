"""Config schema of the bot-detection plugin: Kong 3's fields and defaults
(``kong/plugins/bot-detection/schema.lua``): ``allow`` and ``deny``, lists of regular
expressions (PCRE syntax as Kong writes them; each must compile here, ``(?<name>`` groups are
accepted). User-Agents are matched as Latin-1 text, byte for byte."""

from __future__ import annotations

import re

from carbonplane.gateway.config import typedefs as t
from carbonplane.gateway.config.schema import record

NO_CONSUMER = True


def compile_rule(pattern: str) -> re.Pattern[str]:
    """A Kong (PCRE) User-Agent regex as a compiled Python pattern. ASCII semantics for
    ``\\w``, ``\\d``, ``\\s`` and ``\\b``, as PCRE without its UTF flag (Kong's ``"jo"``)."""
    return re.compile(t.pcre_to_python(pattern), re.ASCII)


def _check_regex(value: str) -> str | None:
    try:
        compile_rule(value)
    except re.error as exc:
        return f"invalid regex: '{value}' ({exc})"
    return None


CONFIG = record(
    (
        "allow",
        t.array(
            t.string(check=_check_regex),
            "Regular expressions of User-Agents let through even when a deny rule or the "
            "built-in bot list matches.",
            default=[],
        ),
    ),
    (
        "deny",
        t.array(
            t.string(check=_check_regex),
            "Regular expressions of User-Agents refused with 403.",
            default=[],
        ),
    ),
)
