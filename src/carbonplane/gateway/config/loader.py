"""Kong's declarative configuration (``_format_version: "3.0"``) -> a compiled ``GatewayConfig``.

Reads what Kong's DB-less mode reads (``kong/db/schema/others/declarative_config.lua``): top-level
``_format_version`` (required: "3.0", or "1.1"/"2.1" migrated like Kong: route paths that look like
regexes get the ``~`` prefix), ``_transform`` (default true: hash plain basic-auth passwords),
``_comment`` (a string) and ``_ignore`` (an array of anything), and entity lists ``certificates``,
``snis``, ``ca_certificates``, ``services``, ``routes``, ``upstreams``, ``targets``, ``consumers``,
``plugins``, ``keyauth_credentials``, ``jwt_secrets``, ``acls``, ``basicauth_credentials``,
``hmacauth_credentials``, ``oauth2_credentials`` (``hash_secret``: the secret is stored hashed). A
certificate's ``snis`` may be records or plain names; an expired certificate is logged as a warning
with its file:line and served (as Kong does). Every entity record, top-level or nested, may also
carry ``_comment`` and ``_ignore`` (Kong adds both to each entity of the declarative schema); they
are checked for their type and dropped. Entities may nest: routes and plugins under services,
plugins under routes and consumers, credentials under consumers, targets under upstreams. A
top-level reference (``service: trino``) may be a name, an id or ``{"id": ...}`` / ``{"name":
...}``.

Every problem is collected (not just the first) and raised together as ``GatewayConfigError``,
each located as ``kong.yml:23: services[2].routes[0].pathz: unknown field (route 'x')``.

A Kong bundled plugin that is not implemented here is accepted only with ``enabled: false``
(``entities/plugins.py``); loading text (a file, a ``POST /config`` body) then logs one warning
per such row on ``carbonplane.gateway.config.loader`` naming its file:line.

Ids: an entity without ``id`` gets a stable UUIDv5 derived from its type and name (or its
position when unnamed), so reloading the same file keeps ids, Admin API URLs and config hash.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import re
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path as FsPath
from typing import Any

from carbonplane.errors import GatewayConfigError
from carbonplane.gateway.config import pem
from carbonplane.gateway.config.entities import (
    ENTITY_ORDER,
    ENTITY_TYPES,
    fill_auto,
    validate_entity,
)
from carbonplane.gateway.config.entities.oauth2 import store_secret
from carbonplane.gateway.config.entities.plugins import not_implemented
from carbonplane.gateway.config.model import ConfigProblem, GatewayConfig, compile_config
from carbonplane.gateway.config.problems import ENTITY, Path, format_path
from carbonplane.gateway.config.schema import is_uuid
from carbonplane.gateway.config.source import SourceError, line_of, read_source
from carbonplane.gateway.plugins import load_bundled

log = logging.getLogger("carbonplane.gateway.config.loader")

FORMAT_VERSIONS = ("1.1", "2.1", "3.0")
_META_KEYS = ("_format_version", "_transform", "_comment", "_ignore")
_EXTRA_KEYS = ("_comment", "_ignore")  # on any entity, as Kong's declarative schema allows
_ID_NAMESPACE = uuid.UUID("6f1c3d0e-54b2-4a8e-9c1d-2f0a7b3e8c51")
_PLAIN_PATH = re.compile(r"^[A-Za-z0-9._~/%-]*$")
_LABELS = {
    "certificates": "certificate",
    "snis": "sni",
    "ca_certificates": "ca_certificate",
    "services": "service",
    "routes": "route",
    "upstreams": "upstream",
    "targets": "target",
    "consumers": "consumer",
    "plugins": "plugin",
    "keyauth_credentials": "key-auth",
    "jwt_secrets": "jwt",
    "acls": "acl",
    "basicauth_credentials": "basic-auth",
    "hmacauth_credentials": "hmac-auth",
    "oauth2_credentials": "oauth2",
}


@dataclass
class _Item:
    kind: str
    src: Path
    data: dict[str, Any]
    parent: tuple[str, str, _Item] | None = None  # (fk field, parent kind, parent item)
    id: str = ""
    entity: dict[str, Any] | None = None

    @property
    def label(self) -> str | None:
        name = self.data.get(ENTITY_TYPES[self.kind].endpoint_key or "name")
        if self.kind == "plugins":
            name = self.data.get("name")
        return f"{_LABELS[self.kind]} '{name}'" if isinstance(name, str) else None


@dataclass
class _Load:
    source: str
    marks: dict[Path, int]
    problems: list[ConfigProblem] = field(default_factory=list)
    items: list[_Item] = field(default_factory=list)

    def where(self, path: Path) -> str:
        line = line_of(self.marks, path) if self.marks else None
        return (
            f"{self.source}:{line}: {format_path(path)}"
            if line
            else f"{self.source}: {format_path(path)}"
        )

    def add(self, path: Path, message: str, code: str = "schema", label: str | None = None) -> None:
        msg = f"{message} ({label})" if label else message
        self.problems.append(ConfigProblem("config", None, (), msg, code, self.where(path)))


def load_config_file(
    path: str | FsPath, *, now: float | None = None, version: int = 1
) -> GatewayConfig:
    """Load a declarative file (YAML or JSON). Raises GatewayConfigError naming file:line."""
    p = FsPath(path)
    try:
        text = p.read_bytes()
    except OSError as exc:
        raise GatewayConfigError(
            [
                ConfigProblem(
                    "config", None, (), f"cannot read config: {exc.strerror}", where=str(p)
                )
            ],
            str(p),
        ) from None
    return load_config_text(text, source=p.name, now=now, version=version)


def load_config_text(
    text: str | bytes, *, source: str = "<config>", now: float | None = None, version: int = 1
) -> GatewayConfig:
    try:
        data, marks = read_source(text)
    except SourceError as exc:
        where = f"{source}:{exc.line}" if exc.line else source
        raise GatewayConfigError(
            [ConfigProblem("config", None, (), str(exc), where=where)], source
        ) from None
    return load_config_data(data, source=source, marks=marks, now=now, version=version)


def load_config_data(
    data: Any,
    *,
    source: str = "<config>",
    marks: dict[Path, int] | None = None,
    now: float | None = None,
    version: int = 1,
) -> GatewayConfig:
    """Load already-parsed declarative data (e.g. a JSON body of ``POST /config``)."""
    load_bundled()  # a config may name any bundled plugin (Kong's default: plugins = bundled)
    load = _Load(source, marks or {})
    now = time.time() if now is None else now
    transform = _read_meta(load, data)
    if load.problems:
        raise GatewayConfigError(load.problems, source)
    if str(data.get("_format_version")) in ("1.1", "2.1"):
        data = _migrate_paths(copy.deepcopy(data))
    for kind in ENTITY_ORDER:
        _flatten_list(load, kind, data.get(kind), (kind,), None)
    _assign_ids(load)
    _resolve_and_validate(load, now, transform)
    if load.problems:
        raise GatewayConfigError(load.problems, source)
    return _compile(load, version)


def _read_meta(load: _Load, data: Any) -> bool:
    if not isinstance(data, Mapping):
        load.add((), "config must be a mapping at the top level")
        return True
    for key in data:
        if key not in _META_KEYS and key not in ENTITY_TYPES:
            load.add((str(key),), "unknown field")
    fmt = data.get("_format_version")
    if fmt is None:
        load.add(("_format_version",), 'required field missing (use "3.0")')
    elif str(fmt) not in FORMAT_VERSIONS:
        load.add(("_format_version",), f"expected one of: {', '.join(FORMAT_VERSIONS)}")
    transform = data.get("_transform", True)
    if not isinstance(transform, bool):
        load.add(("_transform",), "expected a boolean")
    _check_extras(load, data, ())
    return transform is not False


def _check_extras(load: _Load, data: Mapping, path: Path, label: str | None = None) -> None:
    """``_comment`` must be a string and ``_ignore`` an array (of anything), as in Kong."""
    if "_comment" in data and not isinstance(data["_comment"], str):
        load.add(path + ("_comment",), "expected a string", label=label)
    if "_ignore" in data and not isinstance(data["_ignore"], list):
        load.add(path + ("_ignore",), "expected an array", label=label)


def _migrate_paths(data: dict[str, Any]) -> dict[str, Any]:
    """Kong's 2.x -> 3.0 migration: regex-looking route paths get the ``~`` prefix."""

    def listed(value: Any) -> list:
        return value if isinstance(value, list) else []

    routes = list(listed(data.get("routes")))
    for svc in listed(data.get("services")):
        if isinstance(svc, dict):
            routes.extend(listed(svc.get("routes")))
    for route in routes:
        if isinstance(route, dict) and isinstance(route.get("paths"), list):
            route["paths"] = [
                p if not isinstance(p, str) or _PLAIN_PATH.match(p) else "~" + p
                for p in route["paths"]
            ]
    return data


