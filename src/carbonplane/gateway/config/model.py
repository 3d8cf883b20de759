"""The compiled, immutable gateway configuration shared by every request of a worker.

``compile_config`` takes validated entities (ids, timestamps and ``{"id": ...}`` references
filled in), checks what only the whole set can tell, and returns a ``GatewayConfig``:
- ids unique per entity type; unique fields (service/route/upstream names, consumer username and
  custom_id, credential keys) unique; cache keys unique (one plugin per name and scope, one target
  per address and upstream, one ACL group per consumer);
- every reference points at an existing entity of the right type;
- the router is built once from routes, services and upstreams.

A ``GatewayConfig`` is never changed: the Admin API builds a new one for every mutation
(copy-on-write; unchanged entity objects are shared) and the engine swaps it atomically, so an
in-flight request keeps the config it started with. Entities are read-only mappings; ``thaw``
gives JSON-ready copies. ``canonical()`` is the declarative form (``_format_version`` 3.0, flat
lists, references by id, ``_transform: false``) that ``GET /config`` returns and the loader reads
back to an identical config.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from carbonplane.errors import GatewayConfigError
from carbonplane.gateway.config.entities import ENTITY_ORDER, ENTITY_TYPES
from carbonplane.gateway.config.problems import Path, format_path
from carbonplane.gateway.config.schema import freeze, thaw
from carbonplane.gateway.runtime.router import Router

Entity = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    """One problem of a config: entity type, index in that type's list, field path, message.

    ``code`` tells the Admin API which error to answer: schema (400), unique (409), foreign
    (400), cache_key (409). ``where`` is filled by the declarative loader (``kong.yml:23:
    services[2].routes[0]``)."""

    kind: str
    index: int | None
    path: Path
    message: str
    code: str = "schema"
    where: str | None = None

    def __str__(self) -> str:
        field = format_path(self.path)
        if self.where:
            return f"{self.where}{'.' + field if field else ''}: {self.message}"
        loc = f"{self.kind}[{self.index}]" if self.index is not None else self.kind
        return f"{loc}{'.' + field if field else ''}: {self.message}"


class GatewayConfig:
    """An immutable, compiled gateway configuration (entities + router)."""

    __slots__ = ("version", "hash", "router", "_lists", "_by_id", "_by_key", "_seq", "next_seq")

    def __init__(
        self,
        lists: dict[str, tuple[Entity, ...]],
        seq: dict[str, int],
        version: int,
        router: Router,
    ) -> None:
        self.version = version
        self.router = router
        self._lists = lists
        self._seq = seq
        self.next_seq = max(seq.values(), default=0) + 1
        self._by_id = {kind: {e["id"]: e for e in items} for kind, items in lists.items()}
        self._by_key: dict[str, dict[str, Entity]] = {}
        for kind, items in lists.items():
            key = ENTITY_TYPES[kind].endpoint_key
            if key and kind != "targets":  # a target's address is unique per upstream only
                self._by_key[kind] = {e[key]: e for e in items if e.get(key) is not None}
        self.hash = _config_hash(self.canonical())

    # -- lookups ------------------------------------------------------------------------------
    def entities(self, kind: str) -> tuple[Entity, ...]:
        return self._lists[kind]

    @property
    def services(self) -> tuple[Entity, ...]:
        return self._lists["services"]

    @property
    def routes(self) -> tuple[Entity, ...]:
        return self._lists["routes"]

    @property
    def upstreams(self) -> tuple[Entity, ...]:
        return self._lists["upstreams"]

    @property
    def targets(self) -> tuple[Entity, ...]:
        return self._lists["targets"]

    @property
    def consumers(self) -> tuple[Entity, ...]:
        return self._lists["consumers"]

    @property
    def plugins(self) -> tuple[Entity, ...]:
        return self._lists["plugins"]

    def get(self, kind: str, key: str) -> Entity | None:
        """An entity by id, or by its endpoint key (name, username, credential key)."""
        found = self._by_id[kind].get(key)
        if found is None and kind in self._by_key:
            found = self._by_key[kind].get(key)
        if found is None and kind == "consumers":
            found = next((c for c in self._lists[kind] if c.get("custom_id") == key), None)
        return found

    def children(self, kind: str, fk: str, parent_id: str) -> tuple[Entity, ...]:
        """Entities of ``kind`` whose ``fk`` references ``parent_id`` (routes of a service ...)."""
        return tuple(e for e in self._lists[kind] if (e.get(fk) or {}).get("id") == parent_id)

    def seq(self, kind: str, entity_id: str) -> int:
        return self._seq[entity_id]

    def upstream_named(self, name: str) -> Entity | None:
        return self._by_key["upstreams"].get(name)

    def targets_of(self, upstream_id: str) -> tuple[Entity, ...]:
        return self.children("targets", "upstream", upstream_id)

    def all_lists(self) -> dict[str, tuple[Entity, ...]]:
        return dict(self._lists)

    def seqs(self) -> dict[str, int]:
        return dict(self._seq)

    # -- output -------------------------------------------------------------------------------
    def canonical(self) -> dict[str, Any]:
        """The declarative form: flat lists in creation order, nulls dropped."""
        out: dict[str, Any] = {"_format_version": "3.0", "_transform": False}
        for kind in ENTITY_ORDER:
            items = self._lists.get(kind) or ()
            if items:
                out[kind] = [_drop_nulls(thaw(e)) for e in items]
        return out

    def __repr__(self) -> str:
        counts = ", ".join(f"{k}={len(v)}" for k, v in self._lists.items() if v)
        return f"GatewayConfig(version={self.version}, {counts})"


def _drop_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value]
    return value


def _config_hash(canonical: dict[str, Any]) -> str:
    """md5 of the config without timestamps (a reload of the same file keeps its hash)."""

    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k not in ("created_at", "updated_at")}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    text = json.dumps(strip(canonical), sort_keys=True, separators=(",", ":"))
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def compile_config(
    entities: Mapping[str, Sequence[Mapping[str, Any]]],
    *,
    version: int = 1,
    seq: Mapping[str, int] | None = None,
) -> GatewayConfig:
    """Check cross-entity rules and build the immutable config; raise GatewayConfigError."""
    lists = {
        kind: tuple(
            e if isinstance(e, MappingProxyType) else freeze(e) for e in entities.get(kind) or ()
        )
        for kind in ENTITY_ORDER
    }
    problems = _check_ids_and_uniques(lists) + _check_references(lists)
    if problems:
        raise GatewayConfigError(problems)
    seq_map = dict(seq or {})
    counter = max(seq_map.values(), default=0)
    for kind in ENTITY_ORDER:
        for e in lists[kind]:
            if e["id"] not in seq_map:
                counter += 1
                seq_map[e["id"]] = counter
    lists = {
        kind: tuple(sorted(items, key=lambda e: seq_map[e["id"]])) for kind, items in lists.items()
    }
    services = {s["id"]: s for s in lists["services"]}
    upstreams = {u["name"]: u for u in lists["upstreams"]}
    router = Router(lists["routes"], services, upstreams)
    return GatewayConfig(lists, seq_map, version, router)


def _check_ids_and_uniques(lists: dict[str, tuple[Entity, ...]]) -> list[ConfigProblem]:
    problems: list[ConfigProblem] = []
    for kind, items in lists.items():
        etype = ENTITY_TYPES[kind]
        seen_ids: dict[str, int] = {}
        seen: dict[str, dict[Any, int]] = {f: {} for f in etype.unique}
        seen_cache: dict[tuple, int] = {}
        for i, e in enumerate(items):
            if e["id"] in seen_ids:
                problems.append(
                    ConfigProblem(
                        kind,
                        i,
                        ("id",),
                        f"uniqueness violation: '{kind}' "
                        f"entity with primary key set to '{e['id']}' already declared",
                        "unique",
                    )
                )
            seen_ids[e["id"]] = i
            for f in etype.unique:
                value = e.get(f)
                if value is None:
                    continue
                if value in seen[f]:
                    problems.append(
                        ConfigProblem(
                            kind,
                            i,
                            (f,),
                            f"uniqueness violation: '{kind}' "
                            f"entity with {f} set to '{value}' already declared",
                            "unique",
                        )
                    )
                seen[f][value] = i
            if etype.cache_key:
                key = tuple(_ref_id(e.get(f)) for f in etype.cache_key)
                if key in seen_cache:
                    problems.append(
                        ConfigProblem(kind, i, (), _cache_key_message(kind, e), "cache_key")
                    )
                seen_cache[key] = i
    return problems


def _ref_id(value: Any) -> Any:
    return value.get("id") if isinstance(value, Mapping) else value


def _cache_key_message(kind: str, e: Entity) -> str:
    if kind == "plugins":
        scope = [f"{f} '{e[f]['id']}'" for f in ("route", "service", "consumer") if e.get(f)]
        where = " and ".join(scope) if scope else "the global scope"
        return f"plugin '{e['name']}' is configured more than once on {where}"
    if kind == "targets":
        upstream = e["upstream"]["id"]
        return f"target '{e['target']}' is declared more than once for upstream '{upstream}'"
    return f"group '{e.get('group')}' is granted more than once to consumer '{e['consumer']['id']}'"


def _check_references(lists: dict[str, tuple[Entity, ...]]) -> list[ConfigProblem]:
    ids = {kind: {e["id"] for e in items} for kind, items in lists.items()}
    problems: list[ConfigProblem] = []
    for kind, items in lists.items():
        for field, ref_kind in ENTITY_TYPES[kind].foreign_keys.items():
            for i, e in enumerate(items):
                ref = e.get(field)
                if ref is not None and ref["id"] not in ids[ref_kind]:
                    problems.append(
                        ConfigProblem(
                            kind,
                            i,
                            (field,),
                            f"the foreign key '{{id=\"{ref['id']}\"}}' does not "
                            f"reference an existing '{ref_kind}' entity.",
                            "foreign",
                        )
                    )
    for i, svc in enumerate(lists.get("services", ())):
        for j, ca_id in enumerate(svc.get("ca_certificates") or ()):
            if ca_id not in ids.get("ca_certificates", ()):
                problems.append(
                    ConfigProblem(
                        "services",
                        i,
                        ("ca_certificates", j),
                        f"'{ca_id}' is not the id of a ca_certificate of this config",
                        "foreign",
                    )
                )
    return problems
