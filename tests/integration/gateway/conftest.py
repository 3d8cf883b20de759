"""Fixtures of the gateway's integration tests.

- ``upstream``: the shared echo ``StandIn`` (``tests.kits.standin``, named ``echo``) on its own
  thread and loop, on a free loopback port, stopped after the test.
"""

from __future__ import annotations

import pytest
from tests.kits.standin import StandIn


@pytest.fixture
def upstream():
    """A started echo stand-in; see the module docstring."""
    up = StandIn("echo").start()
    try:
        yield up
    finally:
        up.stop()