def _flatten_list(
    load: _Load, kind: str, items: Any, src: Path, parent: tuple[str, str, _Item] | None
) -> None:
    if items is None:
        return
    if not isinstance(items, list):
        load.add(src, "expected an array")
        return
    for i, raw in enumerate(items):
        path = src + (i,)
        if kind == "snis" and parent is not None and isinstance(raw, str):
            raw = {"name": raw}  # a certificate's ``snis: [name, ...]`` shorthand
        if not isinstance(raw, dict):
            load.add(path, "expected a record")
            continue
        etype = ENTITY_TYPES[kind]
        data = {k: v for k, v in raw.items() if k not in etype.children and k not in _EXTRA_KEYS}
        item = _Item(kind, path, data, parent)
        _check_extras(load, raw, path, item.label)
        if parent is not None and parent[0] in data:
            load.add(
                path + (parent[0],),
                f"must not be set: this {_LABELS[kind]} is nested under "
                f"{format_path(parent[2].src)} and belongs to it",
                label=item.label,
            )
        load.items.append(item)
        for key, (child_kind, fk) in etype.children.items():
            _flatten_list(load, child_kind, raw.get(key), path + (key,), (fk, kind, item))


def _assign_ids(load: _Load) -> None:
    taken: set[tuple[str, str]] = set()
    for item in load.items:
        given = item.data.get("id")
        if isinstance(given, str) and is_uuid(given):
            item.id = given.lower()
            taken.add((item.kind, item.id))
    for item in load.items:
        if item.id:
            continue
        candidate = _stable_id(item, natural=True)
        if (item.kind, candidate) in taken:
            candidate = _stable_id(item, natural=False)
        item.id = candidate
        taken.add((item.kind, candidate))


