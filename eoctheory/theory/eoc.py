r"""The Edge of Chaos at any fixed-point variance :math:`q^*`, thresholds and clipping heights.

Recipe (paper App. A, THEORY.md §2): pick :math:`q^*`; choose :math:`\sigma_w^2` so that

.. math::

    \chi_1 = \sigma_w^2\,\mathbb{E}[\phi'(\sqrt{q^*}Z)^2] = 1,\qquad
    \sigma_b^2 = q^* - \sigma_w^2\,\mathbb{E}[\phi(\sqrt{q^*}Z)^2],

so that :math:`V(q^*) = q^*`. No EoC point exists at that :math:`q^*` when
:math:`\sigma_b^2 < 0` or :math:`\mathbb{E}[\phi'^2] = 0`. On the EoC

.. math::

    V'(q^*) = \frac{\tfrac{d}{dq}\mathbb{E}[\phi^2]}{\mathbb{E}[\phi'^2]}\Big|_{q^*},\qquad
    V''(q^*) = \frac{\tfrac{d^2}{dq^2}\mathbb{E}[\phi^2]}{\mathbb{E}[\phi'^2]}\Big|_{q^*}.

The paper chooses the clipping height :math:`m` so that :math:`V'(q^*)` hits a target
(0.5, 0.7, 0.9; Sec. 3.1), which :func:`m_for_slope` does for whole tables at once.

Examples
--------
>>> from eoctheory import eoc
>>> tau = eoc.tau_from_sparsity("relu", 0.7)        # q* = 1
>>> p = eoc.eoc_point("relu", tau=tau)
>>> round(float(p.sigma_w2), 10)                      # 1 / (1 - s)
3.3333333333
>>> sol = eoc.m_for_slope("crelu", 0.7, sparsity=0.85)
>>> round(float(sol.variance_slope), 12)
0.7
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import sympy as sp
from scipy import special as _sc

from eoctheory.engine import maps
from eoctheory.engine.roots import bracket_first, illinois
from eoctheory.engine.activations import TAU, Activation, get_activation
from eoctheory.engine.gaussian import NotPiecewisePolynomial

__all__ = [
    "EoCPoint",
    "SlopeAliases",
    "SlopeSolution",
    "tau_from_sparsity",
    "sparsity_from_tau",
    "eoc_point",
    "eoc_curve",
    "eoc_slope",
    "eoc_curvature",
    "m_for_slope",
]


def _check_sparsity(s: Any) -> np.ndarray:
    arr = np.asarray(s, dtype=float)
    if not np.all((arr > 0) & (arr < 1)):
        raise ValueError(f"sparsity must be in (0, 1) (got {np.ravel(arr)[~np.ravel((arr > 0) & (arr < 1))][0]!r})")
    return arr


def _check_q_star(q_star: Any) -> np.ndarray:
    arr = np.asarray(q_star, dtype=float)
    if not np.all((arr > 0) & (arr < np.inf)):
        raise ValueError(f"q_star must be a finite variance > 0 (got {np.ravel(arr)[0]!r})")
    return arr


def _erfinv_stable(y: Any) -> np.ndarray:
    r""":math:`\operatorname{erf}^{-1}(y)` to a few eps relative over the whole of (-1, 1).

    ``erfinv`` where :math:`|y| < 1/2` (it is relatively accurate as :math:`y \to 0`: ST_tau
    at sparsity :math:`10^{-12}` needs :math:`\tau \approx 1.25\cdot10^{-12}\sqrt q` to all
    digits), :math:`\operatorname{sign}(y)\operatorname{erfc}^{-1}(1-|y|)` elsewhere (the
    argument is then :math:`2 - 2s` or :math:`1 - s`, exact in float64, so :math:`s \to 1`
    keeps its digits).
    """
    y = np.asarray(y, dtype=float)
    ay = np.abs(y)
    with np.errstate(all="ignore"):
        return np.where(ay < 0.5, _sc.erfinv(y), np.sign(y) * _sc.erfcinv(1.0 - ay))


@lru_cache(maxsize=64)
def _tau_closed_form(expr: sp.Expr, symbols: tuple) -> Any:
    """lambdify(s, q, *other params) -> tau, from solving sparsity(tau) = s with SymPy."""
    act_params = [p for p in symbols if p != TAU]
    der = maps.derive_expr(expr, symbols)
    s = sp.Symbol("s", positive=True)
    sparsity = sp.expand(der.sparsity.rewrite(sp.erf))
    if not sparsity.has(TAU):
        return None
    try:
        sols = sp.solve(sp.Eq(sparsity, s), TAU)
    except (NotImplementedError, ValueError, TypeError):
        return None
    if len(sols) != 1 or sols[0].has(sp.Piecewise):
        return None
    return sp.lambdify((s, maps.Q, *act_params), sols[0],
                       modules=[{"erfinv": _erfinv_stable, "erfcinv": _sc.erfcinv}, "numpy"])


def tau_from_sparsity(activation: Activation | str, sparsity: Any, q_star: Any = 1.0,
                      **params: Any) -> np.ndarray:
    r"""The threshold :math:`\tau` that makes :math:`P(\phi(\sqrt{q^*}Z) = 0) = s`.

    A closed form where SymPy can invert the derived sparsity (ReLU_tau and CReLU:
    :math:`\tau = \sqrt{q^*}\,\Phi^{-1}(s)`; ST_tau and CST:
    :math:`\tau = \sqrt{q^*}\,\Phi^{-1}((1+s)/2) = \sqrt{2q^*}\operatorname{erf}^{-1}(s)`,
    evaluated so that both :math:`s \to 0` and :math:`s \to 1` keep their digits, see
    :func:`_erfinv_stable`), a bracketed root otherwise. The result is always checked: the
    sparsity at the returned :math:`\tau` must equal ``sparsity`` to 1e-10 relative.

    Parameters
    ----------
    activation : Activation or str
        Must have a parameter named ``tau``.
    sparsity : array_like
        Target sparsity in (0, 1).
    q_star : array_like, default 1
        Variance at which the sparsity is measured.
    **params
        Other parameters (e.g. ``m``), broadcast.

    Raises
    ------
    ValueError
        Out-of-range input, no ``tau`` parameter, or a sparsity the activation cannot
        reach (e.g. 0.3 for ReLU_tau, whose sparsity is at least 0.5).
    """
    act = get_activation(activation)
    if "tau" not in act.param_names:
        raise ValueError(f"activation {act.name!r} has no threshold parameter tau")
    s = _check_sparsity(sparsity)
    q = _check_q_star(q_star)
    others = {k: v for k, v in params.items() if k != "tau"}
    act.resolve(others)
    shape = np.broadcast_shapes(s.shape, q.shape, *(np.shape(v) for v in others.values()))
    s0 = maps.sparsity(act, q, **{**others, "tau": 0.0})
    if np.any(s < s0 * (1 - 1e-12)):
        smin = float(np.min(s0))
        raise ValueError(f"sparsity must be >= {smin:.6g} for activation {act.name!r} "
                         f"(its sparsity at tau = 0); got {float(np.min(s)):.6g}")
    tau = None
    if act.expr is not None:
        try:
            fn = _tau_closed_form(act.expr, act.symbols)
        except NotPiecewisePolynomial:
            fn = None
        if fn is not None:
            other_vals = [np.asarray(others.get(p.name, act.values[p.name]), float)
                          for p in act.params if p.name != "tau"]
            with np.errstate(all="ignore"):
                tau = np.broadcast_to(fn(s, q, *other_vals), shape).astype(float)
    if tau is None:
        tau = _tau_by_root(act, s, q, others, shape)
    tau = np.where(np.abs(tau) < 1e-300, 0.0, tau)
    got = maps.sparsity(act, q, **{**others, "tau": np.maximum(tau, 0.0)})
    # relative check (s may be 1e-12): the round trip s -> tau -> s is good to a few eps for
    # the closed forms (condition a phi(a)/s <= 1); 1e-10 is the maps' promised accuracy
    if not np.all(np.abs(got - s) <= 1e-10 * s) or np.any(tau < 0):
        raise ValueError(f"sparsity {float(np.ravel(s)[0]):.6g} is not reachable by varying "
                         f"tau for activation {act.name!r}")
    return tau if tau.ndim else tau[()]


def _tau_by_root(act: Activation, s: np.ndarray, q: np.ndarray, others: dict,
                 shape: tuple) -> np.ndarray:
    sf = np.broadcast_to(s, shape).ravel()
    qf = np.broadcast_to(q, shape).ravel()
    of = {k: np.broadcast_to(np.asarray(v, float), shape).ravel() for k, v in others.items()}
    grid = np.sqrt(qf)[:, None] * np.concatenate([[0.0], np.geomspace(1e-4, 40, 80)])[None, :]
    F = maps.sparsity(act, qf[:, None], tau=grid, **{k: v[:, None] for k, v in of.items()}) \
        - sf[:, None]
    i = bracket_first(F)
    if np.any(i < 0):
        raise ValueError(f"sparsity {float(sf[np.argmax(i < 0)]):.6g} is not reachable by "
                         f"varying tau for activation {act.name!r}")
    rows = np.arange(len(sf))
    lo, hi = grid[rows, i], grid[rows, i + 1]

    def f(t):
        return maps.sparsity(act, qf, tau=t, **of) - sf

    return illinois(f, lo, hi, F[rows, i], F[rows, i + 1]).reshape(shape)


def sparsity_from_tau(activation: Activation | str, tau: Any, q_star: Any = 1.0,
                      **params: Any) -> np.ndarray:
    r"""Expected sparsity :math:`P(\phi(\sqrt{q^*}Z)=0)` at threshold ``tau`` (eq. 12)."""
    return maps.sparsity(activation, q_star, tau=tau, **params)


class SlopeAliases:
    """The deprecated spellings ``V_prime`` and ``V_second`` of ``variance_slope`` and
    ``variance_curvature`` (one name per quantity; the old ones are kept for one release)."""

    @property
    def V_prime(self):  # noqa: N802 - the deprecated spelling
        """Deprecated alias of ``variance_slope``."""
        return self.variance_slope

    @property
    def V_second(self):  # noqa: N802 - the deprecated spelling
        """Deprecated alias of ``variance_curvature``."""
        return self.variance_curvature


@dataclass(frozen=True)
class EoCPoint(SlopeAliases):
    r"""An Edge-of-Chaos initialisation at fixed point :math:`q^*`.

    Attributes are arrays (broadcast over the inputs): ``q_star``, ``sigma_w2``,
    ``sigma_b2``, ``variance_slope`` (:math:`V'(q^*)`), ``variance_curvature`` (:math:`V''(q^*)`),
    ``sparsity`` and the activation ``params`` used.
    """

    q_star: np.ndarray
    sigma_w2: np.ndarray
    sigma_b2: np.ndarray
    variance_slope: np.ndarray
    variance_curvature: np.ndarray
    sparsity: np.ndarray
    params: dict


def _eoc_arrays(act: Activation, q: np.ndarray, params: dict) -> tuple:
    e2 = maps.second_moment(act, q, **params)
    d2 = maps.slope_moment(act, q, **params)
    with np.errstate(divide="ignore", invalid="ignore"):
        sw2 = 1.0 / d2
        sb2 = q - sw2 * e2
    return sw2, sb2, d2


def eoc_point(activation: Activation | str, q_star: Any = 1.0, **params: Any) -> EoCPoint:
    r"""The EoC point :math:`(\sigma_w^2, \sigma_b^2)` with :math:`\chi_1 = 1` and :math:`V(q^*) = q^*`.

    Broadcasts over ``q_star`` and the activation parameters.

    Raises
    ------
    ValueError
        If :math:`\chi_1 = 1` is unreachable (:math:`\phi' = 0` almost surely) or the
        required :math:`\sigma_b^2` is negative (no EoC point at that :math:`q^*`).

    Examples
    --------
    >>> from eoctheory.theory.eoc import eoc_point
    >>> p = eoc_point("plain_relu", q_star=2.0)
    >>> float(p.sigma_w2), float(p.sigma_b2)
    (2.0, 0.0)
    """
    act = get_activation(activation)
    q = _check_q_star(q_star)
    sw2, sb2, d2 = _eoc_arrays(act, q, params)
    if np.any(~(d2 > 0)):
        raise ValueError(f"chi_1 = 1 is unreachable for {act.name!r} at this q_star: "
                         "E[phi'^2] = 0 (the activation is flat where the inputs fall)")
    # sigma_b^2 below zero by more than round-off: no EoC point exists at that q*
    tol = 1e-12 * np.maximum(q, sw2 * maps.second_moment(act, q, **params))
    if np.any(sb2 < -tol):
        i = np.argmax(np.ravel(sb2 < -tol))
        raise ValueError(
            f"no Edge-of-Chaos point for {act.name!r} at q_star = "
            f"{float(np.ravel(np.broadcast_to(q, sb2.shape))[i]):.6g}: it needs "
            f"sigma_b2 = {float(np.ravel(sb2)[i]):.6g} < 0 (sigma_b2 must be >= 0)")
    sb2 = np.maximum(sb2, 0.0)
    vp = maps.second_moment_derivative(act, q, 1, **params) * sw2
    vpp = maps.second_moment_derivative(act, q, 2, **params) * sw2
    s = maps.sparsity(act, q, **params)
    full = dict(act.values)
    full.update(params)
    # numpy.float64 for scalar inputs, arrays otherwise (the convention of engine.maps)
    q, sw2, sb2 = (np.asarray(v, dtype=float)[()] for v in (q, sw2, sb2))
    return EoCPoint(q, sw2, sb2, vp, vpp, s, full)


def eoc_curve(activation: Activation | str, q_star: Any = None,
              **params: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""The EoC curve :math:`\{(\sigma_b^2(q^*), \sigma_w^2(q^*))\}` (Figure 8).

    Parameters
    ----------
    q_star : array_like, optional
        Fixed-point variances to trace (default: 200 points from 1e-3 to 1e2).

    Returns
    -------
    sigma_b2, sigma_w2, q_star : ndarray
        Only the points where an EoC point exists (:math:`\sigma_b^2 \ge 0`); ``q_star``
        says which. Parameters stay fixed along the curve (so the sparsity varies with
        :math:`q^*` for a fixed :math:`\tau`).
    """
    act = get_activation(activation)
    q = _check_q_star(np.geomspace(1e-3, 1e2, 200) if q_star is None else q_star)
    sw2, sb2, d2 = _eoc_arrays(act, q, params)
    ok = (d2 > 0) & (sb2 >= -1e-12 * q)
    qb = np.broadcast_to(q, sb2.shape)
    return np.maximum(sb2[ok], 0.0), sw2[ok], qb[ok]


