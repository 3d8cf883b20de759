"""Gateway plugins built for tests the way the gateway builds them: the config validated by the
plugin's own schema and frozen, the plugin entity frozen, the compiled gateway config (consumers,
credentials) in the handler's services when a test gives one.

Invariants: a config a test means to be valid fails the test (with the schema's own message) when
it is not; every bundled plugin is registered on import, as in a running gateway; a problem is
spelled ``"<field path>: <message>"`` (``config.@entity`` for checks of the whole config).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from carbonplane.gateway.config.entities import validate_plugin
from carbonplane.gateway.config.loader import load_config_data
from carbonplane.gateway.config.problems import violation_message
from carbonplane.gateway.config.schema import freeze
from carbonplane.gateway.plugins import PluginServices, load_bundled, plugin_def
from carbonplane.gateway.plugins.pdk.credentials import CredentialIndex

load_bundled()

PLUGIN_ID = "6d0e6bd5-45d9-4f42-9b6a-6f1b3c1f4b0a"
CONFIG_TIME = 1_700_000_000  # the load time of configs from ``gateway()``: results do not drift


def config(name: str, conf: dict | None = None) -> Any:
    """The validated config (defaults filled in) of plugin ``name``; fails the test on problems."""
    row, found = validate_plugin({"name": name, "config": conf or {}})
    assert not found, violation_message(found)
    return row["config"]


def problems(name: str, conf: dict) -> list[str]:
    """Every ``"config.field: message"`` the schema of plugin ``name`` finds in ``conf``, in its
    order."""
    _, found = validate_plugin({"name": name, "config": conf})
    return [f"{'.'.join(str(p) for p in path)}: {message}" for path, message in found]


def problem_at(name: str, conf: dict, where: str) -> str:
    """The message of the problem at field path ``where`` (e.g. ``config.path``); fails the test,
    listing what was found instead, when there is none."""
    _, found = validate_plugin({"name": name, "config": conf})
    at = {".".join(str(p) for p in path): message for path, message in found}
    assert where in at, f"no problem at {where}; found {at}"
    return at[where]


def handler(
    name: str,
    conf: dict | None = None,
    gw: Any = None,
    *,
    plugin: dict | None = None,
    services: PluginServices | None = None,
) -> Any:
    """A handler of plugin ``name`` built as the gateway builds it.

    ``gw``: a compiled gateway config (``gateway()``) whose consumers and credentials the handler
    sees; ``plugin``: entity fields over the validated row (e.g. ``{"route": {"id": ...}}``);
    ``services``: the handler's services (fresh ones by default)."""
    row, found = validate_plugin({"name": name, "config": conf or {}})
    assert not found, violation_message(found)
    services = services or PluginServices()
    if gw is not None:
        services = dataclasses.replace(services, credentials=CredentialIndex(gw))
    entity = freeze({**row, "id": PLUGIN_ID, **(plugin or {})})
    return plugin_def(name).handler(entity["config"], entity, services)


def gateway(consumers: list[dict] | None = None, **lists: Any) -> Any:
    """A compiled gateway config holding ``consumers`` (with their credentials) and any other
    entity lists given, loaded at ``CONFIG_TIME``."""
    data = {"_format_version": "3.0", "consumers": consumers or [], **lists}
    return load_config_data(data, now=CONFIG_TIME)
