"""A versioned policy bundle: every resource of a config, compiled once, immutable, hashed.

``load_bundle(paths)`` reads files and directories (a directory contributes its ``*.yaml``,
``*.yml`` and ``*.json`` files, **not** its subdirectories, so staged changes can sit in a
subfolder until they are applied), in the order given and, within a directory, by file name.
It parses every document, checks every field and raises one ``PolicyError`` listing **all**
problems with file and line; a bundle with any problem is never built, so a sidecar keeps its
last good one. That order is the bundle's order, which decides "oldest wins" between
PeerAuthentications of the same level (Istio uses creation time; files have none).

``PolicyBundle`` holds the resources, the compiled ``PeerAuthenticationIndex`` and
``AuthorizationEngine`` and the typed DestinationRules and VirtualServices. Its ``version`` is
the first 16 hex digits of a sha-256 over the root namespace and, in bundle order, each
resource's key and content digest: equal configs give equal versions whatever their formatting
or comments, and reordering files (which can change precedence) gives a new version.
``changes_since(older)`` lists what was added, removed and changed, for the control plane's push.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path as FsPath
from types import MappingProxyType
from typing import Any

from carbonplane.mesh.policy.authz_engine import AuthorizationEngine, Decision, Request
from carbonplane.mesh.policy.fields import Issue, PolicyError
from carbonplane.mesh.policy.peer_authn import PeerAuthenticationIndex
from carbonplane.mesh.policy.resources import Resource, parse_resource
from carbonplane.mesh.policy.yamldocs import read_documents

DEFAULT_ROOT_NAMESPACE = "istio-system"
SUFFIXES = (".yaml", ".yml", ".json")
Key = tuple[str, str, str]  # kind, namespace, name


@dataclass(frozen=True)
class BundleChanges:
    """What differs between two bundles, by (kind, namespace, name)."""

    added: tuple[Key, ...]
    removed: tuple[Key, ...]
    changed: tuple[Key, ...]
    reordered: bool  # same resources and contents, different order (precedence may differ)

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed or self.reordered)


class PolicyBundle:
    """One immutable, compiled policy configuration."""

    def __init__(
        self, resources: Iterable[Resource], root_namespace: str = DEFAULT_ROOT_NAMESPACE
    ) -> None:
        self.root_namespace = root_namespace
        self.resources: tuple[Resource, ...] = tuple(resources)
        self._by_key: Mapping[Key, Resource] = MappingProxyType({r.key: r for r in self.resources})
        h = hashlib.sha256(root_namespace.encode())
        for r in self.resources:
            h.update("\0".join((*r.key, r.digest)).encode() + b"\n")
        self.digest = h.hexdigest()
        self.version = self.digest[:16]

        def of(kind: str) -> list[tuple[str, str, Any]]:
            return [(r.namespace, r.name, r.spec) for r in self.resources if r.kind == kind]

        self.peer_authentication = PeerAuthenticationIndex(of("PeerAuthentication"), root_namespace)
        self.authorization = AuthorizationEngine(of("AuthorizationPolicy"), root_namespace)
        self.destination_rules = tuple(r for r in self.resources if r.kind == "DestinationRule")
        self.virtual_services = tuple(r for r in self.resources if r.kind == "VirtualService")

    def __repr__(self) -> str:
        return f"<PolicyBundle {self.version}: {len(self.resources)} resources>"

    def get(self, kind: str, namespace: str, name: str) -> Resource | None:
        return self._by_key.get((kind, namespace, name))

    def mtls_mode(self, namespace: str, labels: Mapping[str, str], port: int) -> str:
        return self.peer_authentication.mode(namespace, labels, port)

    def decide(self, namespace: str, labels: Mapping[str, str], request: Request) -> Decision:
        return self.authorization.decide(namespace, labels, request)

    def changes_since(self, older: PolicyBundle | None) -> BundleChanges:
        old = dict(older._by_key) if older is not None else {}
        new = dict(self._by_key)
        added = tuple(k for k in new if k not in old)
        removed = tuple(k for k in old if k not in new)
        changed = tuple(k for k in new if k in old and new[k].digest != old[k].digest)
        reordered = (
            not (added or removed or changed)
            and older is not None
            and [r.key for r in older.resources] != [r.key for r in self.resources]
        )
        return BundleChanges(added, removed, changed, reordered)


def _files(paths: Iterable[str | FsPath], issues: list[Issue]) -> list[FsPath]:
    out: list[FsPath] = []
    for p in map(FsPath, paths):
        if p.is_dir():
            out.extend(
                sorted(
                    (
                        f
                        for f in p.iterdir()
                        if f.is_file() and f.suffix in SUFFIXES and not f.name.startswith(".")
                    ),
                    key=lambda f: f.name,
                )
            )
        elif p.is_file():
            out.append(p)
        else:
            issues.append(Issue(str(p), None, (), "no such file or directory"))
    return out


def load_bundle(
    paths: str | FsPath | Iterable[str | FsPath], *, root_namespace: str = DEFAULT_ROOT_NAMESPACE
) -> PolicyBundle:
    """Load files/directories into a bundle, or raise ``PolicyError`` listing every problem."""
    if isinstance(paths, (str, FsPath)):
        paths = [paths]
    issues: list[Issue] = []
    texts = []
    for f in _files(paths, issues):
        try:
            texts.append((str(f), f.read_bytes()))
        except OSError as exc:
            issues.append(Issue(str(f), None, (), f"cannot read: {exc.strerror}"))
    return load_texts(texts, root_namespace=root_namespace, issues=issues)


def load_texts(
    texts: Iterable[tuple[str, str | bytes]],
    *,
    root_namespace: str = DEFAULT_ROOT_NAMESPACE,
    issues: list[Issue] | None = None,
) -> PolicyBundle:
    """Build a bundle from (file name, text) pairs, in the order given."""
    issues = issues if issues is not None else []
    resources: list[Resource] = []
    first: dict[Key, Resource] = {}
    for name, text in texts:
        docs, problems = read_documents(text, name)
        issues.extend(problems)
        for doc in docs:
            res = parse_resource(doc, len(resources), root_namespace, issues)
            if res is None:
                continue
            if res.key in first:
                issues.append(
                    Issue(
                        res.file,
                        res.line,
                        ("metadata", "name"),
                        f"{res.kind} {res.namespace}/{res.name} is already "
                        f"defined at {first[res.key].where}",
                    )
                )
                continue
            first[res.key] = res
            resources.append(res)
    if issues:
        raise PolicyError(issues)
    return PolicyBundle(resources, root_namespace)
