"""Copy-on-write entity store behind the Admin API: every mutation builds a new immutable
``GatewayConfig`` (version + 1) and hands it to ``on_change``.

Kong's database semantics (``kong/api/endpoints.lua``, ``kong/db/errors.lua``):
- create: validate with defaults, fill id and timestamps; a taken id is a 400 primary key
  violation, a taken unique value a 409 unique violation, a reference to a missing entity a 400
  foreign key violation, a schema problem a 400 schema violation (``code`` 2 with ``fields``).
- update (PATCH): merge the body into the entity (records such as plugin ``config`` and
  ``healthchecks`` merge field by field; everything else is replaced), validate the whole.
- upsert (PUT): replace the entity named by id or endpoint key, or create it; id and
  ``created_at`` are kept.
- delete: plugins, targets and credentials go with their parent (cascade); a service still used
  by routes cannot be deleted (400 "an existing 'routes' entity references this 'services'
  entity"), as in Kong.
References in bodies may be ``{"id": ...}``, ``{"name": ...}`` (any endpoint key) or a bare
name/id string. Basic-auth passwords are stored hashed whenever a password is written.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from carbonplane.errors import AdminAPIError, GatewayConfigError
from carbonplane.gateway.admin.certificates import SNIProblems, replace_snis, split_snis
from carbonplane.gateway.config.entities import (
    ENTITY_ORDER,
    ENTITY_TYPES,
    fill_auto,
    validate_entity,
)
from carbonplane.gateway.config.entities.oauth2 import store_secret
from carbonplane.gateway.config.loader import hash_basicauth_password
from carbonplane.gateway.config.model import GatewayConfig, compile_config
from carbonplane.gateway.config.problems import Problem, nest_problems, violation_message
from carbonplane.gateway.config.schema import is_uuid, thaw

RESTRICTED = {
    ("routes", "service"),
    ("services", "client_certificate"),
}  # deleting the parent is refused while children exist


def _split_snis(kind: str, body: dict[str, Any]) -> tuple[dict[str, Any], list[str] | None]:
    try:
        return split_snis(kind, body)
    except SNIProblems as exc:
        raise schema_violation(exc.problems) from None


def not_found() -> AdminAPIError:
    return AdminAPIError(404, {"message": "Not found"})


def schema_violation(problems: list[Problem]) -> AdminAPIError:
    return AdminAPIError(
        400,
        {
            "code": 2,
            "name": "schema violation",
            "message": violation_message(problems),
            "fields": nest_problems(problems),
        },
    )


def lua_table(values: Mapping[str, Any]) -> str:
    """Kong prints keys in its messages as Lua tables: ``{name="x",service={id="..."}}``."""

    def show(v: Any) -> str:
        if v is None:
            return "null"
        if isinstance(v, Mapping):
            return lua_table(v)
        return f'"{v}"' if isinstance(v, str) else str(v).lower() if isinstance(v, bool) else str(v)

    return "{" + ",".join(f"{k}={show(v)}" for k, v in sorted(values.items())) + "}"


def unique_violation(fields: dict[str, Any]) -> AdminAPIError:
    return AdminAPIError(
        409,
        {
            "code": 5,
            "name": "unique constraint violation",
            "message": f"UNIQUE violation detected on '{lua_table(fields)}'",
            "fields": fields,
        },
    )


def foreign_violation(field: str, ref: Any, ref_kind: str) -> AdminAPIError:
    key = ref if isinstance(ref, Mapping) else {"id": ref}
    return AdminAPIError(
        400,
        {
            "code": 4,
            "name": "foreign key violation",
            "message": f"the foreign key '{lua_table(key)}' does not reference "
            f"an existing '{ref_kind}' entity.",
            "fields": {field: key},
        },
    )


class ConfigStore:
    """The current config and the mutations that replace it."""

    def __init__(
        self,
        config: GatewayConfig,
        *,
        clock: Callable[[], float] = time.time,
        on_change: Callable[[GatewayConfig], None] | None = None,
    ) -> None:
        self.current = config
        self.clock = clock
        self.on_change = on_change

    def replace(self, config: GatewayConfig) -> None:
        self._publish(config)

    def _publish(self, config: GatewayConfig) -> None:
        self.current = config
        if self.on_change is not None:
            self.on_change(config)

    # -- mutations ----------------------------------------------------------------------------
    def create(
        self,
        kind: str,
        body: dict[str, Any],
        *,
        parent: tuple[str, Mapping] | None = None,
        entity_id: str | None = None,
    ) -> Mapping[str, Any]:
        body, snis = _split_snis(kind, self._with_parent(body, parent))
        entity = self._validated(kind, body, password_written="password" in body)
        entity = fill_auto(kind, entity, self.clock(), entity_id=entity_id)
        if entity["id"] in self._ids(kind):
            raise AdminAPIError(
                400,
                {
                    "code": 3,
                    "name": "primary key violation",
                    "message": f"primary key violation on key '{lua_table({'id': entity['id']})}'",
                    "fields": {"id": entity["id"]},
                },
            )
        return self._commit(kind, entity, replacing=None, snis=snis)

    def update(
        self,
        kind: str,
        existing: Mapping[str, Any],
        body: dict[str, Any],
        *,
        parent: tuple[str, Mapping] | None = None,
    ) -> Mapping[str, Any]:
        body, snis = _split_snis(kind, self._with_parent(body, parent))
        merged = _merge(kind, thaw(existing), body)
        merged["id"] = existing["id"]
        entity = self._validated(kind, merged, password_written="password" in body)
        entity = fill_auto(
            kind,
            entity,
            self.clock(),
            entity_id=existing["id"],
            created_at=existing.get("created_at"),
        )
        return self._commit(kind, entity, replacing=existing, snis=snis)

    def upsert(
        self,
        kind: str,
        key: str,
        body: dict[str, Any],
        *,
        parent: tuple[str, Mapping] | None = None,
        existing: Mapping[str, Any] | None = None,
    ) -> Mapping[str, Any]:
        body = dict(body)
        endpoint_key = ENTITY_TYPES[kind].endpoint_key or ("group" if kind == "acls" else None)
        if existing is None and not is_uuid(key) and endpoint_key:
            body[endpoint_key] = key
        if existing is not None:
            body["id"] = existing["id"]
            if existing.get("created_at") is not None:
                body.setdefault("created_at", existing["created_at"])
            body, snis = _split_snis(kind, self._with_parent(body, parent))
            entity = self._validated(kind, body, password_written="password" in body)
            entity = fill_auto(kind, entity, self.clock(), entity_id=existing["id"])
            return self._commit(kind, entity, replacing=existing, snis=snis)
        return self.create(kind, body, parent=parent, entity_id=key if is_uuid(key) else None)

    def delete(self, kind: str, entity: Mapping[str, Any]) -> None:
        doomed: dict[str, set[str]] = {k: set() for k in ENTITY_ORDER}
        self._cascade(kind, entity["id"], doomed)
        lists = {
            k: [e for e in self.current.entities(k) if e["id"] not in doomed[k]]
            for k in ENTITY_ORDER
        }
        self._compile(lists)

    # -- helpers ------------------------------------------------------------------------------
    def _ids(self, kind: str) -> set[str]:
        return {e["id"] for e in self.current.entities(kind)}

    def _with_parent(
        self, body: dict[str, Any], parent: tuple[str, Mapping] | None
    ) -> dict[str, Any]:
        if parent is None:
            return dict(body)
        fk, parent_entity = parent
        return {**body, fk: {"id": parent_entity["id"]}}

    def _validated(
        self, kind: str, body: dict[str, Any], *, password_written: bool
    ) -> dict[str, Any]:
        body = self._resolve_refs(kind, body)
        entity, problems = validate_entity(kind, body)
        if problems or entity is None:
            raise schema_violation(problems)
        if kind == "basicauth_credentials" and password_written:
            entity["password"] = hash_basicauth_password(
                entity["password"], entity["consumer"]["id"]
            )
        return entity

    def _resolve_refs(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        out = dict(body)
        for fk, ref_kind in ENTITY_TYPES[kind].foreign_keys.items():
            ref = out.get(fk)
            if ref is None:
                continue
            key = ref
            if isinstance(ref, Mapping) and len(ref) == 1:
                key = next(iter(ref.values()))
            if not isinstance(key, str):
                continue  # the schema reports the malformed reference
            found = self.current.get(ref_kind, key)
            if found is None:
                raise foreign_violation(
                    fk, ref if isinstance(ref, Mapping) else {"id": ref}, ref_kind
                )
            out[fk] = {"id": found["id"]}
        return out

    def _commit(
        self,
        kind: str,
        entity: dict[str, Any],
        *,
        replacing: Mapping | None,
        snis: list[str] | None = None,
    ) -> Mapping:
        if kind == "oauth2_credentials":
            entity = store_secret(entity)  # after fill_auto: a generated secret is hashed too
        self._check_unique(kind, entity, replacing)
        lists = {k: list(self.current.entities(k)) for k in ENTITY_ORDER}
        items = lists[kind]
        if replacing is not None:
            items[:] = [entity if e["id"] == replacing["id"] else e for e in items]
        else:
            items.append(entity)
        if snis is not None:  # a certificate's snis shorthand: one change with its SNIs
            lists["snis"] = replace_snis(lists["snis"], entity["id"], snis, self.clock())
        new = self._compile(lists)
        return new.get(kind, entity["id"])

    def _compile(self, lists: dict[str, list]) -> GatewayConfig:
        try:
            new = compile_config(lists, version=self.current.version + 1, seq=self.current.seqs())
        except GatewayConfigError as exc:
            first = exc.problems[0]
            if first.code == "foreign":
                raise AdminAPIError(
                    400, {"code": 4, "name": "foreign key violation", "message": first.message}
                ) from None
            if first.code in ("unique", "cache_key"):
                raise AdminAPIError(
                    409,
                    {"code": 5, "name": "unique constraint violation", "message": first.message},
                ) from None
            raise AdminAPIError(
                400, {"code": 2, "name": "schema violation", "message": str(first)}
            ) from None
        self._publish(new)
        return new

    def _check_unique(self, kind: str, entity: Mapping, replacing: Mapping | None) -> None:
        etype = ENTITY_TYPES[kind]
        others = [
            e
            for e in self.current.entities(kind)
            if replacing is None or e["id"] != replacing["id"]
        ]
        for f in etype.unique:
            value = entity.get(f)
            if value is not None and any(e.get(f) == value for e in others):
                raise unique_violation({f: value})
        if etype.cache_key:
            key = {f: entity.get(f) for f in etype.cache_key}
            if any(all(_same(e.get(f), key[f]) for f in etype.cache_key) for e in others):
                raise unique_violation({f: thaw(v) for f, v in key.items()})

    def _cascade(self, kind: str, entity_id: str, doomed: dict[str, set[str]]) -> None:
        if entity_id in doomed[kind]:
            return
        doomed[kind].add(entity_id)
        for child_kind in ENTITY_ORDER:
            for fk, ref_kind in ENTITY_TYPES[child_kind].foreign_keys.items():
                if ref_kind != kind:
                    continue
                children = self.current.children(child_kind, fk, entity_id)
                if children and (child_kind, fk) in RESTRICTED:
                    raise AdminAPIError(
                        400,
                        {
                            "code": 4,
                            "name": "foreign key violation",
                            "message": f"an existing '{child_kind}' entity references this "
                            f"'{kind}' entity",
                            "fields": {"@referenced_by": child_kind},
                        },
                    )
                for child in children:
                    self._cascade(child_kind, child["id"], doomed)


def _same(a: Any, b: Any) -> bool:
    a_id = a.get("id") if isinstance(a, Mapping) else a
    b_id = b.get("id") if isinstance(b, Mapping) else b
    return a_id == b_id


def _merge(kind: str, current: dict[str, Any], body: Mapping[str, Any]) -> dict[str, Any]:
    """PATCH: record-typed fields merge recursively; other fields are replaced."""
    schema = ENTITY_TYPES[kind].schema
    out = dict(current)
    for key, value in body.items():
        fld = schema.get(key)
        if (
            fld is not None
            and fld.type == "record"
            and isinstance(value, Mapping)
            and isinstance(out.get(key), dict)
        ):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _deep_merge(current: dict[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(current)
    for key, value in patch.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out
