"""A registry of activations with sane parameter points, shared by the generic tests."""

from __future__ import annotations

import numpy as np
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
