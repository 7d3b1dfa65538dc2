"""Shared fixtures: a registry of activations with sane parameter points, mpmath hygiene."""

from __future__ import annotations

import mpmath
import numpy as np
import pytest
from scipy.special import ndtri

#: (catalogue name, parameter values) points that every generic test iterates over.
PARAM_POINTS = [
    ("relu", {"tau": 0.0}),
    ("relu", {"tau": 0.7}),
    ("st", {"tau": 0.3}),
    ("crelu", {"tau": 0.5, "m": 1.0}),
    ("crelu", {"tau": 1.2, "m": 0.2}),
    ("cst", {"tau": 0.5, "m": 1.5}),
    ("plain_relu", {}),
    ("identity", {}),
    ("hardtanh", {}),
    ("tanh", {}),
    ("erf", {}),
    ("gelu", {}),
    ("silu", {}),
]


def tau_for(name: str, s: float, q: float) -> float:
    """THEORY.md §3 (typed here as an independent check): tau from sparsity at variance q."""
    if name in ("relu", "crelu"):
        return float(np.sqrt(q) * ndtri(s))
    return float(np.sqrt(q) * ndtri((1 + s) / 2))


@pytest.fixture(autouse=True)
def _reset_mpmath():
    """The package must never change mpmath's global precision."""
    dps = mpmath.mp.dps
    yield
    assert mpmath.mp.dps == dps, "mpmath global precision was changed"
    mpmath.mp.dps = 15


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: longer-running accuracy sweeps")
