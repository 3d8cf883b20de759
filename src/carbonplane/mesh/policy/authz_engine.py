"""AuthorizationPolicy evaluation: policies compiled once per bundle, one decision per request.

Theory of operation. ``AuthorizationEngine`` is built once from a bundle's policies. For a
workload (namespace, labels) it selects the policies that apply (root-namespace policies apply in
every namespace, a policy without selector to its whole namespace, a selector to workloads
carrying all its labels) and compiles them into a ``WorkloadAuthorizer``, cached per workload:
tuples of rules whose fields are ``StringMatcher``/``IpMatcher`` objects. ``decide(request)``
then only compares prepared values; it never sees YAML.

Istio's evaluation order (istio/api ``authorization_policy.proto``, header comment):
1. CUSTOM: not supported (refused at load time).
2. any DENY policy matches the request -> deny;
3. no ALLOW policy applies to the workload -> allow;
4. any ALLOW policy matches -> allow;
5. otherwise deny.
AUDIT policies never change the decision; ``Decision.audit`` names the first that matched.

Empty-rules semantics follow from "a policy matches when one of its rules matches": a policy
without rules matches nothing (ALLOW without rules therefore denies every request of a workload
with no other matching ALLOW; DENY or AUDIT without rules do nothing), and the empty rule ``{}``
matches every request (``rules: [{}]`` allows, denies or audits all).

Within a rule: any ``from`` item, any ``to`` item, and every ``when`` condition must match
(an absent list matches). Within a source/operation every field set must match; a field matches
when any value matches, and a ``not*`` field when none does. Identity fields (principals,
namespaces) need an mTLS peer: with no peer identity they match nothing and ``not*`` matches.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from carbonplane.mesh.policy.authz import (
    AuthorizationPolicySpec,
    Condition,
    Operation,
    Rule,
    Source,
)
from carbonplane.mesh.policy.fields import selector_matches
from carbonplane.mesh.policy.match import IpMatcher, StringMatcher, parse_ip

#: The body Envoy's RBAC filter answers a denied HTTP request with (status 403).
RBAC_DENIED_BODY = b"RBAC: access denied"
RBAC_DENIED_STATUS = 403


class Request:
    """What a sidecar knows about one inbound request. ``principal`` is the peer's SPIFFE id
    without ``spiffe://`` (None without mTLS); ``headers`` maps lower-case names to values;
    ``path`` may carry a query string, which matching ignores (as Istio does)."""

    __slots__ = (
        "principal",
        "source_namespace",
        "source_ip",
        "port",
        "method",
        "path",
        "host",
        "host_no_port",
        "headers",
    )

    def __init__(
        self,
        *,
        principal: str | None = None,
        source_ip: str | None = None,
        port: int = 0,
        method: str = "",
        path: str = "",
        host: str = "",
        headers: Mapping[str, str] | None = None,
    ) -> None:
        if principal and principal.startswith("spiffe://"):
            principal = principal[9:]
        self.principal = principal or None
        self.source_namespace = _namespace_of(self.principal)
        self.source_ip = parse_ip(source_ip)
        self.port = port
        self.method = method
        cut = min((i for i in (path.find("?"), path.find("#")) if i >= 0), default=len(path))
        self.path = path[:cut]
        self.host = host
        colon = host.rfind(":")
        self.host_no_port = host[:colon] if colon > host.rfind("]") and colon >= 0 else host
        self.headers = headers or {}


def _namespace_of(principal: str | None) -> str | None:
    if principal is None:
        return None
    parts = principal.split("/")
    for i in range(1, len(parts) - 1):
        if parts[i] == "ns":
            return parts[i + 1] or None
    return None


@dataclass(frozen=True, slots=True)
class Decision:
    """``allowed``; the policy (``namespace/name``) and rule index that decided, None when no
    policy matched (allow: no ALLOW policy applies; deny: none of them matched); ``audit`` the
    first matching AUDIT policy or None."""

    allowed: bool
    policy_name: str | None
    rule_index: int | None
    audit: str | None = None


Check = Callable[[Request], bool]


def _strings(
    values: tuple[str, ...], get: Callable[[Request], str | None], negate: bool, fold: bool = False
) -> Check:
    matcher = StringMatcher(values, fold=fold)
    if negate:
        return lambda r: not matcher.matches(get(r))
    return lambda r: matcher.matches(get(r))


def _ips(values: tuple[str, ...], negate: bool) -> Check:
    matcher = IpMatcher(values)
    if negate:
        return lambda r: not matcher.matches(r.source_ip)
    return lambda r: matcher.matches(r.source_ip)


def _ports(values: tuple[int, ...], negate: bool) -> Check:
    ports = frozenset(values)
    if negate:
        return lambda r: r.port not in ports
    return lambda r: r.port in ports


def _all(checks: list[Check]) -> Check:
    if len(checks) == 1:
        return checks[0]
    return lambda r: all(c(r) for c in checks)


def _any(checks: list[Check]) -> Check:
    if len(checks) == 1:
        return checks[0]
    return lambda r: any(c(r) for c in checks)


def _compile_source(s: Source) -> Check:
    checks: list[Check] = []
    for values, negate in ((s.principals, False), (s.not_principals, True)):
        if values:
            checks.append(_strings(values, lambda r: r.principal, negate))
    for values, negate in ((s.namespaces, False), (s.not_namespaces, True)):
        if values:
            checks.append(_strings(values, lambda r: r.source_namespace, negate))
    for values, negate in ((s.ip_blocks, False), (s.not_ip_blocks, True)):
        if values:
            checks.append(_ips(values, negate))
    return _all(checks) if checks else (lambda r: True)


def _host_check(values: tuple[str, ...], negate: bool) -> Check:
    """Hosts match case-insensitively, with or without the request's port."""
    matcher = StringMatcher(values, fold=True)

    def hit(r: Request) -> bool:
        return matcher.matches(r.host) or matcher.matches(r.host_no_port)

    return (lambda r: not hit(r)) if negate else hit


