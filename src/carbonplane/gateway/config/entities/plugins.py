"""The ``plugins`` entity and the registry of plugin config schemas (Kong's ``plugins.lua``).

A plugin row names an installed plugin, an optional scope (route, service, consumer; none =
global) and a ``config`` validated by that plugin's own schema, registered with
``register_plugin_schema(name, schema)``. A name that is not registered is an error, as in Kong
("plugin 'x' not enabled; add it to the 'plugins' configuration property"). At most one instance
of a plugin per scope combination (Kong's cache key: name, route, service, consumer).

Kong's bundled plugins this gateway does not implement (``KONG_BUNDLED_PLUGINS``, Kong 3.x's
``kong/constants.lua``, minus the registered ones): a row with ``enabled: false`` is accepted
as written (its ``config`` kept unchecked, shown by the Admin API, never run) so that a Kong
file carrying a switched-off plugin loads; the loader warns naming its file:line
(``not_implemented``). Enabled, such a row is refused saying the plugin is not implemented.
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

# Kong 3.x's bundled plugins (kong/constants.lua, in its order)
KONG_BUNDLED_PLUGINS = (
    "jwt",
    "acl",
    "correlation-id",
    "cors",
    "oauth2",
    "tcp-log",
    "udp-log",
    "file-log",
    "http-log",
    "key-auth",
    "hmac-auth",
    "basic-auth",
    "ip-restriction",
    "request-transformer",
    "response-transformer",
    "request-size-limiting",
    "rate-limiting",
    "response-ratelimiting",
    "syslog",
    "loggly",
    "datadog",
    "ldap-auth",
    "statsd",
    "bot-detection",
    "aws-lambda",
    "request-termination",
    "prometheus",
    "proxy-cache",
    "session",
    "acme",
    "grpc-gateway",
    "grpc-web",
    "pre-function",
    "post-function",
    "azure-functions",
    "zipkin",
    "opentelemetry",
    "ai-proxy",
    "ai-prompt-decorator",
    "ai-prompt-template",
    "ai-prompt-guard",
    "ai-request-transformer",
    "ai-response-transformer",
    "standard-webhooks",
    "redirect",
)
_KONG_BUNDLED = frozenset(KONG_BUNDLED_PLUGINS)


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
    name = data.get("name")
    spec = plugin_spec(name) if isinstance(name, str) else None
    if spec is None and isinstance(name, str) and name in _KONG_BUNDLED:
        return _not_implemented(data, out, problems)
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


def not_implemented(plugin: dict[str, Any]) -> bool:
    """A Kong bundled plugin this gateway does not implement (kept only while disabled)."""
    name = plugin.get("name")
    return isinstance(name, str) and name in _KONG_BUNDLED and plugin_spec(name) is None


def _not_implemented(
    data: dict[str, Any], out: dict[str, Any], problems: list[Problem]
) -> tuple[dict[str, Any] | None, list[Problem]]:
    name = data["name"]
    if out.get("enabled") is not False:
        problems.append(
            (
                ("name",),
                f"plugin '{name}' is a Kong bundled plugin this gateway does not implement; "
                "remove it, or keep it with 'enabled: false' (it is then kept, never run)",
            )
        )
        return out, problems
    config = data.get("config")
    if config is not None and not isinstance(config, dict):
        problems.append((("config",), "expected a record"))
        return out, problems
    return {**{n: out.get(n) for n, _ in PLUGIN.fields}, "config": config or {}}, problems
