r"""Fixed points of the variance map, their stability, saddle-node bifurcations, a verdict.

A fixed point :math:`q` of :math:`V` (THEORY.md §2) is

* **stable** if :math:`|V'(q)| < 1` (iterates converge at rate :math:`1 - V'(q)`),
* **unstable** if :math:`|V'(q)| > 1`,
* **semi-stable** (tangent) if :math:`V'(q) = 1`: attracting from one side only; with
  :math:`V''(q) > 0` from below (ReLU_tau and ST_tau on the EoC, Sec. 2).

Fixed points are found on a dense logarithmic grid by first locating the critical points
of :math:`F(q) = V(q) - q` (roots of :math:`V' - 1`), so that :math:`F` is monotone between
consecutive ones and a pair of close roots cannot hide inside a grid cell; each root is then
polished and *verified in mpmath* at ``dps`` digits: the residual must vanish to
:math:`10^{-\mathrm{dps}+5} q` and the root must agree with a second solve at
``dps + 15`` digits to ``dps - 5`` digits (fewer by :math:`\log_{10}(1/|V'(q)-1|)` for a
root of a near-tangent pair, which is that much worse conditioned). Tolerances are relative
to q, so the same holds for q* from 1e-100 to 1e100. A tangent fixed point (ReLU_tau and
ST_tau on the EoC) is reported where :math:`\min|V(q)-q|` is below the resolution of the
float64 parameters or of the search (see ``_TOUCH_SEP``).

A saddle-node bifurcation in a family (vary ``m``, ``tau`` or ``q_star`` along the EoC) is
where :math:`V(q) = q` and :math:`V'(q) = 1` hold together away from :math:`q^*`
(Sec. 3.1, Figure 4); :func:`saddle_node` finds it and verifies it the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Callable

import mpmath
import numpy as np
import sympy as sp

from eoctheory.engine import maps
from eoctheory.engine.roots import illinois
from eoctheory.engine.activations import Activation, get_activation
from eoctheory.theory.eoc import eoc_point, tau_from_sparsity
from eoctheory.engine.gaussian import MPMATH_FUNCTIONS, NotPiecewisePolynomial

__all__ = [
    "FixedPoint",
    "Bifurcation",
    "StabilityReport",
    "fixed_points",
    "saddle_node",
    "assess",
    "GRADIENT_FRACTION_NOTE",
    "gradient_fraction",
    "VERDICT_RULE",
]


@dataclass(frozen=True)
class FixedPoint:
    """A verified fixed point of the variance map.

    ``q`` (float), ``q_mp`` (the mpmath root, as a string of ``dps`` digits), ``V_prime``,
    ``V_second``, ``kind`` ('stable', 'unstable', 'semi-stable'), ``residual``
    (:math:`|V(q)-q|` at ``dps`` digits) and ``digits`` (agreement of the two solves).
    """

    q: float
    V_prime: float
    V_second: float
    kind: str
    q_mp: str = ""
    residual: float = 0.0
    digits: float = 0.0

    def as_dict(self) -> dict:
        return {"q": self.q, "V_prime": self.V_prime, "V_second": self.V_second,
                "kind": self.kind, "residual": self.residual, "digits": self.digits}


# --- mpmath closed forms --------------------------------------------------------------------

@lru_cache(maxsize=64)
def _mp_closed(expr: sp.Expr, symbols: tuple) -> dict:
    der = maps.derive_expr(expr, symbols)
    args = (maps.Q, *symbols)
    mods = [MPMATH_FUNCTIONS, "mpmath"]
    out = {}
    for name in ("second_moment", "second_moment_d1", "second_moment_d2", "slope_moment"):
        e = getattr(der, name)
        out[name] = None if e is None else sp.lambdify(args, e, modules=mods)
    return out


class _MPMap:
    r"""V, V', V'' at arbitrary precision: closed form if derivable, else the quadrature oracle.

    The closed forms subtract nearly equal terms on a short piece (a clipping window
    :math:`w = m/\sqrt q` loses about :math:`3\log_{10}(1/w)` digits), so they are evaluated
    with that many guard digits on top of the caller's precision.
    """

    def __init__(self, act: Activation, params: dict):
        self.act = act
        self.params = {**act.values, **params}
        self.fns = None
        self.widths: list = []
        if act.expr is not None:
            try:
                der = maps.derive(act)
                if der.params == act.symbols:
                    self.fns = _mp_closed(act.expr, act.symbols)
                    self.widths = _mp_widths(act.expr, act.symbols)
            except NotPiecewisePolynomial:
                pass

    def _pv(self):
        return [mpmath.mpf(self.params[p.name]) for p in self.act.params]

    def _guard(self, q) -> int:
        wmin = mpmath.mpf(1)
        for w in self.widths:
            wq = abs(w(*self._pv())) / mpmath.sqrt(q)
            if 0 < wq < wmin:
                wmin = wq
        return 10 + int(3 * mpmath.ceil(-mpmath.log10(wmin)))

    def E(self, name: str, q):
        if self.fns is not None:
            dps = mpmath.mp.dps
            with mpmath.workdps(dps + self._guard(q)):
                v = self.fns[name](mpmath.mpf(q), *self._pv())
            with mpmath.workdps(dps):
                return +v
        from eoctheory.engine import precise

        dps = mpmath.mp.dps
        kw = {k: float(v) for k, v in self.params.items()}
        if name == "second_moment":
            return precise.second_moment(self.act, q, dps, **kw)
        if name == "slope_moment":
            return precise.slope_moment(self.act, q, dps, **kw)
        return precise.second_moment_derivative(self.act, q, int(name[-1]), dps, **kw)


@lru_cache(maxsize=64)
def _mp_widths(expr: sp.Expr, symbols: tuple) -> list:
    """Widths hi - lo (x units) of the finite pieces, as mpmath functions of the parameters."""
    der = maps.derive_expr(expr, symbols)
    return [sp.lambdify(symbols, sp.expand(p.hi - p.lo), modules="mpmath")
            for p in der.pieces if p.lo.is_finite and p.hi.is_finite]


def _classify(vp: float, vpp: float, tangent: bool) -> str:
    if tangent or abs(vp - 1) < 1e-9:
        return "semi-stable"
    return "stable" if abs(vp) < 1 else "unstable"


def _verify_root(F, q0, dps: int, tangent: bool = False, dF=None):
    """Solve at dps and dps+15 digits; return (root at dps, residual, digits agreed).

    mpmath's ``findroot`` stops when its step is below ``tol * max(1, |q|)``: absolute for
    q < 1, so ``tol`` is scaled by ``min(1, q0)`` to keep the same relative precision for
    every q from 1e-100 up. The second solve first tries a bracket of relative width
    ``10**(8 - dps)`` around the first root: a sign change there, at ``dps + 15`` digits, is
    itself the proof that the two agree (and saves most of the iterations).
    """
    roots = []
    g = dF if tangent else F
    for d in (dps, dps + 15):
        with mpmath.workdps(d):
            q0m = mpmath.mpf(q0) if not roots else roots[0]
            tol = mpmath.mpf(10) ** (-d + 3) * min(mpmath.mpf(1), q0m)
            r = None
            rels = (1e-12, 1e-9, 1e-6) if not roots else (10.0 ** (8 - dps), 1e-12, 1e-9, 1e-6)
            for rel in rels:  # a bracket keeps the solver inside q > 0
                a, b = q0m * (1 - rel), q0m * (1 + rel)
                if g(a) * g(b) < 0:
                    r = mpmath.findroot(g, (a, b), solver="anderson", tol=tol, maxsteps=400,
                                        verify=False)
                    break
            if r is None:
                r = mpmath.findroot(g, q0m, solver="secant", tol=tol, maxsteps=200,
                                    verify=False)
            roots.append(r)
    return _agreement(F, roots, dps)


def _agreement(F: Callable, roots: list, dps: int) -> tuple:
    """(root at ``dps`` digits, |F(root)|, digits on which the roots at ``dps`` and
    ``dps + 15`` digits agree)."""
    with mpmath.workdps(dps + 15):
        r1, r2 = roots
        agree = abs(r1 - r2) / abs(r2)
        digits = float(-mpmath.log10(agree)) if agree > 0 else float(dps + 15)
    with mpmath.workdps(dps):
        res = abs(F(r1))
    return r1, float(res), digits


def fixed_points(activation: Activation | str, sigma_w2: float, sigma_b2: float, *,
                 q_max: float | None = None, dps: int = 30, verify: bool = True,
                 grid: int = 4000, **params: Any) -> list[FixedPoint]:
    r"""Every fixed point :math:`V(q) = q` on :math:`(0, Q]`, classified and verified.

    Parameters
    ----------
    activation : Activation or str
    sigma_w2, sigma_b2 : float
        The initialisation.
    q_max : float, optional
        Upper end :math:`Q` of the search (default: 100 times the larger of 1,
        :math:`\sigma_b^2` and :math:`V(1)`).
    dps : int, default 30
        Digits for the mpmath verification (>= 30 recommended).
    verify : bool, default True
        Polish and verify every root in mpmath (raises RuntimeError if one fails).
    grid : int, default 4000
        Points of the logarithmic search grid.

    Examples
    --------
    >>> from eoctheory.theory.stability import fixed_points
    >>> [(round(fp.q, 12), fp.kind) for fp in fixed_points("identity", 0.5, 1.0)]
    [(2.0, 'stable')]
    """
    act = get_activation(activation)
    sw2, sb2 = float(sigma_w2), float(sigma_b2)
    maps.check_sigma(sw2, "sigma_w2", True)
    maps.check_sigma(sb2, "sigma_b2", False)
    act.resolve(params)
    if q_max is None:
        q_max = 100 * max(1.0, sb2, float(maps.variance_map(act, 1.0, sw2, sb2, **params)))
    q_max = float(maps.check_variance(min(q_max, maps.Q_MAX), "q_max"))
    qs = np.geomspace(max(q_max * 1e-9, maps.Q_MIN), q_max, grid)
    dF = maps.variance_slope(act, qs, sw2, **params) - 1.0

    # critical points of F: sign changes of V' - 1, polished
    s = np.sign(dF)
    idx = np.nonzero(s[:-1] * s[1:] < 0)[0]
    crit = np.array([])
    if idx.size:
        crit = illinois(lambda q: maps.variance_slope(act, q, sw2, **params) - 1.0,
                        qs[idx], qs[idx + 1], dF[idx], dF[idx + 1])
    edges = np.concatenate([[qs[0]], crit, [qs[-1]]])
    Fe = maps.variance_map(act, edges, sw2, sb2, **params) - edges
    cands: list[tuple[float, bool]] = []
    scale = np.maximum(edges, np.abs(Fe + edges))  # the size of q and V(q)
    for k in range(len(edges) - 1):
        a, b, fa, fb = edges[k], edges[k + 1], Fe[k], Fe[k + 1]
        if fa * fb < 0:
            r = illinois(lambda q: maps.variance_map(act, q, sw2, sb2, **params) - q,
                         np.array([a]), np.array([b]), np.array([fa]), np.array([fb]))
            cands.append((float(r[0]), False))
    for k in range(1, len(edges) - 1):  # touching zero at a critical point: tangent root
        if abs(Fe[k]) <= 1e-10 * scale[k]:
            cands.append((float(edges[k]), True))
    # a root on an end of the grid (q* at the end of the maps' range), unless V(q) = q on
    # the next grid point too (ReLU_0 on the EoC, the identity: a continuum, not a point)
    inner = qs[[1, -2]]
    F_in = maps.variance_map(act, inner, sw2, sb2, **params) - inner
    for k, d, fi, qi in ((0, dF[0], F_in[0], inner[0]), (len(edges) - 1, dF[-1], F_in[1],
                                                         inner[1])):
        if abs(Fe[k]) <= 1e-10 * scale[k] and abs(fi) > 1e-10 * qi:
            cands.append((float(edges[k]), bool(abs(d) < 1e-6)))
    cands.sort()
    # a tangent candidate next to an ordinary root is the same root seen twice
    merged: list[tuple[float, bool]] = []
    for q0, tan in cands:
        if merged and abs(q0 - merged[-1][0]) <= 1e-6 * q0:
            merged[-1] = (merged[-1][0], merged[-1][1] or tan)
            continue
        merged.append((q0, tan))

    out: list[FixedPoint] = []
    mpm = _MPMap(act, params) if verify else None
    if mpm is not None and mpm.fns is None and merged and \
            not _ORACLE_RANGE[0] <= merged[0][0] <= merged[-1][0] <= _ORACLE_RANGE[1]:
        raise ValueError(
            f"fixed points of {act.name!r} near q = {merged[-1][0]:.3g} cannot be verified: "
            "without a closed form the mpmath quadrature needs q in [1e-20, 1e20] (beyond, "
            "the digits its integrals cancel make it take minutes); pass verify=False")
    for q0, tan in merged:
        vp = float(maps.variance_slope(act, q0, sw2, **params))
        vpp = float(maps.variance_curvature(act, q0, sw2, **params))
        if not verify:
            out.append(FixedPoint(q0, vp, vpp, _classify(vp, vpp, tan)))
            continue
        out.extend(_verified(mpm, sw2, sb2, q0, tan, dps, slope=vp - 1.0))
    return _merge_tangent(out, mpm, sw2, sb2, dps) if verify else out


def _merge_tangent(fps: list[FixedPoint], mpm, sw2, sb2, dps) -> list[FixedPoint]:
    """Two roots closer than 1e-6 q with V' on both sides of 1 are one tangent root.

    With float64 parameters (an EoC point is only known to ~1e-16) an exactly tangent
    map such as ReLU_tau on the EoC becomes two roots ~sqrt(1e-16) apart or none; they are
    indistinguishable in practice and are reported as one semi-stable fixed point.
    """
    out: list[FixedPoint] = []
    for f in sorted(fps, key=lambda p: p.q):
        if out and abs(f.q - out[-1].q) <= 1e-12 * f.q:  # one root reached from two sides
            if f.kind == "semi-stable":
                out[-1] = f
            continue
        if out and abs(f.q - out[-1].q) <= 1e-6 * f.q and \
                (out[-1].V_prime - 1) * (f.V_prime - 1) <= 0:
            prev = out.pop()
            out.extend(_verified(mpm, sw2, sb2, 0.5 * (prev.q + f.q), True, dps,
                                 force_tangent=True))
            continue
        out.append(f)
    return out


#: Fixed points of activations without a closed form are verified with the quadrature
#: oracle, whose cost grows with the digits its integrals cancel (GELU at q = 1e-10: 50 s;
#: at 1e100: many minutes): refused outside this range (verify=False still works).
_ORACLE_RANGE = (1e-20, 1e20)

#: A tangent fixed point is reported where the minimum of |V(q) - q| is below the
#: resolution of the search: V''(q) (1e-6 q)^2 / 8, the depth at which two roots closer than
#: 1e-6 q (merged into one tangent root, see _merge_tangent) would lie, or 8 eps
#: (sigma_w^2 E[phi^2] + sigma_b^2), what float64 parameters resolve. ReLU_tau and ST_tau on
#: the EoC touch the identity exactly at q*; their parameters, rounded to float64, leave a
#: gap of a few eps q* or a pair of roots ~1e-8 q* apart, at random.
_TOUCH_SEP = 1e-6
_TOUCH_EPS = 8 * 2.0**-52


def _solve_bracket(F, lo, hi, dps: int):
    """The root of F in [lo, hi] (a sign change) at dps and dps + 15 digits, and agreement."""
    roots = []
    for d in (dps, dps + 15):
        with mpmath.workdps(d):
            lo_, hi_ = mpmath.mpf(lo), mpmath.mpf(hi)
            tol = mpmath.mpf(10) ** (-d + 3) * min(mpmath.mpf(1), lo_)
            roots.append(mpmath.findroot(F, (lo_, hi_), solver="anderson", tol=tol,
                                         maxsteps=400, verify=False))
    return _agreement(F, roots, dps)


def _newton_roots(F: Callable, q0: float, slope: float, dps: int,
                  slopes: Callable | None = None, maxit: int = 8) -> list | None:
    r"""Roots of ``F`` at ``dps`` and ``dps + 15`` digits by chord steps
    :math:`q \leftarrow q - F(q)/s` with the float64 slope :math:`s = V'(q_0) - 1`.

    :math:`s` is accurate to about 1e-13 relative, so each step multiplies the error by about
    that much; from the first iterate on, where ``slopes`` is given, the steps use the
    mpmath :math:`V'(q) - 1` at that iterate (``slopes(q)[0] - 1``, 20 digits, reported
    with the root), which multiplies the error by about 1e-20. So three evaluations of
    ``F`` at ``dps`` digits and two at ``dps + 15`` (starting from the root at ``dps``)
    suffice; the last one at ``dps`` is the residual that :func:`_agreement` reports. An
    iterate is accepted when the step it would take next, :math:`|F(q)/s|`, is at most
    :math:`10^{-d} q` at ``d`` digits (1000 times tighter than :func:`_verify_root`'s
    tolerance, which its superlinear solvers overshoot by about as much); the two roots are
    then checked against each other and the residual at ``dps`` digits as before
    (:func:`_agreement`). Returns None
    (the caller falls back to :func:`_verify_root`) if :math:`|s| < 10^{-6}` (a near-tangent
    root, where the chord is slow), an iterate leaves :math:`q > 0`, or ``maxit`` steps do
    not converge.
    """
    if not (np.isfinite(slope) and abs(slope) >= 1e-6 and q0 > 0):
        return None
    roots = []
    r = mpmath.mpf(q0)
    s = mpmath.mpf(slope)
    for d in (dps, dps + 15):
        with mpmath.workdps(d):
            for _ in range(maxit):
                step = F(r) / s
                if abs(step) <= mpmath.mpf(10) ** -d * r:
                    break
                r = r - step
                if r <= 0:
                    return None
                if slopes is not None and s == slope:  # from the first iterate on: mpmath
                    s = slopes(r)[0] - 1
                    if not abs(s) >= 1e-6:
                        return None
            else:
                return None
            roots.append(r)
    return roots


#: Digits of the mpmath V'(q) and V''(q) reported with a fixed point (as float64, which
#: needs 17): at ``dps`` = 30 the quadrature oracle then works at the same precision as the
#: residual's, and reuses its activation values (``precise._PHI_MEMO``).
_REPORT_DPS = 20


def _verified(mpm: _MPMap, sw2: float, sb2: float, q0: float, tangent: bool,
              dps: int, force_tangent: bool = False,
              slope: float | None = None) -> list[FixedPoint]:
    memo: dict = {}

    def F(q):  # memoised: the last chord iterate's value is the residual _agreement reports
        key = (q, mpmath.mp.prec)
        if key not in memo:
            memo[key] = mpmath.mpf(sw2) * mpm.E("second_moment", q) + mpmath.mpf(sb2) - q
        return memo[key]

    def dF(q):
        return mpmath.mpf(sw2) * mpm.E("second_moment_d1", q) - 1

    def slopes(r):  # V'(r), V''(r) at _REPORT_DPS digits, memoised (per r to 25 digits)
        key = ("slopes", mpmath.nstr(r, _REPORT_DPS + 5))
        if key not in memo:
            with mpmath.workdps(min(dps, _REPORT_DPS)):
                memo[key] = (mpmath.mpf(sw2) * mpm.E("second_moment_d1", r),
                             mpmath.mpf(sw2) * mpm.E("second_moment_d2", r))
        return memo[key]

    def fp_from(r, res, digits, tan, vs=None):
        vp, vpp = map(float, vs or slopes(r))
        with mpmath.workdps(dps):
            q_mp = mpmath.nstr(r, dps)
        return FixedPoint(float(r), vp, vpp, _classify(vp, vpp, tan), q_mp, res, digits)

    def check(r, res, digits):
        # residual relative to q (V(q) = q there); digits: agreement of the two solves, of
        # which a root with |V'(q) - 1| = d small loses log10(1/d) (a near-tangent pair)
        vs = slopes(r)
        kappa = max(1.0, 1.0 / max(float(abs(vs[0] - 1)), 1e-300))
        if res > tol_res * float(r) or digits < dps - 5 - np.log10(kappa):
            raise RuntimeError(f"fixed point near q = {q0:.6g} failed mpmath verification "
                               f"(residual {res:.2e} at q = {float(r):.6g}, {digits:.1f} "
                               "digits)")
        return vs

    tol_res = 10.0 ** (-dps + 5)
    if not tangent:
        roots = None if slope is None else _newton_roots(F, q0, slope, dps, slopes)
        r, res, digits = _verify_root(F, q0, dps) if roots is None else \
            _agreement(F, roots, dps)
        return [fp_from(r, res, digits, False, check(r, res, digits))]
    # tangent candidate: locate the extremum of F precisely, then decide at high precision
    r, _, digits = _verify_root(F, q0, dps, tangent=True, dF=dF)
    with mpmath.workdps(dps + 15):
        fr = F(r)
        touch = max(_TOUCH_EPS * (abs(mpmath.mpf(sw2) * mpm.E("second_moment", r))
                                  + mpmath.mpf(sb2)),
                    abs(mpmath.mpf(sw2) * mpm.E("second_moment_d2", r)) * (_TOUCH_SEP * r) ** 2
                    / 8)
    if force_tangent or abs(fr) <= max(touch, tol_res * r):
        return [fp_from(r, float(abs(fr)), digits, True)]
    # not touching: either no root near r or two close roots around it
    found = []
    with mpmath.workdps(dps + 15):
        for sgn in (-1, 1):
            step = mpmath.mpf(10) ** (-9) * r
            for _ in range(60):
                other = r + sgn * step
                if other <= 0 or step > r:
                    break
                if F(other) * fr < 0:
                    found.append((min(r, other), max(r, other)))
                    break
                step *= 2
    out = []
    for lo, hi in found:
        rr, res, dig = _solve_bracket(F, lo, hi, dps)
        out.append(fp_from(rr, res, dig, False, check(rr, res, dig)))
    return out


# --- bifurcations ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Bifurcation:
    """A saddle-node: at ``vary`` = ``value`` a pair of fixed points is born at ``q``.

    ``digits`` is the agreement of the mpmath solves at ``dps`` and ``dps + 15`` digits;
    ``residual`` the larger of :math:`|V(q)-q|` and :math:`|V'(q)-1|` there.
    """

    vary: str
    value: float
    q: float
    value_mp: str
    q_mp: str
    residual: float
    digits: float
    sigma_w2: float
    sigma_b2: float
    params: dict = field(default_factory=dict)


def _family(act: Activation, vary: str, q_star: float, fixed: dict):
    """p -> (q_star, params) along the EoC family."""
    def at(p):
        params = dict(fixed)
        qs = q_star
        if vary == "q_star":
            qs = p
        else:
            params[vary] = p
        return qs, params
    return at


def saddle_node(activation: Activation | str, vary: str = "m", *, bracket: tuple[float, float],
                q_star: float = 1.0, sparsity: float | None = None, dps: int = 30,
                q_max: float | None = None, **params: Any) -> Bifurcation:
    r"""The parameter value at which a saddle-node creates two new fixed points on the EoC.

    Along the family (``vary`` one of ``'m'``, ``'tau'``, ``'q_star'``; the network is put
    on the EoC at :math:`q^*` for every value), the number of fixed points of :math:`V`
    changes where :math:`V(q) = q` and :math:`V'(q) = 1` hold together. The count is
    bracketed in ``bracket`` and bisected in float64, then the pair
    :math:`(q_c, p_c)` is solved as a 2x2 system in mpmath at ``dps`` and ``dps + 15``
    digits and checked (residual and agreement).

    Parameters
    ----------
    sparsity : float, optional
        Fix :math:`\tau` from this sparsity at :math:`q^*` (for ``vary='m'`` or
        ``'q_star'``).

    Raises
    ------
    ValueError
        If the number of fixed points is the same at both ends of ``bracket``.
    """
    act = get_activation(activation)
    if vary not in ("m", "tau", "q_star"):
        raise ValueError(f"vary must be 'm', 'tau' or 'q_star' (got {vary!r})")
    if vary != "q_star" and vary not in act.param_names:
        raise ValueError(f"activation {act.name!r} has no parameter {vary!r}")
    fixed = dict(params)
    if sparsity is not None:
        fixed["tau"] = float(tau_from_sparsity(act, sparsity, q_star,
                                               **{k: v for k, v in fixed.items() if k != "tau"}
                                               if vary != "m" else {}))
    at = _family(act, vary, q_star, fixed)

    def count(p):
        qs, prm = at(p)
        pt = eoc_point(act, qs, **prm)
        fps = fixed_points(act, float(pt.sigma_w2), float(pt.sigma_b2), verify=False,
                           q_max=q_max, **prm)
        return len(fps), fps, pt

    lo, hi = map(float, bracket)
    n_lo, n_hi = count(lo)[0], count(hi)[0]
    if n_lo == n_hi:
        raise ValueError(f"the number of fixed points is {n_lo} at both ends of bracket "
                         f"{bracket}: no saddle-node detected there")
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if count(mid)[0] == n_lo:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-11 * abs(hi):
            break
    n_new, fps_new, _ = count(hi)
    _, fps_old, _ = count(lo)
    old = [f.q for f in fps_old]
    # the newborn pair: the new points farthest from any old one; start at their midpoint
    newq = sorted(fps_new, key=lambda f: -min(abs(f.q - o) / f.q for o in old) if old else 0)
    pair = sorted(f.q for f in newq[:2]) if len(newq) >= 2 else [newq[0].q, newq[0].q]
    q0 = 0.5 * (pair[0] + pair[1])
    return _verify_bifurcation(act, vary, at, q0, 0.5 * (lo + hi), dps)


def _verify_bifurcation(act, vary, at, q0, p0, dps) -> Bifurcation:
    if act.expr is None:
        raise ValueError("saddle_node needs a symbolic activation")
    der = maps.derive(act)
    if der.params != act.symbols:
        raise ValueError("saddle_node needs symbolically orderable breakpoints")
    fns = _mp_closed(act.expr, act.symbols)
    names = act.param_names

    def system(q, p):
        qs, prm = at(p)
        full = {**act.values, **prm}
        pv = [mpmath.mpf(full[n]) if n != vary else p for n in names]
        qs = mpmath.mpf(qs) if vary != "q_star" else p
        sw2 = 1 / fns["slope_moment"](qs, *pv)
        sb2 = qs - sw2 * fns["second_moment"](qs, *pv)
        return [sw2 * fns["second_moment"](q, *pv) + sb2 - q,
                sw2 * fns["second_moment_d1"](q, *pv) - 1]

    sols = []
    for d in (dps, dps + 15):
        with mpmath.workdps(d):
            sol = mpmath.findroot(lambda q, p: system(q, p), (mpmath.mpf(q0), mpmath.mpf(p0)),
                                  tol=mpmath.mpf(10) ** (-d + 3), maxsteps=200)
            sols.append((sol[0], sol[1]))
    with mpmath.workdps(dps + 15):
        (q1, p1), (q2, p2) = sols
        agree = max(abs(q1 - q2) / abs(q2), abs(p1 - p2) / abs(p2))
        digits = float(-mpmath.log10(agree)) if agree > 0 else float(dps + 15)
    with mpmath.workdps(dps):
        res = float(max(abs(v) for v in system(q1, p1)))
        qn, pn = mpmath.nstr(q1, dps), mpmath.nstr(p1, dps)
    if res > 10.0 ** (-dps + 5) * max(1.0, float(q1)) or digits < dps - 5:
        raise RuntimeError(f"saddle-node failed mpmath verification (residual {res:.2e}, "
                           f"{digits:.1f} digits)")
    qs, prm = at(float(p1))
    pt = eoc_point(act, qs, **prm)
    return Bifurcation(vary, float(p1), float(q1), pn, qn, res, digits, float(pt.sigma_w2),
                       float(pt.sigma_b2), {**act.values, **prm})


# --- the verdict ------------------------------------------------------------------------------

VERDICT_RULE = """\
unstable : V'(q*) >= 1 (q* attracts from one side at most: ReLU_tau/ST_tau on the EoC), or
           V'(q*) <= -1, or q* is not a fixed point, or another fixed point lies within
           a factor 1.5 of q*.