def _compile_operation(o: Operation) -> Check:
    checks: list[Check] = []
    for values, negate in ((o.hosts, False), (o.not_hosts, True)):
        if values:
            checks.append(_host_check(values, negate))
    for ports, negate in ((o.ports, False), (o.not_ports, True)):
        if ports:
            checks.append(_ports(ports, negate))
    for values, negate in ((o.methods, False), (o.not_methods, True)):
        if values:
            checks.append(_strings(values, lambda r: r.method, negate))
    for values, negate in ((o.paths, False), (o.not_paths, True)):
        if values:
            checks.append(_strings(values, lambda r: r.path, negate))
    return _all(checks) if checks else (lambda r: True)


def _condition_value(c: Condition) -> Callable[[Request], Any]:
    if c.header is not None:
        name = c.header
        return lambda r: r.headers.get(name)
    return {
        "source.principal": lambda r: r.principal,
        "source.namespace": lambda r: r.source_namespace,
    }[c.key]


def _compile_condition(c: Condition) -> Check:
    checks: list[Check] = []
    for values, negate in ((c.values, False), (c.not_values, True)):
        if not values:
            continue
        if c.key == "source.ip":
            checks.append(_ips(values, negate))
        elif c.key == "destination.port":
            checks.append(_ports(tuple(int(v) for v in values), negate))
        else:
            checks.append(_strings(values, _condition_value(c), negate))
    return _all(checks)


def compile_rule(rule: Rule) -> Check:
    parts: list[Check] = []
    if rule.sources:
        parts.append(_any([_compile_source(s) for s in rule.sources]))
    if rule.operations:
        parts.append(_any([_compile_operation(o) for o in rule.operations]))
    parts.extend(_compile_condition(c) for c in rule.conditions)
    return _all(parts) if parts else (lambda r: True)


@dataclass(frozen=True)
class CompiledPolicy:
    name: str  # namespace/name
    namespace: str
    selector: tuple[tuple[str, str], ...] | None
    action: str
    rules: tuple[Check, ...]


class WorkloadAuthorizer:
    """The compiled policies of one workload; ``decide`` is the per-request call."""

    __slots__ = ("deny", "allow", "audit", "has_allow", "policies")

    def __init__(self, policies: list[CompiledPolicy]) -> None:
        self.policies = tuple(p.name for p in policies)

        def flat(action: str) -> tuple[tuple[str, int, Check], ...]:
            return tuple(
                (p.name, i, check)
                for p in policies
                if p.action == action
                for i, check in enumerate(p.rules)
            )

        self.deny, self.allow, self.audit = flat("DENY"), flat("ALLOW"), flat("AUDIT")
        self.has_allow = any(p.action == "ALLOW" for p in policies)

    def decide(self, request: Request) -> Decision:
        audit = next((name for name, _, check in self.audit if check(request)), None)
        for name, index, check in self.deny:
            if check(request):
                return Decision(False, name, index, audit)
        if not self.has_allow:
            return Decision(True, None, None, audit)
        for name, index, check in self.allow:
            if check(request):
                return Decision(True, name, index, audit)
        return Decision(False, None, None, audit)


class AuthorizationEngine:
    """All AuthorizationPolicies of a bundle, compiled; ``for_workload`` is cached."""

    CACHE_LIMIT = 4096

    def __init__(
        self, policies: list[tuple[str, str, AuthorizationPolicySpec]], root_namespace: str
    ) -> None:
        """``policies``: (namespace, name, spec) in bundle order."""
        self.root_namespace = root_namespace
        self._compiled = tuple(
            CompiledPolicy(
                f"{ns}/{name}",
                ns,
                spec.selector,
                spec.action,
                tuple(compile_rule(r) for r in spec.rules),
            )
            for ns, name, spec in policies
        )
        self._cache: dict[tuple[str, frozenset[tuple[str, str]]], WorkloadAuthorizer] = {}

    def for_workload(self, namespace: str, labels: Mapping[str, str]) -> WorkloadAuthorizer:
        key = (namespace, frozenset(labels.items()))
        found = self._cache.get(key)
        if found is None:
            applies = [
                p
                for p in self._compiled
                if p.namespace in (namespace, self.root_namespace)
                and (p.selector is None or selector_matches(p.selector, labels))
            ]
            found = WorkloadAuthorizer(applies)
            if len(self._cache) >= self.CACHE_LIMIT:
                self._cache.clear()
            self._cache[key] = found
        return found

    def decide(self, namespace: str, labels: Mapping[str, str], request: Request) -> Decision:
        return self.for_workload(namespace, labels).decide(request)
