"""Fixtures of the gateway unit tests: a fixed clock, the config changes an Admin API reports,
and an Admin API client on both."""

from __future__ import annotations

import pytest
from gwtools import AdminClient

from carbonplane.gateway.admin import AdminAPI


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def changes():
    return []


@pytest.fixture
def admin(clock, changes):
    return AdminClient(AdminAPI(clock=clock, on_config_change=changes.append))
