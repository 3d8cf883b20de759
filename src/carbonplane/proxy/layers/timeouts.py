"""The timeouts layer: the deadlines of one upstream attempt, in seconds.

- ``connect``: dialling (TCP and TLS) a new upstream connection; on expiry the attempt fails with
  ``FAILURE_TIMEOUT`` and may be retried (``retries.py``);
- ``read``: between two reads of the upstream's response (nginx's ``proxy_read_timeout``);
- ``write``: between two successful writes of the request (nginx's ``proxy_send_timeout``).

A timeout that ends a request answers 504. Invariant: every deadline is a number > 0, checked by
``check`` once per configuration (``Upstream`` calls it); the timers themselves are armed by the
exchange (connect) and the upstream connection (``pool.py``: read, write) from the
``Upstream``'s fields, so the per-request path reads three floats and calls nothing here.
"""

from __future__ import annotations

from carbonplane.errors import ConfigError

DEFAULT_S = 60.0


def check(connect: float, read: float, write: float, where: str | None = None) -> None:
    """Refuse a deadline that is not a number > 0, naming the field and ``where``."""
    for field, value in (
        ("connect_timeout", connect),
        ("read_timeout", read),
        ("write_timeout", write),
    ):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise ConfigError(f"{field} must be > 0 seconds, got {value!r}", where=where)
