"""Admin API endpoints that are not entity CRUD: node info, status, declarative config,
metrics, schemas, enabled plugins, tags, endpoint list and upstream health.

- ``GET /`` (Kong's node info: tagline, version, hostname, node_id, plugins, configuration);
  ``version`` is the Kong version whose Admin API this one matches (``KONG_VERSION``), as Kong
  tools read it, and ``carbonplane_version`` ours;
- ``GET /status`` (``configuration_hash``, ``memory``, plus what the engine's ``status`` hook
  reports, e.g. ``server.connections_active`` and ``total_requests``);
- ``GET /config`` -> ``{"config": "<yaml>"}``; ``POST /config`` replaces the whole config from a
  raw YAML/JSON body, a ``config`` field (JSON, form or multipart) or a parsed object;
  ``check_hash=1`` answers 304 when nothing would change; errors are 400 ``invalid declarative
  configuration`` (code 14) listing every problem; success is 201 with the new config's canonical
  form;
- ``POST /config/reload`` (carbonplane's, the Admin API side of ``kong reload``): the gateway
  re-reads the file it was started with through the ``reload`` hook; 200 with the new
  ``configuration_version``/``configuration_hash``, 400 (code 14, problems with ``file:line``)
  when the file is invalid or the workers cannot run it - the previous config keeps serving;
- ``GET /metrics`` from the ``metrics`` hook (404 without one, as Kong without prometheus);
- ``GET /schemas/{entity}``, ``GET /schemas/plugins/{name}``, ``GET /plugins/schema/{name}``,
  ``POST /schemas/{entity}/validate``, ``GET /plugins/enabled``, ``GET /tags/{tag}``,
  ``GET /endpoints``; ``GET /upstreams/{u}/health`` and ``PUT .../targets/{t}/healthy|unhealthy``
  through the health hooks; ``DELETE /proxy-cache[/{key}]`` through the ``purge_cache`` hook
  (``plugins/proxy_cache/api.py``);
- ``/oauth2_tokens[/{id}]``: the oauth2 plugin's issued tokens (list, get, revoke; ``tokens``).
"""

from __future__ import annotations

import resource
import socket
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import yaml

import carbonplane
from carbonplane.errors import AdminAPIError, GatewayConfigError
from carbonplane.gateway.admin import tokens
from carbonplane.gateway.admin.bodies import (
    body_schema,
    content_type,
    load_json,
    multipart_field,
    parse_body,
)
from carbonplane.gateway.admin.responses import Response, method_not_allowed, respond
from carbonplane.gateway.admin.store import not_found, schema_violation
from carbonplane.gateway.config.describe import describe_record
from carbonplane.gateway.config.entities import (
    ENTITY_ORDER,
    ENTITY_TYPES,
    plugin_spec,
    registered_plugins,
    resolve_kind,
    validate_entity,
)
from carbonplane.gateway.config.loader import load_config_data, load_config_text
from carbonplane.gateway.plugins.proxy_cache import api as proxy_cache_api
from carbonplane.gateway.runtime.balancing import balancer_for

if TYPE_CHECKING:  # for annotations only: api imports this module, never the reverse
    from carbonplane.gateway.admin.api import AdminAPI

ENDPOINTS = (
    "/",
    "/status",
    "/config",
    "/config/reload",
    "/metrics",
    "/endpoints",
    "/schemas/{entity}",
    "/schemas/{entity}/validate",
    "/schemas/plugins/{name}",
    "/plugins/enabled",
    "/plugins/schema/{name}",
    "/tags/{tag}",
    *(
        p
        for kind in ENTITY_ORDER
        if kind != "targets"
        for p in (f"/{ENTITY_TYPES[kind].admin_name}", f"/{ENTITY_TYPES[kind].admin_name}/{{id}}")
    ),
    "/services/{services}/routes",
    "/services/{services}/plugins",
    "/routes/{routes}/service",
    "/routes/{routes}/plugins",
    "/consumers/{consumers}/plugins",
    "/consumers/{consumers}/key-auth",
    "/consumers/{consumers}/jwt",
    "/consumers/{consumers}/acls",
    "/consumers/{consumers}/basic-auth",
    "/consumers/{consumers}/hmac-auth",
    "/consumers/{consumers}/oauth2",
    "/oauth2_tokens",
    "/oauth2_tokens/{oauth2_tokens}",
    "/upstreams/{upstreams}/targets",
    "/upstreams/{upstreams}/targets/all",
    "/upstreams/{upstreams}/targets/{targets}",
    "/upstreams/{upstreams}/health",
    "/upstreams/{upstreams}/targets/{targets}/healthy",
    "/upstreams/{upstreams}/targets/{targets}/unhealthy",
    "/proxy-cache",
    "/proxy-cache/{cache_key}",
    "/proxy-cache/{plugin_id}/caches/{cache_key}",
)