def eoc_slope(activation: Activation | str, q_star: Any = 1.0, **params: Any) -> np.ndarray:
    r""":math:`V'(q^*)` on the EoC: :math:`\tfrac{d}{dq}\mathbb{E}[\phi^2] / \mathbb{E}[\phi'^2]` at :math:`q^*` (eq. 17)."""
    q = _check_q_star(q_star)
    return (maps.second_moment_derivative(activation, q, 1, **params)
            / maps.slope_moment(activation, q, **params))


def eoc_curvature(activation: Activation | str, q_star: Any = 1.0, **params: Any) -> np.ndarray:
    r""":math:`V''(q^*)` on the EoC: :math:`\tfrac{d^2}{dq^2}\mathbb{E}[\phi^2] / \mathbb{E}[\phi'^2]` at :math:`q^*`."""
    q = _check_q_star(q_star)
    return (maps.second_moment_derivative(activation, q, 2, **params)
            / maps.slope_moment(activation, q, **params))


@dataclass(frozen=True)
class SlopeSolution(SlopeAliases):
    r"""Result of :func:`m_for_slope`: arrays broadcast over (sparsity, target, q*).

    ``m`` is the chosen solution; ``n_solutions`` counts every :math:`m` in the search range
    that reaches the target and ``other_m`` (an object array of 1-d float arrays) lists the
    ones not chosen.
    """

    m: np.ndarray
    tau: np.ndarray
    sparsity: np.ndarray
    q_star: np.ndarray
    target: np.ndarray
    sigma_w2: np.ndarray
    sigma_b2: np.ndarray
    variance_slope: np.ndarray
    variance_curvature: np.ndarray
    n_solutions: np.ndarray
    other_m: np.ndarray


