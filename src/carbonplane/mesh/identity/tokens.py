"""Join tokens: how a new workload obtains its first certificate, once.

``JoinTokens.issue_token(service, namespace)`` returns an opaque token
``cpjt.<id>.<secret>`` (``id`` 48 random bits for lookup, ``secret`` 256 random bits) bound to
one workload identity ``spiffe://<td>/ns/<namespace>/sa/<service>``. ``redeem(token, csr)``
exchanges it for a certificate of exactly that identity, at most once.

Invariants:

- Only ``sha256(secret)`` is stored, never the token; with 256 random bits a plain hash is as
  strong as a slow one. The secret is compared with ``hmac.compare_digest``.
- A token is bound to its identity when issued; the redeemer's CSR may only repeat it, so a token
  for A cannot obtain B's certificate (``CSRRejectedError``; the token stays unredeemed, since
  nothing was issued).
- Single use: the redemption is recorded on disk (atomic replace of ``tokens.json``) before the
  certificate is returned; a second redeem is refused (``reason == "redeemed"``). Every operation
  holds an exclusive ``flock`` and re-reads the file, so a CLI issuing tokens and a running
  control plane redeeming them share one state, and a restarted process honours unredeemed
  tokens and remembers redeemed ones.
- Expired tokens are refused (``reason == "expired"``); entries expired for more than
  ``RETENTION`` are forgotten (a replay of one is then ``unknown``, still refused).
- Errors never include the secret.

Files (``<data_dir>/tokens/``, 0700): ``tokens.json`` (0600), ``tokens.lock``. The token handed
to an operator can be written with ``write_token_file`` (0600, atomic) for
``carbonplane mesh token SERVICE``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import hmac
import json
import os
import re
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path

from carbonplane.mesh.identity import files
from carbonplane.mesh.identity.authority import CertificateAuthority, IssuedCertificate
from carbonplane.mesh.identity.certificates import check_csr
from carbonplane.mesh.identity.errors import CAStateError, TokenRejectedError
from carbonplane.mesh.identity.spiffe import WorkloadId, workload_id

PREFIX = "cpjt"
DEFAULT_TOKEN_TTL = dt.timedelta(hours=24)
RETENTION = dt.timedelta(days=7)
_TOKEN = re.compile(r"^cpjt\.([0-9a-f]{12})\.([A-Za-z0-9_-]{43})$")


@dataclass(frozen=True)
class TokenInfo:
    """What is known about a token, without its secret."""

    id: str
    identity: WorkloadId
    issued: dt.datetime
    expires: dt.datetime
    redeemed: dt.datetime | None


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


def write_token_file(path: str | os.PathLike, token: str) -> Path:
    """Write ``token`` to ``path`` (mode 0600, atomically), for an operator to hand over."""
    return files.write_atomic(path, token.encode("ascii") + b"\n", files.PRIVATE)


class JoinTokens:
    """Single-use join tokens over ``<data_dir>/tokens``, redeemed against ``ca``."""

    def __init__(
        self,
        data_dir: str | os.PathLike,
        ca: CertificateAuthority,
        *,
        token_ttl: dt.timedelta = DEFAULT_TOKEN_TTL,
    ) -> None:
        if token_ttl <= dt.timedelta(0):
            raise ValueError(f"token_ttl {token_ttl} must be positive")
        self.ca = ca
        self.token_ttl = token_ttl
        self.dir = files.make_private_dir(Path(data_dir) / "tokens")
        self._path = self.dir / "tokens.json"
        self._lock_path = self.dir / "tokens.lock"
        self._thread_lock = threading.Lock()
        with self._locked():
            if self._path.exists():
                files.check_private(self._path, "token store")
            self._load()  # fail at start, not at the first redeem, if the store is unreadable

    # -- public -------------------------------------------------------------------------------

    def issue_token(
        self,
        service: str,
        namespace: str = "default",
        *,
        ttl: dt.timedelta | None = None,
        write_to: str | os.PathLike | None = None,
    ) -> str:
        """A new single-use token for ``spiffe://<td>/ns/<namespace>/sa/<service>``."""
        identity = workload_id(self.ca.trust_domain, namespace, service)
        ttl = self.token_ttl if ttl is None else ttl
        if ttl <= dt.timedelta(0):
            raise ValueError(f"token ttl {ttl} must be positive")
        secret = secrets.token_urlsafe(32)
        with self._locked():
            tokens = self._load()
            tid = secrets.token_hex(6)
            while tid in tokens:
                tid = secrets.token_hex(6)
            now = self.ca.clock()
            tokens[tid] = {
                "namespace": identity.namespace,
                "service": identity.service,
                "sha256": _digest(secret),
                "issued": now.isoformat(),
                "expires": (now + ttl).isoformat(),
                "redeemed": None,
            }
            self._save(tokens, now)
        token = f"{PREFIX}.{tid}.{secret}"
        if write_to is not None:
            write_token_file(write_to, token)
        return token

    def redeem(self, token: str, csr) -> IssuedCertificate:
        """Exchange ``token`` and a CSR for the token's identity's certificate, once."""
        m = _TOKEN.fullmatch(token.strip()) if isinstance(token, str) else None
        if m is None:
            raise TokenRejectedError(
                "malformed", f"a join token looks like {PREFIX}.<12 hex>.<43 base64url characters>"
            )
        tid, secret = m.groups()
        with self._locked():
            tokens = self._load()
            entry = tokens.get(tid)
            # the digest is compared even for an unknown id, so both paths do the same work
            stored = entry["sha256"] if entry else "0" * 64
            if not hmac.compare_digest(_digest(secret), stored) or entry is None:
                raise TokenRejectedError("unknown", f"no token {tid} with this secret was issued")
            now = self.ca.clock()
            if entry["redeemed"] is not None:
                raise TokenRejectedError(
                    "redeemed",
                    f"token {tid} was already redeemed at {entry['redeemed']}; issue a new one",
                )
            if now >= dt.datetime.fromisoformat(entry["expires"]):
                raise TokenRejectedError(
                    "expired", f"token {tid} expired at {entry['expires']}; issue a new one"
                )
            identity = workload_id(self.ca.trust_domain, entry["namespace"], entry["service"])
            check_csr(csr, identity)
            issued = self.ca.issue(csr, identity)
            entry["redeemed"] = now.isoformat()
            self._save(tokens, now)
            return issued

    def tokens(self) -> list[TokenInfo]:
        """Every remembered token (without secrets), oldest first."""
        with self._locked():
            tokens = self._load()
        td = self.ca.trust_domain
        return sorted(
            (
                TokenInfo(
                    tid,
                    workload_id(td, e["namespace"], e["service"]),
                    dt.datetime.fromisoformat(e["issued"]),
                    dt.datetime.fromisoformat(e["expires"]),
                    dt.datetime.fromisoformat(e["redeemed"]) if e["redeemed"] else None,
                )
                for tid, e in tokens.items()
            ),
            key=lambda t: t.issued,
        )

    # -- persistence --------------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self):
        with self._thread_lock:
            fd = os.open(
                self._lock_path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), files.PRIVATE
            )
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                yield
            finally:
                os.close(fd)  # releases the flock

    def _load(self) -> dict:
        try:
            data = json.loads(self._path.read_bytes())
        except FileNotFoundError:
            return {}
        except ValueError as exc:
            raise CAStateError(
                self._path, f"the token store is not valid JSON ({exc}); restore it from a backup"
            ) from None
        if (
            not isinstance(data, dict)
            or data.get("format") != 1
            or not isinstance(data.get("tokens"), dict)
        ):
            raise CAStateError(self._path, "the token store has an unknown format")
        return data["tokens"]

    def _save(self, tokens: dict, now: dt.datetime) -> None:
        keep = {
            tid: e
            for tid, e in tokens.items()
            if dt.datetime.fromisoformat(e["expires"]) + RETENTION > now
        }
        files.write_atomic(
            self._path, json.dumps({"format": 1, "tokens": keep}, indent=1).encode(), files.PRIVATE
        )
