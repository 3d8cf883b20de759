"""AuthorizationPolicy: parse and validate Istio's ``spec`` into typed, immutable rules.

Follows istio/api ``security/v1beta1/authorization_policy.proto``. Supported: ``selector``,
``action`` ALLOW (the default) / DENY / AUDIT, ``rules`` with ``from.source`` (principals,
namespaces, ipBlocks and their ``not*``), ``to.operation`` (hosts, ports, methods, paths and
their ``not*``) and ``when`` conditions on the keys in ``CONDITION_KEYS``. Everything else Istio
defines is reported as unsupported with its line (CUSTOM and ``provider``, ``targetRef(s)``,
JWT-based ``requestPrincipals``, ``remoteIpBlocks``, ``serviceAccounts``, ``trustDomains``, path
templates ``{*}``/``{**}``, other condition keys).

Validation beyond Istio's own, each because the policy would otherwise silently never match:
principals written with ``spiffe://`` (Istio's principals omit the scheme), ``*`` in the middle
of a value, lower-case methods (methods are case-sensitive), a ``from`` without ``source`` or a
source/operation with no field (Istio refuses these too), a condition with neither ``values``
nor ``notValues``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from carbonplane.mesh.policy.fields import Fields, Path, labels_selector
from carbonplane.mesh.policy.match import ip_problem, wildcard_problem

ACTIONS = ("ALLOW", "DENY", "AUDIT")

_SOURCE_FIELDS = (
    "principals",
    "notPrincipals",
    "namespaces",
    "notNamespaces",
    "ipBlocks",
    "notIpBlocks",
)
_SOURCE_UNSUPPORTED = {
    "requestPrincipals": "JWT request authentication is not implemented by this mesh",
    "notRequestPrincipals": "JWT request authentication is not implemented by this mesh",
    "remoteIpBlocks": "X-Forwarded-For based addresses are not implemented; use ipBlocks",
    "notRemoteIpBlocks": "X-Forwarded-For based addresses are not implemented; use notIpBlocks",
    "serviceAccounts": "write principals 'cluster.local/ns/<ns>/sa/<sa>' instead",
    "notServiceAccounts": "write notPrincipals 'cluster.local/ns/<ns>/sa/<sa>' instead",
    "trustDomains": "trust-domain matching is not implemented; use principals prefixes",
    "notTrustDomains": "trust-domain matching is not implemented; use notPrincipals",
}
_OPERATION_FIELDS = (
    "hosts",
    "notHosts",
    "ports",
    "notPorts",
    "methods",
    "notMethods",
    "paths",
    "notPaths",
)

#: ``when`` keys this mesh evaluates; ``request.headers[<name>]`` is matched separately.
CONDITION_KEYS = ("source.ip", "source.namespace", "source.principal", "destination.port")
_HEADER_KEY = re.compile(r"^request\.headers\[([!#$%&'*+.^_`|~0-9A-Za-z-]+)\]$")


@dataclass(frozen=True)
class Source:
    principals: tuple[str, ...] = ()
    not_principals: tuple[str, ...] = ()
    namespaces: tuple[str, ...] = ()
    not_namespaces: tuple[str, ...] = ()
    ip_blocks: tuple[str, ...] = ()
    not_ip_blocks: tuple[str, ...] = ()


@dataclass(frozen=True)
class Operation:
    hosts: tuple[str, ...] = ()
    not_hosts: tuple[str, ...] = ()
    ports: tuple[int, ...] = ()
    not_ports: tuple[int, ...] = ()
    methods: tuple[str, ...] = ()
    not_methods: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()
    not_paths: tuple[str, ...] = ()


@dataclass(frozen=True)
class Condition:
    key: str  # as written; ``header`` is the lower-cased name for request.headers[...]
    values: tuple[str, ...]
    not_values: tuple[str, ...]
    header: str | None = None


@dataclass(frozen=True)
class Rule:
    """Matches when any source, any operation and every condition match (absent = any)."""

    sources: tuple[Source, ...] = ()
    operations: tuple[Operation, ...] = ()
    conditions: tuple[Condition, ...] = ()


@dataclass(frozen=True)
class AuthorizationPolicySpec:
    selector: tuple[tuple[str, str], ...] | None
    action: str
    rules: tuple[Rule, ...]


def _snake(name: str) -> str:
    return re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), name)


def parse_authorization_policy(fields: Fields, spec: Any, path: Path) -> AuthorizationPolicySpec:
    m = fields.mapping(
        spec,
        path,
        {"selector", "action", "rules"},
        {
            "provider": "CUSTOM actions (external authorizers) are not implemented",
            "targetRef": "policy attachment to gateways/services is not implemented; use selector",
            "targetRefs": "policy attachment to gateways/services is not implemented; use selector",
        },
    )
    selector = labels_selector(fields, m, "selector", path)
    action = m.get("action", "ALLOW")
    if action == "CUSTOM":
        fields.report(
            path + ("action",), "unsupported: CUSTOM (external authorization) is not implemented"
        )
        action = "ALLOW"
    elif action not in ACTIONS:
        fields.report(path + ("action",), f"{action!r} is not one of {', '.join(ACTIONS)}")
        action = "ALLOW"
    rules = tuple(_rule(fields, item, at) for at, item in fields.items(m, "rules", path))
    return AuthorizationPolicySpec(selector, action, rules)


def _rule(fields: Fields, value: Any, path: Path) -> Rule:
    if value is None:  # `- ` alone: would read as {} and match every request
        fields.report(path, "an empty rule item; write '{}' to match every request")
        return Rule()
    m = fields.mapping(value, path, {"from", "to", "when"})
    sources, operations = [], []
    for at, item in fields.items(m, "from", path):
        inner = fields.mapping(item, at, {"source"})
        if inner.get("source") is None:
            fields.report(at, "a 'from' item needs a 'source'")
            continue
        sources.append(_source(fields, inner["source"], at + ("source",)))
    for at, item in fields.items(m, "to", path):
        inner = fields.mapping(item, at, {"operation"})
        if inner.get("operation") is None:
            fields.report(at, "a 'to' item needs an 'operation'")
            continue
        operations.append(_operation(fields, inner["operation"], at + ("operation",)))
    conditions = [
        c
        for at, item in fields.items(m, "when", path)
        if (c := _condition(fields, item, at)) is not None
    ]
    return Rule(tuple(sources), tuple(operations), tuple(conditions))


def _matchable(fields: Fields, m: dict[str, Any], key: str, path: Path) -> tuple[str, ...]:
    values = fields.texts(m, key, path)
    for i, value in enumerate(values):
        problem = None if "{*}" in value or "{**}" in value else wildcard_problem(value)
        if problem:
            fields.report(path + (key, i), problem)
    return values


def _source(fields: Fields, value: Any, path: Path) -> Source:
    m = fields.mapping(value, path, set(_SOURCE_FIELDS), _SOURCE_UNSUPPORTED)
    if not m and isinstance(value, dict) and not value:
        fields.report(
            path,
            "an empty source matches everything; write 'rules: [{}]' to "
            "match every request, or name the sources",
        )
    out: dict[str, tuple[str, ...]] = {}
    for key in _SOURCE_FIELDS:
        if key in ("ipBlocks", "notIpBlocks"):
            values = fields.texts(m, key, path)
            for i, block in enumerate(values):
                if (problem := ip_problem(block)) is not None:
                    fields.report(path + (key, i), problem)
        else:
            values = _matchable(fields, m, key, path)
        if key in ("principals", "notPrincipals"):
            for i, principal in enumerate(values):
                if principal.startswith("spiffe://"):
                    fields.report(
                        path + (key, i),
                        "principals are written without "
                        f"'spiffe://' (Istio's form): {principal[9:]!r}",
                    )
        out[_snake(key)] = values
    return Source(**out)


def _operation(fields: Fields, value: Any, path: Path) -> Operation:
    m = fields.mapping(value, path, set(_OPERATION_FIELDS))
    if not m and isinstance(value, dict) and not value:
        fields.report(path, "an empty operation matches everything; remove the 'to' item")
    out: dict[str, Any] = {}
    for key in _OPERATION_FIELDS:
        if key in ("ports", "notPorts"):
            out[_snake(key)] = _ports(fields, m, key, path)
            continue
        values = _matchable(fields, m, key, path)
        for i, item in enumerate(values):
            if key in ("methods", "notMethods") and item != item.upper():
                fields.report(
                    path + (key, i), f"methods are case-sensitive: write {item.upper()!r}"
                )
            if key in ("paths", "notPaths") and ("{*}" in item or "{**}" in item):
                fields.report(
                    path + (key, i),
                    "unsupported: path templates ({*}, {**}) are "
                    "not implemented; use a prefix 'abc*'",
                )
        out[_snake(key)] = values
    return Operation(**out)


def _ports(fields: Fields, m: dict[str, Any], key: str, path: Path) -> tuple[int, ...]:
    ports = []
    for at, item in fields.items(m, key, path):
        text = str(item) if isinstance(item, int) and not isinstance(item, bool) else item
        if isinstance(text, str) and text.isdigit() and 1 <= int(text) <= 65535:
            ports.append(int(text))
        else:
            fields.report(at, f"must be a port number from 1 to 65535, not {item!r}")
    return tuple(ports)


def _condition(fields: Fields, value: Any, path: Path) -> Condition | None:
    m = fields.mapping(value, path, {"key", "values", "notValues"})
    key = fields.text(m, "key", path, required=True)
    values = fields.texts(m, "values", path)
    not_values = fields.texts(m, "notValues", path)
    if key is None:
        return None
    header = None
    if (hm := _HEADER_KEY.match(key)) is not None:
        header = hm.group(1).lower()
    elif key not in CONDITION_KEYS:
        fields.report(
            path + ("key",),
            f"unsupported condition key {key!r}; supported: "
            f"{', '.join(CONDITION_KEYS)}, request.headers[<name>]",
        )
        return None
    if not values and not not_values:
        fields.report(path, "a condition needs 'values' or 'notValues'")
        return None
    for name, items in (("values", values), ("notValues", not_values)):
        for i, item in enumerate(items):
            if key == "source.ip":
                problem = ip_problem(item)
            elif key == "destination.port":
                problem = (
                    None
                    if item.isdigit() and 1 <= int(item) <= 65535
                    else "must be a port number from 1 to 65535"
                )
            else:
                problem = wildcard_problem(item)
            if problem:
                fields.report(path + (name, i), problem)
    return Condition(key, values, not_values, header)
