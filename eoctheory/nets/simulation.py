r"""Many seeds of the reference network beside the infinite-width theory.

:func:`simulate` runs ``seeds`` random networks (:class:`~eoctheory.nets.network.Network`)
and sets the measurements of every layer -- :math:`q^l`, sparsity, correlation of input
pairs, gradient norms -- beside the infinite-width theory
(:func:`~eoctheory.nets.trajectories.theory_trajectory`: variance map eq. 3, correlation map
eq. 6, gradient factor :math:`\chi_1` per layer, App. A); a seed fails when its
:math:`q^l` leaves a band around the theory (:func:`failures`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from eoctheory.engine import maps
from eoctheory.engine.checks import check_int
from eoctheory.limits import NORMAL_COST, check_resources
from eoctheory.nets.network import Init, Network, correlated_inputs, seed_rng
from eoctheory.nets.trajectories import theory_trajectory

__all__ = [
    "SimulationResult",
    "estimate_simulate",
    "failures",
    "simulate",
]


# ------------------------------------------------------------------------------------------
# Simulation against theory
# ------------------------------------------------------------------------------------------
@dataclass
class SimulationResult:
    r"""Measured per-layer statistics over seeds beside the infinite-width theory.

    Arrays indexed ``[seed, layer]`` (layers 1..L at index 0..L-1).

    Attributes
    ----------
    q, sparsity, rho : ndarray (seeds, L)
        Batch-mean :math:`q^l`, activation sparsity, mean correlation over input pairs.
    grad_w_norm, grad_h_norm : ndarray (seeds, L)
        :math:`\|\partial\mathcal L/\partial W^l\|_F`, :math:`\|\delta^l\|` (NaN if not run).
    q_theory, sparsity_theory, rho_theory, chi1_theory : ndarray (L,)
        See :func:`~eoctheory.nets.trajectories.theory_trajectory`.
    grad_h_theory : ndarray (L,)
        :math:`\overline{\|\delta^L\|}\,\big(\prod_{k=l}^{L-1}\chi_1(q^k)\big)^{1/2}`.
    failed : ndarray (seeds,) of bool
        The seed's :math:`q^l` left the band :math:`[q^l_\text{th}/b, b\,q^l_\text{th}]`
        (``band`` :math:`b`, default 4; on the EoC with :math:`q^1 = q^*` this is
        :math:`[q^*/4, 4q^*]`) at some layer, or overflowed / became NaN.
    first_failure : ndarray (seeds,) of int
        First failing layer (1-based), 0 if none.
    config : dict
        What was simulated.
    """

    q: np.ndarray
    sparsity: np.ndarray
    rho: np.ndarray
    grad_w_norm: np.ndarray
    grad_h_norm: np.ndarray
    q_theory: np.ndarray
    sparsity_theory: np.ndarray
    rho_theory: np.ndarray
    chi1_theory: np.ndarray
    grad_h_theory: np.ndarray
    failed: np.ndarray
    first_failure: np.ndarray
    config: dict = field(default_factory=dict)

    @property
    def seeds(self) -> int:
        return int(self.q.shape[0])

    @property
    def depth(self) -> int:
        return int(self.q.shape[1])

    @property
    def failed_fraction(self) -> float:
        return float(np.mean(self.failed))

    @staticmethod
    def _stat(a: np.ndarray, fn: Callable) -> np.ndarray:
        with np.errstate(all="ignore"), _quiet():
            return fn(np.where(np.isfinite(a), a, np.nan), axis=0)

    @property
    def q_mean(self) -> np.ndarray:
        """Mean of :math:`q^l` over the seeds that are finite at that layer."""
        return self._stat(self.q, np.nanmean)

    @property
    def q_std(self) -> np.ndarray:
        return self._stat(self.q, np.nanstd)

    @property
    def sparsity_mean(self) -> np.ndarray:
        return self._stat(self.sparsity, np.nanmean)

    @property
    def rho_mean(self) -> np.ndarray:
        return self._stat(self.rho, np.nanmean)

    @property
    def grad_w_norm_mean(self) -> np.ndarray:
        return self._stat(self.grad_w_norm, np.nanmean)

    @property
    def grad_h_norm_mean(self) -> np.ndarray:
        return self._stat(self.grad_h_norm, np.nanmean)

    @property
    def grad_h_norm_rms(self) -> np.ndarray:
        r"""RMS over seeds (what ``grad_h_theory`` predicts)."""
        with np.errstate(all="ignore"):
            return np.sqrt(self._stat(self.grad_h_norm ** 2, np.nanmean))

    def to_dict(self, per_seed: bool = True) -> dict:
        """JSON-ready dict (lists; NaN and inf become ``None``)."""
        d: dict[str, Any] = {"config": self.config, "seeds": self.seeds, "depth": self.depth,
                             "layers": list(range(1, self.depth + 1)),
                             "failed_fraction": self.failed_fraction,
                             "failed": self.failed.tolist(),
                             "first_failure": self.first_failure.tolist()}
        for name in ("q_theory", "q_mean", "q_std", "sparsity_theory", "sparsity_mean",
                     "rho_theory", "rho_mean", "chi1_theory", "grad_h_theory",
                     "grad_h_norm_mean", "grad_h_norm_rms", "grad_w_norm_mean"):
            d[name] = _jsonable(getattr(self, name))
        if per_seed:
            for name in ("q", "sparsity", "grad_h_norm", "grad_w_norm"):
                d[name] = _jsonable(getattr(self, name))
        return d


class _quiet:
    """Silence 'Mean of empty slice' for all-NaN columns."""

    def __enter__(self):
        import warnings

        self._w = warnings.catch_warnings()
        self._w.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *exc):
        self._w.__exit__(*exc)


def _jsonable(a: np.ndarray) -> list:
    a = np.asarray(a, dtype=float)
    return np.where(np.isfinite(a), a, None).tolist() if a.size else []


def failures(q: np.ndarray, q_ref: np.ndarray, band: float = 4.0) -> np.ndarray:
    r"""First failing layer per seed (1-based; 0 = none).

    A layer fails if :math:`q^l \notin [q_\text{ref}/b,\ b\,q_\text{ref}]` (``band`` :math:`b`)
    or :math:`q^l` is not finite.
    """
    if not band > 1:
        raise ValueError(f"band must be > 1, got {band!r}")
    ref = np.where(np.isfinite(q_ref), q_ref, np.inf)
    with np.errstate(all="ignore"):
        bad = ~np.isfinite(q) | (q < ref / band) | (q > ref * band)
    bad &= np.isfinite(ref)[None, :] | ~np.isfinite(q)
    first = np.where(bad.any(axis=1), np.argmax(bad, axis=1) + 1, 0)
    return first


def estimate_simulate(*, width: int, depth: int, seeds: int, batch: int = 8,
                      kernel_size: int = 1, channels: int | None = None, positions: int = 16,
                      gradients: bool = True, dtype: Any = np.float64) -> tuple[float, float]:
    r"""Peak bytes and operations of :func:`simulate` (checked there before allocating).

    Memory: the weights of one network (:math:`L(2k+1)C^2` numbers), its weight gradients
    and the next seed's weights, which are drawn while the previous network still exists
    (so three copies with ``gradients``, two without); the kept activations
    :math:`2 L B P C`; the per-seed results. Operations: :data:`~eoctheory.limits.NORMAL_COST`
    per Gaussian draw, :math:`2BP(2k+1)C^2` per layer and seed for the forward matmul (three
    times that with the backward pass), a fixed cost per layer for the Python loop and the
    theory (the correlation map per layer).

    Examples
    --------
    >>> nbytes, ops = estimate_simulate(width=300, depth=100, seeds=10)
    >>> 1e8 < nbytes < 1e9
    True
    """
    it = np.dtype(dtype).itemsize
    C = width if channels is None or kernel_size == 1 else channels
    P = 1 if kernel_size == 1 else positions
    L, K, B, ks = float(depth), float(seeds), float(batch), float(kernel_size)
    weights = L * (ks * C * C + C) * it
    rows = B * P
    acts = ((2 * L if gradients else 3) * rows * C + (2 if gradients else 1) * rows * ks * C) * it
    nbytes = (3 if gradients else 2) * weights + acts + (5 * K * L + 6 * L + 4 * L * B) * 8 \
        + 4 * rows * C * 8
    ops = (K * L * (ks * C * C + C) * NORMAL_COST
           + K * L * 2 * rows * ks * C * C * (3 if gradients else 1)
           + K * L * 2e5 + L * (8e6 if batch >= 2 else 4e5))
    return nbytes, ops


def simulate(init: Init, *, width: int = 300, depth: int = 100, seeds: int = 10,
             batch: int = 8, rho_input: float = 0.5, q_input: float | None = None,
             kernel_size: int = 1, channels: int | None = None, positions: int = 16,
             first_layer: str = "preserve", gradients: bool = True, band: float = 4.0,
             dtype: Any = np.float64, seed: int = 0,
             progress: Callable[[int, int], None] | None = None) -> SimulationResult:
    r"""Run ``seeds`` random networks and compare every layer with the theory.

    Parameters
    ----------
    init : Init
        From :func:`~eoctheory.nets.network.eoc_init`.
    width, depth : int
        :math:`N` (all layers and the input) and :math:`L`. For a CNN (``kernel_size > 1``)
        the channel count is ``channels`` (default ``width``) on ``positions`` positions.
    batch : int
        Inputs per network, in pairs of correlation ``rho_input``
        (:func:`~eoctheory.nets.network.correlated_inputs`; every input and position has
        :math:`\|x\|^2/N_0 = q_\text{in}`, default :math:`q^*`).
    gradients : bool
        Also backpropagate a random output gradient :math:`\delta^L = g`,
        :math:`g \sim N(0, I)` independent of the network (the loss
        :math:`\mathcal L = \langle g, h^L\rangle`; a squared loss would correlate
        :math:`\delta^L` with :math:`W^L` and break the gradient-independence assumption of
        the theory at the last layer) and record gradient norms.
    band : float
        Failure band factor (see :class:`SimulationResult`).
    progress : callable, optional
        Called as ``progress(k, seeds)`` after each seed.

    Returns
    -------
    SimulationResult
    """
    width = check_int(width, "width", 2)
    L = check_int(depth, "depth")
    K = check_int(seeds, "seeds")
    B = check_int(batch, "batch")
    ks = check_int(kernel_size, "kernel_size")
    if not -1 <= rho_input <= 1:
        raise ValueError(f"rho_input must be in [-1, 1], got {rho_input!r}")
    if not band > 1:
        raise ValueError(f"band must be > 1, got {band!r}")
    qin = (init.q_star if q_input is None
           else float(maps.check_variance(q_input, "q_input")))
    if channels is not None and ks == 1:
        raise ValueError("channels is for a CNN (kernel_size > 1); a DNN has width units")
    C = width if ks == 1 else (width if channels is None else check_int(channels, "channels"))
    P = None if ks == 1 else check_int(positions, "positions")
    nbytes, ops = estimate_simulate(width=width, depth=L, seeds=K, batch=B, kernel_size=ks,
                                    channels=C, positions=P or 1, gradients=gradients,
                                    dtype=dtype)
    cnn = f", kernel_size={ks}, channels={C}, positions={P}" if ks > 1 else ""
    check_resources(f"simulate(width={width}, depth={L}, seeds={K}, batch={B}{cnn})",
                    nbytes=nbytes, operations=ops,
                    hint="lower " + ("channels, positions, " if ks > 1 else "width, ")
                    + "depth, seeds or batch")
    widths = [C] * (L + 1)
    x = correlated_inputs(B, C, q=qin, rho=rho_input, positions=P, rng=seed_rng(seed, 10**6))
    th = theory_trajectory(init, L, qin, rho_input=rho_input if B >= 2 else None,
                           first_layer=first_layer)
    shp = (K, L)
    q, sp, rho = np.full(shp, np.nan), np.full(shp, np.nan), np.full(shp, np.nan)
    gw, gh = np.full(shp, np.nan), np.full(shp, np.nan)
    for k in range(K):
        net = Network(init.activation, widths, init.sigma_w2, init.sigma_b2, kernel_size=ks,
                      first_layer=first_layer, dtype=dtype, rng=seed_rng(seed, k))
        rec = net.forward(x, keep=gradients)
        q[k] = rec.q.mean(axis=1)
        sp[k] = rec.sparsity
        if rec.rho.shape[1]:
            rho[k] = rec.rho.mean(axis=1)
        if gradients:
            g = seed_rng(seed, 2 * 10**6 + k).standard_normal(rec.output.shape)
            back = net.backward(grad_output=g)
            gw[k], gh[k] = back.grad_w_norm, back.grad_h_norm
        if progress is not None:
            progress(k + 1, K)
    first = failures(q, th["q"], band)
    with np.errstate(all="ignore"), _quiet():
        gL = np.nanmean(np.where(np.isfinite(gh[:, -1]), gh[:, -1], np.nan))
        cum = np.concatenate([np.cumprod(th["chi1"][:-1][::-1])[::-1], [1.0]])
        gth = gL * np.sqrt(cum)
    config = {"activation": init.activation.name, "params": init.params,
              "sigma_w2": init.sigma_w2, "sigma_b2": init.sigma_b2, "q_star": init.q_star,
              "on_eoc": init.on_eoc, "variance_slope": init.variance_slope, "variance_curvature": init.variance_curvature,
              "chi1": init.chi1, "expected_sparsity": init.sparsity, "width": C,
              "depth": L, "batch": B, "rho_input": rho_input, "q_input": qin,
              "kernel_size": ks, "positions": P or 1, "first_layer": first_layer,
              "band": band, "dtype": str(np.dtype(dtype)), "seed": seed}
    return SimulationResult(q, sp, rho, gw, gh, th["q"], th["sparsity"], th["rho"], th["chi1"],
                            gth, first > 0, first, config)
