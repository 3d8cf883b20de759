"""docs/plugins/<name>.md stays in step with the plugin schemas: every config field (and every
nested field of the transformers' operation records) is documented, and the documented
PRIORITY is the handler's."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from carbonplane.gateway.plugins import load_bundled, plugin_def

DOCS = Path(__file__).resolve().parents[4] / "docs" / "plugins"
PLUGINS = [
    "jwt",
    "key-auth",
    "basic-auth",
    "hmac-auth",
    "bot-detection",
    "oauth2",
    "openid-connect",
    "acl",
    "ip-restriction",
    "request-size-limiting",
    "request-transformer",
    "response-transformer",
    "response-ratelimiting",
    "proxy-cache",
]

load_bundled()


def field_names(record, prefix: str = "") -> list[str]:
    names = []
    for name, fld in record.fields:
        if fld.type == "record" and fld.record is not None:
            names += field_names(fld.record, f"{prefix}{name}.")
        else:
            names.append(f"{prefix}{name}")
    return names


@pytest.mark.parametrize("name", PLUGINS)
def test_every_config_field_is_documented(name):
    text = (DOCS / f"{name}.md").read_text()
    for field in field_names(plugin_def(name).config):
        top, _, leaf = field.rpartition(".")
        # a nested field may share a table row: `remove.headers` / `.querystring` / `.body`
        documented = (
            f"`{field}`" in text
            or top
            and any(f"`{top}." in line and f"`.{leaf}`" in line for line in text.splitlines())
        )
        assert documented, f"docs/plugins/{name}.md does not document `{field}`"


@pytest.mark.parametrize("name", PLUGINS)
def test_documented_priority_is_the_handlers(name):
    text = (DOCS / f"{name}.md").read_text()
    found = re.search(r"PRIORITY (\d+)", text)
    assert found and int(found.group(1)) == plugin_def(name).priority
