"""The consumers and credentials of one gateway config version, indexed for the auth plugins.

This is all of the config a plugin sees: the runtime builds one ``CredentialIndex`` per config
version (``runtime/app.py``) and hands it to that version's handlers as
``PluginServices.credentials``; the jwt, key-auth and acl handlers look consumers, credentials
and ACL groups up in it, never in the config itself.

Invariants: an index is built once and never changed (a new config version gets a new one);
API keys are indexed by their SHA-256 digest (``hash_key``), never by the secret itself, so
lookup timing reveals nothing about stored keys; the entities it returns are the config's own
frozen mappings.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any


def hash_key(key: str | bytes) -> bytes:
    """The index key of an API key (text as UTF-8, or raw header bytes): lookups go through a
    digest, never the secret itself, so timing reveals nothing about stored keys."""
    if type(key) is str:
        key = key.encode("utf-8", "surrogateescape")
    return hashlib.sha256(key).digest()


class CredentialIndex:
    """Consumers by id and username, credentials by key or username (oauth2 applications by
    client_id), ACL groups by consumer id.

    ``config`` is anything with ``entities(kind)`` (a compiled ``GatewayConfig``)."""

    __slots__ = (
        "consumers",
        "usernames",
        "jwt_secrets",
        "api_keys",
        "basic_users",
        "hmac_users",
        "oauth2_clients",
        "groups",
    )

    def __init__(self, config: Any) -> None:
        consumers = config.entities("consumers")
        self.consumers = {c["id"]: c for c in consumers}
        self.usernames = {c["username"]: c for c in consumers if c.get("username")}
        self.jwt_secrets = {s["key"]: s for s in config.entities("jwt_secrets")}
        self.api_keys = {hash_key(k["key"]): k for k in config.entities("keyauth_credentials")}
        self.basic_users = {b["username"]: b for b in config.entities("basicauth_credentials")}
        self.hmac_users = {h["username"]: h for h in config.entities("hmacauth_credentials")}
        self.oauth2_clients = {c["client_id"]: c for c in config.entities("oauth2_credentials")}
        groups: dict[str, list[str]] = {}
        for acl in config.entities("acls"):
            groups.setdefault(acl["consumer"]["id"], []).append(acl["group"])
        self.groups = {cid: tuple(g) for cid, g in groups.items()}

    def consumer(self, id_or_username: str | None) -> Mapping[str, Any] | None:
        if not id_or_username:
            return None
        return self.consumers.get(id_or_username) or self.usernames.get(id_or_username)

    def owner(self, credential: Mapping[str, Any]) -> Mapping[str, Any] | None:
        return self.consumers.get(credential["consumer"]["id"])
