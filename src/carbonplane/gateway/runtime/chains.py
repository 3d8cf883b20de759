"""Plugin handlers built once per config version and arranged into one ``FilterChain`` per route.

- One handler per plugin entity (``PluginDef.handler(config, plugin, services)``), shared by
  every route the entity applies to; ``close()`` closes all of them when the version retires.
- A route's chain holds one *slot* per plugin name that can run on it (``resolve.RoutePlugins``),
  ordered by descending ``PRIORITY``, ties by name (Kong's order). A slot is the handler itself
  when the name has no consumer-scoped instance fitting the route; otherwise a
  ``ConsumerScoped`` filter that chooses, when its access hook runs, the instance for the
  consumer authenticated by then (``ctx.vars["consumer"]``) and uses that same choice in the
  later phases of the request.
- ``ConsumerScoped`` classes are generated with only the hooks their handlers implement: the
  engine calls only overridden hooks, and a body hook makes it re-frame every request
  (``on_request_body``) or response (``on_response_body``) of the route.
- The global chain (global plugins only) runs for requests no route matched.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from carbonplane.errors import ConfigError
from carbonplane.gateway.plugins.pdk.base import PluginHandler, PluginServices, plugin_def
from carbonplane.gateway.runtime.resolve import PluginIndex, RoutePlugins
from carbonplane.proxy.app import Filter, FilterChain, RequestContext

log = logging.getLogger("carbonplane.gateway")
HOOKS = ("on_request", "on_request_body", "on_response_head", "on_response_body", "on_log")


def overrides(obj: Any, hook: str) -> bool:
    """True when ``obj``'s class implements ``hook`` (the engine only calls those;
    ``on_request_body`` is not even defined on ``Filter``: having it re-frames request bodies)."""
    return getattr(type(obj), hook, None) is not getattr(Filter, hook, None)


class _ConsumerScopedBase(Filter):
    __slots__ = ("name", "priority", "default", "by_consumer", "key")

    def __init__(
        self,
        name: str,
        priority: int,
        default: PluginHandler | None,
        by_consumer: Mapping[str, PluginHandler | None],
    ) -> None:
        self.name = name
        self.priority = priority
        self.default = default
        self.by_consumer = dict(by_consumer)
        self.key = "plugin:" + name

    def choose(self, ctx: RequestContext) -> PluginHandler | None:
        chosen = ctx.vars.get(self.key, self)
        if chosen is self:  # not chosen yet in this request
            consumer = ctx.vars.get("consumer")
            chosen = self.default
            if consumer is not None:
                chosen = self.by_consumer.get(consumer.get("id"), self.default)
            ctx.vars[self.key] = chosen
        return chosen

    def __repr__(self) -> str:
        return f"ConsumerScoped({self.name!r}, consumers={len(self.by_consumer)})"


def _on_request(self, ctx):
    chosen = self.choose(ctx)
    if chosen is not None and overrides(chosen, "on_request"):
        return chosen.on_request(ctx)
    return None


def _on_request_body(self, ctx, data, end):
    chosen = self.choose(ctx)
    if chosen is not None and overrides(chosen, "on_request_body"):
        return chosen.on_request_body(ctx, data, end)
    return data


def _on_response_head(self, ctx):
    chosen = self.choose(ctx)
    if chosen is not None and overrides(chosen, "on_response_head"):
        chosen.on_response_head(ctx)


def _on_response_body(self, ctx, data, end):
    chosen = self.choose(ctx)
    if chosen is not None and overrides(chosen, "on_response_body"):
        return chosen.on_response_body(ctx, data, end)
    return data


def _on_log(self, ctx):
    chosen = self.choose(ctx)
    if chosen is not None and overrides(chosen, "on_log"):
        chosen.on_log(ctx)


_IMPLEMENTATIONS = {
    "on_request": _on_request,
    "on_request_body": _on_request_body,
    "on_response_head": _on_response_head,
    "on_response_body": _on_response_body,
    "on_log": _on_log,
}
_CLASSES: dict[frozenset[str], type] = {}


def consumer_scoped(
    name: str,
    priority: int,
    default: PluginHandler | None,
    by_consumer: Mapping[str, PluginHandler | None],
) -> Filter:
    """A filter dispatching to the instance chosen for the request's consumer."""
    handlers = [h for h in (default, *by_consumer.values()) if h is not None]
    # on_request always: the choice must be made when the access phase reaches this plugin
    hooks = frozenset({"on_request"} | {h for h in HOOKS for x in handlers if overrides(x, h)})
    cls = _CLASSES.get(hooks)
    if cls is None:
        cls = type(
            "ConsumerScoped",
            (_ConsumerScopedBase,),
            {"__slots__": (), **{h: _IMPLEMENTATIONS[h] for h in hooks}},
        )
        _CLASSES[hooks] = cls
    return cls(name, priority, default, by_consumer)


class PluginChains:
    """Handlers and chains of one config version (see the module docstring)."""

    def __init__(self, plugins: Sequence[Mapping[str, Any]], services: PluginServices) -> None:
        self.services = services
        self.index = PluginIndex(plugins)
        self.handlers: dict[str, PluginHandler] = {}
        self._chains: dict[tuple, FilterChain] = {}
        try:
            for plugin in plugins:
                if plugin.get("enabled") is not False:
                    self.handlers[plugin["id"]] = build_handler(plugin, services)
        except BaseException:
            self.close()
            raise
        self.global_chain = self.chain(RoutePlugins(base=self.index.global_plugins()))

    def for_route(
        self, route_id: str | None, service_id: str | None, extra: Sequence[Filter] = ()
    ) -> FilterChain:
        return self.chain(self.index.for_route(route_id, service_id), extra)

    def chain(self, plan: RoutePlugins, extra: Sequence[Filter] = ()) -> FilterChain:
        slots: list[tuple[int, str, Filter]] = []
        for name in plan.names():
            default = plan.base.get(name)
            variants = plan.by_consumer.get(name)
            default_h = self.handlers[default["id"]] if default is not None else None
            if not variants:
                slots.append((default_h.PRIORITY, name, default_h))
                continue
            by_consumer = {
                cid: self.handlers[p["id"]] if p is not None else None
                for cid, p in variants.items()
            }
            priority = plugin_def(name).priority
            slots.append((priority, name, consumer_scoped(name, priority, default_h, by_consumer)))
        slots.sort(key=lambda s: (-s[0], s[1]))
        filters = tuple(s[2] for s in slots) + tuple(extra)
        key = tuple(id(f) for f in filters)
        found = self._chains.get(key)  # routes with the same plugins share one chain
        if found is None:
            found = self._chains[key] = FilterChain(filters)
        return found

    def close(self) -> None:
        """Close every handler of this version (idempotent)."""
        handlers, self.handlers = list(self.handlers.values()), {}
        for handler in handlers:
            try:
                handler.close()
            except Exception:  # one broken close must not keep the others open
                log.exception("closing plugin handler %r failed", handler)


def build_handler(plugin: Mapping[str, Any], services: PluginServices) -> PluginHandler:
    defn = plugin_def(plugin["name"])
    if defn is None:
        raise ConfigError(
            f"plugin '{plugin['name']}' has a schema but no handler is installed; "
            "install the plugin package or remove the plugin",
            where=f"plugins[{plugin['id']}]",
        )
    return defn.handler(plugin["config"], plugin, services)
