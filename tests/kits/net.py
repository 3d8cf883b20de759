"""Loopback ports and polling, shared by every suite that runs servers or processes.

- ``free_port()``: a 127.0.0.1 port nothing listens on at the moment of the call (the socket that
  found it is closed again, so connecting to it is refused until someone binds it);
- ``wait_until(predicate, timeout, what)``: poll for state a test cannot await (another process's
  status, a counter on another thread); returns the first truthy value of ``predicate`` and fails
  the test, naming ``what`` it waited for, after ``timeout`` seconds.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def free_port() -> int:
    """A loopback port with no listener (see the module docstring)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(
    predicate: Callable[[], T],
    timeout: float = 10.0,
    what: str = "condition",
    *,
    interval: float = 0.05,
) -> T:
    """Poll ``predicate`` every ``interval`` seconds until it returns a truthy value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)
