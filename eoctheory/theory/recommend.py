r"""Recommendations from the finite-width prediction: the safe clipping height and width.

:func:`recommend` finds the largest clipping height :math:`m` whose predicted risk
(:func:`~eoctheory.theory.finite_width.predicted_risk`: drift of the sparsity or of
:math:`\chi_1` along depth, or a first-to-last gradient ratio beyond ``grad_limit`` either
way) is at most ``margin * risk`` at a given width and depth; :func:`min_width` the smallest
width at which a setting is that safe. The policy is the one of ``check``
(:func:`~eoctheory.theory.finite_width.verdict_of`: "stable" at predicted risk <= ``risk``):
by default (``margin = 0.5``) the pick keeps its predicted risk at most half the acceptable
risk, a margin below the edge of "stable"; ``margin = 1`` gives the edge itself.

Scale covariance
----------------
For a positively homogeneous piecewise-linear activation
(:math:`\phi_{c\tau, cm}(cx) = c\,\phi_{\tau,m}(x)`, true of all four paper activations,
:func:`is_homogeneous`), :math:`(q^*, \tau, m)` with :math:`(\sigma_w^2, \sigma_b^2)` and
:math:`(1, \tau/\sqrt{q^*}, m/\sqrt{q^*})` with :math:`(\sigma_w^2, \sigma_b^2/q^*)` give the
same normalised map :math:`V(q^* y)/q^*`, the same law of :math:`q^l/q^*` at every width,
and the same risk: :math:`q^*` is a gauge for those activations (:func:`normalise`), so
:func:`recommend` searches :math:`m/\sqrt{q^*}` at :math:`q^* = 1` only.

Examples
--------
>>> rec = recommend("crelu", sparsity=0.8, width=300, depth=100)
>>> rec.safe, rec.predicted_risk <= 0.5 * 0.05, rec.verdict
(True, True, 'stable')
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Sequence

import numpy as np

from eoctheory.engine import maps
from eoctheory.engine.activations import Activation, get_activation
from eoctheory.engine.checks import check_int
from eoctheory.limits import check_resources
from eoctheory.theory.eoc import SlopeAliases
from eoctheory.theory.finite_width import (
    GRAD_LIMIT,
    SPAN,
    check_band,
    check_grad_limit,
    estimate_predict,
    predict,
    predicted_risk,
    verdict_of,
)

__all__ = [
    "MARGIN",
    "M_RANGE",
    "Recommendation",
    "check_request",
    "WidthRecommendation",
    "is_homogeneous",
    "min_width",
    "normalise",
    "recommend",
]

# ------------------------------------------------------------------------------------------
# Scale covariance (q* as a knob)
# ------------------------------------------------------------------------------------------
_LENGTH_PARAMS = ("tau", "m")


def is_homogeneous(activation: Activation | str, **params: float) -> bool:
    r"""Whether :math:`\phi_{c\tau,cm}(cx) = c\,\phi_{\tau,m}(x)` for all :math:`c > 0`.

    True for ReLU_tau, ST_tau, CReLU and CST (every length parameter scales with x);
    false for e.g. tanh or HardTanh (a fixed scale). Decided symbolically when possible,
    else numerically at a few points.

    Examples
    --------
    >>> is_homogeneous("cst"), is_homogeneous("hardtanh")
    (True, False)
    """
    act = get_activation(activation)
    if any(n not in _LENGTH_PARAMS for n in act.param_names):
        return False
    xs = np.linspace(-4.0, 4.0, 41)
    vals = {**act.values, **params}
    for c in (0.37, 2.9):
        scaled = {k: c * float(v) for k, v in vals.items()}
        lhs = act(c * xs, **scaled)
        rhs = c * act(xs, **{k: float(v) for k, v in vals.items()})
        if not np.allclose(lhs, rhs, rtol=1e-12, atol=1e-12):
            return False
    return True


def normalise(activation: Activation | str, q_star: float, sigma_w2: float,
              sigma_b2: float, **params: float) -> dict:
    r"""The equivalent setting at :math:`q^* = 1` of a positively homogeneous activation.

    .. math::

        (q^*, \tau, m, \sigma_w^2, \sigma_b^2) \;\to\;
        (1, \tau/\sqrt{q^*}, m/\sqrt{q^*}, \sigma_w^2, \sigma_b^2/q^*),

    under which :math:`V(q^* y)/q^*` is unchanged and :math:`q^l/q^*` has the same law at
    every width (so :func:`predict` gives the same risk).

    Raises
    ------
    ValueError
        If the activation is not positively homogeneous (:func:`is_homogeneous`).

    Examples
    --------
    >>> d = normalise("crelu", 4.0, 2.0, 0.8, tau=1.0, m=3.0)
    >>> d["q_star"], d["tau"], d["m"], d["sigma_w2"], d["sigma_b2"]
    (1.0, 0.5, 1.5, 2.0, 0.2)
    """
    act = get_activation(activation)
    q = float(maps.check_variance(q_star, "q_star"))
    if not is_homogeneous(act, **params):
        raise ValueError(f"activation {act.name!r} is not positively homogeneous: q_star "
                         "is not a gauge for it")
    vals = {**act.values, **params}
    out = {k: float(v) / math.sqrt(q) for k, v in vals.items()}
    out.update(q_star=1.0, sigma_w2=float(sigma_w2), sigma_b2=float(sigma_b2) / q)
    return out


# ------------------------------------------------------------------------------------------
# Recommendation
# ------------------------------------------------------------------------------------------
class _AsDict(SlopeAliases):
    """``to_dict()`` for the result dataclasses: every field, JSON-ready."""

    def to_dict(self) -> dict:
        return asdict(self)

    #: the fields the one-line ``repr`` shows (the HTML table shows every field)
    _SHOWN: tuple[str, ...] = ()

    def _summary(self) -> str:
        """``Name(key fields)`` and the notes, one a line (the subclasses' ``__repr__``)."""
        from eoctheory.display import short_repr

        d = self.to_dict()
        return short_repr(type(self).__name__, {k: d[k] for k in self._SHOWN if k in d},
                          digits=4, lines=[f"note: {n}" for n in self.notes])

    def _repr_html_(self) -> str:
        from eoctheory.display import html_table

        return html_table(f"{type(self).__name__}: {self.activation}, {self.verdict}",
                          self.to_dict())


@dataclass
class Recommendation(_AsDict):
    r"""Result of :func:`recommend`: the most expressive safe clipping height.

    ``m`` is in absolute units at ``q_star``; ``m_normalised`` = :math:`m/\sqrt{q^*}`.
    ``safe`` is True when the pick's predicted risk is at most ``risk_threshold``;
    ``margin_kept`` when it is at most ``margin * risk_threshold`` (the target of the
    search; when no m keeps the margin but some meet the risk, the largest m meeting the
    risk is shown with a note). ``safe`` False: no m on the search range meets the risk;
    the fields describe the least risky m found. ``m_min_safe`` is the smallest m meeting
    the same target as ``m`` (small m is failure mode 2: few active units, noisy gradients).
    ``q_star_gauge`` is True for positively homogeneous activations (any q* works with m
    scaled by sqrt(q*)). ``verdict`` is
    :func:`~eoctheory.theory.finite_width.verdict_of` ``(predicted_risk, risk_threshold)``,
    the verdict ``check`` gives the pick at this width and depth.
    """

    activation: str
    sparsity: float
    width: int
    depth: int
    risk_threshold: float
    margin: float
    safe: bool
    margin_kept: bool
    verdict: str
    q_star: float
    q_star_gauge: bool
    tau: float
    m: float | None
    m_normalised: float | None
    m_min_safe: float | None
    sigma_w2: float
    sigma_b2: float
    variance_slope: float
    variance_curvature: float
    predicted_risk: float
    drift_probability: float
    explosion_probability: float
    vanishing_probability: float
    gradient_ratio_quantiles: dict
    band: float
    grad_limit: float
    notes: list = field(default_factory=list)

    _SHOWN = ("activation", "sparsity", "width", "depth", "verdict", "safe", "tau", "m",
              "sigma_w2", "sigma_b2", "predicted_risk")

    def __repr__(self) -> str:
        return self._summary()

    @property
    def escape_probability(self) -> float:
        """Deprecated name of :attr:`drift_probability`."""
        return self.drift_probability


#: m / sqrt(q*) search range of recommend
M_RANGE = (0.02, 8.0)
#: Default margin: the pick's predicted risk is at most this fraction of the acceptable risk.
MARGIN = 0.5


def _check_margin(margin) -> float:
    mg = float(margin)
    if not 0 < mg <= 1:
        raise ValueError(f"margin must be in (0, 1] (got {margin!r})")
    return mg


def check_request(activation: Activation | str, sparsity: float, risk: float, margin: float,
                  what: str) -> tuple[Activation, float, float, float]:
    """(activation, sparsity, risk, margin) of a ``recommend``/``min_width`` call, checked."""
    act = get_activation(activation)
    if "tau" not in act.param_names:
        raise ValueError(f"activation {act.name!r} has no threshold tau{what}")
    s = float(sparsity)
    if not 0 < s < 1:
        raise ValueError(f"sparsity must be in (0, 1) (got {sparsity!r})")
    rk = float(risk)
    if not 0 < rk < 1:
        raise ValueError(f"risk must be in (0, 1) (got {risk!r})")
    return act, s, rk, _check_margin(margin)


def _finish(act, s, q, N, L, risk, margin, band, g, tau, m, m_lo, gauge,
            notes) -> Recommendation:
    from eoctheory.theory import eoc as E

    kw = {"tau": tau} if m is None else {"tau": tau, "m": m}
    pt = E.eoc_point(act, q, **kw)
    pred = predict(act, width=N, depth=L, q_star=q, band=band, grad_limit=g, **kw)
    d = pred.to_dict()
    return Recommendation(act.name, float(s), N, L, float(risk), float(margin),
                          bool(pred.risk <= risk), bool(pred.risk <= margin * risk),
                          verdict_of(pred.risk, risk), float(q), gauge,
                          float(tau), None if m is None else float(m),
                          None if m is None else float(m) / math.sqrt(q),
                          None if m_lo is None else float(m_lo),
                          float(pt.sigma_w2), float(pt.sigma_b2), float(pt.variance_slope),
                          float(pt.variance_curvature), pred.risk, pred.drift_probability,
                          pred.explosion_probability, pred.vanishing_probability,
                          d["gradient_ratio_quantiles"], band, g, notes)


def _m_grid(act, s, q, N, L, band, g, n_grid=48):
    """(tau, m grid, predicted risk on it): m/sqrt(q) log-spaced over M_RANGE."""
    from eoctheory.theory import eoc as E

    tau = float(E.tau_from_sparsity(act, s, q))
    mg = math.sqrt(q) * np.geomspace(*M_RANGE, n_grid)
    r = predicted_risk(act, width=N, depth=L, q_star=q, tau=tau, m=mg, band=band,
                       grad_limit=g)
    return tau, mg, np.asarray(r, dtype=float)


def _largest_m(act, q, N, L, tau, mg, r, target, band, g):
    """(m_hi, m_lo): the largest and smallest grid m with risk <= target (None, None if
    none); m_hi refined by bisection in log m towards the next grid point."""
    ok = r <= target
    if not ok.any():
        return None, None
    i_hi = int(np.nonzero(ok)[0][-1])
    i_lo = int(np.nonzero(ok)[0][0])
    m_hi = float(mg[i_hi])
    if i_hi + 1 < len(mg):  # bisection in log m between a safe and an unsafe grid point
        a, bb = math.log(mg[i_hi]), math.log(mg[i_hi + 1])
        for _ in range(6):
            c = 0.5 * (a + bb)
            rc = float(predicted_risk(act, width=N, depth=L, q_star=q, tau=tau,
                                      m=math.exp(c), band=band, grad_limit=g))
            a, bb = (c, bb) if rc <= target else (a, c)
        m_hi = math.exp(a)
    return m_hi, float(mg[i_lo])


def recommend(activation: Activation | str, *, sparsity: float, width: int, depth: int,
              risk: float = 0.05, margin: float = MARGIN, q_star: float | None = None,
              band: float = SPAN, grad_limit: float = GRAD_LIMIT,
              q_star_grid: Sequence[float] = (0.25, 0.5, 1.0, 2.0, 4.0)) -> Recommendation:
    r"""The largest clipping height :math:`m` whose predicted risk is at most
    ``margin * risk``.

    For each candidate :math:`m` (:math:`m/\sqrt{q^*}` on a log grid over
    :data:`M_RANGE`, refined by bisection) the EoC point at :math:`q^*` with
    :math:`\tau` from ``sparsity`` is scored by :func:`predicted_risk` (drift of the
    sparsity or :math:`\chi_1` along depth, or :math:`\|\delta^1\|/\|\delta^L\|` outside
    :math:`[1/g, g]`, ``g = grad_limit``). Activations without :math:`m` (ReLU_tau, ST_tau)
    get the risk of the single setting.

    ``margin`` in (0, 1] (default 0.5) keeps the pick below the edge: its predicted risk is
    at most half the acceptable ``risk`` by default, so ``check`` at the same width and depth
    calls it "stable" with room to spare; ``margin=1`` gives the edge (the largest m with
    risk <= ``risk``, at least the default pick). If no m keeps the margin, the largest m
    meeting ``risk`` itself is returned (``margin_kept=False``, with a note); if none meets
    ``risk``, the least risky m (``safe=False``).

    ``q_star=None`` searches :math:`q^*`: for a positively homogeneous activation the risk
    depends on :math:`m/\sqrt{q^*}` only (:func:`normalise`), so the answer is reported at
    :math:`q^* = 1` with ``q_star_gauge=True`` (multiply m and tau by
    :math:`\sqrt{q^*}` for any other); otherwise each :math:`q^*` in ``q_star_grid`` is
    tried and the one allowing the largest :math:`m/\sqrt{q^*}` wins.

    ``band`` (default :data:`~eoctheory.theory.finite_width.SPAN`) is the range
    :math:`[q^*/b, b q^*]` on which the predictor follows :math:`q^l`; the drift criteria and
    the gradient tails, not the band, decide failure.

    Raises
    ------
    ValueError
        Bad sparsity, width, depth, risk or margin; activation without a threshold tau.
    """
    act, s, rk, mgn = check_request(activation, sparsity, risk, margin,
                                     ": recommend sets tau from the sparsity")
    N = check_int(width, "width", 2)
    L = check_int(depth, "depth", 1)
    b = check_band(band)
    g = check_grad_limit(grad_limit)
    gauge = is_homogeneous(act)
    notes: list[str] = []
    if q_star is None:
        if gauge:
            qs_list = [1.0]
            notes.append("q* is a gauge for this positively homogeneous activation: the same "
                         "risk holds at any q* with tau and m multiplied by sqrt(q*)")
        else:
            qs_list = [float(x) for x in q_star_grid]
    else:
        qs_list = [float(maps.check_variance(q_star, "q_star"))]
    has_m = "m" in act.param_names
    m1, o1 = estimate_predict(N, L, band=b, settings=48 if has_m else 1, quantiles=False)
    m2, o2 = estimate_predict(N, L, band=b)
    check_resources(f"recommend(width={N}, depth={L})", nbytes=max(m1, m2),
                    operations=len(qs_list) * o1 + (12 * o1 / 48 if has_m else 0) + o2,
                    hint="lower depth")
    target = mgn * rk
    best = None
    for q in qs_list:
        if has_m:
            tau, mg, r = _m_grid(act, s, q, N, L, b, g)
            # level 2: some m keeps the margin; 1: some m meets the risk; 0: none
            level = 2 if (r <= target).any() else (1 if (r <= rk).any() else 0)
            if level:
                lim = target if level == 2 else rk
                score = (level, float(mg[np.nonzero(r <= lim)[0][-1]]) / math.sqrt(q))
            else:
                score = (0, -float(r.min()))
            cand = (q, tau, mg, r)
        else:
            from eoctheory.theory import eoc as E

            tau = float(E.tau_from_sparsity(act, s, q))
            r0 = float(predicted_risk(act, width=N, depth=L, q_star=q, tau=tau, band=b,
                                      grad_limit=g))
            level = 2 if r0 <= target else (1 if r0 <= rk else 0)
            score = (level, -r0)
            cand = (q, tau, None, None)
        if best is None or score > best[0]:
            best = (score, cand)
    (level, _), (q, tau, mg, r) = best
    m = m_lo = None
    if has_m:
        if level:
            m, m_lo = _largest_m(act, q, N, L, tau, mg, r, target if level == 2 else rk, b, g)
        else:
            m = float(mg[int(np.argmin(r))])
    if level == 1:
        notes.append(f"no m keeps predicted risk <= margin x risk = {target:g}: the largest m "
                     f"meeting risk <= {rk:g} itself is shown (at the edge)" if has_m else
                     f"predicted risk is within risk <= {rk:g} but not within margin x risk "
                     f"= {target:g}")
    elif level == 0:
        notes.append(f"no setting meets risk <= {rk:g} at width {N}, depth {L}: the least "
                     "risky one is shown; see min_width / --m")
    return _finish(act, s, q, N, L, rk, mgn, b, g, tau, m, m_lo, gauge, notes)


@dataclass
class WidthRecommendation(_AsDict):
    """Result of :func:`min_width`: the smallest width with predicted risk <= ``margin *
    risk_threshold`` (``width`` None when even ``max_width`` is not; ``verdict`` is
    :func:`~eoctheory.theory.finite_width.verdict_of` of the risk at the width reported)."""

    activation: str
    sparsity: float
    m: float | None
    tau: float
    q_star: float
    depth: int
    risk_threshold: float
    margin: float
    verdict: str
    width: int | None
    predicted_risk: float
    drift_probability: float
    explosion_probability: float
    vanishing_probability: float
    gradient_ratio_quantiles: dict
    sigma_w2: float
    sigma_b2: float
    variance_slope: float
    variance_curvature: float
    band: float
    grad_limit: float
    max_width: int
    notes: list = field(default_factory=list)

    @property
    def safe(self) -> bool:
        """Whether a width was found."""
        return self.width is not None

    _SHOWN = ("activation", "sparsity", "depth", "width", "verdict", "tau", "m",
              "predicted_risk", "max_width")

    def __repr__(self) -> str:
        return self._summary()

    @property
    def escape_probability(self) -> float:
        """Deprecated name of :attr:`drift_probability`."""
        return self.drift_probability


def min_width(activation: Activation | str, *, sparsity: float, depth: int,
              m: float | None = None, risk: float = 0.05, margin: float = MARGIN,
              q_star: float = 1.0, band: float = SPAN, grad_limit: float = GRAD_LIMIT,
              max_width: int = 100_000) -> WidthRecommendation:
    r"""The smallest width :math:`N` at which ``(sparsity, m)`` has predicted risk <=
    ``margin * risk`` (the policy of :func:`recommend`).

    Doubling from 16 to bracket, then bisection on integers (the risk falls with
    :math:`N` in practice; not assumed beyond the bracket). ``width`` is None if even
    ``max_width`` is not safe (then the fields describe ``max_width``).
    """
    from eoctheory.theory import eoc as E

    act, s, rk, mgn = check_request(activation, sparsity, risk, margin, "")
    L = check_int(depth, "depth", 1)
    Nmax = check_int(max_width, "max_width", 4)
    b = check_band(band)
    g = check_grad_limit(grad_limit)
    m1, o1 = estimate_predict(Nmax, L, band=b, quantiles=False)  # the finest grid is the largest
    m2, o2 = estimate_predict(Nmax, L, band=b)
    steps = 2 * math.ceil(math.log2(max(Nmax / 16, 2))) + 8  # doubling, then bisection
    check_resources(f"min_width(depth={L}, max_width={Nmax})", nbytes=max(m1, m2),
                    operations=steps * o1 + o2, hint="lower depth")
    q = float(maps.check_variance(q_star, "q_star"))
    kw: dict = {}
    if m is not None:
        if "m" not in act.param_names:
            raise ValueError(f"m: activation {act.name!r} has no clipping height m")
        kw["m"] = float(act.params[act.param_names.index("m")].check(m))
    kw["tau"] = float(E.tau_from_sparsity(act, s, q, **{k: v for k, v in kw.items()}))
    target = mgn * rk

    def r_of(N: int) -> float:
        return float(predicted_risk(act, width=N, depth=L, q_star=q, band=b, grad_limit=g,
                                    **kw))

    lo, hi = 2, None
    N = 16
    while N <= Nmax:
        if r_of(N) <= target:
            hi = N
            break
        lo = N
        N *= 2
    if hi is None and r_of(Nmax) <= target:
        hi = Nmax
    notes: list[str] = []
    if hi is None:
        notes.append(f"no width up to {Nmax} keeps predicted risk <= margin x risk = "
                     f"{target:g} at depth {L}")
        Nres = Nmax
    else:
        while hi - lo > max(1, hi // 100):  # 1% resolution
            mid = (lo + hi) // 2
            lo, hi = (lo, mid) if r_of(mid) <= target else (mid, hi)
        Nres = hi
    pred = predict(act, width=Nres, depth=L, q_star=q, band=b, grad_limit=g, **kw)
    pt = E.eoc_point(act, q, **kw)
    return WidthRecommendation(act.name, s, kw.get("m"), kw["tau"], q, L, rk, mgn,
                               verdict_of(pred.risk, rk), None if hi is None else int(hi),
                               pred.risk, pred.drift_probability, pred.explosion_probability,
                               pred.vanishing_probability,
                               pred.to_dict()["gradient_ratio_quantiles"],
                               float(pt.sigma_w2), float(pt.sigma_b2), float(pt.variance_slope),
                               float(pt.variance_curvature), b, g, Nmax, notes)
