"""Shared fixtures: mpmath hygiene and markers (the activation registry is in registry.py)."""

from __future__ import annotations

import mpmath
import pytest

@pytest.fixture(autouse=True)
def _reset_mpmath():
    """The package must never change mpmath's global precision."""
    dps = mpmath.mp.dps
    yield
    assert mpmath.mp.dps == dps, "mpmath global precision was changed"
    mpmath.mp.dps = 15


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: longer-running accuracy sweeps")
