"""The Admin API, shaped like Kong's, as one sans-IO function:
``AdminAPI.handle(method, path, query, headers, body) -> (status, headers, body)``.
The returned headers never include framing (Content-Length, Transfer-Encoding): the server that
writes the response frames it.

Endpoints (Kong 3.x ``kong/api/routes/*.lua``): ``GET /`` and ``GET /status``; CRUD on
``/certificates`` (with the ``snis`` shorthand, ``admin/certificates.py``), ``/snis``,
``/ca_certificates``, ``/certificates/{c}/snis``, ``/services``, ``/routes``, ``/upstreams``,
``/consumers``, ``/plugins``, ``/key-auths``, ``/jwts``, ``/acls``, ``/basic-auths``,
``/hmac-auths``, ``/oauth2``; nested
``/services/{s}/routes``, ``/services/{s}/plugins``, ``/routes/{r}/plugins``,
``/routes/{r}/service``, ``/consumers/{c}/plugins``,
``/consumers/{c}/{key-auth,jwt,acls,basic-auth,hmac-auth,oauth2}``,
``/upstreams/{u}/targets[/all]``,
``/upstreams/{u}/health``, ``PUT /upstreams/{u}/targets/{t}/{healthy,unhealthy}``;
``/oauth2_tokens`` (admin/tokens.py);
``/plugins/enabled``, ``/plugins/schema/{name}``, ``/schemas/{entity}``,
``/schemas/plugins/{name}``, ``POST /schemas/{entity}/validate``, ``/tags/{tag}``, ``/endpoints``;
``GET``/``POST /config``; ``GET /metrics``.

Status codes: 200 read/update/upsert, 201 create, 204 delete (also of an absent top-level
entity), 400 schema/foreign-key/primary-key violations and bad paging, 404 ``{"message": "Not
found"}``, 405 ``{"message": "Method not allowed"}``, 409 unique violations, 401 without the
admin token when one is configured (header ``Kong-Admin-Token``, compared in constant time).
Lists: ``{"data": [...], "next": "/services?offset=..."|null, "offset": "..."}``, ``size``
1..1000 (default 100), ``offset`` an opaque token that stays valid while entities change,
``tags=a,b`` (all) or ``tags=a/b`` (any).

Hooks connect it to a running gateway: ``on_config_change(config)`` after every change,
``metrics() -> (content_type, bytes)``, ``status() -> dict`` (merged into ``/status``),
``upstream_health(upstream) -> list`` and ``set_target_health(upstream, target, healthy)``.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qs, quote, unquote

from carbonplane.errors import AdminAPIError, ConfigError
from carbonplane.gateway.admin import meta
from carbonplane.gateway.admin.bodies import (
    BodyError,
    body_schema,
    normalize_headers,
    parse_body,
    parse_query,
)
from carbonplane.gateway.admin.certificates import show_certificate
from carbonplane.gateway.admin.responses import Response, method_not_allowed, respond
from carbonplane.gateway.admin.store import ConfigStore, not_found
from carbonplane.gateway.config.entities import ENTITY_TYPES, nested_kind, resolve_kind
from carbonplane.gateway.config.entities.upstreams import normalize_target
from carbonplane.gateway.config.model import GatewayConfig, compile_config
from carbonplane.gateway.config.schema import thaw
from carbonplane.gateway.plugins import load_bundled

TOKEN_HEADER = "kong-admin-token"
MAX_PAGE = 1000


def check_admin_listen(host: str, token: str | None) -> None:
    """Refuse an Admin API listener beyond loopback without a token (>= 16 characters)."""
    loopback = (
        host in ("localhost", "::1", "[::1]") or host.startswith("127.") or host.startswith("unix:")
    )
    if loopback:
        return
    if not token:
        raise ConfigError(
            f"refusing to serve the Admin API on {host or '0.0.0.0'} without an admin "
            "token: anyone who reaches it controls the gateway. Listen on 127.0.0.1 "
            "or set an admin token (sent as the Kong-Admin-Token header)",
            where="--admin-listen",
        )
    if len(token) < 16:
        raise ConfigError(
            f"the admin token must be at least 16 characters when the Admin API listens on {host}",
            where="admin token",
        )


class AdminAPI:
    """Kong-shaped Admin API over a ``ConfigStore``; every method is synchronous and pure."""

    def __init__(
        self,
        config: GatewayConfig | None = None,
        *,
        token: str | None = None,
        on_config_change: Callable[[GatewayConfig], None] | None = None,
        metrics: Callable[[], tuple[str, bytes] | None] | None = None,
        status: Callable[[], dict] | None = None,
        upstream_health: Callable[[Mapping], list[dict]] | None = None,
        set_target_health: Callable[[Mapping, Mapping, bool], None] | None = None,
        node_info: Mapping[str, Any] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        load_bundled()  # the bundled plugins are valid in every payload (Kong: plugins = bundled)
        self.store = ConfigStore(
            config or compile_config({}), clock=clock, on_change=on_config_change
        )
        self._token = token.encode() if token else None
        self.hooks = meta.Hooks(metrics, status, upstream_health, set_target_health)
        self.node = meta.NodeInfo(dict(node_info or {}))

    @property
    def config(self) -> GatewayConfig:
        return self.store.current

    @property
    def on_config_change(self) -> Callable[[GatewayConfig], None] | None:
        return self.store.on_change

    @on_config_change.setter
    def on_config_change(self, callback: Callable[[GatewayConfig], None] | None) -> None:
        self.store.on_change = callback

    # -- entry point ----------------------------------------------------------------------
    def handle(
        self,
        method: str,
        path: str,
        query: Mapping[str, Any] | None,
        headers: Any,
        body: bytes = b"",
    ) -> Response:
        hdrs = normalize_headers(headers)
        if self._token is not None:
            given = hdrs.get(TOKEN_HEADER, "").encode()
            if not hmac.compare_digest(given, self._token):
                return respond(
                    401,
                    {
                        "message": "Unauthorized: send the admin token in the "
                        "Kong-Admin-Token header"
                    },
                )
        q = parse_query(query)
        if "?" in path:
            path, raw_query = path.split("?", 1)
            for k, v in parse_qs(raw_query, keep_blank_values=True).items():
                q.setdefault(k, v)
        segs = [unquote(s) for s in path.strip("/").split("/") if s]
        try:
            return self._dispatch(method.upper(), segs, q, hdrs, body)
        except AdminAPIError as exc:
            return respond(exc.status, exc.body)
        except BodyError as exc:
            return respond(exc.status, {"message": str(exc)})

    def _dispatch(self, method: str, segs: list[str], q: dict, hdrs: dict, body: bytes) -> Response:
        special = meta.dispatch(self, method, segs, q, hdrs, body)
        if special is not None:
            return special
        kind = resolve_kind(segs[0]) if segs else None
        if kind is None:
            raise not_found()
        if len(segs) == 1:
            return self._collection(method, kind, None, q, hdrs, body, "/" + segs[0])
        entity = self._find(kind, segs[1])
        if len(segs) == 2:
            return self._entity(method, kind, segs[1], entity, None, hdrs, body)
        if entity is None:
            raise not_found()
        if kind == "routes" and segs[2] == "service" and len(segs) == 3:
            return self._route_service(method, entity)
        child = nested_kind(kind, segs[2])
        if child is None:
            raise not_found()
        child_kind, fk = child
        parent = (fk, entity)
        if len(segs) == 3 or (child_kind == "targets" and segs[3] == "all" and len(segs) == 4):
            base = "/" + "/".join(quote(s, safe="") for s in segs)
            return self._collection(method, child_kind, parent, q, hdrs, body, base)
        target = self._find_child(child_kind, fk, entity, segs[3])
        if len(segs) == 4:
            return self._entity(method, child_kind, segs[3], target, parent, hdrs, body)
        if child_kind == "targets" and len(segs) == 5 and segs[4] in ("healthy", "unhealthy"):
            return meta.set_health(self, method, entity, target, segs[4] == "healthy")
        raise not_found()

    # -- lookups --------------------------------------------------------------------------
    def _find(self, kind: str, key: str) -> Mapping | None:
        return self.config.get(kind, key)

    def _find_child(self, kind: str, fk: str, parent: Mapping, key: str) -> Mapping | None:
        children = self.config.children(kind, fk, parent["id"])
        wanted = normalize_target(key) if kind == "targets" else key
        field = ENTITY_TYPES[kind].endpoint_key or ("group" if kind == "acls" else None)
        for e in children:
            if e["id"] == key or (field and e.get(field) == wanted):
                return e
        return None

    # -- handlers -------------------------------------------------------------------------
    def _collection(
        self,
        method: str,
        kind: str,
        parent: tuple[str, Mapping] | None,
        q: dict,
        hdrs: dict,
        body: bytes,
        base: str,
    ) -> Response:
        if method == "GET":
            items = (
                self.config.children(kind, parent[0], parent[1]["id"])
                if parent
                else self.config.entities(kind)
            )
            return respond(200, self.page(kind, items, q, base))
        if method == "POST":
            created = self.store.create(kind, self._body(kind, body, hdrs), parent=parent)
            return respond(201, self.show(kind, created))
        raise method_not_allowed()

    def _entity(
        self,
        method: str,
        kind: str,
        key: str,
        entity: Mapping | None,
        parent: tuple[str, Mapping] | None,
        hdrs: dict,
        body: bytes,
    ) -> Response:
        if method == "GET":
            if entity is None:
                raise not_found()
            return respond(200, self.show(kind, entity))
        if method == "PATCH":
            if entity is None:
                raise not_found()
            return respond(
                200,
                self.show(
                    kind,
                    self.store.update(kind, entity, self._body(kind, body, hdrs), parent=parent),
                ),
            )
        if method == "PUT":
            data = self._body(kind, body, hdrs)
            return respond(
                200,
                self.show(kind, self.store.upsert(kind, key, data, parent=parent, existing=entity)),
            )
        if method == "DELETE":
            if entity is not None:
                self.store.delete(kind, entity)
            return 204, [], b""
        raise method_not_allowed()

    def _route_service(self, method: str, route: Mapping) -> Response:
        if method != "GET":
            raise method_not_allowed()
        service = (
            self.config.get("services", route["service"]["id"]) if route.get("service") else None
        )
        if service is None:
            raise not_found()
        return respond(200, thaw(service))

    def show(self, kind: str, entity: Mapping) -> dict[str, Any]:
        """An entity as responses carry it (a certificate lists its SNI names)."""
        if kind == "certificates":
            return show_certificate(self.config, entity)
        return thaw(entity)

    def _body(self, kind: str, body: bytes, hdrs: dict) -> dict[str, Any]:
        return parse_body(body, hdrs, body_schema(kind, body, hdrs))

    # -- paging ---------------------------------------------------------------------------
    def page(self, kind: str, items: tuple[Mapping, ...], q: dict, base: str) -> dict[str, Any]:
        size = _page_size(q)
        items = _filter_tags(items, q.get("tags", [None])[-1])
        start = 0
        token = q.get("offset", [None])[-1]
        if token:
            after = _decode_offset(token)
            start = next(
                (i for i, e in enumerate(items) if self.config.seq(kind, e["id"]) >= after),
                len(items),
            )
        chunk = items[start : start + size]
        out: dict[str, Any] = {"data": [self.show(kind, e) for e in chunk], "next": None}
        if start + size < len(items):
            offset = _encode_offset(self.config.seq(kind, items[start + size]["id"]))
            extra = "".join(
                f"&{k}={quote(v[-1], safe='')}" for k, v in q.items() if k in ("size", "tags")
            )
            out["offset"] = offset
            out["next"] = f"{base}?offset={quote(offset, safe='')}{extra}"
        return out


def _page_size(q: dict) -> int:
    raw = q.get("size", ["100"])[-1]
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE:
        raise AdminAPIError(
            400,
            {
                "code": 9,
                "name": "invalid size",
                "message": f"size must be an integer between 1 and {MAX_PAGE}",
            },
        )
    return int(raw)


def _encode_offset(seq: int) -> str:
    return base64.urlsafe_b64encode(json.dumps([seq]).encode()).decode().rstrip("=")


def _decode_offset(token: str) -> int:
    try:
        value = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        if isinstance(value, list) and len(value) == 1 and isinstance(value[0], int):
            return value[0]
    except (binascii.Error, ValueError, UnicodeDecodeError, RecursionError):
        pass
    raise AdminAPIError(
        400,
        {
            "code": 7,
            "name": "invalid offset",
            "message": f"'{token}' is not a valid offset: bad base64 encoding",
        },
    )


def _filter_tags(items: tuple[Mapping, ...], tags: str | None) -> tuple[Mapping, ...]:
    if not tags:
        return items
    if "," in tags and "/" in tags:
        raise AdminAPIError(
            400,
            {
                "code": 11,
                "name": "invalid options",
                "message": "invalid option (tags: invalid filter syntax)",
                "options": {"tags": "invalid filter syntax"},
            },
        )
    if "/" in tags:
        wanted = set(tags.split("/"))
        return tuple(e for e in items if wanted & set(e.get("tags") or ()))
    wanted = set(tags.split(","))
    return tuple(e for e in items if wanted <= set(e.get("tags") or ()))
