"""The gateway's entity types: one typed schema each, and the facts about how they relate.

``ENTITY_TYPES`` maps Kong's table name (``certificates``, ``snis``, ``ca_certificates``,
``services``, ``routes``, ``upstreams``, ``targets``, ``consumers``, ``plugins``,
``keyauth_credentials``, ``jwt_secrets``, ``acls``, ``basicauth_credentials``,
``hmacauth_credentials``, ``oauth2_credentials``) to an ``EntityType``: its schema, endpoint key
(the field usable instead of the id in Admin API paths), unique fields, cache key, Admin API names,
the foreign key that nests it under a parent and the children a declarative file may nest under it.
The declarative loader, the Admin API, ``GET /schemas`` and the docs all read this one table.

``validate_entity(kind, data)`` applies shorthands (service ``url``, target default port,
hashing implies consistent-hashing), validates against the schema and returns Kong-shaped
problems; ``fill_auto`` adds ids, timestamps and generated keys to a validated entity.
"""

from __future__ import annotations

import secrets
import uuid as uuidlib
from dataclasses import dataclass, field
from typing import Any

from carbonplane.gateway.config.entities.certificates import (
    CA_CERTIFICATE,
    CERTIFICATE,
    SNI,
    expand_ca_digest,
)
from carbonplane.gateway.config.entities.consumers import (
    ACL,
    BASICAUTH_CREDENTIAL,
    CONSUMER,
    HMACAUTH_CREDENTIAL,
    JWT_SECRET,
    KEYAUTH_CREDENTIAL,
)
from carbonplane.gateway.config.entities.oauth2 import OAUTH2_CREDENTIAL
from carbonplane.gateway.config.entities.plugins import (
    PLUGIN,
    PluginSpec,
    plugin_spec,
    register_plugin_schema,
    registered_plugins,
    unregister_plugin_schema,
    validate_plugin,
)
from carbonplane.gateway.config.entities.routes import ROUTE
from carbonplane.gateway.config.entities.services import SERVICE, expand_url
from carbonplane.gateway.config.entities.upstreams import (
    TARGET,
    UPSTREAM,
    default_algorithm,
    normalize_target,
)
from carbonplane.gateway.config.problems import Problem
from carbonplane.gateway.config.schema import Record, validate


@dataclass(frozen=True, slots=True)
class EntityType:
    name: str
    schema: Record
    admin_name: str
    endpoint_key: str | None = None
    unique: tuple[str, ...] = ()
    cache_key: tuple[str, ...] = ()
    parent: tuple[str, str] | None = None  # (parent kind, fk field) for nesting
    nested_admin_name: str | None = None  # e.g. "key-auth" under /consumers/{c}/
    children: dict[str, tuple[str, str]] = field(default_factory=dict)  # key -> (kind, fk)
    ms_timestamps: bool = False
    generated: tuple[str, ...] = ()  # fields filled with random values when absent

    @property
    def foreign_keys(self) -> dict[str, str]:
        return {
            n: f.reference
            for n, f in self.schema.fields
            if f.type == "foreign" and f.reference is not None
        }

    @property
    def has_updated_at(self) -> bool:
        return self.schema.get("updated_at") is not None


_CRED_CHILDREN = {
    "keyauth_credentials": ("keyauth_credentials", "consumer"),
    "jwt_secrets": ("jwt_secrets", "consumer"),
    "acls": ("acls", "consumer"),
    "basicauth_credentials": ("basicauth_credentials", "consumer"),
    "hmacauth_credentials": ("hmacauth_credentials", "consumer"),
    "oauth2_credentials": ("oauth2_credentials", "consumer"),
}

ENTITY_TYPES: dict[str, EntityType] = {
    e.name: e
    for e in (
        EntityType(
            "certificates",
            CERTIFICATE,
            "certificates",
            None,
            children={"snis": ("snis", "certificate")},
        ),
        EntityType("snis", SNI, "snis", "name", unique=("name",)),
        EntityType(
            "ca_certificates", CA_CERTIFICATE, "ca_certificates", None, unique=("cert_digest",)
        ),
        EntityType(
            "services",
            SERVICE,
            "services",
            "name",
            unique=("name",),
            children={"routes": ("routes", "service"), "plugins": ("plugins", "service")},
        ),
        EntityType(
            "routes",
            ROUTE,
            "routes",
            "name",
            unique=("name",),
            children={"plugins": ("plugins", "route")},
        ),
        EntityType(
            "upstreams",
            UPSTREAM,
            "upstreams",
            "name",
            unique=("name",),
            children={"targets": ("targets", "upstream")},
        ),
        EntityType(
            "targets",
            TARGET,
            "targets",
            "target",
            cache_key=("upstream", "target"),
            parent=("upstreams", "upstream"),
            nested_admin_name="targets",
            ms_timestamps=True,
        ),
        EntityType(
            "consumers",
            CONSUMER,
            "consumers",
            "username",
            unique=("username", "custom_id"),
            children={"plugins": ("plugins", "consumer"), **_CRED_CHILDREN},
        ),
        EntityType(
            "keyauth_credentials",
            KEYAUTH_CREDENTIAL,
            "key-auths",
            "key",
            unique=("key",),
            parent=("consumers", "consumer"),
            nested_admin_name="key-auth",
            generated=("key",),
        ),
        EntityType(
            "jwt_secrets",
            JWT_SECRET,
            "jwts",
            "key",
            unique=("key",),
            parent=("consumers", "consumer"),
            nested_admin_name="jwt",
            generated=("key", "secret"),
        ),
        EntityType(
            "acls",
            ACL,
            "acls",
            None,
            cache_key=("consumer", "group"),
            parent=("consumers", "consumer"),
            nested_admin_name="acls",
        ),
        EntityType(
            "basicauth_credentials",
            BASICAUTH_CREDENTIAL,
            "basic-auths",
            "username",
            unique=("username",),
            parent=("consumers", "consumer"),
            nested_admin_name="basic-auth",
        ),
        EntityType(
            "hmacauth_credentials",
            HMACAUTH_CREDENTIAL,
            "hmac-auths",
            "username",
            unique=("username",),
            parent=("consumers", "consumer"),
            nested_admin_name="hmac-auth",
            generated=("secret",),
        ),
        EntityType(
            "oauth2_credentials",
            OAUTH2_CREDENTIAL,
            "oauth2",
            "client_id",
            unique=("client_id",),
            parent=("consumers", "consumer"),
            nested_admin_name="oauth2",
            generated=("client_id", "client_secret"),
        ),
        EntityType(
            "plugins",
            PLUGIN,
            "plugins",
            "instance_name",
            unique=("instance_name",),
            cache_key=("name", "route", "service", "consumer"),
        ),
    )
}