marginal : V'(q*) > 0.85, or V''(q*) q* > 1 with V'(q*) > 0.6 (failure mode 1: V bends up
           towards the identity above q*), or the near-tangent region where
           |V(q) - q| <= 0.01 q* is wider than 0.5 q*, or another fixed point lies within
           a factor 4 of q*, or the sparsity exceeds 0.9 (failure mode 2: slow training).
stable   : otherwise: q* attracts from both sides and the map leaves the identity quickly."""


@dataclass
class StabilityReport:
    """What :func:`assess` found, with the verdict and its reasons."""

    activation: str
    q_star: float
    sigma_w2: float
    sigma_b2: float
    chi1: float
    V_prime: float
    V_second: float
    sparsity: float
    params: dict
    fixed_points: list[FixedPoint]
    tangent_region: tuple[float, float]
    verdict: str
    reasons: list[str]

    @property
    def tangent_width(self) -> float:
        return (self.tangent_region[1] - self.tangent_region[0]) / self.q_star

    def __repr__(self) -> str:
        from eoctheory.display import dataclass_items, short_repr

        shown = ("activation", "params", "verdict", "q_star", "sigma_w2", "sigma_b2",
                 "variance_slope", "V_prime", "sparsity", "fixed_points")
        items = {k: v for k, v in dataclass_items(self).items() if k in shown}
        return short_repr("StabilityReport", items, digits=4,
                          lines=[f"- {r}" for r in self.reasons])

    def _repr_html_(self) -> str:
        from eoctheory.display import dataclass_items, html_table

        return html_table(f"check {self.activation}: {self.verdict}", dataclass_items(self))


def _tangent_region(act, sw2, sb2, q_star, params, tol=0.01):
    qs = q_star * np.geomspace(1e-3, 1e3, 6001)
    qs = qs[(qs >= maps.Q_MIN) & (qs <= maps.Q_MAX)]  # the maps' supported range
    i0 = int(np.argmin(np.abs(np.log(qs / q_star))))
    # the map is evaluated outwards from q* in blocks of 128 grid points until the region
    # ends (most regions span a few dozen points of the 6001)
    F = np.zeros(len(qs), dtype=bool)
    done = np.zeros(len(qs), dtype=bool)

    def inside(i: int) -> bool:
        if not done[i]:
            blk = slice(max(0, i - 63), min(len(qs), i + 65))
            F[blk] = np.abs(maps.variance_map(act, qs[blk], sw2, sb2, **params) - qs[blk]) \
                <= tol * q_star
            done[blk] = True
        return bool(F[i])

    if not inside(i0):
        return (q_star, q_star)
    lo = i0
    while lo > 0 and inside(lo - 1):
        lo -= 1
    hi = i0
    while hi < len(qs) - 1 and inside(hi + 1):
        hi += 1
    return (float(qs[lo]), float(qs[hi]))


#: ``assess`` adds a note when :func:`gradient_fraction` is at most this (the paper's
#: s = 0.85, V'(q*) = 0.5 settings are at 0.115-0.118).
GRADIENT_FRACTION_NOTE = 0.12


def gradient_fraction(activation: Activation | str, q: float = 1.0, **params: Any) -> float:
    r"""Effective fraction of units that pass gradient,
    :math:`f = \mathbb{E}[\phi'^2]^2/\mathbb{E}[\phi'^4]` at :math:`h \sim N(0, q)`.

    For activations whose non-zero slopes are all 1 (ReLU_tau, ST_tau, CReLU, CST) this is
    :math:`P(\phi'(h) \neq 0)`, which on the EoC equals :math:`1/\sigma_w^2`; in general it
    is the participation ratio of the per-unit gradient factors :math:`\phi'(h_i)^2`.

    Examples
    --------
    >>> round(gradient_fraction("plain_relu"), 12)
    0.5
    """
    nu = float(maps.slope_moment(activation, q, **params))
    nu4 = float(maps.slope_moment4(activation, q, **params))
    return nu * nu / nu4 if nu4 > 0 else 0.0


def _scale_free(act: Activation, params: dict) -> bool:
    r""":math:`\phi(cx) = c\,\phi(x)` for :math:`c > 0` at the given parameters (numerically,
    at 41 points and two scales): plain ReLU, identity, ReLU_0."""
    xs = np.linspace(-4.0, 4.0, 41)
    kw = {k: float(v) for k, v in params.items()}
    try:
        base = np.asarray(act(xs, **kw), float)
        return all(np.allclose(np.asarray(act(c * xs, **kw), float), c * base, rtol=1e-12,
                               atol=1e-12) for c in (0.37, 2.9))
    except (TypeError, ValueError):
        return False


def assess(activation: Activation | str, q_star: float = 1.0, *, sigma_w2: float | None = None,
           sigma_b2: float | None = None, dps: int = 30, **params: Any) -> StabilityReport:
    r"""A stability verdict for an initialisation, with reasons (see :data:`VERDICT_RULE`).

    By default the network is put on the EoC at :math:`q^*`; pass ``sigma_w2`` and
    ``sigma_b2`` to judge another point. The rule is a documented heuristic built on the
    paper's Sec. 3.1 analysis; later work calibrates it against simulations.

    Examples
    --------
    >>> from eoctheory.theory.stability import assess
    >>> from eoctheory.theory.eoc import tau_from_sparsity
    >>> assess("relu", tau=float(tau_from_sparsity("relu", 0.7))).verdict
    'unstable'
    """
    act = get_activation(activation)
    q_star = float(maps.check_variance(q_star, "q_star"))
    if (sigma_w2 is None) != (sigma_b2 is None):
        raise ValueError("give both sigma_w2 and sigma_b2, or neither (EoC)")
    if sigma_w2 is None:
        pt = eoc_point(act, q_star, **params)
        sw2, sb2 = float(pt.sigma_w2), float(pt.sigma_b2)
    else:
        sw2, sb2 = float(sigma_w2), float(sigma_b2)
    vq = float(maps.variance_map(act, q_star, sw2, sb2, **params))
    vp = float(maps.variance_slope(act, q_star, sw2, **params))
    vpp = float(maps.variance_curvature(act, q_star, sw2, **params))
    c1 = float(maps.chi1(act, q_star, sw2, **params))
    s = float(maps.sparsity(act, q_star, **params))
    fps = fixed_points(act, sw2, sb2, q_max=min(max(100 * q_star, 100 * sb2), maps.Q_MAX),
                       dps=dps, **params)
    region = _tangent_region(act, sw2, sb2, q_star, params)
    width = (region[1] - region[0]) / q_star
    others = [f for f in fps if abs(f.q - q_star) > 1e-6 * q_star]

    unstable, marginal = [], []
    if abs(vq - q_star) > 1e-9 * q_star:
        unstable.append(f"q* = {q_star:g} is not a fixed point (V(q*) = {vq:.6g})")
    if vp >= 1 - 1e-9:
        unstable.append(f"V'(q*) = {vp:.4g} >= 1: q* attracts from below at most, so "
                        "finite-width fluctuations above q* grow")
    if vp <= -1:
        unstable.append(f"V'(q*) = {vp:.4g} <= -1: oscillating divergence")
    near = [f for f in others if max(f.q / q_star, q_star / f.q) < 1.5]
    if near:
        unstable.append(f"another fixed point at q = {near[0].q:.4g} ({near[0].kind}) lies "
                        f"within a factor 1.5 of q*")
    if vp > 0.85 and vp < 1 - 1e-9:
        marginal.append(f"V'(q*) = {vp:.3g} > 0.85: slow return to q* after a fluctuation")
    if vpp * q_star > 1 and vp > 0.6:
        marginal.append(f"V''(q*) q* = {vpp * q_star:.3g} > 1 with V'(q*) = {vp:.3g}: V bends "
                        "up towards the identity above q*")
    if width > 0.5:
        marginal.append(f"|V(q) - q| <= 0.01 q* on [{region[0]:.3g}, {region[1]:.3g}] "
                        f"(width {width:.2f} q*): the map hugs the identity")
    mid = [f for f in others if max(f.q / q_star, q_star / f.q) < 4 and f not in near]
    if mid:
        marginal.append(f"another fixed point at q = {mid[0].q:.4g} ({mid[0].kind}) lies within "
                        "a factor 4 of q*")
    if s > 0.9:
        marginal.append(f"sparsity {s:.3g} > 0.9: the paper saw slow or unstable training there")
    if _scale_free(act, params) and abs(vp - 1) < 1e-9 and abs(vpp) < 1e-9 * max(1, sw2) \
            and sb2 == 0:
        # phi(cx) = c phi(x) (plain ReLU, identity): V(q) = q for every q, the scale of q
        # changes neither the sparsity nor chi_1, so q drifting is harmless
        verdict = "stable"
        reasons = ["positively homogeneous activation on the EoC: V(q) = q for every q, and "
                   f"the sparsity ({s:.3g}) and chi_1 (= {c1:.4g}) do not depend on q, so a "
                   "drifting q is harmless; at finite width the gradient spread grows like "
                   "exp(c L/N) (give --width and --depth)"]
    elif unstable:
        verdict, reasons = "unstable", unstable + marginal
    elif marginal:
        verdict, reasons = "marginal", marginal
    else:
        verdict = "stable"
        reasons = [f"V'(q*) = {vp:.3g} < 1 and no other fixed point within a factor 4 of q*: "
                   "q* attracts from both sides"]
    f_pass = gradient_fraction(act, q_star, **params)
    if f_pass <= GRADIENT_FRACTION_NOTE:
        reasons.append(
            f"note: gradient passes through an effective {100 * f_pass:.3g}% of units "
            "(E[phi'^2]^2/E[phi'^4]): at width N about N times that per layer; fewer than "
            "40 is the paper's second failure mode (check --width N --depth L)")
    full = dict(act.values)
    full.update({k: float(v) for k, v in params.items()})
    return StabilityReport(act.name, q_star, sw2, sb2, c1, vp, vpp, s, full, fps, region,
                           verdict, reasons)