def _stable_id(item: _Item, *, natural: bool) -> str:
    key = ENTITY_TYPES[item.kind].endpoint_key
    name = item.data.get(key) if key and item.kind not in ("targets", "plugins") else None
    if natural and isinstance(name, str):
        basis = f"{item.kind}:{name}"
    else:
        parent = f"{item.parent[2].id}/" if item.parent else ""
        basis = f"{item.kind}:{parent}{format_path(item.src)}"
    return str(uuid.uuid5(_ID_NAMESPACE, basis))


def _resolve_and_validate(load: _Load, now: float, transform: bool) -> None:
    index: dict[str, dict[str, _Item]] = {}
    for item in load.items:
        bucket = index.setdefault(item.kind, {})
        bucket[item.id] = item
        key = ENTITY_TYPES[item.kind].endpoint_key
        if key and item.kind != "targets" and isinstance(item.data.get(key), str):
            bucket.setdefault(item.data[key], item)
    for item in load.items:
        data = dict(item.data)
        if item.parent is not None:
            fk, _, parent_item = item.parent
            data[fk] = {"id": parent_item.id}
        for fk, ref_kind in ENTITY_TYPES[item.kind].foreign_keys.items():
            if item.parent is not None and fk == item.parent[0]:
                continue
            if data.get(fk) is not None:
                data[fk] = _resolve_ref(load, item, fk, ref_kind, data[fk], index.get(ref_kind, {}))
        if not isinstance(data.get("id"), str) or is_uuid(data["id"]):
            data["id"] = item.id  # else the schema reports the malformed id
        entity, problems = validate_entity(item.kind, data)
        for path, message in problems:
            path = path[:-1] if path and path[-1] == ENTITY else path
            load.add(item.src + path, message, label=item.label)
        if entity is not None and not problems:
            if item.kind == "plugins" and not_implemented(entity) and load.marks:
                log.warning(
                    "%s: plugin '%s' is a Kong bundled plugin this gateway does not implement; "
                    "kept because it is disabled, it never runs",
                    load.where(item.src),
                    entity["name"],
                )
            entity = fill_auto(item.kind, entity, now, entity_id=item.id, touch=False)
            if item.kind == "basicauth_credentials" and transform:
                entity["password"] = hash_basicauth_password(
                    entity["password"], entity["consumer"]["id"]
                )
            if item.kind == "oauth2_credentials":
                entity = store_secret(entity)
            item.entity = entity
            if item.kind == "certificates":
                _warn_expired(load, item, now)


