r"""The NumPy reference residual MLP, with hand-written backprop.

The network of :mod:`eoctheory.theory.resnet`: an input layer
:math:`h^0 = W^0 x` (``first_layer="preserve"``, :math:`W^0 \sim N(0, 1/N_0)`, no bias, so
:math:`q^0 = \|x\|^2/N_0`) and :math:`L` residual blocks of width :math:`N`,

.. math::

    h^{l+1} = h^l + \alpha\,(W^l\phi_l(h^l) + b^l)\quad\text{or}\quad
    h^{l+1} = h^l + \alpha\,(W^l_2\phi^{(2)}_l(W^l_1\phi_l(h^l) + b^l_1) + b^l_2),

with :math:`W \sim N(0, \sigma_w^2/N)`, :math:`b \sim N(0, \sigma_b^2)` and the output
:math:`h^L` (no readout). Each activation's parameters come from the theory's trajectory
(:func:`~eoctheory.theory.resnet.residual_trajectory`): with ``tau_follows_q`` the
threshold and clipping height of block :math:`l` are set, at initialisation, for the
infinite-width variance :math:`\bar q^l` (and :math:`\bar p^l` for the inner activation).

Conventions follow :class:`eoctheory.nets.network.Network`: weights are stored transposed,
``(fan_in, fan_out)``, so a layer is ``a @ W``; :math:`q^l = \|h^l\|^2/N` per input; the
correlation of a pair is the cosine of :math:`h^l`; the sparsity of block :math:`l` is the
fraction of zeros of :math:`\phi_l(h^l)` over the batch; randomness through
:func:`~eoctheory.nets.network.seed_rng`. The loss is :math:`\tfrac12\|h^L - y\|^2` summed
over the batch, and backward records :math:`\|\delta^l\| = \|\partial\mathcal L/\partial
h^l\|` for :math:`l = 0..L`:

.. math::

    \delta^l = \delta^{l+1} + \alpha\,\phi_l'(h^l)\odot (W^l)^T\delta^{l+1}
    \quad\text{(one layer; two layers insert }\phi^{(2)\prime}_l(g^l)\odot (W^l_2)^T).

Examples
--------
>>> from eoctheory.nets.network import correlated_inputs
>>> net = ResNet("crelu", width=64, depth=5, sparsity=0.8, target_slope=0.7, rng=0)
>>> rec = net.forward(correlated_inputs(4, 64, q=1.0, rho=0.5, rng=1))
>>> rec.q.shape, rec.sparsity.shape, rec.rho.shape
((6, 4), (5,), (6, 2))
>>> net.backward(target=np.zeros((4, 64))).grad_h_norm.shape
(6,)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from eoctheory.engine.activations import Activation
from eoctheory.engine.checks import check_int
from eoctheory.limits import NORMAL_COST, check_resources
from eoctheory.nets.network import check_dtype, input_pairs, seed_rng
from eoctheory.nets.pointwise_kernels import pointwise
from eoctheory.theory import finite_width as fw
from eoctheory.theory.resnet import ResidualTrajectory, alive_at, residual_trajectory

__all__ = [
    "ResNet",
    "ResNetBackwardRecord",
    "ResNetForwardRecord",
    "ResNetSimulation",
    "simulate_resnet",
]


@dataclass
class ResNetForwardRecord:
    r"""What a forward pass of :class:`ResNet` measured.

    Attributes
    ----------
    output : ndarray (batch, N)
        :math:`h^L`.
    q : ndarray (L+1, batch)
        :math:`\|h^l\|^2/N` of each input, :math:`l = 0..L`.
    sparsity : ndarray (L,)
        Fraction of zeros of :math:`\phi_l(h^l)` (the branch's first activation).
    inner_sparsity : ndarray (L,)
        Fraction of zeros of the inner activation (two-layer branch; NaN otherwise).
    rho : ndarray (L+1, n_pairs)
        Cosine correlation of :math:`h^l` between the paired inputs.
    pairs : ndarray (n_pairs, 2)
    """

    output: np.ndarray
    q: np.ndarray
    sparsity: np.ndarray
    inner_sparsity: np.ndarray
    rho: np.ndarray
    pairs: np.ndarray


@dataclass
class ResNetBackwardRecord:
    r"""What a backward pass of :class:`ResNet` measured.

    Attributes
    ----------
    loss : float
        :math:`\tfrac12\|h^L - y\|^2` (NaN when ``grad_output`` was given).
    grad_h_norm : ndarray (L+1,)
        :math:`\|\delta^l\|`, :math:`l = 0..L` (Frobenius over the batch).
    grads : list of ndarray
        Gradients in the order of :meth:`ResNet.parameters`.
    """

    loss: float
    grad_h_norm: np.ndarray
    grads: list


class ResNet:
    r"""A random residual MLP (see the module notes) with hand-written backprop.

    Parameters
    ----------
    activation : Activation or str
    width : int
        :math:`N`, the width of the stream and of every branch layer.
    depth : int
        :math:`L`, the number of residual blocks.
    in_features : int, optional
        :math:`N_0` (default ``width``).
    sparsity, target_slope, alpha, branch, tau_follows_q, q_star, q_input
        As :func:`eoctheory.theory.resnet.residual_trajectory` (``q_input`` is the input
        variance the thresholds are scheduled for; default ``q_star``).
    sigma_w2, sigma_b2, **params
        As :func:`eoctheory.theory.resnet.residual_trajectory`.
    dtype : float32 or float64
    rng : int, Generator or None
    kernel : {"auto", "generated", "hand"}
        Pointwise kernels (:func:`~eoctheory.nets.pointwise_kernels.pointwise`).
    """

    def __init__(self, activation: Activation | str, *, width: int, depth: int,
                 in_features: int | None = None, sparsity: float | None = None,
                 target_slope: float | None = None, alpha: float | None = None,
                 branch: str = "one", tau_follows_q: bool = True, q_star: float = 1.0,
                 q_input: float | None = None, sigma_w2: float | None = None,
                 sigma_b2: float | None = None, dtype: Any = np.float64,
                 rng: int | np.random.Generator | None = None, kernel: str = "auto",
                 **params: float):
        N = check_int(width, "width", 2)
        L = check_int(depth, "depth", 1)
        N0 = N if in_features is None else check_int(in_features, "in_features")
        self.dtype = check_dtype(dtype)
        self.trajectory: ResidualTrajectory = residual_trajectory(
            activation, depth=L, sparsity=sparsity, target_slope=target_slope, alpha=alpha,
            branch=branch, tau_follows_q=tau_follows_q, q_star=q_star, q_input=q_input,
            sigma_w2=sigma_w2, sigma_b2=sigma_b2, **params)
        tr = self.trajectory
        self.activation = tr.setting.activation
        self.alpha, self.branch = tr.alpha, tr.branch
        self.sigma_w2, self.sigma_b2 = tr.setting.sigma_w2, tr.setting.sigma_b2
        self.width, self.depth, self.in_features = N, L, N0
        k = 1 if self.branch == "one" else 2
        n = N0 * N + L * k * (N * N + N)
        check_resources(f"ResNet(width={N}, depth={L}, branch={self.branch!r})",
                        nbytes=float(n) * self.dtype.itemsize, operations=n * NORMAL_COST,
                        hint="lower the width or the depth")
        cache: dict = {}

        def kern(p: dict):
            key = tuple(sorted((a, float(b)) for a, b in p.items()))
            if key not in cache:
                cache[key] = pointwise(self.activation, kernel, **dict(key))
            return cache[key]

        self._pw1 = [kern(p) for p in tr.params]
        self._pw2 = [kern(p) for p in tr.inner_params] if k == 2 else []
        gen = seed_rng(rng)
        dt = self.dtype
        self.w_in = gen.standard_normal((N0, N), dtype=dt) * dt.type(np.sqrt(1.0 / N0))
        sw, sb = dt.type(np.sqrt(self.sigma_w2 / N)), dt.type(np.sqrt(self.sigma_b2))
        self.weights: list[list[np.ndarray]] = []
        self.biases: list[list[np.ndarray]] = []
        for _ in range(L):
            ws, bs = [], []
            for _ in range(k):
                ws.append(gen.standard_normal((N, N), dtype=dt) * sw)
                bs.append(gen.standard_normal(N, dtype=dt) * sb)
            self.weights.append(ws)
            self.biases.append(bs)
        self._last: dict | None = None

    def parameters(self) -> list[np.ndarray]:
        """The arrays of the network: ``w_in``, then per block W (W1, b1, W2, b2) as ``W, b``."""
        out = [self.w_in]
        for ws, bs in zip(self.weights, self.biases):
            for W, b in zip(ws, bs):
                out += [W, b]
        return out

    def _input(self, x: Any) -> np.ndarray:
        X = np.asarray(x)
        if X.ndim == 1:
            X = X[None, :]
        if X.ndim != 2 or X.shape[1] != self.in_features:
            raise ValueError(f"x must have shape (batch, {self.in_features}), got {np.shape(x)}")
        return np.ascontiguousarray(X, dtype=self.dtype)

    def forward(self, x: Any, *, keep: bool = True, pairs: Any = "adjacent"
                ) -> ResNetForwardRecord:
        r"""Forward pass, recording :math:`q^l`, sparsity and correlations per block.

        ``keep`` keeps what :meth:`backward` needs; ``pairs`` as
        :meth:`eoctheory.nets.network.Network.forward`.
        """
        X = self._input(x)
        B, N, L, a = X.shape[0], self.width, self.depth, self.dtype.type(self.alpha)
        pr = input_pairs(pairs, B)
        q = np.empty((L + 1, B))
        rho = np.empty((L + 1, len(pr)))
        s1, s2 = np.empty(L), np.full(L, np.nan)
        saved = []

        def record(l: int, h: np.ndarray) -> None:
            sq = np.einsum("ij,ij->i", h, h, dtype=np.float64)
            q[l] = sq / N
            if len(pr):
                d = np.einsum("ij,ij->i", h[pr[:, 0]], h[pr[:, 1]], dtype=np.float64)
                rho[l] = d / np.sqrt(sq[pr[:, 0]] * sq[pr[:, 1]])

        with np.errstate(all="ignore"):
            h = X @ self.w_in
            record(0, h)
            for l in range(L):
                A = self._pw1[l].phi(h, np.empty_like(h))
                s1[l] = 1.0 - np.count_nonzero(A) / A.size
                W, b = self.weights[l], self.biases[l]
                u = A @ W[0] + b[0]
                G = A2 = None
                if self.branch == "two":
                    G = u
                    A2 = self._pw2[l].phi(G, np.empty_like(G))
                    s2[l] = 1.0 - np.count_nonzero(A2) / A2.size
                    u = A2 @ W[1] + b[1]
                if keep:
                    saved.append((h, A, G, A2))
                h = h + a * u
                record(l + 1, h)
        self._last = {"X": X, "saved": saved if keep else None, "out": h}
        return ResNetForwardRecord(h.copy(), q, s1, s2, rho, pr)

    __call__ = forward

    def _mul_derivative(self, pw, g: np.ndarray, h: np.ndarray, A: np.ndarray) -> None:
        pw.mul_derivative(g, h, A, np.empty(g.shape, bool), np.empty_like(g))

    def backward(self, target: Any = None, *, grad_output: Any = None) -> ResNetBackwardRecord:
        r"""Backprop through the blocks (module notes); needs ``forward(x, keep=True)``.

        Give ``target`` (:math:`\delta^L = h^L - y`) or ``grad_output`` (:math:`\delta^L`).
        """
        last = self._last
        if last is None or last["saved"] is None:
            raise ValueError("backward needs a preceding forward(x, keep=True)")
        if (target is None) == (grad_output is None):
            raise ValueError("give exactly one of target and grad_output")
        out = last["out"]
        given, name = (target, "target") if target is not None else (grad_output, "grad_output")
        g = np.asarray(given, dtype=self.dtype)
        if g.shape != out.shape:
            raise ValueError(f"{name} must have the output's shape {out.shape}, "
                             f"got {np.shape(given)}")
        L, a = self.depth, self.dtype.type(self.alpha)
        gh = np.empty(L + 1)
        with np.errstate(all="ignore"):
            if target is not None:
                delta = out - g
                loss = 0.5 * float(np.vdot(delta, delta))
            else:
                delta = g.copy()
                loss = float("nan")
            gh[L] = np.sqrt(np.vdot(delta, delta))
            grads_rev: list[np.ndarray] = []
            for l in range(L - 1, -1, -1):
                h, A, G, A2 = last["saved"][l]
                W, b = self.weights[l], self.biases[l]
                du = a * delta
                if self.branch == "two":
                    grads_rev += [du.sum(axis=0), A2.T @ du]
                    du = du @ W[1].T
                    self._mul_derivative(self._pw2[l], du, G, A2)
                grads_rev += [du.sum(axis=0), A.T @ du]
                back = du @ W[0].T
                self._mul_derivative(self._pw1[l], back, h, A)
                delta = delta + back
                gh[l] = np.sqrt(np.vdot(delta, delta))
            grads_rev.append(last["X"].T @ delta)
        return ResNetBackwardRecord(loss, gh, grads_rev[::-1])

    def loss(self, x: Any, target: Any) -> float:
        r""":math:`\tfrac12\|h^L(x) - y\|^2` summed over the batch (for finite differences)."""
        out = self.forward(x, keep=False, pairs=None).output.astype(np.float64)
        return 0.5 * float(np.sum(np.square(out - np.reshape(target, out.shape))))


@dataclass
class ResNetSimulation:
    r"""Seeds of :class:`ResNet` judged by the failure definitions of the predictor.

    Attributes
    ----------
    q : ndarray (seeds, L+1)
        Measured :math:`q^l` of one input per seed.
    sparsity : ndarray (seeds, L)
        Measured sparsity of each block's first activation (that input).
    gradient_ratio : ndarray (seeds,)
        :math:`\|\delta^0\|/\|\delta^L\|` for a Gaussian output gradient.
    drifted, exploded, vanished : ndarray of bool (seeds,)
        As :func:`eoctheory.theory.resnet.predict_resnet` counts them (drift first, an
        overflowed :math:`q^l` included; then the ratio above ``grad_limit`` or below its
        inverse).
    trajectory : ResidualTrajectory
    """

    q: np.ndarray
    sparsity: np.ndarray
    gradient_ratio: np.ndarray
    drifted: np.ndarray
    exploded: np.ndarray
    vanished: np.ndarray
    trajectory: ResidualTrajectory

    @property
    def failed(self) -> float:
        """Fraction of seeds that drifted, exploded or vanished (the measured risk)."""
        return float(np.mean(self.drifted | self.exploded | self.vanished))


def simulate_resnet(activation: Activation | str, *, width: int, depth: int, seeds: int,
                    seed: int = 0, grad_limit: float = fw.GRAD_LIMIT,
                    sparsity_drift: float = fw.SPARSITY_DRIFT,
                    chi_drift: float = fw.CHI_DRIFT, **kw: Any) -> ResNetSimulation:
    r"""Draw ``seeds`` residual MLPs (``**kw`` as :class:`ResNet`), one input of
    :math:`\|x\|^2/N_0 = q^0` each, and a Gaussian output gradient; judge each like the
    predictor (:func:`~eoctheory.theory.resnet.alive_at` at the measured :math:`q^l`).

    Examples
    --------
    >>> r = simulate_resnet("crelu", width=32, depth=4, seeds=2, sparsity=0.8, alpha=0.3)
    >>> r.q.shape, r.drifted.shape
    ((2, 5), (2,))
    """
    S = check_int(seeds, "seeds")
    g = fw.check_grad_limit(grad_limit)
    Q, SP, G = [], [], []
    tr = None
    for k in range(S):
        net = ResNet(activation, width=width, depth=depth, rng=seed_rng(seed, k), **kw)
        tr = net.trajectory
        gen = seed_rng(seed, S + k)
        x = gen.standard_normal((1, net.in_features))
        x *= np.sqrt(tr.q[0] * net.in_features) / np.linalg.norm(x)
        rec = net.forward(x, pairs=None)
        back = net.backward(grad_output=gen.standard_normal(rec.output.shape))
        Q.append(rec.q[:, 0])
        SP.append(rec.sparsity)
        G.append(back.grad_h_norm[0] / back.grad_h_norm[-1])
    q, ratio = np.array(Q), np.array(G)
    # an overflowed stream (inf/NaN, e.g. float32 at large alpha) counts as drifted
    overflow = ~np.all(np.isfinite(q), axis=1)
    qm = np.clip(np.nan_to_num(q[:, :-1].T, nan=1e100, posinf=1e100), 1e-100, 1e100)
    drift = (alive_at(tr, qm, sparsity_drift, chi_drift).min(axis=0) < 1) | overflow
    with np.errstate(invalid="ignore"):
        exploded = ~drift & ~(ratio <= g)
        vanished = ~drift & (ratio < 1 / g)
    return ResNetSimulation(q, np.array(SP), ratio, drift, exploded, vanished, tr)
