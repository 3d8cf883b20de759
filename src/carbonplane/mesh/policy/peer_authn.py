"""PeerAuthentication: parse Istio's ``spec`` and resolve the mTLS mode of a workload's port.

istio/api ``security/v1beta1/peer_authentication.proto``: modes UNSET (inherit from the parent,
PERMISSIVE when nothing sets one), DISABLE, PERMISSIVE, STRICT. Scope: a policy in the root
namespace without selector covers the mesh, one without selector the namespace, one with
``selector.matchLabels`` the matching workloads of its namespace. ``portLevelMtls`` (keys are the
workload's ports) needs a selector. Istio ignores policies with a selector in the root namespace;
this loader refuses them, with the line, rather than load a policy that does nothing.

Resolution for (namespace, labels, port), most specific first, UNSET meaning "ask the parent":
workload policy's port-level mode -> workload policy's mode -> namespace policy -> mesh policy
-> PERMISSIVE. Among several policies of the same level Istio takes the oldest
(``creationTimestamp``). Files carry no timestamp, so here **the oldest is the first loaded**:
files in name order, documents in file order (``bundle`` documents this). Deterministic, and
visible in ``MtlsDecision.policy``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from carbonplane.mesh.policy.fields import Fields, Path, labels_selector, selector_matches

MODES = ("UNSET", "DISABLE", "PERMISSIVE", "STRICT")


@dataclass(frozen=True)
class PeerAuthenticationSpec:
    selector: tuple[tuple[str, str], ...] | None
    mode: str  # UNSET when ``mtls`` or its mode is absent
    port_modes: tuple[tuple[int, str], ...]


@dataclass(frozen=True)
class MtlsDecision:
    """The effective mode and the policy (``namespace/name``) that set it; None = the default."""

    mode: str
    policy: str | None


def _mode(fields: Fields, value: Any, path: Path) -> str:
    m = fields.mapping(value, path, {"mode"})
    return fields.text(m, "mode", path, choices=MODES) or "UNSET"


def parse_peer_authentication(
    fields: Fields, spec: Any, path: Path, *, namespace: str, root_namespace: str
) -> PeerAuthenticationSpec:
    m = fields.mapping(spec, path, {"selector", "mtls", "portLevelMtls"})
    selector = labels_selector(fields, m, "selector", path)
    if selector is not None and namespace == root_namespace:
        fields.report(
            path + ("selector",),
            f"a workload selector in the root namespace "
            f"{root_namespace!r} is ignored by Istio; put this policy in the "
            "workload's namespace",
        )
    mode = _mode(fields, m.get("mtls"), path + ("mtls",)) if "mtls" in m else "UNSET"
    ports: list[tuple[int, str]] = []
    levels = m.get("portLevelMtls")
    if levels is not None:
        at = path + ("portLevelMtls",)
        if selector is None and "selector" not in m:
            fields.report(
                at,
                "portLevelMtls requires a selector (Istio applies it only to selected workloads)",
            )
        if not isinstance(levels, dict):
            fields.report(at, "must be a mapping of port number to {mode: ...}")
            levels = {}
        for key, value in levels.items():
            port = (
                int(key) if isinstance(key, int) or (isinstance(key, str) and key.isdigit()) else -1
            )
            if isinstance(key, bool) or not 1 <= port <= 65535:
                fields.report(at + (str(key),), f"port must be from 1 to 65535, not {key!r}")
                continue
            ports.append((port, _mode(fields, value, at + (str(key),))))
    return PeerAuthenticationSpec(selector, mode, tuple(sorted(ports)))


class PeerAuthenticationIndex:
    """Every PeerAuthentication of a bundle, by namespace, in load order (oldest first)."""

    def __init__(
        self, policies: list[tuple[str, str, PeerAuthenticationSpec]], root_namespace: str
    ) -> None:
        self.root_namespace = root_namespace
        self._by_ns: dict[str, list[tuple[str, PeerAuthenticationSpec]]] = {}
        for ns, name, spec in policies:
            self._by_ns.setdefault(ns, []).append((f"{ns}/{name}", spec))

    def _namespace_wide(self, namespace: str) -> tuple[str, PeerAuthenticationSpec] | None:
        return next(((n, s) for n, s in self._by_ns.get(namespace, ()) if s.selector is None), None)

    def workload_policy(
        self, namespace: str, labels: Mapping[str, str]
    ) -> tuple[str, PeerAuthenticationSpec] | None:
        """The oldest policy of ``namespace`` whose selector matches ``labels``."""
        return next(
            (
                (n, s)
                for n, s in self._by_ns.get(namespace, ())
                if s.selector is not None and selector_matches(s.selector, labels)
            ),
            None,
        )

    def resolve(self, namespace: str, labels: Mapping[str, str], port: int) -> MtlsDecision:
        workload = self.workload_policy(namespace, labels)
        if workload is not None:
            name, spec = workload
            for p, mode in spec.port_modes:
                if p == port and mode != "UNSET":
                    return MtlsDecision(mode, name)
            if spec.mode != "UNSET":
                return MtlsDecision(spec.mode, name)
        for ns in (namespace, self.root_namespace):
            found = self._namespace_wide(ns)
            if found is not None and found[1].mode != "UNSET":
                return MtlsDecision(found[1].mode, found[0])
        return MtlsDecision("PERMISSIVE", None)

    def mode(self, namespace: str, labels: Mapping[str, str], port: int) -> str:
        """The effective mode: STRICT, PERMISSIVE or DISABLE."""
        return self.resolve(namespace, labels, port).mode
