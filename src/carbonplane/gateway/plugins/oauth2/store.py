"""Where the oauth2 plugin keeps what it issues: access tokens (with their refresh tokens) and
authorization codes (Kong's ``oauth2_tokens`` and ``oauth2_authorization_codes``).

A token or a code is a plain dict (Kong's fields, references flattened to ids)::

    token: id, created_at (s), service_id|None, credential_id, token_type ("bearer"),
           expires_in (0 = never), access_token, refresh_token|None,
           authenticated_userid|None, scope|None, purge_at (epoch s)|None
    code:  code, created_at, service_id|None, credential_id, plugin_id, authenticated_userid,
           scope|None, challenge|None, challenge_method|None, purge_at

``purge_at`` is Kong's row TTL: a token lives ``refresh_token_ttl`` seconds when it expires
(forever otherwise), a code 300 seconds. Past it a row is gone for every read, and ``purge``
deletes it.

Two implementations share this contract (``TokenStore``): ``SQLiteTokenStore`` (one file,
default ``$CARBONPLANE_HOME/gateway/oauth2.db``, shared by every worker process and surviving
restarts) and ``redis_store.RedisTokenStore`` (several gateways). Invariants:
- ``take_code`` and ``remove_token`` are atomic: of two requests spending the same code or
  refresh token at once, exactly one gets True (a replay is refused, never a second token);
- every method is synchronous and short (one statement or one round trip); failures raise
  ``TokenStoreError`` naming the store.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Protocol

from carbonplane.errors import TokenStoreError
from carbonplane.events.config import carbonplane_home

CODE_TTL = 300  # Kong keeps authorization codes five minutes
PURGE_EVERY_S = 60.0

SCHEMA = """
CREATE TABLE IF NOT EXISTS tokens (
  id TEXT PRIMARY KEY,
  access_token TEXT NOT NULL UNIQUE,
  refresh_token TEXT UNIQUE,
  created_at REAL NOT NULL,
  purge_at REAL,
  doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS tokens_purge ON tokens(purge_at) WHERE purge_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS codes (
  code TEXT PRIMARY KEY,
  purge_at REAL NOT NULL,
  doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS codes_purge ON codes(purge_at);
"""


class TokenStore(Protocol):
    def add_token(self, token: dict[str, Any]) -> None: ...
    def token_by_access(self, access_token: str) -> dict[str, Any] | None: ...
    def token_by_refresh(self, refresh_token: str) -> dict[str, Any] | None: ...
    def token_by_id(self, token_id: str) -> dict[str, Any] | None: ...
    def remove_token(self, token_id: str) -> bool: ...
    def replace_access(self, token: dict[str, Any], access_token: str, now: float) -> bool: ...
    def add_code(self, code: dict[str, Any]) -> None: ...
    def code(self, code: str) -> dict[str, Any] | None: ...
    def take_code(self, code: str) -> bool: ...
    def list_tokens(self) -> list[dict[str, Any]]: ...
    def purge(self, now: float | None = None) -> int: ...
    def close(self) -> None: ...


def default_path() -> Path:
    return carbonplane_home() / "gateway" / "oauth2.db"


def _alive(doc: dict[str, Any] | None, now: float) -> dict[str, Any] | None:
    if doc is None:
        return None
    purge_at = doc.get("purge_at")
    return doc if purge_at is None or purge_at > now else None


class SQLiteTokenStore:
    """The embedded store: one SQLite file in WAL mode, any number of processes.

    Each process opens its own connection on first use (a connection inherited across
    ``fork()`` is never used: the store notices the new pid and opens another); each
    operation is one autocommitted statement, so SQLite's file locks order the writers of all
    processes and ``busy_timeout`` makes them wait for each other instead of failing."""

    def __init__(self, path: str | Path | None = None, busy_timeout_s: float = 5.0) -> None:
        self.path = Path(path) if path else default_path()
        self.busy_timeout_s = busy_timeout_s
        self._conn: sqlite3.Connection | None = None
        self._pid = 0
        self._lock = threading.Lock()
        self._next_purge = 0.0

    def __repr__(self) -> str:
        return f"SQLiteTokenStore({str(self.path)!r})"

    def _db(self) -> sqlite3.Connection:
        if self._conn is not None and self._pid == os.getpid():
            return self._conn
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            conn = sqlite3.connect(
                str(self.path),
                timeout=self.busy_timeout_s,
                isolation_level=None,
                check_same_thread=False,
            )
            conn.execute(f"PRAGMA busy_timeout={int(self.busy_timeout_s * 1000)}")
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.executescript(SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise TokenStoreError(
                f"oauth2 token store {self.path}: cannot open it ({exc}); check the folder's "
                "permissions or set CARBONPLANE_HOME"
            ) from exc
        self._conn, self._pid = conn, os.getpid()
        return conn

    def _run(self, sql: str, args: tuple = ()) -> sqlite3.Cursor:
        with self._lock:
            try:
                return self._db().execute(sql, args)
            except sqlite3.Error as exc:
                raise TokenStoreError(f"oauth2 token store {self.path}: {exc}") from exc

    def _one(self, sql: str, args: tuple) -> dict[str, Any] | None:
        row = self._run(sql, args).fetchone()
        return _alive(json.loads(row[0]) if row else None, time.time())

    # -- tokens ---------------------------------------------------------------------------
    def add_token(self, token: dict[str, Any]) -> None:
        self._maybe_purge()
        self._run(
            "INSERT INTO tokens (id, access_token, refresh_token, created_at, purge_at, doc) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (
                token["id"],
                token["access_token"],
                token.get("refresh_token"),
                token["created_at"],
                token.get("purge_at"),
                json.dumps(token),
            ),
        )

    def token_by_access(self, access_token: str) -> dict[str, Any] | None:
        return self._one("SELECT doc FROM tokens WHERE access_token = ?", (access_token,))

    def token_by_refresh(self, refresh_token: str) -> dict[str, Any] | None:
        return self._one("SELECT doc FROM tokens WHERE refresh_token = ?", (refresh_token,))

    def token_by_id(self, token_id: str) -> dict[str, Any] | None:
        return self._one("SELECT doc FROM tokens WHERE id = ?", (token_id,))

    def remove_token(self, token_id: str) -> bool:
        return self._run("DELETE FROM tokens WHERE id = ?", (token_id,)).rowcount == 1

    def replace_access(self, token: dict[str, Any], access_token: str, now: float) -> bool:
        """A new access token on the same row, only if the row still has the old one."""
        old = token["access_token"]
        token.update(access_token=access_token, created_at=now)
        cur = self._run(
            "UPDATE tokens SET access_token = ?, created_at = ?, purge_at = ?, doc = ? "
            "WHERE id = ? AND access_token = ?",
            (access_token, now, token.get("purge_at"), json.dumps(token), token["id"], old),
        )
        return cur.rowcount == 1

    def list_tokens(self) -> list[dict[str, Any]]:
        now = time.time()
        rows = self._run("SELECT doc FROM tokens ORDER BY created_at, id").fetchall()
        return [d for d in (_alive(json.loads(r[0]), now) for r in rows) if d is not None]

    # -- codes ----------------------------------------------------------------------------
    def add_code(self, code: dict[str, Any]) -> None:
        self._maybe_purge()
        self._run(
            "INSERT INTO codes (code, purge_at, doc) VALUES (?, ?, ?)",
            (code["code"], code["purge_at"], json.dumps(code)),
        )

    def code(self, code: str) -> dict[str, Any] | None:
        return self._one("SELECT doc FROM codes WHERE code = ?", (code,))

    def take_code(self, code: str) -> bool:
        cur = self._run("DELETE FROM codes WHERE code = ? AND purge_at > ?", (code, time.time()))
        return cur.rowcount == 1

    # -- housekeeping ---------------------------------------------------------------------
    def _maybe_purge(self) -> None:
        now = time.monotonic()
        if now >= self._next_purge:
            self._next_purge = now + PURGE_EVERY_S
            self.purge()

    def purge(self, now: float | None = None) -> int:
        """Delete rows past their ``purge_at``; returns how many went."""
        now = time.time() if now is None else now
        gone = self._run(
            "DELETE FROM tokens WHERE purge_at IS NOT NULL AND purge_at <= ?", (now,)
        ).rowcount
        return gone + self._run("DELETE FROM codes WHERE purge_at <= ?", (now,)).rowcount

    def close(self) -> None:
        with self._lock:
            conn, self._conn = self._conn, None
            if conn is not None and self._pid == os.getpid():
                conn.close()
