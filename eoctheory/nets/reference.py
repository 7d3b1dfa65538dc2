r"""The NumPy reference networks (no torch, no autograd), in one import.

The names of the reference-network API, each re-exported from the module of its idea, so
that ``from eoctheory.nets.reference import ...`` keeps working (the same names are in
:mod:`eoctheory.nets`):

* :mod:`eoctheory.nets.network`: :func:`eoc_init` and :class:`Init` (the setting on or off
  the Edge of Chaos), the random DNN / 1-D CNN :class:`Network` with its forward and
  backward records, :func:`seed_rng`, :func:`correlated_inputs` (and the conventions);
* :mod:`eoctheory.nets.pointwise_kernels`: :func:`pointwise`, :data:`HAND_WRITTEN`;
* :mod:`eoctheory.nets.trajectories`: :func:`theory_trajectory`, :class:`Trajectories`,
  :func:`variance_trajectories`;
* :mod:`eoctheory.nets.simulation`: :func:`simulate`, :class:`SimulationResult`,
  :class:`Failures`, :func:`failures`, :func:`band_escape`, :func:`estimate_simulate`.

Examples
--------
>>> from eoctheory.nets.reference import eoc_init, simulate
>>> res = simulate(eoc_init("crelu", sparsity=0.7), width=50, depth=5, seeds=2)
>>> res.q.shape
(2, 5)
"""

from __future__ import annotations

from eoctheory.nets.network import (
    BackwardRecord,
    ForwardRecord,
    Init,
    Network,
    correlated_inputs,
    eoc_init,
    seed_rng,
)
from eoctheory.nets.pointwise_kernels import HAND_WRITTEN, pointwise
from eoctheory.nets.simulation import (
    Failures,
    SimulationResult,
    band_escape,
    estimate_simulate,
    failures,
    simulate,
)
from eoctheory.nets.trajectories import Trajectories, theory_trajectory, variance_trajectories

__all__ = [
    "BackwardRecord",
    "Failures",
    "ForwardRecord",
    "HAND_WRITTEN",
    "Init",
    "Network",
    "SimulationResult",
    "Trajectories",
    "band_escape",
    "correlated_inputs",
    "estimate_simulate",
    "eoc_init",
    "failures",
    "pointwise",
    "seed_rng",
    "simulate",
    "theory_trajectory",
    "variance_trajectories",
]
