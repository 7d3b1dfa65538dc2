r"""PyTorch residual MLP: the network of :mod:`eoctheory.theory.resnet`, with monitors.

:func:`resnet` builds ``Flatten``, the input layer :math:`h^0 = W^0 x`, then ``depth``
:class:`ResidualBlock` modules

.. math::

    h^{l+1} = h^l + \alpha\,(W^l\phi_l(h^l) + b^l)\quad\text{or}\quad
    h^{l+1} = h^l + \alpha\,(W^l_2\phi^{(2)}_l(W^l_1\phi_l(h^l) + b^l_1) + b^l_2),

and a linear readout of :math:`h^L`. Each block's activation modules carry the
parameters the theory's trajectory sets (thresholds that follow :math:`\sqrt{\bar q^l}`
with ``tau_follows_q``), built by :func:`eoctheory.nets.torch.activation_module` from any
activation. :func:`resnet_init_` draws the weights like :func:`eoctheory.nets.torch.eoc_init_`
(input layer :math:`N(0, 1/N_0)` without bias, branch layers :math:`N(0, \sigma_w^2/N)`,
biases :math:`N(0, \sigma_b^2)`, readout like a branch layer). The monitors of
:mod:`eoctheory.nets.torch` apply: :class:`~eoctheory.nets.torch.SparsityMonitor` (every
activation module, block by block) and :class:`~eoctheory.nets.torch.GradientMonitor` (every
``Linear``); :class:`StreamMonitor` adds :math:`\|\delta^l\| = \|\partial\mathcal L/\partial
h^l\|` of the stream, :math:`l = 0..L`, and :func:`stream_stats` the per-block
:math:`q^l` and sparsity. Importing this module imports torch.

Examples
--------
>>> import torch
>>> model = resnet(784, width=32, depth=4, activation="crelu", sparsity=0.85,
...                target_slope=0.7)
>>> ini = resnet_init_(model, generator=torch.Generator().manual_seed(0))
>>> model(torch.randn(2, 784)).shape
torch.Size([2, 10])
>>> stream_stats(model, torch.randn(8, 784)).q.shape
(5, 8)
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from eoctheory.nets.torch import (
    GradientMonitor,
    LayerStats,
    TorchMissingError,
    activation_module,
)

try:
    import torch
    from torch import nn
except ImportError as _exc:  # pragma: no cover - eoctheory.nets.torch raised already
    raise TorchMissingError(f"eoctheory.nets.torch_resnet needs PyTorch ({_exc})") from _exc
from eoctheory.theory.resnet import ResidualTrajectory, residual_trajectory
from eoctheory.theory.setting import Setting

__all__ = [
    "ResidualBlock",
    "ResidualMLP",
    "StreamMonitor",
    "resnet",
    "resnet_init_",
    "stream_stats",
]


class ResidualBlock(nn.Module):
    r"""One block :math:`h \mapsto h + \alpha\,\mathrm{branch}(h)` (see the module notes)."""

    def __init__(self, width: int, alpha: float, act: nn.Module,
                 inner: nn.Module | None = None) -> None:
        super().__init__()
        self.alpha = float(alpha)
        self.act = act
        self.linear1 = nn.Linear(width, width)
        self.inner = inner
        self.linear2 = nn.Linear(width, width) if inner is not None else None

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        u = self.linear1(self.act(h))
        if self.inner is not None:
            u = self.linear2(self.inner(u))
        return h + self.alpha * u

    def extra_repr(self) -> str:
        return f"alpha={self.alpha:.4g}"


class ResidualMLP(nn.Sequential):
    """``nn.Sequential`` (flatten, input layer, blocks, readout) that keeps its trajectory.

    Attributes ``trajectory`` (:class:`~eoctheory.theory.resnet.ResidualTrajectory`),
    ``input_layer``, ``blocks`` (list of :class:`ResidualBlock`) and ``readout``.
    """

    def __init__(self, *mods: Any, trajectory: ResidualTrajectory | None = None) -> None:
        super().__init__(*mods)
        self.trajectory = trajectory

    @property
    def input_layer(self) -> nn.Linear:
        return [m for m in self if isinstance(m, nn.Linear)][0]

    @property
    def blocks(self) -> list[ResidualBlock]:
        return [m for m in self if isinstance(m, ResidualBlock)]

    @property
    def readout(self) -> nn.Linear:
        return [m for m in self if isinstance(m, nn.Linear)][-1]


def resnet(in_features: int, width: int = 300, depth: int = 100, n_classes: int = 10,
           activation: Any = "plain_relu", *, sparsity: float | None = None,
           target_slope: float | None = None, alpha: float | None = None,
           branch: str = "one", tau_follows_q: bool = True, q_star: float = 1.0,
           q_input: float | None = None, sigma_w2: float | None = None,
           sigma_b2: float | None = None, flatten: bool = True, **params: float
           ) -> ResidualMLP:
    r"""A residual MLP with any activation (arguments as
    :func:`eoctheory.theory.resnet.residual_trajectory`); call :func:`resnet_init_` on it.

    ``alpha=None`` is :math:`1/\sqrt{\text{depth}}`. ``q_input`` is the input variance
    :math:`\|x\|^2/N_0` the thresholds are scheduled for (default ``q_star``).
    """
    for name, v in (("in_features", in_features), ("width", width), ("n_classes", n_classes)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{name} must be an integer >= 1 (got {v!r})")
    tr = residual_trajectory(activation, depth=depth, sparsity=sparsity,
                             target_slope=target_slope, alpha=alpha, branch=branch,
                             tau_follows_q=tau_follows_q, q_star=q_star, q_input=q_input,
                             sigma_w2=sigma_w2, sigma_b2=sigma_b2, **params)
    act = tr.setting.activation
    mods: list[nn.Module] = [nn.Flatten()] if flatten else []
    mods.append(nn.Linear(int(in_features), int(width), bias=False))
    for l in range(tr.depth):
        a1 = activation_module(act, **tr.params[l])
        a2 = activation_module(act, **tr.inner_params[l]) if tr.branch == "two" else None
        mods.append(ResidualBlock(int(width), tr.alpha, a1, a2))
    mods.append(nn.Linear(int(width), int(n_classes)))
    return ResidualMLP(*mods, trajectory=tr)


@torch.no_grad()
def resnet_init_(model: ResidualMLP, *, generator: torch.Generator | None = None) -> Setting:
    r"""Initialise a :func:`resnet` model in place (module notes); returns its design
    :class:`~eoctheory.theory.setting.Setting` (:math:`\sigma_w^2, \sigma_b^2`, ...)."""
    if not isinstance(model, ResidualMLP):
        raise ValueError(f"model must come from resnet() (got {type(model).__name__})")
    st = model.trajectory.setting
    sw2, sb2 = st.sigma_w2, st.sigma_b2
    lin0 = model.input_layer
    lin0.weight.normal_(0.0, math.sqrt(1.0 / lin0.weight.shape[1]), generator=generator)
    layers = [lay for b in model.blocks for lay in (b.linear1, b.linear2) if lay is not None]
    for lay in layers + [model.readout]:
        lay.weight.normal_(0.0, math.sqrt(sw2 / lay.weight.shape[1]), generator=generator)
        if sb2 == 0:
            lay.bias.zero_()
        else:
            lay.bias.normal_(0.0, math.sqrt(sb2), generator=generator)
    return st


class StreamMonitor(GradientMonitor):
    r"""Stream gradient norms :math:`\|\delta^l\| = \|\partial\mathcal L/\partial h^l\|`,
    :math:`l = 0..L` (input layer, then each block's output), after each backward pass.

    The hooks of :class:`~eoctheory.nets.torch.GradientMonitor` on the input layer and the
    blocks; :meth:`step` appends the row of norms to :attr:`history` and returns it (the
    blocks have no single weight). The theory's :math:`\|\delta^l\|/\|\delta^L\|` is
    :attr:`~eoctheory.theory.resnet.ResidualTrajectory.gradient_ratio`.
    """

    def __init__(self, model: ResidualMLP) -> None:
        if not isinstance(model, ResidualMLP):
            raise ValueError(f"model must come from resnet() (got {type(model).__name__})")
        super().__init__(model, layers=[model.input_layer] + model.blocks)

    def step(self) -> list[float]:  # type: ignore[override]
        r"""Record and return this step's :math:`\|\delta^l\|`, :math:`l = 0..L`."""
        row = list(self._delta)
        self.history.append(row)  # type: ignore[arg-type]
        self._delta = [float("nan")] * len(self.layers)
        return row

    def array(self) -> np.ndarray:  # type: ignore[override]
        """History as an array ``(steps, L+1)``."""
        return np.array(self.history, dtype=float).reshape(len(self.history), len(self.layers))


@torch.no_grad()
def stream_stats(model: ResidualMLP, x: torch.Tensor) -> LayerStats:
    r"""Run ``model`` on ``x``: ``q[l, i]`` = :math:`\|h^l_i\|^2/N` (:math:`l = 0..L`) and
    ``sparsity[l]`` = fraction of zeros of block :math:`l`'s first activation."""
    if not isinstance(model, ResidualMLP):
        raise ValueError(f"model must come from resnet() (got {type(model).__name__})")
    hs: list[torch.Tensor] = []
    sp: list[float] = []
    layers = [model.input_layer] + model.blocks
    handles = [lay.register_forward_hook(lambda m, i, o: hs.append(o)) for lay in layers]
    handles += [b.act.register_forward_hook(
        lambda m, i, o: sp.append(1.0 - float(torch.count_nonzero(o)) / o.numel()))
        for b in model.blocks]
    try:
        model(x)
    finally:
        for h in handles:
            h.remove()
    q = np.array([(h.double().square().sum(1) / h.shape[1]).numpy() for h in hs])
    return LayerStats(q, np.array(sp))

