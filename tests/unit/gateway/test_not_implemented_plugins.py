"""Kong's bundled plugins that are not implemented here: kept while disabled, else refused."""

from __future__ import annotations

import logging

import pytest

from carbonplane.errors import GatewayConfigError
from carbonplane.gateway.config.entities import validate_plugin
from carbonplane.gateway.config.entities.plugins import KONG_BUNDLED_PLUGINS, registered_plugins
from carbonplane.gateway.config.loader import load_config_data, load_config_text
from carbonplane.gateway.plugins import load_bundled

TEXT = """_format_version: "3.0"
plugins:
  - name: rate-limiting
    config: {minute: 5}
  - name: aws-lambda
    enabled: false
    config:
      function_name: f
"""


def test_the_bundled_list_is_kongs_and_covers_what_we_implement():
    load_bundled()
    assert len(KONG_BUNDLED_PLUGINS) == 45 and "session" in KONG_BUNDLED_PLUGINS
    # ours, and Kong Enterprise's openid-connect (not in Kong OSS's bundled list)
    assert set(registered_plugins()) - set(KONG_BUNDLED_PLUGINS) == {"event-log", "openid-connect"}


def test_a_disabled_one_loads_kept_as_written_with_a_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="carbonplane.gateway.config.loader"):
        config = load_config_text(TEXT, source="kong.yml")
    lambda_row = [p for p in config.plugins if p["name"] == "aws-lambda"][0]
    assert lambda_row["enabled"] is False and lambda_row["config"] == {"function_name": "f"}
    (record,) = caplog.records
    assert record.getMessage().startswith("kong.yml:5: plugins[1]: plugin 'aws-lambda' is a Kong")


def test_parsed_data_without_lines_loads_silently(caplog):
    doc = {"_format_version": "3.0", "plugins": [{"name": "session", "enabled": False}]}
    with caplog.at_level(logging.WARNING, logger="carbonplane.gateway.config.loader"):
        config = load_config_data(doc, source="gateway config")
    assert [p["name"] for p in config.plugins] == ["session"] and not caplog.records


@pytest.mark.parametrize(
    ("row", "says"),
    [
        ({"name": "session"}, "a Kong bundled plugin this gateway does not implement"),
        ({"name": "session", "enabled": True}, "keep it with 'enabled: false'"),
        ({"name": "session", "enabled": False, "config": []}, "expected a record"),
        ({"name": "no-such-plugin", "enabled": False}, "not enabled; add it to the 'plugins'"),
        ({"name": ["session"], "enabled": False}, "expected a string"),
    ],
)
def test_refused(row, says):
    _, problems = validate_plugin(row)
    assert any(says in message for _, message in problems), problems
    with pytest.raises(GatewayConfigError):
        load_config_data({"_format_version": "3.0", "plugins": [row]})
