"""The Kubernetes envelope of an Istio resource: apiVersion, kind, metadata; dispatch to specs.

Accepted kinds and API versions (as Istio serves them):
- ``PeerAuthentication``, ``AuthorizationPolicy``: ``security.istio.io/v1beta1`` or ``/v1``;
- ``DestinationRule``, ``VirtualService``: ``networking.istio.io/v1alpha3``, ``/v1beta1``, ``/v1``.
Other Istio kinds are reported unsupported, anything else as not an Istio policy.

``metadata``: ``name`` (required, a DNS-1123 subdomain), ``namespace`` (a DNS-1123 label;
absent means ``default``, as kubectl applies it), ``labels`` and ``annotations`` (strings).
Cluster-managed fields (uid, resourceVersion, creationTimestamp ...) are reported as unknown:
they belong to a cluster's copy, not to a config file, and a timestamp here would silently
compete with file order as "oldest". The ``istio.io/dry-run`` annotation is reported
unsupported, since loading such a policy would enforce what was meant only to be logged.

Each ``Resource`` carries a content digest (sha-256 of its canonical JSON) used for bundle
versions and change detection.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

from carbonplane.mesh.policy.authz import parse_authorization_policy
from carbonplane.mesh.policy.destination_rule import parse_destination_rule
from carbonplane.mesh.policy.fields import Fields, Issue
from carbonplane.mesh.policy.peer_authn import parse_peer_authentication
from carbonplane.mesh.policy.virtual_service import parse_virtual_service
from carbonplane.mesh.policy.yamldocs import Document

SECURITY = ("security.istio.io/v1beta1", "security.istio.io/v1")
NETWORKING = (
    "networking.istio.io/v1alpha3",
    "networking.istio.io/v1beta1",
    "networking.istio.io/v1",
)
KINDS = {
    "PeerAuthentication": SECURITY,
    "AuthorizationPolicy": SECURITY,
    "DestinationRule": NETWORKING,
    "VirtualService": NETWORKING,
}
UNSUPPORTED_KINDS = (
    "RequestAuthentication",
    "Gateway",
    "ServiceEntry",
    "Sidecar",
    "EnvoyFilter",
    "WorkloadEntry",
    "WorkloadGroup",
    "ProxyConfig",
    "Telemetry",
    "WasmPlugin",
)
_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


@dataclass(frozen=True)
class Resource:
    """One loaded resource: identity, where it came from, its typed spec and digest."""

    kind: str
    namespace: str
    name: str
    api_version: str
    spec: Any
    file: str
    line: int
    order: int  # position in the bundle: files by name, documents in file order
    digest: str
    labels: tuple[tuple[str, str], ...] = ()
    annotations: tuple[tuple[str, str], ...] = field(default=())

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.kind, self.namespace, self.name)

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


def _strings_map(fields: Fields, value: Any, path: tuple) -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    if not isinstance(value, dict):
        fields.report(path, "must be a mapping of strings")
        return ()
    out = []
    for k, v in value.items():
        if isinstance(k, str) and isinstance(v, str):
            out.append((k, v))
        else:
            fields.report(path + (str(k),), f"must be a string (quote {v!r} in the YAML)")
    return tuple(sorted(out))


def _canonical(value: Any) -> Any:
    """Plain data with every mapping key a string, so that ``8080:`` and ``"8080":`` hash
    alike and mixed key types cannot break sorting."""
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    return value


def parse_resource(
    doc: Document, order: int, root_namespace: str, issues: list[Issue]
) -> Resource | None:
    """Parse one document; append its problems to ``issues``; None when it cannot be used."""
    fields = Fields(doc.file, doc.marks, issues)
    before = len(issues)
    top = fields.mapping(
        doc.data,
        (),
        {"apiVersion", "kind", "metadata", "spec"},
        {"status": "status belongs to a cluster's copy; remove it"},
    )
    if not isinstance(doc.data, dict):
        return None
    kind = fields.text(top, "kind", (), required=True)
    api = fields.text(top, "apiVersion", (), required=True)
    if kind is None or api is None:
        return None
    if kind not in KINDS:
        if kind in UNSUPPORTED_KINDS:
            fields.report(("kind",), f"unsupported: {kind} is not implemented by this mesh")
        else:
            fields.report(
                ("kind",),
                f"{kind!r} is not an Istio policy kind this mesh reads ({', '.join(KINDS)})",
            )
        return None
    if api not in KINDS[kind]:
        fields.report(
            ("apiVersion",), f"{kind} is served as {' or '.join(KINDS[kind])}, not {api!r}"
        )
    meta = fields.mapping(
        top.get("metadata"), ("metadata",), {"name", "namespace", "labels", "annotations"}
    )
    name = fields.text(meta, "name", ("metadata",), required=True) or ""
    if name and (len(name) > 253 or not _SUBDOMAIN.match(name)):
        fields.report(
            ("metadata", "name"),
            f"{name!r} is not a valid name (lower-case letters, digits, '-' and '.')",
        )
    namespace = fields.text(meta, "namespace", ("metadata",)) or "default"
    if len(namespace) > 63 or not _LABEL.match(namespace):
        fields.report(("metadata", "namespace"), f"{namespace!r} is not a valid namespace")
    labels = _strings_map(fields, meta.get("labels"), ("metadata", "labels"))
    annotations = _strings_map(fields, meta.get("annotations"), ("metadata", "annotations"))
    if any(k == "istio.io/dry-run" for k, _ in annotations):
        fields.report(
            ("metadata", "annotations", "istio.io/dry-run"),
            "unsupported: dry-run policies are not implemented (the policy would be enforced)",
        )
    spec_value = top.get("spec")
    if spec_value is None:
        spec_value = {}
    path = ("spec",)
    if kind == "PeerAuthentication":
        spec = parse_peer_authentication(
            fields, spec_value, path, namespace=namespace, root_namespace=root_namespace
        )
    elif kind == "AuthorizationPolicy":
        spec = parse_authorization_policy(fields, spec_value, path)
    elif kind == "DestinationRule":
        spec = parse_destination_rule(fields, spec_value, path)
    else:
        spec = parse_virtual_service(fields, spec_value, path)
    if len(issues) > before:
        return None
    canonical = json.dumps(
        _canonical(
            {
                "apiVersion": api,
                "kind": kind,
                "name": name,
                "namespace": namespace,
                "labels": labels,
                "annotations": annotations,
                "spec": spec_value,
            }
        ),
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    digest = hashlib.sha256(canonical.encode()).hexdigest()
    return Resource(
        kind, namespace, name, api, spec, doc.file, doc.line, order, digest, labels, annotations
    )