def _warn_expired(load: _Load, item: _Item, now: float) -> None:
    """An expired served certificate is logged (file:line), not refused: Kong serves it too."""
    for name in ("cert", "cert_alt"):
        value = item.entity.get(name) if item.entity else None
        message = pem.expiry_warning(value, now) if isinstance(value, str) else None
        if message:
            where = load.where(item.src + (name,))
            log.warning("%s: %s", where, f"{message} ({item.label})" if item.label else message)


def _resolve_ref(
    load: _Load, item: _Item, fk: str, ref_kind: str, value: Any, known: dict[str, _Item]
) -> Any:
    ref = value
    if isinstance(value, Mapping) and len(value) == 1 and ("id" in value or "name" in value):
        ref = value.get("id", value.get("name"))
    if isinstance(ref, str) and ref in known:
        return {"id": known[ref].id}
    if isinstance(ref, str):
        load.add(
            item.src + (fk,),
            f"'{ref}' does not name or identify a {_LABELS[ref_kind]} declared in this config",
            "foreign",
            item.label,
        )
    else:
        load.add(
            item.src + (fk,), f"expected the name or id of a {_LABELS[ref_kind]}", label=item.label
        )
    return None


def _compile(load: _Load, version: int) -> GatewayConfig:
    by_kind: dict[str, list[_Item]] = {kind: [] for kind in ENTITY_ORDER}
    for item in load.items:
        by_kind[item.kind].append(item)
    entities = {kind: [i.entity for i in items] for kind, items in by_kind.items()}
    try:
        return compile_config(entities, version=version)
    except GatewayConfigError as exc:
        problems = []
        for p in exc.problems:
            item = by_kind[p.kind][p.index] if p.index is not None else None
            path = (item.src if item else (p.kind,)) + p.path
            msg = f"{p.message} ({item.label})" if item and item.label else p.message
            problems.append(ConfigProblem(p.kind, p.index, (), msg, p.code, load.where(path)))
        raise GatewayConfigError(problems, load.source) from None


def hash_basicauth_password(password: str, consumer_id: str) -> str:
    """Kong's basic-auth storage: ``sha1(password .. consumer_id)`` in hex."""
    return hashlib.sha1((password + consumer_id).encode(), usedforsecurity=False).hexdigest()
