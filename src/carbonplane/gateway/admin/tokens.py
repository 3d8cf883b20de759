"""``/oauth2_tokens``: the access tokens the oauth2 plugin issued, as Kong's Admin API shows
them (``kong/plugins/oauth2/daos.lua``, ``oauth2_tokens``; endpoint key ``access_token``).

- ``GET /oauth2_tokens``: every live token of every store the current config's oauth2 plugins
  use (the embedded file, and each distinct Redis), oldest first, paged by ``size`` (1..1000,
  default 100) and an opaque ``offset``;
- ``GET /oauth2_tokens/{id or access_token}``: one token, 404 when absent or expired;
- ``DELETE /oauth2_tokens/{id or access_token}``: revoke it (204, also when absent, as Kong's
  DELETE). Every worker and gateway sharing the store refuses it from then on: tokens are
  read from the store on every request.

A token is rendered with Kong's fields: ``id``, ``created_at`` (s), ``service`` / ``credential``
references, ``token_type``, ``expires_in``, ``access_token``, ``refresh_token``,
``authenticated_userid``, ``scope`` and ``ttl`` (seconds until the row is purged, or null).
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Mapping
from typing import Any

from carbonplane.errors import AdminAPIError, TokenStoreError
from carbonplane.gateway.plugins.oauth2.stores import stores_of

MAX_PAGE = 1000


def render(token: Mapping[str, Any], now: float) -> dict[str, Any]:
    purge_at = token.get("purge_at")
    service = token.get("service_id")
    return {
        "id": token["id"],
        "created_at": int(token["created_at"]),
        "service": {"id": service} if service else None,
        "credential": {"id": token["credential_id"]},
        "token_type": token.get("token_type", "bearer"),
        "expires_in": token.get("expires_in"),
        "access_token": token["access_token"],
        "refresh_token": token.get("refresh_token"),
        "authenticated_userid": token.get("authenticated_userid"),
        "scope": token.get("scope"),
        "ttl": max(int(purge_at - now), 0) if purge_at is not None else None,
    }


def find(stores: list, key: str) -> tuple[Any, dict[str, Any]] | None:
    for store in stores:
        token = store.token_by_id(key) or store.token_by_access(key)
        if token is not None:
            return store, token
    return None


def handle(config: Any, method: str, segs: list[str], q: dict) -> tuple[int, Any]:
    """(status, JSON document or None) for a request under ``/oauth2_tokens``; a store that
    cannot be reached is a 500 naming it."""
    try:
        return _handle(config, method, segs, q)
    except TokenStoreError as exc:
        raise AdminAPIError(500, {"message": str(exc)}) from exc


def _handle(config: Any, method: str, segs: list[str], q: dict) -> tuple[int, Any]:
    stores = stores_of(config)
    now = time.time()
    if len(segs) == 1:
        if method != "GET":
            raise AdminAPIError(405, {"message": "Method not allowed"})
        tokens = sorted(
            (t for s in stores for t in s.list_tokens()), key=lambda t: (t["created_at"], t["id"])
        )
        return 200, page([render(t, now) for t in tokens], q)
    if len(segs) != 2:
        raise AdminAPIError(404, {"message": "Not found"})
    found = find(stores, segs[1])
    if method == "GET":
        if found is None:
            raise AdminAPIError(404, {"message": "Not found"})
        return 200, render(found[1], now)
    if method == "DELETE":
        if found is not None:
            found[0].remove_token(found[1]["id"])
        return 204, None
    raise AdminAPIError(405, {"message": "Method not allowed"})


def page(rows: list[dict[str, Any]], q: dict) -> dict[str, Any]:
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
    size = int(raw)
    start = 0
    token = q.get("offset", [None])[-1]
    if token:
        try:
            start = int(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        except (binascii.Error, ValueError):
            raise AdminAPIError(
                400,
                {
                    "code": 7,
                    "name": "invalid offset",
                    "message": f"'{token}' is not a valid offset: bad base64 encoding",
                },
            ) from None
    out: dict[str, Any] = {"data": rows[start : start + size], "next": None}
    if start + size < len(rows):
        offset = base64.urlsafe_b64encode(str(start + size).encode()).decode().rstrip("=")
        out["offset"] = offset
        out["next"] = f"/oauth2_tokens?offset={offset}&size={size}"
    return out