@dataclass(frozen=True)
class Hooks:
    metrics: Callable[[], tuple[str, bytes] | None] | None = None
    status: Callable[[], dict] | None = None
    upstream_health: Callable[[Mapping], list[dict]] | None = None
    set_target_health: Callable[[Mapping, Mapping, bool], None] | None = None
    reload: Callable[[], Any] | None = None  # re-read the start file and publish it
    purge_cache: Callable[[str | None], None] | None = None  # proxy-cache purge, every worker


@dataclass
class NodeInfo:
    configuration: dict[str, Any]
    node_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    hostname: str = field(default_factory=socket.gethostname)


def dispatch(
    api: AdminAPI, method: str, segs: list[str], q: dict, hdrs: dict, body: bytes
) -> Response | None:
    n = len(segs)
    head = segs[0] if segs else ""
    if n == 0:
        _only(method, "GET")
        return respond(200, root(api))
    if head == "status" and n == 1:
        _only(method, "GET")
        return respond(200, status(api))
    if head == "config" and n == 1:
        if method == "GET":
            text = yaml.safe_dump(api.config.canonical(), sort_keys=False, allow_unicode=True)
            return respond(200, {"config": text})
        if method == "POST":
            return post_config(api, q, hdrs, body)
        raise method_not_allowed()
    if head == "config" and n == 2 and segs[1] == "reload":
        _only(method, "POST")
        return reload_config(api)
    if head == "metrics" and n == 1:
        _only(method, "GET")
        got = api.hooks.metrics() if api.hooks.metrics else None
        if got is None:
            raise not_found()
        ctype, data = got
        return 200, [(b"content-type", ctype.encode())], data
    if head == "oauth2_tokens" and n <= 2:
        code, doc = tokens.handle(api.config, method, segs, q)
        return (204, [], b"") if doc is None else respond(code, doc)
    if head == "endpoints" and n == 1:
        _only(method, "GET")
        return respond(200, {"data": list(ENDPOINTS), "next": None})
    if head == "schemas" and n >= 2:
        return schemas(api, method, segs[1:], hdrs, body)
    if head == "plugins" and n == 2 and segs[1] == "enabled":
        _only(method, "GET")
        return respond(200, {"enabled_plugins": list(registered_plugins())})
    if head == "plugins" and n == 3 and segs[1] == "schema":
        _only(method, "GET")
        return respond(200, _plugin_schema(segs[2]))
    if head == "tags" and n == 2:
        _only(method, "GET")
        return respond(200, _tagged(api, segs[1], q))
    if head == "upstreams" and n == 3 and segs[2] == "health":
        _only(method, "GET")
        upstream = api.config.get("upstreams", segs[1])
        if upstream is None:
            raise not_found()
        return respond(200, {"id": upstream["id"], "data": _health(api, upstream), "next": None})
    if head == "proxy-cache":
        return proxy_cache_api.dispatch(api, method, segs, api.hooks.purge_cache)
    return None


def _only(method: str, allowed: str) -> None:
    if method != allowed:
        raise AdminAPIError(405, {"message": "Method not allowed"})


# The Kong Admin API (and declarative format) this one matches; GET / reports it as "version"
KONG_VERSION = "3.9.0"


def root(api: AdminAPI) -> dict[str, Any]:
    plugins = registered_plugins()
    return {
        "tagline": "Welcome to carbonplane",
        "version": KONG_VERSION,  # what Kong tools (decK, Terraform providers) read
        "carbonplane_version": carbonplane.__version__,
        "hostname": api.node.hostname,
        "node_id": api.node.node_id,
        "plugins": {
            "available_on_server": {name: {"version": carbonplane.__version__} for name in plugins},
            "enabled_in_cluster": sorted({p["name"] for p in api.config.plugins}),
        },
        "configuration": {
            "database": "off",
            "router_flavor": "traditional_compatible",
            **api.node.configuration,
        },
    }


def status(api: AdminAPI) -> dict[str, Any]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    out: dict[str, Any] = {
        "configuration_hash": api.config.hash,
        "configuration_version": api.config.version,
        "memory": {"maxrss_kb": usage.ru_maxrss},
    }
    if api.hooks.status is not None:
        out.update(api.hooks.status())
    return out


