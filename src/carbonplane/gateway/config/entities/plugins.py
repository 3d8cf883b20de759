"""The ``plugins`` entity and the registry of plugin config schemas (Kong's ``plugins.lua``).

A plugin row names an installed plugin, an optional scope (route, service, consumer; none =
global) and a ``config`` validated by that plugin's own schema, registered with
``register_plugin_schema(name, schema)``. A name that is not registered is an error, as in Kong
("plugin 'x' not enabled; add it to the 'plugins' configuration property"). At most one instance
of a plugin per scope combination (Kong's cache key: name, route, service, consumer).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from carbonplane.errors import GatewayError
from carbonplane.gateway.config import typedefs as t
from carbonplane.gateway.config.problems import Problem
from carbonplane.gateway.config.schema import Field, Record, record, validate

PLUGIN_PROTOCOLS = (
    "grpc",
    "grpcs",
    "http",
    "https",
    "tcp",
    "tls",
    "tls_passthrough",
    "udp",
    "ws",
    "wss",
)


@dataclass(frozen=True, slots=True)
class PluginSpec:
    """What the gateway knows about an installed plugin before running it."""

    name: str
    config: Record
    no_consumer: bool = False
    no_route: bool = False
    no_service: bool = False
    description: str = ""


_REGISTRY: dict[str, PluginSpec] = {}


def register_plugin_schema(
    name: str,
    schema: Record,
    *,
    no_consumer: bool = False,
    no_route: bool = False,
    no_service: bool = False,
    description: str = "",
) -> PluginSpec:
    """Install a plugin's config schema. Re-registering the same name replaces it."""
    if not isinstance(schema, Record):
        raise GatewayError(
            f"plugin {name!r}: schema must be a carbonplane.gateway.config.schema.Record"
        )
    spec = PluginSpec(name, schema, no_consumer, no_route, no_service, description)
    _REGISTRY[name] = spec
    return spec


def unregister_plugin_schema(name: str) -> None:
    _REGISTRY.pop(name, None)


def plugin_spec(name: str) -> PluginSpec | None:
    """The installed plugin ``name``, or None. The bundled plugins are installed by
    ``carbonplane.gateway.plugins.load_bundled()``, which the config loader and the Admin API
    call before they validate anything (Kong's default ``plugins = bundled``); this registry
    never imports a plugin itself."""
    return _REGISTRY.get(name)


def registered_plugins() -> tuple[str, ...]:
    return tuple(sorted(_REGISTRY))


PLUGIN = record(
    ("id", t.uuid()),
    ("created_at", t.timestamp_s("Unix epoch seconds when the plugin was configured.")),
    ("updated_at", t.timestamp_s("Unix epoch seconds of the last change.")),
    ("name", t.string("Name of an installed plugin.", required=True)),
    ("instance_name", t.name("Optional unique name of this plugin instance.")),
    ("route", t.foreign("routes", "Run only for requests matched by this route.")),
    ("service", t.foreign("services", "Run only for requests proxied to this service.")),
    ("consumer", t.foreign("consumers", "Run only for requests authenticated as this consumer.")),
    (
        "config",
        Field("record", "Plugin configuration, validated by the plugin's schema.", record=None),
    ),
    (
        "protocols",
        t.set_of(
            t.string(one_of=PLUGIN_PROTOCOLS),
            "Protocols the plugin runs on.",
            default=["grpc", "grpcs", "http", "https"],
            required=True,
        ),
    ),
    ("enabled", t.boolean("Whether the plugin runs.", default=True)),
    ("tags", t.tags()),
)

_BASE = Record(tuple((n, f) for n, f in PLUGIN.fields if n != "config"))


def validate_plugin(data: Any) -> tuple[dict[str, Any] | None, list[Problem]]:
    """Validate a plugin row: the common fields, then ``config`` with the plugin's schema."""
    if not isinstance(data, dict):
        return validate(PLUGIN, data)
    base = {k: v for k, v in data.items() if k != "config"}
    out, problems = validate(_BASE, base)
    if out is None:
        return None, problems
    spec = plugin_spec(data.get("name")) if isinstance(data.get("name"), str) else None
    if spec is None:
        if isinstance(data.get("name"), str):
            problems.append(
                (
                    ("name",),
                    f"plugin '{data['name']}' not enabled; add it to the "
                    "'plugins' configuration property",
                )
            )
        return out, problems
    config, config_problems = validate(spec.config, data.get("config") or {}, ("config",))
    problems.extend(config_problems)
    for scope, forbidden in (
        ("consumer", spec.no_consumer),
        ("route", spec.no_route),
        ("service", spec.no_service),
    ):
        if forbidden and out.get(scope) is not None:
            problems.append(
                (
                    (scope,),
                    f"value must be null (the {spec.name} plugin cannot be scoped to a {scope})",
                )
            )
    out = {**{n: out.get(n) for n, _ in PLUGIN.fields}, "config": config}
    return out, problems
