"""What a sidecar applies from a snapshot, and the checks that decide ACK or NACK.

``MeshConfig.from_snapshot(body, accept_kinds)`` raises ``ConfigRejected(reason)`` (the agent
sends it as the NACK reason and keeps its last good config) when:

- the format is not one this agent understands (``SUPPORTED_FORMATS``);
- the version does not match the content (``snapshots.content_version``): a damaged or tampered
  snapshot;
- the policy files do not compile (``mesh.policy`` errors with file:line), or hold a kind this
  agent does not apply (``accept_kinds``, e.g. an older sidecar without VirtualService support);
- the registry or the trust bundle is malformed (the bundle must be PEM certificates).

A ``MeshConfig`` is immutable: the compiled ``PolicyBundle``, the registry (``ns/service`` ->
endpoints) and the trust bundle PEM.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cryptography import x509

from carbonplane.mesh.control.snapshots import content_version
from carbonplane.mesh.control.wire import ControlPlaneError
from carbonplane.mesh.policy import PolicyBundle, PolicyError, load_texts

SUPPORTED_FORMATS = (1,)
ALL_KINDS = frozenset(
    {"PeerAuthentication", "AuthorizationPolicy", "DestinationRule", "VirtualService"}
)


class ConfigRejected(ControlPlaneError, ValueError):
    """A snapshot this agent cannot apply; ``reason`` goes back in the NACK."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True)
class MeshConfig:
    version: str
    policy: PolicyBundle
    registry: dict[str, tuple[dict, ...]]
    trust_bundle_pem: bytes
    raw: dict[str, Any]

    def endpoints(self, service: str, namespace: str = "default", *, healthy_only: bool = True):
        eps = self.registry.get(f"{namespace}/{service}", ())
        return tuple(e for e in eps if e.get("healthy") or not healthy_only)

    @classmethod
    def from_snapshot(cls, body: Any, accept_kinds=ALL_KINDS) -> "MeshConfig":
        if not isinstance(body, dict):
            raise ConfigRejected("the snapshot is not an object")
        version = body.get("version")
        if body.get("format") not in SUPPORTED_FORMATS:
            raise ConfigRejected(
                f"snapshot format {body.get('format')!r} is not supported by "
                f"this agent (supported: {list(SUPPORTED_FORMATS)})"
            )
        if not isinstance(version, str) or content_version(body) != version:
            raise ConfigRejected(
                f"snapshot version {version!r} does not match its content "
                "(damaged or altered in transit)"
            )
        policy = body.get("policy")
        if not isinstance(policy, dict) or not isinstance(policy.get("files"), list):
            raise ConfigRejected("snapshot field 'policy.files' is missing")
        texts = []
        for entry in policy["files"]:
            if not (
                isinstance(entry, list)
                and len(entry) == 2
                and all(isinstance(x, str) for x in entry)
            ):
                raise ConfigRejected("snapshot field 'policy.files' holds a non-[name, text] entry")
            texts.append((entry[0], entry[1]))
        try:
            bundle = load_texts(texts, root_namespace=str(policy.get("root_namespace")))
        except PolicyError as exc:
            raise ConfigRejected(f"policy does not compile: {exc}") from None
        unsupported = sorted({r.kind for r in bundle.resources} - set(accept_kinds))
        if unsupported:
            where = next(r.where for r in bundle.resources if r.kind in unsupported)
            raise ConfigRejected(
                f"unsupported kind {', '.join(unsupported)} (first at {where}); "
                f"this agent applies {', '.join(sorted(accept_kinds))}"
            )
        if bundle.version != policy.get("version"):
            raise ConfigRejected(
                f"policy compiles to {bundle.version}, not the announced {policy.get('version')!r}"
            )
        registry = body.get("registry")
        if not isinstance(registry, dict) or not all(
            isinstance(k, str) and isinstance(v, list) and all(isinstance(e, dict) for e in v)
            for k, v in registry.items()
        ):
            raise ConfigRejected("snapshot field 'registry' is not {service: [endpoint]}")
        pem = body.get("trust_bundle")
        try:
            if not isinstance(pem, str) or not x509.load_pem_x509_certificates(pem.encode()):
                raise ValueError("empty")
        except ValueError as exc:
            raise ConfigRejected(
                f"snapshot field 'trust_bundle' is not PEM certificates: {exc}"
            ) from None
        return cls(
            version, bundle, {k: tuple(v) for k, v in registry.items()}, pem.encode("ascii"), body
        )
