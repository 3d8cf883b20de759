"""Private files of the identity layer: atomic writes with a mode, and permission checks.

Invariants:

- ``write_atomic`` creates a temporary file in the target's directory with the final mode already
  set (``O_CREAT|O_EXCL`` with ``mode``, so a secret is never readable by others, not even for an
  instant), writes, ``fsync``s, renames over the target and ``fsync``s the directory. A process
  killed at any point leaves either the old file or the new one, never a half-written file
  (at worst a stray ``.tmp-*`` file, which readers ignore).
- ``check_private`` refuses a secret file whose mode is looser than 0600 (any bit outside
  ``0o600``: group/other access, execute, setuid...), naming the file and the ``chmod`` that
  fixes it. 0400 is accepted.
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

from carbonplane.mesh.identity.errors import CAStateError

PRIVATE = 0o600
PUBLIC = 0o644


def write_atomic(path: str | os.PathLike, data: bytes, mode: int = PRIVATE) -> Path:
    """Write ``data`` to ``path`` atomically, the file created with ``mode`` (default 0600)."""
    path = Path(path)
    tmp = path.with_name(f".tmp-{path.name}-{secrets.token_hex(6)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), mode)
    try:
        os.fchmod(fd, mode)  # the umask may have narrowed it; never widens a secret past ``mode``
        with os.fdopen(fd, "wb", closefd=True) as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    fsync_dir(path.parent)
    return path


def fsync_dir(directory: str | os.PathLike) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def make_private_dir(path: str | os.PathLike) -> Path:
    """Create ``path`` (and parents) if missing, mode 0700 for the last component."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def check_private(path: str | os.PathLike, what: str = "private key") -> None:
    """Raise ``CAStateError`` unless ``path`` is a regular file of mode 0600 or stricter."""
    path = Path(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise CAStateError(path, f"the {what} file is missing") from None
    if not stat.S_ISREG(st.st_mode):
        raise CAStateError(path, f"the {what} is not a regular file")
    if stat.S_IMODE(st.st_mode) & ~PRIVATE:
        raise CAStateError(
            path,
            f"the {what} file has mode {stat.S_IMODE(st.st_mode):04o}, looser "
            f"than 0600; only its owner may read it (fix: chmod 600 {path})",
        )


def read_private(path: str | os.PathLike, what: str = "private key") -> bytes:
    check_private(path, what)
    return Path(path).read_bytes()
