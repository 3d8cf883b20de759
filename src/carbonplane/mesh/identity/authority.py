"""The mesh certificate authority: its roots on disk, workload issuing, rotation with an overlap.

Data directory layout (``<data_dir>/ca/``, created 0700)::

    state.json               which roots exist, which one signs, until when each is trusted
    ca.lock                  flock'ed while loading, rotating or pruning
    root-<id>.crt            a signing certificate (PEM, 0644)
    root-<id>.key            its private key (PEM PKCS#8, 0600; refused at start if looser)
    root-<id>.chain.pem      only for a supplied intermediate: the certificates above it, up to
                             and including the organisation's self-signed root

Where roots come from:

- **generated** on first start (ECDSA P-256, self-signed, 10 years like Istio's self-signed root);
- **supplied** self-signed root: ``SuppliedRoot(cert, key)``;
- **supplied intermediate** issued by an organisation's root: ``SuppliedRoot(cert, key, chain)``
  where ``chain`` holds the certificates above ``cert``, ending with the self-signed root. The
  organisation's root is then the mesh's trust anchor (as with Istio's plug-in ``cacerts``) and
  workloads present ``leaf + intermediates``. Anything else the organisation's root signs with a
  URI SAN in this trust domain would be trusted too: use a dedicated root if that matters.

Supplied files are copied into the data directory on first start (the key 0600), so a restart
needs only the data directory.

Rotation (``rotate``): the new root becomes the signer at once; the previous signer stays in the
trust bundle until ``now + overlap`` (so certificates it issued keep verifying while workloads
renew); after that it drops out of ``trust_bundle()`` and ``prune()`` deletes it. The overlap
should be at least the workload TTL, so that every old certificate is renewed before it ends.

Invariants:

- ``state.json`` is the only source of truth; it is replaced atomically, after the files it names
  are written. Loading, rotating and pruning hold an exclusive ``flock`` on ``ca.lock`` and
  re-read the state first, so processes sharing the directory never interleave; a process that
  did not rotate keeps signing with the root it loaded until it is restarted. A process killed
  mid-rotation leaves the old state (plus unreferenced files, which the next start deletes) or
  the new one, never a mix.
- Every root loaded has a key matching its certificate, a fingerprint matching the state, and a
  key file no group/other can access; otherwise ``CAStateError`` names the file and the fix
  (the checks on one root's files are ``roots.py``).
- The CA signs exactly the identity its caller passes (``issue(csr, identity)``); the CSR may only
  repeat it (``certificates.check_csr``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from cryptography import x509

from carbonplane.mesh.identity import files
from carbonplane.mesh.identity.certificates import (
    build_root,
    build_workload_cert,
    cert_pem,
    check_csr,
    fingerprint,
)
from carbonplane.mesh.identity.errors import CAStateError, IdentityError
from carbonplane.mesh.identity.roots import (
    Root,
    SuppliedRoot,
    check_signing_pair,
    key_bytes,
    load_key,
    load_pem_certs,
)
from carbonplane.mesh.identity.spiffe import DEFAULT_TRUST_DOMAIN, WorkloadId, validate_trust_domain

DEFAULT_WORKLOAD_TTL = dt.timedelta(hours=24)  # Istio SECRET_TTL
DEFAULT_MAX_TTL = dt.timedelta(hours=48)  # Istio MAX_WORKLOAD_CERT_TTL
DEFAULT_ROOT_VALIDITY = dt.timedelta(days=3650)  # Istio's self-signed root: 10 years
CLOCK_SKEW = dt.timedelta(minutes=1)  # not_before is backdated by this much
STATE_FORMAT = 1
_ROOT_FILE = re.compile(r"^(root-[0-9a-f]{16}\.(crt|key|chain\.pem)|\.tmp-.*)$")

Clock = Callable[[], dt.datetime]


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


@dataclass(frozen=True)
class IssuedCertificate:
    """A signed workload certificate, what to present with it, and the bundle to trust."""

    identity: WorkloadId
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...]
    trust_bundle: tuple[x509.Certificate, ...]

    @property
    def chain_pem(self) -> bytes:
        """Leaf then intermediates: what a workload presents in its handshake."""
        return b"".join(cert_pem(c) for c in (self.certificate, *self.chain))

    @property
    def bundle_pem(self) -> bytes:
        return b"".join(cert_pem(c) for c in self.trust_bundle)

    @property
    def not_after(self) -> dt.datetime:
        return self.certificate.not_valid_after_utc


class CertificateAuthority:
    """The mesh CA over ``data_dir``; see the module docstring. Thread-safe."""

    def __init__(
        self,
        data_dir: str | os.PathLike,
        *,
        trust_domain: str = DEFAULT_TRUST_DOMAIN,
        supplied: SuppliedRoot | None = None,
        clock: Clock = utcnow,
        workload_ttl: dt.timedelta = DEFAULT_WORKLOAD_TTL,
        max_ttl: dt.timedelta = DEFAULT_MAX_TTL,
        root_validity: dt.timedelta = DEFAULT_ROOT_VALIDITY,
    ) -> None:
        self.trust_domain = validate_trust_domain(trust_domain)
        if not dt.timedelta(0) < workload_ttl <= max_ttl:
            raise IdentityError(f"workload_ttl {workload_ttl} must be > 0 and <= max_ttl {max_ttl}")
        self.dir = files.make_private_dir(Path(data_dir) / "ca")
        self.clock = clock
        self.workload_ttl = workload_ttl
        self.max_ttl = max_ttl
        self.root_validity = root_validity
        self._lock = threading.Lock()
        self._state_path = self.dir / "state.json"
        with self._exclusive():
            if self._state_path.exists():
                self._roots, self._active = self._load_state()
                if supplied is not None:
                    fp = fingerprint(load_pem_certs(Path(supplied.cert), "CA certificate")[0])
                    if fp not in {r.fingerprint for r in self._roots}:
                        raise CAStateError(
                            self._state_path,
                            "the data directory already holds "
                            "another CA root; to switch to the supplied one, "
                            "rotate to it (CertificateAuthority.rotate(supplied=...))",
                        )
            else:
                root = self._new_root(supplied, trusted_until=None)
                self._roots, self._active = [root], root.id
                self._save_state()
            self._remove_orphans()

    @contextlib.contextmanager
    def _exclusive(self):
        """This object's lock plus an exclusive ``flock`` on ``ca.lock``: processes sharing the
        data directory (a control plane, a CLI) never load, rotate or prune at the same time."""
        with self._lock:
            fd = os.open(
                self.dir / "ca.lock",
                os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0),
                files.PRIVATE,
            )
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                yield
            finally:
                os.close(fd)

    # -- reading ------------------------------------------------------------------------------

    @property
    def active(self) -> Root:
        """The root that signs new workload certificates."""
        return next(r for r in self._roots if r.id == self._active)

    @property
    def roots(self) -> tuple[Root, ...]:
        return tuple(self._roots)

    def trust_bundle(self, now: dt.datetime | None = None) -> tuple[x509.Certificate, ...]:
        """The anchors to trust at ``now``: the active root's and every root still in overlap."""
        now = now or self.clock()
        out: dict[str, x509.Certificate] = {}
        for r in self._roots:
            if r.id == self._active or r.trusted_at(now):
                out.setdefault(fingerprint(r.anchor), r.anchor)
        return tuple(out.values())

    def trust_bundle_pem(self, now: dt.datetime | None = None) -> bytes:
        return b"".join(cert_pem(c) for c in self.trust_bundle(now))

    # -- issuing ------------------------------------------------------------------------------

    def issue(
        self, csr, identity: WorkloadId, ttl: dt.timedelta | None = None
    ) -> IssuedCertificate:
        """Sign ``csr`` for ``identity`` (decided by the caller, never by the CSR).

        ``CSRRejectedError`` if the CSR is invalid or asks for anything else; the certificate
        lives ``ttl`` (default ``workload_ttl``, at most ``max_ttl``), cut at the signer's expiry.
        """
        if not isinstance(identity, WorkloadId):
            raise TypeError(f"identity must be a WorkloadId, not {type(identity).__name__}")
        if identity.trust_domain != self.trust_domain:
            raise IdentityError(
                f"identity {identity} is not in this CA's trust domain {self.trust_domain!r}"
            )
        ttl = self.workload_ttl if ttl is None else ttl
        if not dt.timedelta(0) < ttl <= self.max_ttl:
            raise IdentityError(f"certificate TTL {ttl} must be > 0 and <= {self.max_ttl}")
        public_key = check_csr(csr, identity)
        with self._lock:
            root = self.active
            now = self.clock()
            signer_end = min(c.not_valid_after_utc for c in (root.cert, *root.chain))
            if now >= signer_end:
                raise CAStateError(
                    self.dir, f"the signing CA certificate expired at {signer_end}; rotate the CA"
                )
            cert = build_workload_cert(
                public_key,
                identity,
                root.cert,
                root.key,
                now - CLOCK_SKEW,
                min(now + ttl, signer_end),
            )
            chain = (root.cert, *root.chain[:-1]) if root.chain else ()
            return IssuedCertificate(identity, cert, chain, self.trust_bundle(now))

    # -- rotation -----------------------------------------------------------------------------

    def rotate(
        self, overlap: dt.timedelta | None = None, *, supplied: SuppliedRoot | None = None
    ) -> Root:
        """Make a new root (generated, or ``supplied``) the signer; keep the old one trusted for
        ``overlap`` (default ``max_ttl``). Returns the new root."""
        overlap = self.max_ttl if overlap is None else overlap
        if overlap < dt.timedelta(0):
            raise IdentityError(f"the rotation overlap {overlap} is negative")
        with self._exclusive():
            self._roots, self._active = self._load_state()  # another process may have rotated
            now = self.clock()
            new = self._new_root(supplied, trusted_until=None)
            if new.fingerprint in {r.fingerprint for r in self._roots}:
                raise CAStateError(
                    Path(supplied.cert) if supplied else self.dir,
                    "this root is already in the CA; rotate to a new one",
                )
            old = self.active
            kept = [r for r in self._roots if r.id != old.id]
            self._roots = [
                *kept,
                Root(old.id, old.cert, old.key, old.chain, old.added, now + overlap),
                new,
            ]
            self._active = new.id
            self._save_state()
            return new

    def prune(self) -> list[str]:
        """Drop roots whose overlap has ended (state first, then their files); return their ids."""
        with self._exclusive():
            self._roots, self._active = self._load_state()
            now = self.clock()
            gone = [r for r in self._roots if r.id != self._active and not r.trusted_at(now)]
            if gone:
                self._roots = [r for r in self._roots if r not in gone]
                self._save_state()
                self._remove_orphans()
            return [r.id for r in gone]

    # -- persistence --------------------------------------------------------------------------

    def _new_root(self, supplied: SuppliedRoot | None, trusted_until) -> Root:
        now = self.clock()
        if supplied is None:
            key, cert = build_root(self.trust_domain, now, self.root_validity)
            chain: list[x509.Certificate] = []
        else:
            cert_path = Path(supplied.cert)
            certs = load_pem_certs(cert_path, "CA certificate")
            cert = certs[0]
            key = load_key(Path(supplied.key))
            chain = certs[1:] + (
                load_pem_certs(Path(supplied.chain), "CA chain") if supplied.chain else []
            )
            check_signing_pair(cert, key, chain, cert_path)
        rid = fingerprint(cert)[:16]
        files.write_atomic(self.dir / f"root-{rid}.key", key_bytes(key), files.PRIVATE)
        if chain:
            files.write_atomic(
                self.dir / f"root-{rid}.chain.pem",
                b"".join(cert_pem(c) for c in chain),
                files.PUBLIC,
            )
        files.write_atomic(self.dir / f"root-{rid}.crt", cert_pem(cert), files.PUBLIC)
        return Root(rid, cert, key, tuple(chain), now, trusted_until)

    def _save_state(self) -> None:
        state = {
            "format": STATE_FORMAT,
            "trust_domain": self.trust_domain,
            "active": self._active,
            "roots": [
                {
                    "id": r.id,
                    "fingerprint": r.fingerprint,
                    "chain": bool(r.chain),
                    "added": r.added.isoformat(),
                    "trusted_until": r.trusted_until.isoformat() if r.trusted_until else None,
                }
                for r in self._roots
            ],
        }
        files.write_atomic(self._state_path, json.dumps(state, indent=2).encode(), files.PRIVATE)

    def _load_state(self) -> tuple[list[Root], str]:
        path = self._state_path
        try:
            state = json.loads(path.read_bytes())
            if state.get("format") != STATE_FORMAT:
                raise CAStateError(path, f"unknown state format {state.get('format')!r}")
            if state["trust_domain"] != self.trust_domain:
                raise CAStateError(
                    path,
                    f"this CA serves trust domain {state['trust_domain']!r}, "
                    f"not {self.trust_domain!r}",
                )
            roots = []
            for entry in state["roots"]:
                rid = entry["id"]
                if not re.fullmatch(r"[0-9a-f]{16}", rid):
                    raise CAStateError(path, f"bad root id {rid!r}")
                cert_path = self.dir / f"root-{rid}.crt"
                cert = load_pem_certs(cert_path, "CA certificate")[0]
                key = load_key(self.dir / f"root-{rid}.key")
                chain = (
                    load_pem_certs(self.dir / f"root-{rid}.chain.pem", "CA chain")
                    if entry["chain"]
                    else []
                )
                if fingerprint(cert) != entry["fingerprint"]:
                    raise CAStateError(
                        cert_path,
                        "the certificate's fingerprint is not the one "
                        "state.json records; the file was replaced",
                    )
                check_signing_pair(cert, key, chain, cert_path)
                until = entry["trusted_until"]
                roots.append(
                    Root(
                        rid,
                        cert,
                        key,
                        tuple(chain),
                        dt.datetime.fromisoformat(entry["added"]),
                        dt.datetime.fromisoformat(until) if until else None,
                    )
                )
            active = state["active"]
        except (KeyError, TypeError, ValueError) as exc:
            raise CAStateError(
                path,
                f"the CA state is unreadable ({type(exc).__name__}: {exc}); "
                "restore it from a backup",
            ) from None
        if active not in {r.id for r in roots}:
            raise CAStateError(path, f"the active root {active!r} is not among the roots")
        return roots, active

    def _remove_orphans(self) -> None:
        """Delete root files that state.json does not name (left by a killed rotation)."""
        keep = {r.id for r in self._roots}
        for p in self.dir.iterdir():
            if _ROOT_FILE.match(p.name) and (
                p.name.startswith(".tmp-") or p.name[5:21] not in keep
            ):
                p.unlink(missing_ok=True)
