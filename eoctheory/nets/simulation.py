r"""Many seeds of the reference network beside the infinite-width theory.

:func:`simulate` runs ``seeds`` random networks (:class:`~eoctheory.nets.network.Network`)
and sets the measurements of every layer -- :math:`q^l`, sparsity, correlation of input
pairs, gradient norms -- beside the infinite-width theory
(:func:`~eoctheory.nets.trajectories.theory_trajectory`: variance map eq. 3, correlation map
eq. 6, gradient factor :math:`\chi_1` per layer, App. A); a seed fails in the terms of the
finite-width predictor (:mod:`eoctheory.theory.finite_width`, :func:`failures`): its
variance walk drifts (the sparsity :math:`s(q^l)` or :math:`\chi_1(q^l)` at its measured
:math:`q^l` leaves the neighbourhood of the value at :math:`q^*`), its gradient ratio
:math:`\|\delta^1\|/\|\delta^L\|` explodes or vanishes beyond ``grad_limit``, or it
overflows.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from eoctheory.engine import maps
from eoctheory.engine.checks import check_int
from eoctheory.limits import NORMAL_COST, check_resources
from eoctheory.nets.network import Init, Network, correlated_inputs, seed_rng
from eoctheory.nets.trajectories import theory_trajectory
from eoctheory.theory.finite_width import CHI_DRIFT, GRAD_LIMIT, SPARSITY_DRIFT

__all__ = [
    "Failures",
    "SimulationResult",
    "band_escape",
    "estimate_simulate",
    "failures",
    "simulate",
    "simulate_cnn2d",
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
        ``drift | exploded | vanished | overflow`` (:func:`failures`: the predictor's
        failure, :mod:`eoctheory.theory.finite_width`).
    first_failure : ndarray (seeds,) of int
        First failing layer (1-based): the first drifting or overflowing layer; ``L`` for a
        seed failing by its gradient ratio only (decided over the whole depth); 0 if none.
    config : dict
        What was simulated (with the limits ``sparsity_drift``, ``chi_drift``,
        ``grad_limit`` and the legacy ``band``).
    drift, exploded, vanished, overflow : ndarray (seeds,) of bool
        See :class:`Failures`.
    gradient_ratio : ndarray (seeds,)
        :math:`\|\delta^1\|/\|\delta^L\|` (NaN without gradients).
    first_drift : ndarray (seeds,) of int
        First layer (1-based) drifting or overflowing, 0 if none.
    escaped, first_escape : ndarray (seeds,)
        The former failure (kept as an extra): :math:`q^l` left the band
        :math:`[q^l_\text{th}/b, b\,q^l_\text{th}]` around the theory (``band`` :math:`b`,
        default 4) or overflowed; the first such layer (:func:`band_escape`).
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
    drift: np.ndarray | None = None
    exploded: np.ndarray | None = None
    vanished: np.ndarray | None = None
    overflow: np.ndarray | None = None
    gradient_ratio: np.ndarray | None = None
    first_drift: np.ndarray | None = None
    escaped: np.ndarray | None = None
    first_escape: np.ndarray | None = None

    def __post_init__(self) -> None:
        K = self.q.shape[0]
        for name in ("drift", "exploded", "vanished", "overflow", "escaped"):
            if getattr(self, name) is None:
                setattr(self, name, np.zeros(K, dtype=bool))
        for name in ("first_drift", "first_escape"):
            if getattr(self, name) is None:
                setattr(self, name, np.zeros(K, dtype=int))
        if self.gradient_ratio is None:
            self.gradient_ratio = np.full(K, np.nan)

    @property
    def seeds(self) -> int:
        return int(self.q.shape[0])

    @property
    def depth(self) -> int:
        return int(self.q.shape[1])

    @property
    def failed_fraction(self) -> float:
        return float(np.mean(self.failed))

    @property
    def counts(self) -> dict[str, int]:
        """Seeds failing in each way (a seed may count in several) and in any."""
        return {name: int(np.sum(getattr(self, name)))
                for name in ("failed", "drift", "exploded", "vanished", "overflow", "escaped")}

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
                             "first_failure": self.first_failure.tolist(),
                             "counts": self.counts}
        for name in ("drift", "exploded", "vanished", "overflow", "escaped"):
            d[name] = np.asarray(getattr(self, name), dtype=bool).tolist()
        for name in ("first_drift", "first_escape"):
            d[name] = np.asarray(getattr(self, name), dtype=int).tolist()
        d["gradient_ratio"] = _jsonable(self.gradient_ratio)
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


def band_escape(q: np.ndarray, q_ref: np.ndarray, band: float = 4.0) -> np.ndarray:
    r"""First layer per seed (1-based; 0 = none) where :math:`q^l` leaves the band.

    A layer fails if :math:`q^l \notin [q_\text{ref}/b,\ b\,q_\text{ref}]` (``band`` :math:`b`)
    or :math:`q^l` is not finite. This was the failure of :func:`simulate` before it took the
    predictor's (:func:`failures`); it is kept as ``escaped``/``first_escape``.
    """
    if not band > 1:
        raise ValueError(f"band must be > 1, got {band!r}")
    ref = np.where(np.isfinite(q_ref), q_ref, np.inf)
    with np.errstate(all="ignore"):
        bad = ~np.isfinite(q) | (q < ref / band) | (q > ref * band)
    bad &= np.isfinite(ref)[None, :] | ~np.isfinite(q)
    first = np.where(bad.any(axis=1), np.argmax(bad, axis=1) + 1, 0)
    return first


@dataclass
class Failures:
    r"""How each seed fails, in the terms of :mod:`eoctheory.theory.finite_width`.

    Arrays of shape (seeds,).

    Attributes
    ----------
    drift : bool
        At some layer the sparsity :math:`s(q^l)` at the measured :math:`q^l` (the theory
        map, eq. 12) is more than ``sparsity_drift`` from :math:`s(q^*)`, or
        :math:`\chi_1(q^l)/\chi_1(q^*)` leaves :math:`[1/c, c]` (``chi_drift`` :math:`c`).
    exploded, vanished : bool
        :math:`\|\delta^1\|/\|\delta^L\| >` ``grad_limit``, resp. :math:`<` 1/``grad_limit``
        (False without gradients).
    overflow : bool
        A non-finite :math:`q^l` or gradient norm.
    first_drift : int
        First drifting or overflowing layer (1-based), 0 if none.
    gradient_ratio : float
        :math:`\|\delta^1\|/\|\delta^L\|` (NaN without gradients).
    """

    drift: np.ndarray
    exploded: np.ndarray
    vanished: np.ndarray
    overflow: np.ndarray
    first_drift: np.ndarray
    gradient_ratio: np.ndarray
    depth: int

    @property
    def failed(self) -> np.ndarray:
        """Any of drift, exploded, vanished, overflow."""
        return self.drift | self.exploded | self.vanished | self.overflow

    @property
    def first_failure(self) -> np.ndarray:
        """First drifting or overflowing layer; ``L`` for a gradient-only failure; else 0."""
        return np.where(self.first_drift > 0, self.first_drift,
                        np.where(self.failed, self.depth, 0))


def _check_limits(sparsity_drift: Any, chi_drift: Any, grad_limit: Any) -> tuple:
    sd, cd, g = float(sparsity_drift), float(chi_drift), float(grad_limit)
    if not 0 < sd <= 1:
        raise ValueError(f"sparsity_drift must be in (0, 1] (got {sparsity_drift!r})")
    if not (cd > 1 and np.isfinite(cd)):
        raise ValueError(f"chi_drift must be a finite number > 1 (got {chi_drift!r})")
    if not (g > 1 and np.isfinite(g)):
        raise ValueError(f"grad_limit must be a finite number > 1 (got {grad_limit!r})")
    return sd, cd, g


def failures(init, q: np.ndarray, grad_h: np.ndarray | None = None, *,
             sparsity_drift: float = SPARSITY_DRIFT, chi_drift: float = CHI_DRIFT,
             grad_limit: float = GRAD_LIMIT, band: float | None = None) -> Failures:
    r"""Which seeds fail, and how, by the finite-width predictor's definition.

    Parameters
    ----------
    init : Init
        The setting simulated (its activation, parameters and :math:`q^*`).
    q : ndarray (seeds, L)
        Measured :math:`q^l` (batch means).
    grad_h : ndarray (seeds, L), optional
        :math:`\|\delta^l\|` per layer; without it no gradient failure is decided.
    sparsity_drift, chi_drift, grad_limit : float
        The limits of :mod:`eoctheory.theory.finite_width` (defaults
        :data:`~eoctheory.theory.finite_width.SPARSITY_DRIFT`, ``CHI_DRIFT``, ``GRAD_LIMIT``).

    The drift uses the theory maps at the measured :math:`q^l` (as the predictor does;
    the measured sparsity of a narrow layer is noisy); positively homogeneous activations
    (plain ReLU, identity) never drift.

    Returns
    -------
    Failures

    Notes
    -----
    The former call ``failures(q, q_ref, band)`` (an array first; ``band`` is for it only)
    still works, with a DeprecationWarning, and returns :func:`band_escape`'s first layers.
    """
    if not hasattr(init, "activation"):  # the former signature failures(q, q_ref, band)
        warnings.warn("failures(q, q_ref, band) is deprecated: use band_escape(q, q_ref, band) "
                      "or failures(init, q, grad_h)", DeprecationWarning, stacklevel=2)
        b = band if band is not None else (4.0 if grad_h is None else grad_h)
        return band_escape(init, q, b)
    if band is not None:
        raise ValueError("band goes with the former failures(q, q_ref, band); see band_escape")
    sd, cd, g = _check_limits(sparsity_drift, chi_drift, grad_limit)
    q = np.asarray(q, dtype=float)
    if q.ndim != 2:
        raise ValueError(f"q must have shape (seeds, layers) (got {q.shape})")
    K, L = q.shape
    act, params, qs = init.activation, dict(init.params), float(init.q_star)
    finite = np.isfinite(q)
    qe = np.clip(np.where(finite, q, qs), 1e-100, 1e100)
    with np.errstate(all="ignore"):
        s = maps.sparsity(act, qe, **params)
        s0 = maps.sparsity(act, qs, **params)
        r = maps.slope_moment(act, qe, **params) / maps.slope_moment(act, qs, **params)
        bad = (np.abs(s - s0) > sd) | ~(r <= cd) | ~(r >= 1.0 / cd)
    bad = (bad & finite) | ~finite
    first_drift = np.where(bad.any(axis=1), np.argmax(bad, axis=1) + 1, 0)
    overflow = ~finite.all(axis=1)
    drift = (bad & finite).any(axis=1)
    ratio = np.full(K, np.nan)
    exploded = np.zeros(K, dtype=bool)
    vanished = np.zeros(K, dtype=bool)
    if grad_h is not None and L:
        gh = np.asarray(grad_h, dtype=float)
        if gh.shape != q.shape:
            raise ValueError(f"grad_h must have the shape of q {q.shape} (got {gh.shape})")
        overflow |= ~np.isfinite(gh).all(axis=1)
        with np.errstate(all="ignore"):
            ratio = gh[:, 0] / gh[:, -1]
        exploded = ratio > g
        vanished = ratio < 1.0 / g
    return Failures(drift, exploded, vanished, overflow, first_drift, ratio, L)


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
             sparsity_drift: float = SPARSITY_DRIFT, chi_drift: float = CHI_DRIFT,
             grad_limit: float = GRAD_LIMIT, dtype: Any = np.float64, seed: int = 0,
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
        Band factor of the former failure, kept as ``escaped`` (see
        :class:`SimulationResult`).
    sparsity_drift, chi_drift, grad_limit : float
        The predictor's failure limits (:func:`failures`).
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
    _check_limits(sparsity_drift, chi_drift, grad_limit)  # before the work
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
    esc = band_escape(q, th["q"], band)
    fl = failures(init, q, gh if gradients else None, sparsity_drift=sparsity_drift,
                  chi_drift=chi_drift, grad_limit=grad_limit)
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
              "band": band, "sparsity_drift": float(sparsity_drift),
              "chi_drift": float(chi_drift), "grad_limit": float(grad_limit),
              "gradients": bool(gradients), "dtype": str(np.dtype(dtype)), "seed": seed}
    return SimulationResult(q, sp, rho, gw, gh, th["q"], th["sparsity"], th["rho"], th["chi1"],
                            gth, fl.failed, fl.first_failure, config, drift=fl.drift,
                            exploded=fl.exploded, vanished=fl.vanished, overflow=fl.overflow,
                            gradient_ratio=fl.gradient_ratio, first_drift=fl.first_drift,
                            escaped=esc > 0, first_escape=esc)


def simulate_cnn2d(init: Init, *, channels: int = 64, depth: int = 30, seeds: int = 4,
                   batch: int = 8, image: int = 16, kernel_size: int = 3,
                   rho_input: float = 0.5, first_layer: str = "preserve",
                   dtype: Any = np.float64, seed: int = 0,
                   progress: Callable[[int, int], None] | None = None) -> dict:
    r"""Run ``seeds`` random 2-D CNNs (:class:`~eoctheory.nets.cnn2d.CNN2d`, circular
    padding) and compare every layer with the infinite-channel theory.

    Inputs: ``batch // 2`` pairs of smoothed images ``(batch, C, image, image)``
    (:func:`~eoctheory.nets.cnn2d.smooth_pair`, :math:`C_0 = C` channels), every position
    with :math:`\|x\|^2/C_0 = q^*` and pair cosine ``rho_input``, neighbours correlated. The
    theory (:func:`~eoctheory.nets.cnn2d.cnn2d_theory`) starts from the inputs' own
    statistics (:func:`~eoctheory.nets.cnn2d.input_statistics`, in the network's dtype):
    layer 1 has :math:`q^1 = q_0`, :math:`c^1 = c_0` with ``"preserve"``, and
    :math:`q^1 = \sigma_w^2 q_0 + \sigma_b^2`, :math:`c^1 = (\sigma_w^2 q_0 c_0 +
    \sigma_b^2)/q^1` with ``"standard"``. Quantities per layer: ``q`` (mean over the batch),
    ``sparsity``, ``rho`` (mean over the pairs), ``spatial`` (mean of the lags (0, 1) and
    (1, 0)).

    Returns
    -------
    dict
        ``config`` (a dict), ``q``, ``sparsity``, ``rho``, ``spatial`` (arrays
        ``(seeds, L)``), ``q_theory``, ``sparsity_theory``, ``rho_theory``,
        ``spatial_theory`` (arrays ``(L,)``).

    Raises
    ------
    ValueError
        A bad argument (named), or a run over the memory or time limit (checked before
        any work, :func:`eoctheory.limits.check_resources`).
    """
    from eoctheory.nets.cnn2d import (
        CNN2d,
        cnn2d_theory,
        estimate_cnn2d,
        input_statistics,
        smooth_pair,
    )
    from eoctheory.nets.network import check_dtype, check_first_layer

    C = check_int(channels, "channels", 2)
    L = check_int(depth, "depth")
    K = check_int(seeds, "seeds")
    B = check_int(batch, "batch", 2)
    if B % 2:
        raise ValueError(f"batch must be even (pairs of inputs), got {B}")
    k = check_int(kernel_size, "kernel_size")
    if k % 2 == 0:
        raise ValueError(f"kernel_size must be odd (2r+1), got {k}")
    S = check_int(image, "image")
    if S < k:
        raise ValueError(f"image ({S}) must be at least kernel_size ({k}): a smaller "
                         "circular image wraps the kernel onto itself")
    if not -1 <= rho_input <= 1:
        raise ValueError(f"rho_input must be in [-1, 1], got {rho_input!r}")
    check_first_layer(first_layer)
    dt = check_dtype(dtype)
    nb, ops = estimate_cnn2d(batch=B, height=S, width=S, in_channels=C, channels=C, depth=L,
                             kernel_size=k, keep=False, dtype=dt)
    n_w = L * (k * k * C * C + C)
    check_resources(f"simulate(arch=cnn2d, channels={C}, image={S}x{S}, kernel_size={k}, "
                    f"depth={L}, seeds={K}, batch={B})",
                    nbytes=nb + 2.0 * n_w * dt.itemsize + 4.0 * B * C * S * S * 8
                    + 8.0 * K * L * 8,
                    operations=K * (ops + n_w * NORMAL_COST) + L * 2e5,
                    hint="lower channels, image, depth, seeds or batch")
    rng = seed_rng(seed, 10**6)
    x = np.concatenate([smooth_pair(C, S, q=init.q_star, rho=rho_input, rng=rng)
                        for _ in range(B // 2)]).astype(dt)
    q0, c0, lag0 = input_statistics(x)  # what the network sees, in its dtype
    if first_layer == "preserve":
        q1, c1 = q0, np.r_[c0, lag0]
    else:
        q1 = init.sigma_w2 * q0 + init.sigma_b2
        c1 = (init.sigma_w2 * q0 * np.r_[c0, lag0] + init.sigma_b2) / q1
    tq, ts, tc = cnn2d_theory(init, q1, c1, L)
    out = {name: np.full((K, L), np.nan) for name in ("q", "sparsity", "rho", "spatial")}
    for i in range(K):
        net = CNN2d.from_init(init, C, C, L, kernel_size=k, first_layer=first_layer,
                              dtype=dt, rng=seed_rng(seed, i))
        rec = net.forward(x, keep=False, pairs="adjacent")
        out["q"][i] = rec.q.mean(axis=1)
        out["sparsity"][i] = rec.sparsity
        out["rho"][i] = rec.rho.mean(axis=1)
        out["spatial"][i] = rec.spatial_rho.mean(axis=1)
        del net
        if progress is not None:
            progress(i + 1, K)
    out.update(q_theory=tq, sparsity_theory=ts, rho_theory=tc[:, 0],
               spatial_theory=tc[:, 1:].mean(axis=1))
    out["config"] = {
        "activation": init.activation.name, "params": init.params,
        "sigma_w2": init.sigma_w2, "sigma_b2": init.sigma_b2, "q_star": init.q_star,
        "on_eoc": init.on_eoc, "chi1": init.chi1, "expected_sparsity": init.sparsity,
        "channels": C, "in_channels": C, "image": S, "kernel_size": k, "padding": "circular",
        "depth": L, "batch": B, "rho_input": rho_input, "input_q": q0, "input_rho": c0,
        "input_spatial": float(np.mean(lag0)), "first_layer": first_layer,
        "dtype": str(dt), "seed": seed}
    return out
