r"""Finite-width networks: the NumPy reference (always available) and the torch backend.

``from eoctheory.nets import Network, eoc_init, simulate`` -- see
:mod:`eoctheory.nets.reference`. The pointwise kernels of both are generated from the
activation's definition by :mod:`eoctheory.nets.kernels` (``NumpyKernels`` here; the torch
modules in :mod:`eoctheory.nets.torch`). Importing this package imports neither torch nor
matplotlib.
"""

from __future__ import annotations

from eoctheory.nets.kernels import KernelError, NumpyKernels, numpy_kernels, piecewise_linear_runs
from eoctheory.nets.reference import (
    HAND_WRITTEN,
    BackwardRecord,
    ForwardRecord,
    Init,
    Network,
    SimulationResult,
    Trajectories,
    correlated_inputs,
    eoc_init,
    failures,
    pointwise,
    seed_rng,
    simulate,
    theory_trajectory,
    variance_trajectories,
)

__all__ = [
    "HAND_WRITTEN",
    "BackwardRecord",
    "ForwardRecord",
    "Init",
    "KernelError",
    "Network",
    "NumpyKernels",
    "SimulationResult",
    "Trajectories",
    "correlated_inputs",
    "eoc_init",
    "failures",
    "numpy_kernels",
    "piecewise_linear_runs",
    "pointwise",
    "seed_rng",
    "simulate",
    "theory_trajectory",
    "variance_trajectories",
]