_M_GRID = np.geomspace(1e-3, 1e2, 121)  # m / sqrt(q*): 0.001 to 100 standard deviations


def _sign_changes(F: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(row, column) of every bracket [j, j+1] of each row of ``F`` holding a root once.

    A sign change inside a bracket counts, and so does a zero at its right end (or at the
    first column), so that a root on a grid point is counted exactly once.
    """
    s = np.sign(F)
    change = (s[:, :-1] * s[:, 1:] < 0) | ((s[:, 1:] == 0) & (s[:, :-1] != 0))
    change[:, 0] |= s[:, 0] == 0
    return np.nonzero(change)


def m_for_slope(activation: Activation | str, target_slope: Any, *, sparsity: Any = None,
                tau: Any = None, q_star: Any = 1.0) -> SlopeSolution:
    r"""The clipping height :math:`m` at which :math:`V'(q^*) = ` ``target_slope`` on the EoC.

    This is how the paper picks :math:`m` (Sec. 3.1, Figure 3). The threshold comes from
    ``sparsity`` (via :func:`tau_from_sparsity` at :math:`q^*`) or is given as ``tau``.
    Everything broadcasts, so a whole table of (sparsity, target) pairs is one call.

    For the paper's activations :math:`V'(q^*)` increases with :math:`m` from 0 towards 1 and
    the solution is unique. A user's activation need not be monotone in :math:`m`: every
    solution with :math:`m/\sqrt{q^*}` in :math:`[10^{-3}, 10^{2}]` is found (sign changes on
    a 121-point logarithmic grid, then Illinois to round-off), and the rule is: **the
    smallest** :math:`m` **on a branch where** :math:`V'(q^*)` **increases with** :math:`m`
    (the paper's regime, where a larger :math:`m` means a more expressive activation), or the
    smallest :math:`m` if no branch increases. ``n_solutions`` and ``other_m`` say when there
    were several.

    Returns
    -------
    SlopeSolution
        ``m``, ``tau``, ``sigma_w2``, ``sigma_b2``, ``variance_slope`` (equal to the target to
        ~1e-13), ``variance_curvature`` (:math:`V''(q^*)`), ``n_solutions``, ``other_m`` ...

    Raises
    ------
    ValueError
        If the activation has no parameter ``m``, or a target is outside the attainable
        range (stated in the message).

    Examples
    --------
    >>> import numpy as np
    >>> from eoctheory.theory.eoc import m_for_slope
    >>> sol = m_for_slope("cst", np.array([0.5, 0.7, 0.9]), sparsity=0.85)
    >>> bool(np.all(np.diff(sol.m) > 0)), sol.n_solutions.tolist()
    (True, [1, 1, 1])
    """
    act = get_activation(activation)
    if "m" not in act.param_names:
        raise ValueError(f"activation {act.name!r} has no clipping parameter m "
                         f"(it has {list(act.param_names) or 'no parameters'})")
    if (sparsity is None) == (tau is None) and "tau" in act.param_names:
        raise ValueError("give exactly one of sparsity or tau")
    t = np.asarray(target_slope, dtype=float)
    if not np.all(np.isfinite(t)):
        raise ValueError("target_slope must be finite")
    q = _check_q_star(q_star)
    if "tau" not in act.param_names:
        if sparsity is not None or tau is not None:
            raise ValueError(f"activation {act.name!r} has no threshold tau: drop sparsity/tau")
        tau_arr = np.asarray(0.0)
    elif sparsity is not None:
        s_arr = _check_sparsity(sparsity)
        tau_arr = np.asarray(tau_from_sparsity(act, s_arr, q), dtype=float)
    else:
        tau_arr = act.params[act.param_names.index("tau")].check(tau)
    has_tau = "tau" in act.param_names
    shape = np.broadcast_shapes(t.shape, q.shape, tau_arr.shape)
    tf = np.broadcast_to(t, shape).ravel()
    qf = np.broadcast_to(q, shape).ravel()
    tauf = np.broadcast_to(tau_arr, shape).ravel()
    sq = np.sqrt(qf)

    def slope(qq, tt, m):
        return eoc_slope(act, qq, m=m, **({"tau": tt} if has_tau else {}))

    mg = sq[:, None] * _M_GRID[None, :]
    with np.errstate(all="ignore"):
        F = slope(qf[:, None], tauf[:, None], mg) - tf[:, None]
    rows_b, cols_b = _sign_changes(np.where(np.isfinite(F), F, np.nan))
    n_sol = np.bincount(rows_b, minlength=len(tf))
    if np.any(n_sol == 0):
        k = int(np.argmax(n_sol == 0))
        vals = F[k][np.isfinite(F[k])] + tf[k]
        lo, hi = (float(vals.min()), float(vals.max())) if vals.size else (math.nan, math.nan)
        raise ValueError(
            f"target_slope {tf[k]:.6g} is not attainable for {act.name!r} at tau = "
            f"{tauf[k]:.6g}, q_star = {qf[k]:.6g}: V'(q*) on the EoC ranges over "
            f"[{lo:.6g}, {hi:.6g}] for m in [{mg[k, 0]:.3g}, {mg[k, -1]:.3g}]")
    r_, c_ = rows_b, cols_b
    c1 = np.minimum(c_ + 1, mg.shape[1] - 1)
    lm = illinois(lambda lm: slope(qf[r_], tauf[r_], np.exp(lm)) - tf[r_],
                  np.log(mg[r_, c_]), np.log(mg[r_, c1]), F[r_, c_], F[r_, c1], xtol=1e-15)
    m_all = np.exp(lm)
    rising = F[r_, c1] > F[r_, c_]
    # per row: the smallest m on a rising branch, else the smallest m
    m_pick = np.empty(len(tf))
    others = np.empty(len(tf), dtype=object)
    for k in range(len(tf)):  # one entry per row; the solves above are vectorised
        sel = r_ == k
        mk, rk = m_all[sel], rising[sel]
        pick = mk[rk].min() if rk.any() else mk.min()
        m_pick[k] = pick
        others[k] = np.sort(mk[mk != pick])
    m = m_pick
    kw = {"tau": tauf} if has_tau else {}
    pt = eoc_point(act, qf, m=m, **kw)
    r = lambda a: np.asarray(a).reshape(shape)  # noqa: E731
    s_out = maps.sparsity(act, qf, m=m, **kw)
    return SlopeSolution(r(m), r(tauf), r(s_out), r(qf), r(tf), r(pt.sigma_w2), r(pt.sigma_b2),
                         r(pt.variance_slope), r(pt.variance_curvature), r(n_sol), others.reshape(shape))
