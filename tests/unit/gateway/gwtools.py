"""Helpers for the gateway unit tests: build configs from short route tables, call the sans-IO
Admin API and decode its answers."""

from __future__ import annotations

import json
from typing import Any

from carbonplane.gateway.admin import AdminAPI
from carbonplane.gateway.config.loader import load_config_data
from carbonplane.gateway.config.model import GatewayConfig

DEFAULT_SERVICE = {"name": "svc", "host": "upstream.internal", "port": 8080}


def config_with_routes(
    routes: list[dict[str, Any]], services: list[dict[str, Any]] | None = None, **extra: Any
) -> GatewayConfig:
    """A config whose routes (named r0, r1, ... unless named) point at service ``svc``."""
    named = []
    for i, route in enumerate(routes):
        r = {"name": f"r{i}", "service": "svc", **route}
        if r["service"] is None:
            del r["service"]
        named.append(r)
    data = {
        "_format_version": "3.0",
        "services": services or [DEFAULT_SERVICE],
        "routes": named,
        **extra,
    }
    return load_config_data(data, now=1_700_000_000)


def matched(
    cfg: GatewayConfig, method: str, host: str | None, path: str, headers: Any = None, **kw: Any
) -> str | None:
    """The name of the route that serves the request, or None."""
    m = cfg.router.match(method, host, path, headers, **kw)
    return None if m is None else m.route["name"]


class AdminClient:
    """Calls ``AdminAPI.handle`` the way an HTTP client would and decodes JSON answers."""

    def __init__(self, api: AdminAPI) -> None:
        self.api = api

    def call(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        form: str | None = None,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
        query: dict[str, Any] | None = None,
    ) -> tuple[int, Any, dict[str, str]]:
        hdrs = dict(headers or {})
        body = b""
        if json_body is not None:
            body = json.dumps(json_body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        elif form is not None:
            body = form.encode()
            hdrs.setdefault("Content-Type", "application/x-www-form-urlencoded")
        elif raw is not None:
            body = raw
        status, out_headers, out = self.api.handle(method, path, query or {}, hdrs, body)
        decoded = {k.decode(): v.decode() for k, v in out_headers}
        if out and decoded.get("content-type", "").startswith("application/json"):
            return status, json.loads(out), decoded
        return status, out, decoded

    def get(self, path: str, **kw: Any) -> tuple[int, Any]:
        return self.call("GET", path, **kw)[:2]

    def post(self, path: str, **kw: Any) -> tuple[int, Any]:
        return self.call("POST", path, **kw)[:2]

    def put(self, path: str, **kw: Any) -> tuple[int, Any]:
        return self.call("PUT", path, **kw)[:2]

    def patch(self, path: str, **kw: Any) -> tuple[int, Any]:
        return self.call("PATCH", path, **kw)[:2]

    def delete(self, path: str, **kw: Any) -> tuple[int, Any]:
        return self.call("DELETE", path, **kw)[:2]


def make_service(admin, name="svc", **fields):
    status, body = admin.post(
        "/services", json_body={"name": name, "host": f"{name}.internal", **fields}
    )
    assert status == 201, body
    return body