def post_config(api: AdminAPI, q: dict, hdrs: dict, body: bytes) -> Response:
    version = api.config.version + 1
    try:
        parsed = _config_payload(body, hdrs)
        if isinstance(parsed, (bytes, str)):
            new = load_config_text(parsed, source="POST /config", version=version)
        else:
            new = load_config_data(parsed, source="POST /config", version=version)
    except GatewayConfigError as exc:
        problems = [str(p) for p in exc.problems]
        payload: dict[str, Any] = {
            "code": 14,
            "name": "invalid declarative configuration",
            "message": f"declarative config is invalid: {'; '.join(problems)}",
            "fields": {p.where or p.kind: p.message for p in exc.problems},
        }
        if q.get("flatten_errors", ["0"])[-1] in ("1", "true"):
            payload["flattened_errors"] = [
                {"where": p.where, "message": p.message} for p in exc.problems
            ]
        return respond(400, payload)
    if q.get("check_hash", ["0"])[-1] in ("1", "true") and new.hash == api.config.hash:
        return 304, [], b""
    api.store.replace(new)
    return respond(201, new.canonical())


def reload_config(api: AdminAPI) -> Response:
    if api.hooks.reload is None:
        raise AdminAPIError(
            400,
            {
                "message": "this Admin API is not connected to a gateway "
                "started from a config file: nothing to re-read"
            },
        )
    try:
        new = api.hooks.reload()
    except GatewayConfigError as exc:
        problems = [str(p) for p in exc.problems]
        return respond(
            400,
            {
                "code": 14,
                "name": "invalid declarative configuration",
                "message": f"declarative config is invalid: {'; '.join(problems)}",
                "flattened_errors": [
                    {"where": p.where, "message": p.message} for p in exc.problems
                ],
            },
        )
    return respond(
        200,
        {
            "message": "configuration reloaded",
            "configuration_version": new.version,
            "configuration_hash": new.hash,
        },
    )


def _config_payload(body: bytes, hdrs: dict) -> Any:
    ctype = content_type(hdrs)
    if ctype == "application/json" or (not ctype and body.lstrip().startswith(b"{")):
        try:
            data = load_json(body or b"{}")
        except ValueError:
            return body  # let the loader report where the text is broken
        if (
            isinstance(data, dict)
            and isinstance(data.get("config"), str)
            and "_format_version" not in data
        ):
            return data["config"]
        return data
    if ctype == "application/x-www-form-urlencoded":
        from urllib.parse import parse_qsl

        fields = dict(parse_qsl(body.decode("utf-8", "replace")))
        return fields.get("config", "")
    if ctype == "multipart/form-data":  # curl -F config=@kong.yml, as Kong documents
        return multipart_field(body, hdrs.get("content-type", ""), "config")
    return body


def schemas(api: AdminAPI, method: str, rest: list[str], hdrs: dict, body: bytes) -> Response:
    if rest[0] == "plugins" and len(rest) == 2:
        _only(method, "GET")
        return respond(200, _plugin_schema(rest[1]))
    kind = rest[0] if rest[0] in ENTITY_TYPES else resolve_kind(rest[0])
    if kind is None or len(rest) > 2 or (len(rest) == 2 and rest[1] != "validate"):
        raise not_found()
    if len(rest) == 1:
        _only(method, "GET")
        return respond(200, {"fields": describe_record(ENTITY_TYPES[kind].schema)})
    _only(method, "POST")
    data = parse_body(body, hdrs, body_schema(kind, body, hdrs))
    _, problems = validate_entity(kind, data)
    if problems:
        raise schema_violation(problems)
    return respond(200, {"message": "schema validation successful"})


def _plugin_schema(name: str) -> dict[str, Any]:
    spec = plugin_spec(name)
    if spec is None:
        raise AdminAPIError(404, {"message": f"No plugin named '{name}'"})
    return {
        "fields": [
            {"config": {"type": "record", "required": True, "fields": describe_record(spec.config)}}
        ]
    }


def _tagged(api: AdminAPI, tag: str, q: dict) -> dict[str, Any]:
    rows = [
        {"entity_name": kind, "entity_id": e["id"], "tag": tag}
        for kind in ENTITY_ORDER
        for e in api.config.entities(kind)
        if tag in (e.get("tags") or ())
    ]
    return {"data": rows, "next": None}


def _health(api: AdminAPI, upstream: Mapping) -> list[dict]:
    if api.hooks.upstream_health is not None:
        return api.hooks.upstream_health(upstream)
    # No running balancer in this process: report the state a fresh balancer starts with.
    return balancer_for(upstream, api.config.targets_of(upstream["id"])).health_report()


def set_health(
    api: AdminAPI, method: str, upstream: Mapping, target: Mapping | None, healthy: bool
) -> Response:
    if method not in ("PUT", "POST"):
        raise AdminAPIError(405, {"message": "Method not allowed"})
    if target is None:
        raise not_found()
    if api.hooks.set_target_health is None:
        raise AdminAPIError(
            503,
            {
                "message": "health checks run in the gateway workers; this "
                "Admin API is not connected to them"
            },
        )
    api.hooks.set_target_health(upstream, target, healthy)
    return 204, [], b""
