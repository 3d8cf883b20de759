"""The plugin seam: what a gateway plugin is, and the narrow SDK it sees.

A plugin is one folder ``carbonplane/gateway/plugins/<name>/`` (Kong's layout):

- ``schema.py`` defines ``CONFIG: Record`` (``carbonplane.gateway.config.schema``: types, defaults,
  checks, descriptions) and optionally ``NO_CONSUMER/NO_ROUTE/NO_SERVICE`` flags;
- ``handler.py`` defines ``Handler``, a ``PluginHandler`` subclass with Kong's ``PRIORITY`` and
  only the phase hooks it needs;
- ``__init__.py`` calls ``register(PluginDef(...))`` so that importing the package installs it.

Phases map onto the engine's filter hooks (``carbonplane.proxy.app.Filter``), Kong's names beside:

    access         on_request(ctx)        -> None | LocalResponse | awaitable of either
    header_filter  on_response_head(ctx)  -> None (edit ctx.response)
    body_filter    on_response_body(ctx, data, end) -> bytes
    log            on_log(ctx)            -> None, after the response, off the critical path

Invariants:
- a ``Handler`` is built once per configured plugin instance per gateway config version, with its
  validated, frozen config; per-request state goes in ``ctx.vars`` only;
- within a request, handlers run in descending ``PRIORITY`` (Kong's order), ties by name;
- plugins never touch the server, sockets, the gateway config or other plugins; what they share
  goes through ``PluginServices`` (redis clients, the event producer, metrics, cross-worker
  counters, the config version's consumers and credentials) and the request-scoped keys below
  in ``ctx.vars``.

Request-scoped keys (``ctx.vars``) shared between plugins, as Kong's ``ngx.ctx``/PDK:
    "consumer"               the authenticated consumer entity (a mapping), set by auth plugins
    "credential"             the credential entity used (mapping with at least ``id``)
    "authenticated_groups"   list[str] of ACL groups (acl plugin reads)
    "route", "service"       the matched route / service entities (set by the gateway)
    "rate_limit_headers"     headers an access-phase plugin wants added to the response
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from carbonplane.gateway.config.entities.plugins import register_plugin_schema
from carbonplane.gateway.config.schema import Record
from carbonplane.gateway.plugins.pdk.credentials import CredentialIndex
from carbonplane.proxy.app import Filter


@dataclass
class PluginServices:
    """Process-wide facilities handed to every handler (the only shared state plugins see).

    ``redis(conf)`` returns a shared ``redis.asyncio`` client for a host/port/db/password/timeout
    mapping; ``producer()`` the process's EventProducer (lazy); ``registry`` the Prometheus
    registry of this worker; ``counters`` the host-wide counter store for policy ``local``
    (exact across the workers of one host); ``worker_id`` this worker's index;
    ``credentials`` the consumers and credentials of the config version the handler was built
    for (set by the runtime per version: all the auth plugins see of the config);
    ``runtime_dir`` the gateway node's runtime directory (where workers publish metrics).
    Anything left None is not available in this process (tests may pass only what they need).
    """

    worker_id: int = 0
    workers: int = 1
    registry: Any = None
    counters: Any = None
    redis: Callable[[Mapping[str, Any]], Any] | None = None
    producer: Callable[[], Any] | None = None
    credentials: CredentialIndex | None = None
    runtime_dir: str | None = None


class PluginHandler(Filter):
    """Base of every plugin handler: a Filter with Kong's priority and the validated config."""

    NAME = "plugin"
    PRIORITY = 0
    VERSION = "1.0.0"

    def __init__(
        self, config: Mapping[str, Any], plugin: Mapping[str, Any], services: PluginServices
    ) -> None:
        self.config = config
        self.plugin = plugin  # the plugin entity (id, name, route, service, consumer, ...)
        self.services = services

    @property
    def name(self) -> str:  # type: ignore[override]
        return self.NAME

    def close(self) -> None:
        """Release resources when the config version holding this handler is retired."""


@dataclass(frozen=True)
class PluginDef:
    name: str
    config: Record
    handler: type[PluginHandler]
    priority: int
    no_consumer: bool = False
    no_route: bool = False
    no_service: bool = False
    description: str = ""


_PLUGINS: dict[str, PluginDef] = {}


def register(defn: PluginDef) -> PluginDef:
    """Install a plugin: its schema becomes valid in configs and the Admin API."""
    register_plugin_schema(
        defn.name,
        defn.config,
        no_consumer=defn.no_consumer,
        no_route=defn.no_route,
        no_service=defn.no_service,
        description=defn.description,
    )
    _PLUGINS[defn.name] = defn
    return defn


def plugin_def(name: str) -> PluginDef | None:
    return _PLUGINS.get(name)


def installed() -> dict[str, PluginDef]:
    return dict(_PLUGINS)
