"""The ``PluginServices`` of a gateway process: the shared facilities plugin handlers may use.

One set per process, reused by every config version (handlers are rebuilt per version; the
clients they borrow are not):

- ``redis(conf)``: one ``redis.asyncio.Redis`` per distinct (host, port, username, password,
  database, ssl, timeout), created on first use inside the worker's loop;
- ``producer()``: the process's ``EventProducer`` (the configured event backend), created on
  first use;
- ``registry``: a Prometheus ``CollectorRegistry`` private to this process;
- ``workers``: how many workers serve the host (from the runtime settings).

In the master (``live=False``: validating a payload, no event loop) the factories raise if a
handler tries to use them while being built: construction must not open connections.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from carbonplane.errors import ConfigError
from carbonplane.gateway.plugins.base import PluginServices


def _redis_key(conf: Mapping[str, Any]) -> tuple:
    return tuple(conf.get(k) for k in ("host", "port", "username", "password", "database",
                                       "ssl", "ssl_verify", "server_name", "timeout"))


class RedisClients:
    """Shared ``redis.asyncio`` clients by connection settings (Kong's ``redis`` record)."""

    def __init__(self) -> None:
        self._clients: dict[tuple, Any] = {}

    def __call__(self, conf: Mapping[str, Any]) -> Any:
        key = _redis_key(conf)
        client = self._clients.get(key)
        if client is None:
            import redis.asyncio as aioredis

            timeout = (conf.get("timeout") or 2000) / 1000.0
            client = aioredis.Redis(
                host=conf.get("host") or "127.0.0.1", port=conf.get("port") or 6379,
                username=conf.get("username"), password=conf.get("password"),
                db=conf.get("database") or 0, ssl=bool(conf.get("ssl")),
                ssl_cert_reqs="required" if conf.get("ssl_verify") else "none",
                socket_timeout=timeout, socket_connect_timeout=timeout,
            )  # fmt: skip
            self._clients[key] = client
        return client


def _not_while_validating(*_: Any) -> Any:
    raise ConfigError("plugin handlers must not open connections while they are built; "
                      "open them on first use", where="plugin services")


def process_services(runtime: Mapping[str, Any], *, live: bool) -> PluginServices:
    """The ``PluginServices`` of this process (see the module docstring)."""
    from prometheus_client import CollectorRegistry

    workers = int(runtime.get("workers") or 1)
    if not live:
        return PluginServices(worker_id=0, workers=workers, registry=CollectorRegistry(),
                              redis=_not_while_validating, producer=_not_while_validating,
                              extra={"runtime": dict(runtime)})
    producer_box: list[Any] = []

    def producer() -> Any:
        if not producer_box:
            from carbonplane.events.producer import get_event_producer

            producer_box.append(get_event_producer())
        return producer_box[0]

    return PluginServices(worker_id=0, workers=workers, registry=CollectorRegistry(),
                          redis=RedisClients(), producer=producer,
                          extra={"runtime": dict(runtime)})
