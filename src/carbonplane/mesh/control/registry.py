"""The service registry: which proxy serves which service, where, under which identity.

One entry per proxy (``proxy_id``, chosen and persisted by the agent): service, namespace, the
sidecar's inbound address, labels, its SPIFFE id, when it registered and when it was last seen.
``endpoints()`` groups them as ``{"<namespace>/<service>": [endpoint, ...]}`` with a ``healthy``
flag: an entry is healthy while ``now - last_seen < ttl`` (heartbeats arrive on the watch stream).

Invariants:

- A registration's identity is the caller's verified certificate identity, and it must be
  ``spiffe://<td>/ns/<namespace>/sa/<service>`` for the claimed service (checked by the server);
  a ``proxy_id`` already held by another identity is refused, so no workload can overwrite
  another's entry.
- ``<data_dir>/registry.json`` (0600) is replaced atomically (``files.write_atomic``) on every
  registration change before the caller is answered; last-seen times are written at most every
  ``flush_interval`` seconds (a restart may forget a few seconds of heartbeats, never an entry).
- Entries are kept while unhealthy (shown as such); ``forget_after`` removes entries not seen for
  that long (default one day), so a scaled-down service eventually leaves the registry.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from carbonplane.mesh.control.wire import ControlPlaneError
from carbonplane.mesh.identity import files
from carbonplane.mesh.identity.errors import CAStateError

PROXY_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
ADDRESS = re.compile(r"^[A-Za-z0-9.\-\[\]:]{1,255}:[0-9]{1,5}$")
DEFAULT_TTL = 30.0
DEFAULT_FORGET_AFTER = 86400.0


@dataclass
class Registration:
    proxy_id: str
    service: str
    namespace: str
    address: str
    labels: dict[str, str]
    identity: str
    registered: float
    last_seen: float = field(default=0.0)


class RegistrationError(ControlPlaneError, ValueError):
    """A registration the registry refuses (``code`` for the wire, message for people)."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        super().__init__(message)


def check_fields(proxy_id: object, address: object, labels: object) -> dict[str, str]:
    """Validate what a proxy claims; returns the labels as a plain dict."""
    if not isinstance(proxy_id, str) or not PROXY_ID.fullmatch(proxy_id):
        raise RegistrationError(
            "bad_request", "proxy_id must match [A-Za-z0-9][A-Za-z0-9._-]{0,63}"
        )
    if (
        not isinstance(address, str)
        or not ADDRESS.fullmatch(address)
        or int(address.rpartition(":")[2]) > 65535
    ):
        raise RegistrationError("bad_request", f"address {address!r} is not HOST:PORT")
    if labels is None:
        return {}
    if (
        not isinstance(labels, dict)
        or len(labels) > 64
        or not all(
            isinstance(k, str) and isinstance(v, str) and len(k) <= 253 and len(v) <= 253
            for k, v in labels.items()
        )
    ):
        raise RegistrationError("bad_request", "labels must be at most 64 string pairs")
    return dict(labels)


class Registry:
    """Registrations persisted under ``data_dir``; not thread-safe (one event loop owns it)."""

    def __init__(
        self,
        data_dir: str | Path,
        *,
        ttl: float = DEFAULT_TTL,
        forget_after: float = DEFAULT_FORGET_AFTER,
        flush_interval: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = Path(files.make_private_dir(data_dir)) / "registry.json"
        self.ttl = ttl
        self.forget_after = forget_after
        self.flush_interval = flush_interval
        self.clock = clock
        self._entries: dict[str, Registration] = {}
        self._unflushed = False
        self._flushed_at = 0.0
        self._load()
        self._last_health = self._health(self.clock())

    def _load(self) -> None:
        try:
            data = json.loads(files.read_private(self.path, "registry"))
        except CAStateError:
            if not self.path.exists():
                return
            raise
        except ValueError as exc:
            raise CAStateError(
                self.path,
                f"the registry is not valid JSON ({exc}); restore it "
                "from a backup or delete it (proxies re-register)",
            ) from None
        if not isinstance(data, dict) or data.get("format") != 1:
            raise CAStateError(self.path, "the registry has an unknown format")
        for pid, e in data.get("entries", {}).items():
            self._entries[pid] = Registration(**e)

    def _save(self) -> None:
        data = {"format": 1, "entries": {pid: asdict(r) for pid, r in self._entries.items()}}
        files.write_atomic(
            self.path, json.dumps(data, indent=1, sort_keys=True).encode(), files.PRIVATE
        )
        self._unflushed = False
        self._flushed_at = self.clock()

    # -- changes ------------------------------------------------------------------------------

    def register(
        self,
        proxy_id: str,
        service: str,
        namespace: str,
        address: str,
        labels: dict[str, str],
        identity: str,
    ) -> tuple[Registration, bool]:
        """Add or update a proxy's entry (persisted); returns it and whether endpoints changed."""
        now = self.clock()
        old = self._entries.get(proxy_id)
        if old is not None and old.identity != identity:
            raise RegistrationError(
                "identity_mismatch",
                f"proxy id {proxy_id} is registered to "
                f"{old.identity}; a proxy of {identity} must use another id",
            )
        new = Registration(
            proxy_id,
            service,
            namespace,
            address,
            labels,
            identity,
            old.registered if old else now,
            now,
        )
        changed = (
            old is None
            or (old.service, old.namespace, old.address, old.labels)
            != (service, namespace, address, labels)
            or not self.healthy(old, now)
        )
        self._entries[proxy_id] = new
        self._save()
        return new, changed

    def seen(self, proxy_id: str) -> bool:
        """Record a heartbeat; True if the entry just became healthy again."""
        entry = self._entries.get(proxy_id)
        if entry is None:
            return False
        now = self.clock()
        revived = not self.healthy(entry, now)
        entry.last_seen = now
        self._unflushed = True
        if revived or now - self._flushed_at >= self.flush_interval:
            self._save()
        return revived

    def sweep(self) -> bool:
        """Forget long-gone entries, flush heartbeats; True if health changed since last sweep."""
        now = self.clock()
        gone = [p for p, e in self._entries.items() if now - e.last_seen >= self.forget_after]
        for p in gone:
            del self._entries[p]
        if gone or (self._unflushed and now - self._flushed_at >= self.flush_interval):
            self._save()
        health = self._health(now)
        changed = bool(gone) or health != self._last_health
        self._last_health = health
        return changed

    def _health(self, now: float) -> tuple:
        return tuple(sorted((p, self.healthy(e, now)) for p, e in self._entries.items()))

    # -- reading ------------------------------------------------------------------------------

    def healthy(self, entry: Registration, now: float | None = None) -> bool:
        return (now if now is not None else self.clock()) - entry.last_seen < self.ttl

    def get(self, proxy_id: str) -> Registration | None:
        return self._entries.get(proxy_id)

    def entries(self) -> list[Registration]:
        return sorted(self._entries.values(), key=lambda e: (e.namespace, e.service, e.proxy_id))

    def endpoints(self) -> dict[str, list[dict]]:
        """``{"ns/service": [{proxy_id, address, identity, labels, healthy}]}``, sorted."""
        now = self.clock()
        out: dict[str, list[dict]] = {}
        for e in self.entries():
            out.setdefault(f"{e.namespace}/{e.service}", []).append(
                {
                    "proxy_id": e.proxy_id,
                    "address": e.address,
                    "identity": e.identity,
                    "labels": e.labels,
                    "healthy": self.healthy(e, now),
                }
            )
        return out
