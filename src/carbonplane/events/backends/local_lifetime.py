"""What an open ``LocalLog`` does when its process exits or forks.

- **exit**: logs still open are closed by an ``atexit`` hook, which writes what is still queued
  rather than lose it with the daemon writer thread.
- **fork**: SQLite's locks are POSIX locks, owned by a process and not inherited, while SQLite's
  record of what this process has locked (one per file per process) is copied into the child.
  Before the fork, the handlers below wait until no thread is inside SQLite for an open log
  (its reading connection's lock, then its writer's ``sqlite_lock``); in the child, the inherited
  connections are closed through SQLite and the logs marked closed, so that a LocalLog the child
  opens takes real locks of its own. SQLite's "How To Corrupt An SQLite Database File", sections
  2.2 and 2.6.

Invariant: a child never runs a statement on an inherited connection, and never keeps one open.
"""

from __future__ import annotations

import atexit
import os
import threading
import weakref
from typing import TYPE_CHECKING

from carbonplane.events.backends.local_writer import AppendQueue

if TYPE_CHECKING:
    from carbonplane.events.backends.local import LocalLog
    from carbonplane.events.backends.local_writer import LogWriter

OPEN_LOGS: weakref.WeakSet[LocalLog] = weakref.WeakSet()  # added by LocalLog(), removed by close()


@atexit.register
def _close_open_logs() -> None:
    """At interpreter exit, write what is still queued rather than lose it with the
    daemon writer."""
    for log in list(OPEN_LOGS):
        log.close(10.0)


_HELD_FOR_FORK: list[tuple[LocalLog, LogWriter | None]] = []


def _quiesce_open_logs() -> None:
    """Before a fork: wait until no thread of this process is inside SQLite for an open log (its
    reading connection's lock, then its writer's), so that the child inherits idle connections.
    A fork waits at most for the transaction in progress (or a maintenance step)."""
    for log in list(OPEN_LOGS):
        log._lock.acquire()
        writer = log._writer
        if writer is not None:
            writer.sqlite_lock.acquire()
        _HELD_FOR_FORK.append((log, writer))


def _resume_open_logs() -> None:
    while _HELD_FOR_FORK:
        log, writer = _HELD_FOR_FORK.pop()
        if writer is not None:
            writer.sqlite_lock.release()
        log._lock.release()


def _forget_open_logs() -> None:
    """In a forked child the writer thread is gone and SQLite connections must not be reused.

    Inherited logs are marked closed, so that using one says to open a new LocalLog, and their
    connections are closed through SQLite. That matters: SQLite keeps one lock state per file per
    process, and the child's copy says "locked" while the kernel gave the child no lock at all
    (POSIX locks belong to a process and are not inherited). A LocalLog the child opens while
    inherited connections stay open would take that copy's word, append without any lock, and
    look absent to the parent, whose close could then delete the -wal the child appends to.
    Closing them in the child leaves the parent's locks alone and, while the parent holds its
    shared lock, cannot checkpoint or delete anything."""
    for log, writer in _HELD_FOR_FORK:
        log._conn.close()
        if writer is not None:
            writer.conn.close()
    _HELD_FOR_FORK.clear()
    for log in list(OPEN_LOGS):
        log._closed = log._closed_db = True
        log._routes.clear()
        log._q, log._writer = AppendQueue(), None  # the parent's queue stays the parent's to write
        log._lock = threading.RLock()  # the parent's copy is held by the fork
    OPEN_LOGS.clear()


os.register_at_fork(
    before=_quiesce_open_logs, after_in_parent=_resume_open_logs, after_in_child=_forget_open_logs
)
