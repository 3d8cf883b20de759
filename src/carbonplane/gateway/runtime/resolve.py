"""Which plugin instances run for a request: Kong's scoping precedence, compiled per route
(sans-IO).

A plugin instance is scoped by the references it sets among ``route``, ``service`` and
``consumer`` (none: global). It *fits* a request when every reference it sets equals the
request's route, service or consumer. For each plugin name, of the enabled instances that fit,
the most specific wins, in Kong's order (``kong/runloop/plugins_iterator.lua``)::

    1 route+service+consumer   2 route+consumer   3 service+consumer   4 route+service
    5 consumer                 6 route            7 service            8 global

When the consumer is known matters. Kong looks a plugin's configuration up in the access phase
just before that plugin runs, with the consumer authenticated *so far*. Plugins run in
descending ``PRIORITY``, so an auth plugin (jwt 1450, key-auth 1250, ...) sets the consumer
before lower-priority plugins (acl 950, rate-limiting 910, ...) choose their configuration, and
plugins above it (cors 2000, correlation-id) always see no consumer. ``RoutePlugins`` holds that
decision precomputed for one route: ``base`` (the winners with no consumer) and, for plugin names
that have consumer-scoped instances fitting the route, ``by_consumer[name][consumer_id]`` (the
winner once that consumer is known; ``None`` when the consumer has no instance and no
non-consumer instance exists either - the plugin then does not run).

A request that matched no route runs the global plugins only (Kong answers the 404 before the
access phase, so no consumer is ever known for it).

Invariants: instances with ``enabled: false`` never run; the result depends only on the plugin
entities and ids, so it is computed once per config version and shared by every request.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

Plugin = Mapping[str, Any]
Scope = tuple[str | None, str | None, str | None]  # (route id, service id, consumer id)

#: Kong's precedence, most specific first: which of (route, service, consumer) a level sets.
LEVELS: tuple[tuple[bool, bool, bool], ...] = (
    (True, True, True),
    (True, False, True),
    (False, True, True),
    (True, True, False),
    (False, False, True),
    (True, False, False),
    (False, True, False),
    (False, False, False),
)


def _ref(value: Any) -> str | None:
    if isinstance(value, Mapping):
        return value.get("id")
    return value


def scope_of(plugin: Plugin) -> Scope:
    """The (route, service, consumer) ids a plugin instance is scoped to (None: any)."""
    return _ref(plugin.get("route")), _ref(plugin.get("service")), _ref(plugin.get("consumer"))


class PluginIndex:
    """Enabled plugin instances indexed by their exact scope; built once per config."""

    def __init__(self, plugins: Iterable[Plugin]) -> None:
        self._by_scope: dict[Scope, dict[str, Plugin]] = {}
        self.consumer_scoped: dict[str, list[Plugin]] = {}  # name -> instances with a consumer
        for plugin in plugins:
            if plugin.get("enabled") is False:
                continue
            scope = scope_of(plugin)
            self._by_scope.setdefault(scope, {})[plugin["name"]] = plugin
            if scope[2] is not None:
                self.consumer_scoped.setdefault(plugin["name"], []).append(plugin)

    def lookup(
        self, name: str, route_id: str | None, service_id: str | None, consumer_id: str | None
    ) -> Plugin | None:
        """The instance of ``name`` that runs for this route, service and consumer, if any."""
        for has_route, has_service, has_consumer in LEVELS:
            if (
                has_route
                and route_id is None
                or has_service
                and service_id is None
                or has_consumer
                and consumer_id is None
            ):
                continue
            scope = (
                route_id if has_route else None,
                service_id if has_service else None,
                consumer_id if has_consumer else None,
            )
            found = self._by_scope.get(scope)
            if found is not None and name in found:
                return found[name]
        return None

    def names(self) -> set[str]:
        return {name for found in self._by_scope.values() for name in found}

    def global_plugins(self) -> dict[str, Plugin]:
        return dict(self._by_scope.get((None, None, None), {}))

    def for_route(self, route_id: str | None, service_id: str | None) -> RoutePlugins:
        """Precompute the plugins of one route (see the module docstring)."""
        out = RoutePlugins()
        for name in self.names():
            winner = self.lookup(name, route_id, service_id, None)
            if winner is not None:
                out.base[name] = winner
            for instance in self.consumer_scoped.get(name, ()):
                r, s, c = scope_of(instance)
                if (r is None or r == route_id) and (s is None or s == service_id):
                    chosen = self.lookup(name, route_id, service_id, c)
                    out.by_consumer.setdefault(name, {})[c] = chosen
        return out


@dataclass
class RoutePlugins:
    """The plugins of one route: ``base`` without a consumer, ``by_consumer`` once one is known."""

    base: dict[str, Plugin] = field(default_factory=dict)
    by_consumer: dict[str, dict[str, Plugin | None]] = field(default_factory=dict)

    def names(self) -> set[str]:
        return set(self.base) | set(self.by_consumer)

    def resolve(self, name: str, consumer_id: str | None) -> Plugin | None:
        """The instance of ``name`` that runs with this consumer (None: no consumer known)."""
        if consumer_id is not None:
            variants = self.by_consumer.get(name)
            if variants is not None and consumer_id in variants:
                return variants[consumer_id]
        return self.base.get(name)


def resolve(
    plugins: Iterable[Plugin], route_id: str | None, service_id: str | None, consumer_id: str | None
) -> dict[str, Plugin]:
    """Every plugin instance that runs for the given scope, by plugin name (Kong's rule)."""
    index = PluginIndex(plugins)
    out = {}
    for name in index.names():
        found = index.lookup(name, route_id, service_id, consumer_id)
        if found is not None:
            out[name] = found
    return out
