"""Fixtures shared by the mesh's integration tests."""

from __future__ import annotations

import pytest
from controlkit import STRICT, ControlProcess


@pytest.fixture
def control(tmp_path):
    """A real `carbonplane mesh control` process over one STRICT policy file."""
    config = tmp_path / "policy"
    config.mkdir()
    (config / "10-strict.yaml").write_text(STRICT)
    proc = ControlProcess(config, tmp_path / "data").start()
    yield proc
    proc.stop()
