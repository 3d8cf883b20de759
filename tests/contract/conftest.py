"""Fixtures of the contract suites.

- ``log``: the read-side tools' backend (``tools_backends.ToolLog``) of each kind in turn
  (memory, the embedded log, real Kafka); the Kafka kind fails, saying how to start the broker,
  when it does not answer on 127.0.0.1:9092.
"""

from __future__ import annotations

import pytest
from tools_backends import KINDS, open_tool_log


@pytest.fixture(params=KINDS)
def log(request, cp_home):  # noqa: ANN001
    """The ``ToolLog`` of each kind in turn, closed (and its Kafka topics deleted) afterwards."""
    with open_tool_log(request.param, request, cp_home) as opened:
        yield opened
