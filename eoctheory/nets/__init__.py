r"""Finite-width networks: the NumPy reference (always available) and, later, torch.

``from eoctheory.nets import Network, eoc_init, simulate`` -- see
:mod:`eoctheory.nets.reference`. Importing this package imports neither torch nor
matplotlib.
"""

from __future__ import annotations

from eoctheory.nets.reference import (
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
    "BackwardRecord",
    "ForwardRecord",
    "Init",
    "Network",
    "SimulationResult",
    "Trajectories",
    "correlated_inputs",
    "eoc_init",
    "failures",
    "pointwise",
    "seed_rng",
    "simulate",
    "theory_trajectory",
    "variance_trajectories",
]
