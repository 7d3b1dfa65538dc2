r"""Finite-width networks: the NumPy reference (always available) and the torch backend.

``from eoctheory.nets import Network, eoc_init, simulate``: the reference network
(:mod:`eoctheory.nets.network`), its pointwise kernels
(:mod:`eoctheory.nets.pointwise_kernels`), the per-layer trajectories
(:mod:`eoctheory.nets.trajectories`), the 2-D CNN (:mod:`eoctheory.nets.cnn2d`) and the
simulation against theory (:mod:`eoctheory.nets.simulation`); :mod:`eoctheory.nets.reference` gathers the same names.
The pointwise kernels of both backends are generated from the activation's definition
(:mod:`eoctheory.nets.codegen`; piecewise-linear activations run by run,
:mod:`eoctheory.nets.piecewise_linear`): ``NumpyKernels`` (:mod:`eoctheory.nets.kernels`)
here, the torch functions in :mod:`eoctheory.nets.torch_kernels` and the torch modules in
:mod:`eoctheory.nets.torch`. Importing this package imports neither torch nor matplotlib.
"""

from __future__ import annotations

from eoctheory.nets.cnn2d import CNN2d, CNN2dBackwardRecord, CNN2dForwardRecord, estimate_cnn2d
from eoctheory.nets.codegen import KernelError
from eoctheory.nets.kernels import NumpyKernels, numpy_kernels
from eoctheory.nets.network import (
    BackwardRecord,
    ForwardRecord,
    Init,
    Network,
    correlated_inputs,
    eoc_init,
    seed_rng,
)
from eoctheory.nets.piecewise_linear import piecewise_linear_runs
from eoctheory.nets.pointwise_kernels import HAND_WRITTEN, pointwise
from eoctheory.nets.resnet import (
    ResNet,
    ResNetBackwardRecord,
    ResNetForwardRecord,
    ResNetSimulation,
    simulate_resnet,
)
from eoctheory.nets.simulation import Failures, SimulationResult, band_escape, failures, simulate
from eoctheory.nets.trajectories import Trajectories, theory_trajectory, variance_trajectories

__all__ = [
    "HAND_WRITTEN",
    "BackwardRecord",
    "CNN2d",
    "CNN2dBackwardRecord",
    "CNN2dForwardRecord",
    "Failures",
    "ForwardRecord",
    "Init",
    "KernelError",
    "Network",
    "NumpyKernels",
    "ResNet",
    "ResNetBackwardRecord",
    "ResNetForwardRecord",
    "ResNetSimulation",
    "SimulationResult",
    "Trajectories",
    "band_escape",
    "correlated_inputs",
    "eoc_init",
    "estimate_cnn2d",
    "failures",
    "numpy_kernels",
    "piecewise_linear_runs",
    "pointwise",
    "seed_rng",
    "simulate",
    "simulate_resnet",
    "theory_trajectory",
    "variance_trajectories",
]
