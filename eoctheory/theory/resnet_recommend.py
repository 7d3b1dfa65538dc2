r"""``recommend --arch resnet``: the most expressive safe clipping height in a residual MLP.

The residual analogue of :func:`eoctheory.theory.recommend.recommend`: at a width
:math:`N`, a number of blocks :math:`L` and a branch scale :math:`\alpha`
(:mod:`eoctheory.theory.resnet`), the largest :math:`m` whose predicted risk
(:func:`~eoctheory.theory.resnet.predict_resnet`: the sparsity or :math:`\chi_b` of a block
drifts, or :math:`\|\delta^0\|/\|\delta^L\|` leaves :math:`[1/g, g]`) is at most
``margin * risk``. The branches sit on the plain EoC point of :math:`(\tau, m)` at
:math:`q^*`, :math:`\tau` from the sparsity (eq. 12); :math:`m/\sqrt{q^*}` is scanned on a
log grid over :data:`~eoctheory.theory.recommend.M_RANGE` and refined by bisection, with the
same policy as the plain command (``margin``, then the edge, then the least risky ``m``).

Examples
--------
>>> from eoctheory.theory.resnet_recommend import recommend_resnet
>>> rec = recommend_resnet("crelu", sparsity=0.85, width=300, depth=50, n_grid=8)
>>> rec.safe, rec.verdict, rec.alpha == 50 ** -0.5
(True, 'stable', True)
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from eoctheory.engine.activations import Activation
from eoctheory.engine.checks import check_int
from eoctheory.theory.finite_width import GRAD_LIMIT, SPAN, verdict_of
from eoctheory.theory.recommend import MARGIN, M_RANGE, check_request

__all__ = ["ResNetRecommendation", "recommend_resnet"]


@dataclass(frozen=True)
class ResNetRecommendation:
    """Result of :func:`recommend_resnet` (``m`` None for activations without one)."""

    activation: str
    sparsity: float
    width: int
    depth: int
    alpha: float
    branch: str
    tau_follows_q: bool
    risk_threshold: float
    margin: float
    safe: bool
    margin_kept: bool
    verdict: str
    q_star: float
    tau: float
    m: float | None
    m_min_safe: float | None
    sigma_w2: float
    sigma_b2: float
    predicted_risk: float
    drift_probability: float
    explosion_probability: float
    vanishing_probability: float
    notes: tuple

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict of every field."""
        d = asdict(self)
        d["notes"] = list(self.notes)
        return d


def recommend_resnet(activation: Activation | str, *, sparsity: float, width: int,
                     depth: int, alpha: float | None = None, branch: str = "one",
                     tau_follows_q: bool = True, risk: float = 0.05, margin: float = MARGIN,
                     q_star: float = 1.0, band: float = SPAN, grad_limit: float = GRAD_LIMIT,
                     n_grid: int = 16) -> ResNetRecommendation:
    r"""The largest :math:`m` of a residual MLP whose predicted risk is at most
    ``margin * risk`` (see the module notes).

    Parameters
    ----------
    activation : Activation or str
        An activation with a threshold :math:`\tau` (and, for a search, a clipping height m).
    sparsity : float
        Target sparsity in (0, 1) at :math:`q^*`.
    width, depth : int
        :math:`N` and the number of blocks :math:`L`.
    alpha, branch, tau_follows_q
        As :func:`eoctheory.theory.resnet.predict_resnet` (``alpha`` None:
        :math:`1/\sqrt L`).
    risk, margin : float
        Acceptable risk in (0, 1) and the fraction of it kept (in (0, 1]).
    q_star : float
        Design variance.
    band, grad_limit : float
        As :func:`~eoctheory.theory.resnet.predict_resnet`.
    n_grid : int
        Grid points in :math:`m/\sqrt{q^*}` before the bisection.

    Raises
    ------
    ValueError
        A bad argument (named), as :func:`~eoctheory.theory.recommend.recommend` and
        :func:`~eoctheory.theory.resnet.predict_resnet` check them.
    """
    from eoctheory.theory import eoc as E
    from eoctheory.theory.resnet import check_alpha, check_branch, predict_resnet

    act, s, rk, mgn = check_request(activation, sparsity, risk, margin,
                                    ": recommend sets tau from the sparsity")
    N = check_int(width, "width", 2)
    L = check_int(depth, "depth", 1)
    a = check_alpha(alpha, L)
    br = check_branch(branch)
    n = check_int(n_grid, "n_grid", 2)
    q = float(q_star)
    if not (math.isfinite(q) and q > 0):
        raise ValueError(f"q_star must be a finite number > 0 (got {q_star!r})")
    tau = float(E.tau_from_sparsity(act, s, q))

    def pred(m: float | None):
        kw = {"tau": tau} if m is None else {"tau": tau, "m": m}
        return predict_resnet(act, width=N, depth=L, alpha=a, branch=br,
                              tau_follows_q=tau_follows_q, q_star=q, band=band,
                              grad_limit=grad_limit, **kw)

    target = mgn * rk
    notes: list[str] = []
    m = m_lo = None
    if "m" in act.param_names:
        mg = math.sqrt(q) * np.geomspace(*M_RANGE, n)
        r = np.array([pred(float(x)).risk for x in mg])
        lim = target if (r <= target).any() else (rk if (r <= rk).any() else None)
        if lim is None:
            m = float(mg[int(np.argmin(r))])
            notes.append(f"no m meets risk <= {rk:g} at width {N}, depth {L}, alpha {a:g}: "
                         "the least risky m is shown")
        else:
            ok = np.nonzero(r <= lim)[0]
            m, m_lo = float(mg[ok[-1]]), float(mg[ok[0]])
            if ok[-1] + 1 < n:  # bisection in log m towards the next (unsafe) grid point
                lo, hi = math.log(mg[ok[-1]]), math.log(mg[ok[-1] + 1])
                for _ in range(5):
                    c = 0.5 * (lo + hi)
                    lo, hi = (c, hi) if pred(math.exp(c)).risk <= lim else (lo, c)
                m = math.exp(lo)
            if ok[-1] == n - 1:
                notes.append(f"every m up to the top of the range ({mg[-1]:.3g}) is safe: "
                             "clipping is not needed here (large m is the unclipped map)")
            if lim == rk:
                notes.append(f"no m keeps predicted risk <= margin x risk = {target:g}: the "
                             f"largest m meeting risk <= {rk:g} itself is shown (at the edge)")
    p = pred(m)
    if m is None and p.risk > rk:
        notes.append(f"predicted risk {p.risk:.3g} > {rk:g}: not safe at width {N}, depth "
                     f"{L}, alpha {a:g}; a smaller alpha or a wider network helps")
    sw2, sb2 = float(p.config["sigma_w2"]), float(p.config["sigma_b2"])
    return ResNetRecommendation(
        act.name, s, N, L, a, br, bool(tau_follows_q), rk, mgn, bool(p.risk <= rk),
        bool(p.risk <= target), verdict_of(p.risk, rk), q, tau, m, m_lo, sw2, sb2,
        float(p.risk), float(p.drift_probability), float(p.explosion_probability),
        float(p.vanishing_probability), tuple(notes))
