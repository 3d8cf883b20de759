"""The gateway inside a proxy worker: the config factory the engine's ``Supervisor`` calls, and the
per-process state that outlives config versions (balancer health, active probes, plugin services).

Config distribution uses the engine's mechanism (``proxy/supervisor.py``): the master publishes
*payload bytes*; every worker turns them into a ``ProxyConfig`` with ``worker_config`` and swaps
it in atomically. The payload (JSON, ``encode_payload``) holds:

    {"version": N,                    the GatewayConfig version (Admin API mutations count up)
     "config": {...},                 GatewayConfig.canonical(): ids and timestamps included
     "proxy": {...},                  ProxyConfig fields (trusted_ips, timeouts, limits ...)
     "runtime": {"dir": ..., "workers": N},
     "health": [[seq, upstream, target, healthy], ...]}   manual PUT .../healthy|unhealthy

In a serving worker the engine runs ``worker_config.prepare`` (JSON, the compiled
``GatewayConfig``: pure, seconds for 10,000 routes) in a thread, so the loop keeps serving while
it runs, and then ``worker_config`` on the loop with its result (the app and adoption below,
milliseconds). ``worker_config`` is also what the engine's master may call to validate a
payload before sending it; there it runs without an event loop, builds the app and drops it,
which closes its handlers at once. The gateway's node checks the compiled config with
``check_config`` instead (the same checks without parsing the payload again) and publishes
without a second validation. Inside a serving worker (a running loop) it *adopts* the new app:
the balancers carry over health and load from the previous version, the active health checker
follows the new upstreams, manual health settings newer than the last applied are applied, and
a health report is written to ``<runtime dir>/health-<pid>.json`` (whenever health changes, at
most once per loop iteration) for the Admin API in the master to merge.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Mapping
from typing import Any

from carbonplane.errors import ConfigError
from carbonplane.gateway.config.loader import load_config_data
from carbonplane.gateway.config.model import GatewayConfig
from carbonplane.gateway.plugins import PluginServices, load_bundled
from carbonplane.gateway.plugins.pdk.plugin_services import process_services
from carbonplane.gateway.runtime.app import GatewayApp
from carbonplane.gateway.runtime.headers import gateway_defaults
from carbonplane.http.model import Limits
from carbonplane.proxy import serverstats
from carbonplane.proxy.config import ProxyConfig
from carbonplane.proxy.layers.balance import Balancer, TargetState
from carbonplane.proxy.layers.probes import ActiveHealthChecker

FACTORY = "carbonplane.gateway.runtime.worker:worker_config"
HEALTH_FILE = "health-{pid}.json"
STATUS_FILE = "status-{pid}.json"  # serverstats.counts() of the worker, for GET /status
STATUS_EVERY = 0.5  # seconds between two status files of a worker


def encode_payload(
    config: GatewayConfig,
    *,
    proxy: Mapping[str, Any] | None = None,
    runtime: Mapping[str, Any] | None = None,
    health: list[list[Any]] | None = None,
) -> bytes:
    doc = {
        "version": config.version,
        "config": config.canonical(),
        "proxy": dict(proxy or {}),
        "runtime": dict(runtime or {}),
        "health": list(health or ()),
    }
    return json.dumps(doc, separators=(",", ":")).encode()


def proxy_config(app: Any, version: int, options: Mapping[str, Any]) -> ProxyConfig:
    """A ``ProxyConfig`` for ``app`` from JSON-ready ProxyConfig fields (over Kong's header
    defaults: ``gateway/runtime/headers.py``)."""
    options = {**gateway_defaults(), **options}
    if "limits" in options and isinstance(options["limits"], Mapping):
        options["limits"] = Limits(**options["limits"])
    if "trusted_ips" in options:
        options["trusted_ips"] = tuple(options["trusted_ips"])
    try:
        return ProxyConfig(app=app, version=version, **options)
    except TypeError as exc:
        raise ConfigError(f"unknown proxy setting: {exc}", where="proxy settings") from None


class Prepared:
    """A payload parsed and its ``GatewayConfig`` compiled: the loop-free half of a build."""

    __slots__ = ("doc", "config")

    def __init__(self, doc: Mapping[str, Any], config: GatewayConfig) -> None:
        self.doc = doc
        self.config = config


def prepare(payload: bytes, version: int = 0) -> Prepared:
    """Parse and compile ``payload`` without touching process state, so that a worker can run it
    in a thread while its loop keeps serving (the engine calls ``worker_config.prepare`` so; for
    10,000 routes and consumers this is seconds of CPU). Raises ``ConfigError``."""
    try:
        doc = json.loads(payload)
    except ValueError as exc:
        raise ConfigError(f"gateway payload is not JSON: {exc}", where="gateway payload") from None
    try:
        load_bundled()
        return Prepared(
            doc, load_config_data(doc["config"], source="gateway config", version=doc["version"])
        )
    except Exception as exc:  # GatewayConfigError, a payload without "config"
        raise ConfigError(f"{type(exc).__name__}: {exc}", where="gateway config") from None


def worker_config(payload: bytes | Prepared, version: int = 0) -> ProxyConfig:
    """The engine's config factory: payload bytes (or what ``prepare`` made of them) ->
    ``ProxyConfig`` running a ``GatewayApp``."""
    prepared = payload if isinstance(payload, Prepared) else prepare(payload, version)
    try:
        return _build(prepared.doc, prepared.config, version)
    except ConfigError:
        raise
    except Exception as exc:  # a plugin handler refusing its config
        raise ConfigError(f"{type(exc).__name__}: {exc}", where="gateway config") from None


worker_config.prepare = prepare  # type: ignore[attr-defined]  # the engine's off-loop phase


def check_config(
    config: GatewayConfig,
    *,
    proxy: Mapping[str, Any] | None = None,
    runtime: Mapping[str, Any] | None = None,
) -> None:
    """The master's check before a publish, from the already compiled ``config``: build the app
    (plugin handlers accept their configs) and the proxy settings once, keep nothing. It is what
    ``worker_config`` checks minus re-reading the payload, which the Admin API compiled already
    (for 10,000 routes and consumers that re-read was ~3 s of the master's CPU per reload); a
    payload a worker still cannot build is rejected there and the publish rolled back."""
    load_bundled()
    try:
        app = GatewayApp(
            config,
            process_services(runtime or {}, live=False),
            default_certificate=(runtime or {}).get("default_certificate"),
        )
    except Exception as exc:
        raise ConfigError(f"{type(exc).__name__}: {exc}", where="gateway config") from None
    try:
        proxy_config(app, config.version, proxy or {})
    finally:
        app.close()


def _build(doc: Mapping[str, Any], config: GatewayConfig, version: int) -> ProxyConfig:
    runtime = doc.get("runtime") or {}
    try:
        asyncio.get_running_loop()
    except RuntimeError:  # validation in the master: build everything once, keep nothing
        app = GatewayApp(
            config,
            process_services(runtime, live=False),
            default_certificate=runtime.get("default_certificate"),
        )
        try:
            return proxy_config(app, version, doc.get("proxy") or {})
        finally:
            app.close()
    state = WorkerState.current(runtime)
    app = GatewayApp(
        config,
        state.services,
        previous=state.app,
        on_health_change=state.health_changed,
        default_certificate=runtime.get("default_certificate"),
    )
    try:
        built = proxy_config(app, version, doc.get("proxy") or {})
    except BaseException:
        app.close()
        raise
    state.adopt(app, doc.get("health") or ())
    return built


class WorkerState:
    """What one worker process keeps across config versions."""

    _instance: WorkerState | None = None

    def __init__(self, runtime: Mapping[str, Any]) -> None:
        self.dir = runtime.get("dir")
        self.services: PluginServices = process_services(runtime, live=True)
        self.app: GatewayApp | None = None
        self.checker = ActiveHealthChecker(self.health_changed)
        self.health_seq = 0
        self._report_pending = False
        self._status_timer: asyncio.TimerHandle | None = None
        if self.dir is not None:
            self._write_status()

    @classmethod
    def current(cls, runtime: Mapping[str, Any]) -> WorkerState:
        if cls._instance is None:
            cls._instance = cls(runtime)
        return cls._instance

    @classmethod
    def reset(cls) -> None:
        """Forget the process state (in-process servers in tests start from scratch)."""
        state, cls._instance = cls._instance, None
        if state is not None:
            if state._status_timer is not None:
                state._status_timer.cancel()
            state.checker.close()
            if state.app is not None:
                state.app.close()
            close = getattr(state.services.counters, "close", None)
            if close is not None:
                close()

    def adopt(self, app: GatewayApp, health: list[list[Any]]) -> None:
        """Make ``app`` current: probes, manual health settings, a fresh report."""
        self.app = app  # the previous app retires when its last request and connection let go
        for seq, upstream, target, healthy in health:
            if seq > self.health_seq:
                self.health_seq = seq
                state = app.balancers.get(upstream)
                if state is not None and target in state.by_address:
                    state.by_address[target].health.set_manual(bool(healthy))
        self.checker.update(app.balancers)
        self.health_changed(None, None)

    def health_changed(self, balancer: Balancer | None, target: TargetState | None) -> None:
        if self.dir is None or self._report_pending:
            return
        self._report_pending = True
        asyncio.get_running_loop().call_soon(self._write_report)

    def _write_report(self) -> None:
        self._report_pending = False
        if self.app is None:
            return
        report = {
            "pid": os.getpid(),
            "version": self.app.version,
            "upstreams": self.app.health_report(),
        }
        _write_json(os.path.join(self.dir, HEALTH_FILE.format(pid=os.getpid())), report)

    def _write_status(self) -> None:
        """This worker's connection and request counters, every ``STATUS_EVERY`` seconds."""
        path = os.path.join(self.dir, STATUS_FILE.format(pid=os.getpid()))
        _write_json(path, serverstats.counts())
        self._status_timer = asyncio.get_running_loop().call_later(STATUS_EVERY, self._write_status)


def _write_json(path: str, doc: Any) -> None:
    temp = path + ".tmp"
    try:
        with open(temp, "w") as f:
            json.dump(doc, f)
        os.replace(temp, path)
    except OSError:  # the master removed the directory: it is shutting down
        pass


def read_health_reports(directory: str, pids: list[int], name: str = HEALTH_FILE) -> list[dict]:
    """The latest report of each live worker (master side); ``name``: which report."""
    out = []
    for pid in pids:
        try:
            with open(os.path.join(directory, name.format(pid=pid))) as f:
                out.append(json.load(f))
        except (OSError, ValueError):
            continue
    return out


def read_status(directory: str, pids: list[int]) -> dict[str, int]:
    """The workers' connection and request counters added up (at most ``STATUS_EVERY`` old)."""
    return serverstats.add(read_health_reports(directory, pids, STATUS_FILE))


def merge_health(
    upstream: Mapping[str, Any], reports: list[dict[str, Any]], fallback: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Kong's health rows for one upstream from every worker's report: a target is UNHEALTHY
    when any worker stopped sending it traffic; ``workers`` shows each worker's view."""
    rows: dict[str, dict[str, Any]] = {}
    for report in reports:
        for row in report.get("upstreams", {}).get(upstream["name"], ()):
            merged = rows.setdefault(row["target"], {**row, "workers": {}})
            merged["workers"][str(report["pid"])] = row["health"]
            if row["health"] == "UNHEALTHY":
                merged["health"] = "UNHEALTHY"
    if not rows:
        return fallback
    return list(rows.values())
