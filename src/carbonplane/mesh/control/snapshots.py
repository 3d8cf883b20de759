"""Versioned config snapshots and what every proxy acknowledged (xDS-like semantics).

A snapshot is one JSON object (``FORMAT`` 1)::

    {"format": 1, "version": V,
     "policy":   {"version": PV, "root_namespace": NS, "files": [[name, text], ...]},
     "registry": {"<ns>/<service>": [{proxy_id, address, identity, labels, healthy}, ...]},
     "trust_bundle": "<PEM of every root to trust>"}

``V`` is the first 16 hex digits of a sha-256 over the canonical JSON of everything but ``V``:
equal content gives an equal version, so a restarted control plane serving the same state offers
the version its proxies already hold, and an agent can check the snapshot is intact. The policy
travels as its source files (the agent compiles and validates them with ``mesh.policy``: a proxy
that cannot apply them says why in its NACK).

``PolicySource`` reads a policy directory the way ``policy.load_bundle`` does (its ``*.yaml``,
``*.yml``, ``*.json`` files, not subdirectories, by name) and keeps the texts beside the compiled
bundle; ``signature()`` is a cheap stat-based fingerprint for the ~200 ms poller.

``ProxyTracker`` holds, per connected or known proxy, the last version sent, acked and nacked (with
the reason) and what the proxy reported in its heartbeats. ``state(current)`` is ``SYNCED`` (acked
the current version), ``STALE`` (sent, but it acked an older one, has not answered yet, or
rejected it: ``detail`` says which) or ``NOT SENT`` (nothing sent since this control plane
started, e.g. the proxy is disconnected).
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from carbonplane.mesh.policy import PolicyBundle, load_texts
from carbonplane.mesh.policy.bundle import DEFAULT_ROOT_NAMESPACE, SUFFIXES

FORMAT = 1
SYNCED, STALE, NOT_SENT = "SYNCED", "STALE", "NOT SENT"


def content_version(body: dict[str, Any]) -> str:
    """The version of a snapshot body (every key but ``version``)."""
    canon = json.dumps(
        {k: v for k, v in body.items() if k != "version"}, sort_keys=True, separators=(",", ":")
    )
    return hashlib.sha256(canon.encode()).hexdigest()[:16]


def build(
    policy: "PolicySource", registry: dict[str, list[dict]], trust_bundle_pem: bytes
) -> dict[str, Any]:
    body = {
        "format": FORMAT,
        "policy": {
            "version": policy.bundle.version,
            "root_namespace": policy.root_namespace,
            "files": [list(t) for t in policy.texts],
        },
        "registry": registry,
        "trust_bundle": trust_bundle_pem.decode("ascii"),
    }
    body["version"] = content_version(body)
    return body


class PolicySource:
    """A policy directory: its texts and compiled bundle; ``reload`` keeps the last good one."""

    def __init__(self, directory: str | Path, root_namespace: str = DEFAULT_ROOT_NAMESPACE):
        self.directory = Path(directory)
        self.root_namespace = root_namespace
        if not self.directory.is_dir():
            raise FileNotFoundError(f"policy directory {self.directory} does not exist")
        self.error: str | None = None
        self.texts: tuple[tuple[str, str], ...] = ()
        self.bundle: PolicyBundle = PolicyBundle((), root_namespace)
        self._sig: tuple = ()
        self.reload()  # a PolicyError here propagates: a control plane never starts on bad policy

    def _paths(self) -> list[Path]:
        return sorted(
            (
                f
                for f in self.directory.iterdir()
                if f.is_file() and f.suffix in SUFFIXES and not f.name.startswith(".")
            ),
            key=lambda f: f.name,
        )

    def signature(self) -> tuple:
        out = []
        for p in self._paths():
            try:
                st = p.stat()
            except FileNotFoundError:
                continue
            out.append((p.name, st.st_mtime_ns, st.st_size, st.st_ino))
        return tuple(out)

    def changed(self) -> bool:
        return self.signature() != self._sig

    def reload(self) -> bool:
        """Re-read the directory; True if the bundle changed. ``PolicyError`` leaves
        it as it was."""
        sig = self.signature()
        texts = tuple((p.name, p.read_text(encoding="utf-8")) for p in self._paths())
        self._sig = sig
        bundle = load_texts(texts, root_namespace=self.root_namespace)
        self.error = None
        if bundle.version == self.bundle.version and texts == self.texts:
            return False
        self.texts, self.bundle = texts, bundle
        return True


@dataclass
class ProxyState:
    proxy_id: str
    identity: str
    connected: bool = False
    sent: str | None = None
    acked: str | None = None
    nacked: str | None = None
    nack_reason: str | None = None
    last_seen: float = 0.0
    reported: dict[str, Any] = field(default_factory=dict)
    stream: Any = None  # the watch stream currently serving this proxy

    def state(self, current: str) -> tuple[str, str]:
        """(SYNCED | STALE | NOT SENT, detail)."""
        if self.sent is None:
            return NOT_SENT, "no config sent since the control plane started"
        if self.acked == current:
            return SYNCED, ""
        if self.nacked is not None and self.nacked == self.sent:
            return STALE, f"rejected {self.nacked}: {self.nack_reason}"
        if self.sent != current:
            return STALE, f"holds {self.acked or 'nothing'}; {current} not sent yet"
        return STALE, f"holds {self.acked or 'nothing'}; waiting for an answer to {current}"


class ProxyTracker:
    """Per-proxy push state, kept in memory by the serving control plane."""

    def __init__(self) -> None:
        self.proxies: dict[str, ProxyState] = {}

    def get(self, proxy_id: str, identity: str) -> ProxyState:
        st = self.proxies.get(proxy_id)
        if st is None or st.identity != identity:
            st = self.proxies[proxy_id] = ProxyState(proxy_id, identity)
        return st

    def status(self, current: str, registrations: list, cert_expiry: dict[str, str]) -> list[dict]:
        """One row per registered or connected proxy, like ``istioctl proxy-status``."""
        rows = []
        known = {r.proxy_id: r for r in registrations}
        for pid in sorted(set(known) | set(self.proxies)):
            reg = known.get(pid)
            st = self.proxies.get(pid) or ProxyState(pid, reg.identity if reg else "")
            state, detail = st.state(current)
            last_seen = max(st.last_seen, reg.last_seen if reg else 0.0)
            rows.append(
                {
                    "proxy_id": pid,
                    "identity": st.identity or (reg.identity if reg else ""),
                    "service": f"{reg.namespace}/{reg.service}" if reg else None,
                    "address": reg.address if reg else None,
                    "state": state,
                    "detail": detail,
                    "connected": st.connected,
                    "config_version": st.acked,
                    "rejected_version": st.nacked,
                    "rejected_reason": st.nack_reason,
                    "cert_expiry": st.reported.get("cert_not_after") or cert_expiry.get(pid),
                    "health": st.reported.get("health"),
                    "last_seen": _iso(last_seen) if last_seen else None,
                }
            )
        return rows


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))