ENTITY_ORDER: tuple[str, ...] = tuple(ENTITY_TYPES)
CREDENTIAL_TYPES: tuple[str, ...] = tuple(_CRED_CHILDREN)


def preprocess(kind: str, data: Any) -> tuple[Any, list[Problem]]:
    """Apply Kong's write shorthands before validation."""
    if not isinstance(data, dict):
        return data, []
    if kind == "services":
        return expand_url(data)
    if kind == "targets" and "target" in data:
        return {**data, "target": normalize_target(data["target"])}, []
    if kind == "upstreams":
        return default_algorithm(data), []
    if kind == "ca_certificates":
        return expand_ca_digest(data), []
    return data, []


def validate_entity(kind: str, data: Any) -> tuple[dict[str, Any] | None, list[Problem]]:
    """Shorthands, then schema validation. Returns (normalised entity, problems)."""
    data, problems = preprocess(kind, data)
    if kind == "plugins":
        out, more = validate_plugin(data)
    else:
        out, more = validate(ENTITY_TYPES[kind].schema, data)
    return out, problems + more


def fill_auto(
    kind: str,
    entity: dict[str, Any],
    now: float,
    *,
    entity_id: str | None = None,
    created_at: float | None = None,
    touch: bool = True,
) -> dict[str, Any]:
    """Add id, created_at/updated_at and generated keys (Kong: ``utils.random_string()``).

    ``touch`` sets ``updated_at`` to ``now`` (a write); without it a given value is kept (a
    declarative file that carries its timestamps)."""
    etype = ENTITY_TYPES[kind]
    out = dict(entity)
    out["id"] = out.get("id") or entity_id or str(uuidlib.uuid4())
    stamp: float = round(now, 3) if etype.ms_timestamps else int(now)
    out["created_at"] = out.get("created_at") or created_at or stamp
    if etype.has_updated_at and (touch or not out.get("updated_at")):
        out["updated_at"] = stamp
    for name in etype.generated:
        if not out.get(name):
            out[name] = secrets.token_hex(16)
    if kind == "plugins" and isinstance(out.get("config"), dict):
        out["config"] = _fill_config(out)
    return out


def _fill_config(plugin: dict[str, Any]) -> dict[str, Any]:
    """A plugin config whose missing ``auto`` string fields (oauth2's ``provision_key``) are
    generated, as Kong does on insert."""
    spec = plugin_spec(plugin.get("name") or "")
    config = plugin["config"]
    if spec is None:
        return config
    missing = [
        n for n, f in spec.config.fields if f.auto and f.type == "string" and not config.get(n)
    ]
    if not missing:
        return config
    return {**config, **{n: secrets.token_hex(16) for n in missing}}


def resolve_kind(admin_name: str) -> str | None:
    """``key-auths`` -> ``keyauth_credentials``; ``services`` -> ``services``."""
    for etype in ENTITY_TYPES.values():
        if etype.admin_name == admin_name:
            return etype.name
    return None


def nested_kind(parent: str, segment: str) -> tuple[str, str] | None:
    """``("consumers", "key-auth")`` -> (``keyauth_credentials``, fk ``consumer``)."""
    for etype in ENTITY_TYPES.values():
        if etype.parent and etype.parent[0] == parent and etype.nested_admin_name == segment:
            return etype.name, etype.parent[1]
    parent_type = ENTITY_TYPES.get(parent)
    if parent_type and segment in parent_type.children:
        child, fk = parent_type.children[segment]
        if ENTITY_TYPES[child].parent is None:
            return child, fk
    return None


__all__ = [
    "ENTITY_TYPES",
    "ENTITY_ORDER",
    "CREDENTIAL_TYPES",
    "EntityType",
    "PluginSpec",
    "validate_entity",
    "fill_auto",
    "preprocess",
    "resolve_kind",
    "nested_kind",
    "register_plugin_schema",
    "unregister_plugin_schema",
    "plugin_spec",
    "registered_plugins",
]
