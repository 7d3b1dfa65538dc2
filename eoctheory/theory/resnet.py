r"""Mean-field theory of residual MLPs with any activation (the paper's future work, item 2).

The blocks
----------
The stream :math:`h^l \in \mathbb R^N` starts at :math:`h^0 = W^0 x` (the paper's
variance-preserving first layer, :math:`W^0 \sim N(0, 1/N_0)`, so
:math:`q^0 = \|x\|^2/N_0`) and passes :math:`L` residual blocks, :math:`l = 0, \dots, L-1`,
with an identity skip and a branch scaled by :math:`\alpha \ge 0`:

.. math::

    \text{one-layer branch (Yang \& Schoenholz 2017, "reduced"):}\quad
        h^{l+1} &= h^l + \alpha\,(W^l \phi(h^l) + b^l),\\
    \text{two-layer branch (pre-activation ResNet, He et al. 2016):}\quad
        h^{l+1} &= h^l + \alpha\,(W^l_2 \phi(g^l) + b^l_2),\quad
        g^l = W^l_1 \phi(h^l) + b^l_1,

with every :math:`W` entry :math:`N(0, \sigma_w^2/N)` and every :math:`b` entry
:math:`N(0, \sigma_b^2)`. The branch's :math:`(\sigma_w^2, \sigma_b^2)` default to the plain
network's EoC point of the activation at the design variance :math:`q_\text{ref}`
(``q_star``, :func:`~eoctheory.theory.setting.resolve_setting`), so each branch neither
amplifies nor damps perturbations there (:math:`\chi_1(q_\text{ref}) = 1`). ``alpha=None``
means :math:`\alpha = 1/\sqrt L`. (The original post-activation ResNet,
:math:`h^{l+1} = \phi(h^l + F(h^l))`, puts :math:`\phi` on the skip and behaves like a plain
net with a fixed point; it is not covered here.)

Variance. :math:`W^l` is independent of :math:`h^l` with mean zero, so the cross term
:math:`\langle h^l, W^l\phi(h^l)\rangle` vanishes in expectation and (THEORY.md,
"Extensions"; Yang & Schoenholz 2017)

.. math::

    q^{l+1} = q^l + \alpha^2 B_l(q^l),\qquad
    B_l(q) = V_l(q)\ \text{(one layer)},\quad B_l(q) = V_l^{(2)}\big(V_l(q)\big)\ \text{(two)},

where :math:`V_l(q) = \sigma_w^2\mathbb E[\phi_l(\sqrt q Z)^2] + \sigma_b^2` is the plain
variance map (eq. 3) of the activation with the parameters of block :math:`l`, and the
inner pre-activation variance is :math:`p^l = V_l(q^l)`. Since :math:`B > 0` there is no
fixed point: :math:`q^l` grows, linearly when :math:`B` is bounded (CReLU, CST with a fixed
clipping height), geometrically when it is linear in :math:`q` (ReLU, or any activation
whose thresholds follow :math:`q`).

Correlation. For two inputs with the same :math:`q^l` and correlation :math:`\rho^l`,
:math:`\Sigma^{l+1}_{ab} = \Sigma^l_{ab} + \alpha^2 C_l(\rho^l)` with
:math:`C_l(\rho) = q\,R_q(\rho)` (one layer; :math:`R_q` the plain correlation map eq. 6 at
variance :math:`q`) or :math:`C_l(\rho) = p\,R^{(2)}_p(q R_q(\rho)/p)` (two layers), so

.. math:: \rho^{l+1} = \frac{q^l\rho^l + \alpha^2 C_l(\rho^l)}{q^{l+1}}.

Gradients. Backpropagation through a block is
:math:`\delta^l = \delta^{l+1} + \alpha D^l (W^l)^T\delta^{l+1}` (one layer; two layers
insert :math:`D^l_g (W^l_2)^T`), :math:`D = \mathrm{diag}(\phi')`. With the
gradient-independence assumption the cross term has mean zero and

.. math::

    \frac{\mathbb E\|\delta^l\|^2}{\mathbb E\|\delta^{l+1}\|^2} = 1 + \alpha^2\chi_{b,l},\qquad
    \chi_{b,l} = \chi_1(q^l)\ \text{(one)},\quad \chi_{b,l} = \chi_1(q^l)\,\chi_1^{(2)}(p^l)
    \ \text{(two)},

:math:`\chi_1 = \sigma_w^2\mathbb E[\phi'^2]` (eq. 11) at the block's parameters, so
:math:`\|\delta^0\|^2/\|\delta^L\|^2 = \prod_l (1 + \alpha^2\chi_{b,l}) \ge 1`: gradients
never vanish through the skips, and grow like :math:`e^{\alpha^2\sum_l\chi_{b,l}}`.

What "Edge of Chaos" means here
-------------------------------
There is no fixed point :math:`q^*` to sit on; the stream variance grows and the
correlation map of the stream has slope :math:`(q^l + \alpha^2\chi_{b,l} q^l)/q^{l+1}` at
:math:`\rho = 1`, which tends to 1 as :math:`\alpha \to 0`: correlations approach 1
polynomially in depth, not exponentially (Yang & Schoenholz's "edge of chaos" for
residual nets). What remains of the paper's EoC is a choice of branch initialisation:
:math:`\chi_{b} = 1` at the design variance. The gradient ratio is then
:math:`(1 + \alpha^2)^{L/2}`: exponential in :math:`L` for fixed :math:`\alpha` (:math:`2^{L/2}`
at :math:`\alpha = 1`), bounded (:math:`\to e^{1/2}`) at :math:`\alpha = 1/\sqrt L`. The
analogue of "on the EoC" is :math:`\alpha^2 L \chi_b = O(1)`.

Sparsity
--------
The sparsity of block :math:`l` is :math:`s(q^l) = P(\phi_l(\sqrt{q^l}Z) = 0)` at the
pre-activation variance that block sees, which grows with :math:`l`. With a fixed threshold
:math:`\tau` it drifts: :math:`\tau/\sqrt{q^l} \to 0`, so ReLU_tau and CReLU drift down to
1/2 and ST_tau, CST to 0, and a fixed clipping height saturates (:math:`\chi_1 \to 0`).
``tau_follows_q=True`` sets every :math:`\phi`'s threshold and clipping height for its own
input variance :math:`v` (:math:`q^l` for the first, :math:`p^l` for the inner one):
:math:`\tau_l = \tau_0\sqrt{v/q_\text{ref}}`, :math:`m_l = m_0\sqrt{v/q_\text{ref}}` (only the
parameters named ``tau`` and ``m`` are scaled). For the paper's four activations
:math:`\phi(cx; c\tau, cm) = c\,\phi(x; \tau, m)`, so the sparsity and :math:`\chi_1` stay at
their design values exactly and :math:`V_l(q) = (q_\text{ref} - \sigma_b^2) q/q_\text{ref} +
\sigma_b^2` on the EoC.

Finite width
------------
:func:`predict_resnet` extends :mod:`eoctheory.theory.finite_width` (same risk definition,
same constants: drift of :math:`s` by more than 0.1 or of :math:`\chi_b` by a factor 2 from
the design values, :math:`\|\delta^0\|/\|\delta^L\|` outside :math:`[10^{-3}, 10^3]`). It
follows a Markov chain on :math:`x_l = \log(q^l/\bar q^l)`, :math:`\bar q^l` the
infinite-width trajectory; thresholds are set from :math:`\bar q^l` at initialisation (as
the networks do). Assumptions: given :math:`q^l` the coordinates of :math:`h^l` are i.i.d.
:math:`N(0, q^l)` (exact for :math:`l = 0`; at :math:`l > 0` a mean-field approximation, the
residual sum being not exactly Gaussian); then the branch output is :math:`N(0, G)` per
coordinate with :math:`\mathbb E G = B(q)`,
:math:`\mathrm{Var}\,G = \sigma_w^4(\mathbb E\phi^4 - \mathbb E[\phi^2]^2)/N` (plus, for two
layers, :math:`V'(p)^2` times the first layer's), and

.. math::

    q^{l+1} = q^l + 2\alpha\sqrt{q^l G/N}\,\xi + \alpha^2 G\,\chi^2_N/N,

taken log-normal with its exact mean and variance. The per-block gradient factor
:math:`R_l = 1 + 2\alpha c + \alpha^2 B_g` (:math:`c \sim N(0, \chi_b/N)`, :math:`B_g` mean
:math:`\chi_b`, relative variance :math:`\sum(3\mathbb E\phi'^4/\mathbb E[\phi'^2]^2 - 1)/N`
over the branch's activations) is likewise log-normal and its log is summed along the
chain, cell by cell, as in the plain predictor (no weight-sharing correction). Against
the reference network (:func:`eoctheory.nets.resnet.simulate_resnet`, 40 seeds, N = 200,
L = 30, s = 0.85): failed fractions 0 / 0.975 / 0.80 for ReLU_tau (alpha 0.2 following,
0.2 fixed, 0.5 following) against predicted 0.000 / 0.961 / 0.77, CReLU 0 / 0.825 / 0.60
against 0.000 / 0.799 / 0.27: the closure misses the downward bias of :math:`q^l` that
clipped activations show at finite width when :math:`\alpha` is large, and under-predicts
there.

Thresholds that follow a schedule set at initialisation are not self-correcting: a block
whose measured :math:`q^l` falls behind :math:`\bar q^l` is sparser, adds less and falls
further behind (and the opposite above). The chain predicts this drift; it is small for
:math:`\alpha \lesssim 1/\sqrt L` and decides the risk for :math:`\alpha \gtrsim 0.3`
at N = 300, L = 100.

Examples
--------
>>> from eoctheory.theory.resnet import residual_trajectory
>>> t = residual_trajectory("crelu", sparsity=0.85, target_slope=0.7, depth=20, alpha=1.0)
>>> round(float(t.sparsity[-1]), 6), round(float(t.gradient_ratio[0]), 6)  # 2^(20/2)
(0.85, 1024.0)
>>> t2 = residual_trajectory("crelu", sparsity=0.85, target_slope=0.7, depth=20, alpha=1.0,
...                          tau_follows_q=False)
>>> round(float(t2.sparsity[-1]), 2)                    # a fixed tau drifts
0.55
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import sparse as _sparse
from scipy import special as _sc

from eoctheory.engine import maps
from eoctheory.engine.activations import Activation, get_activation
from eoctheory.engine.checks import check_int
from eoctheory.limits import check_resources
from eoctheory.theory import finite_width as fw
from eoctheory.theory.correlation import correlation_map
from eoctheory.theory.setting import Setting, resolve_setting

__all__ = [
    "BRANCHES",
    "SCALED_PARAMETERS",
    "ResNetAssessment",
    "ResNetPrediction",
    "ResidualTrajectory",
    "VarianceOverflowError",
    "alive_at",
    "assess_resnet",
    "block_parameters",
    "check_alpha",
    "check_branch",
    "predict_resnet",
    "residual_correlation_map",
    "residual_gradient_factor",
    "residual_trajectory",
    "residual_variance_map",
    "residual_variance_slope",
]

#: The branch kinds: one layer :math:`W\phi(h)+b` or two, :math:`W_2\phi(W_1\phi(h)+b_1)+b_2`.
BRANCHES: tuple[str, ...] = ("one", "two")
#: The activation parameters that ``tau_follows_q`` scales by :math:`\sqrt{v/q_\text{ref}}`.
SCALED_PARAMETERS: tuple[str, ...] = ("tau", "m")
_MAX_CELLS = 240   # 400 cells change the risks by <= 15 % relative (6 settings tried)
_MIN_CELLS = 48
_ALIVE_POINTS = 4


class VarianceOverflowError(ValueError):
    """The stream variance :math:`q^l` left the maps' range (above 1e100) along depth."""


def check_branch(branch: Any) -> str:
    """``branch`` if it is one of :data:`BRANCHES`, else ValueError."""
    if branch not in BRANCHES:
        raise ValueError(f"branch must be one of {BRANCHES}, got {branch!r}")
    return branch


def check_alpha(alpha: Any, depth: int) -> float:
    r"""The branch scale :math:`\alpha` (finite, >= 0); None gives :math:`1/\sqrt L`."""
    if alpha is None:
        return 1.0 / math.sqrt(depth)
    if isinstance(alpha, str):
        raise ValueError(f"alpha must be a finite number >= 0 (got {alpha!r})")
    return float(maps.check_sigma(alpha, "alpha", False))


def block_parameters(values: dict, variance: Any, q_ref: float, follow: bool) -> dict:
    r"""Parameters of an activation that sees input variance ``variance``.

    With ``follow``, :math:`\tau` and :math:`m` (:data:`SCALED_PARAMETERS`) become
    :math:`\tau\sqrt{v/q_\text{ref}}`, :math:`m\sqrt{v/q_\text{ref}}` (arrays if ``variance``
    is one); other parameters, and every parameter without ``follow``, are unchanged.

    Examples
    --------
    >>> block_parameters({"tau": 1.0, "m": 2.0, "k": 3.0}, 4.0, 1.0, True)
    {'tau': 2.0, 'm': 4.0, 'k': 3.0}
    """
    if not follow:
        return dict(values)
    f = np.sqrt(np.asarray(variance, dtype=float) / q_ref)
    f = float(f) if f.ndim == 0 else f
    return {k: (v * f if k in SCALED_PARAMETERS else v) for k, v in values.items()}


# ------------------------------------------------------------------------------------------
# One block at fixed parameters (vectorised in q)
# ------------------------------------------------------------------------------------------
def _branch(act, q, sw2, sb2, branch, p1, p2):
    """(B(q), p(q) or None) with parameters p1 (first phi) and p2 (inner phi)."""
    v = maps.variance_map(act, q, sw2, sb2, **p1)
    if branch == "one":
        return v, None
    return maps.variance_map(act, v, sw2, sb2, **p2), v


def _branch_chi(act, q, p, sw2, branch, p1, p2):
    c = maps.chi1(act, q, sw2, **p1)
    return c if branch == "one" else c * maps.chi1(act, p, sw2, **p2)


def _fixed(activation, sigma_w2, sigma_b2, alpha, branch):
    act = get_activation(activation)
    sw2 = maps.check_sigma(sigma_w2, "sigma_w2", True)
    sb2 = maps.check_sigma(sigma_b2, "sigma_b2", False)
    return act, sw2, sb2, check_alpha(alpha, 1), check_branch(branch)


def residual_variance_map(activation: Activation | str, q: Any, sigma_w2: Any, sigma_b2: Any,
                          *, alpha: float = 1.0, branch: str = "one",
                          **params: Any) -> np.ndarray:
    r"""One residual block's variance map :math:`q \mapsto q + \alpha^2 B(q)`.

    .. math:: B(q) = V(q)\ \text{(one layer)},\qquad B(q) = V(V(q))\ \text{(two layers)},

    with :math:`V` the plain map (eq. 3) at fixed parameters ``**params`` (both activations
    of a two-layer branch share them here; :func:`residual_trajectory` sets them per
    activation). Broadcasts like :func:`eoctheory.engine.maps.variance_map`.

    Examples
    --------
    >>> float(residual_variance_map("identity", 2.0, 1.0, 0.0, alpha=0.5))   # 2 (1 + 1/4)
    2.5
    """
    act, sw2, sb2, a, br = _fixed(activation, sigma_w2, sigma_b2, alpha, branch)
    qa = maps.check_variance(q)
    return qa + a * a * _branch(act, qa, sw2, sb2, br, params, params)[0]


def residual_variance_slope(activation: Activation | str, q: Any, sigma_w2: Any,
                            sigma_b2: Any, *, alpha: float = 1.0, branch: str = "one",
                            **params: Any) -> np.ndarray:
    r"""Slope of the block map, :math:`1 + \alpha^2 B'(q)`, :math:`B' = V'(q)` or
    :math:`V'(V(q))\,V'(q)`. It exceeds 1 wherever :math:`V' > 0`: the map has no fixed
    point to attract to (:math:`B > 0`), and perturbations of :math:`q` are not damped."""
    act, sw2, sb2, a, br = _fixed(activation, sigma_w2, sigma_b2, alpha, branch)
    qa = maps.check_variance(q)
    d = maps.variance_slope(act, qa, sw2, **params)
    if br == "two":
        d = d * maps.variance_slope(act, maps.variance_map(act, qa, sw2, sb2, **params), sw2,
                                    **params)
    return 1.0 + a * a * d


def residual_gradient_factor(activation: Activation | str, q: Any, sigma_w2: Any,
                             sigma_b2: Any, *, alpha: float = 1.0, branch: str = "one",
                             **params: Any) -> np.ndarray:
    r"""Backward factor of one block, :math:`\mathbb E\|\delta^l\|^2/\mathbb E\|\delta^{l+1}\|^2
    = 1 + \alpha^2\chi_b(q)`, :math:`\chi_b = \chi_1(q)` or :math:`\chi_1(q)\chi_1(V(q))`.

    Examples
    --------
    >>> float(residual_gradient_factor("relu", 1.0, 2.0, 0.0, alpha=1.0, tau=0.0))
    2.0
    """
    act, sw2, sb2, a, br = _fixed(activation, sigma_w2, sigma_b2, alpha, branch)
    qa = maps.check_variance(q)
    p = None if br == "one" else maps.variance_map(act, qa, sw2, sb2, **params)
    return 1.0 + a * a * _branch_chi(act, qa, p, sw2, br, params, params)


def _cross(act, rho, q, sw2, sb2, branch, p1, p2):
    """C(rho): the branch outputs' covariance for inputs of variance q and correlation rho."""
    c1 = q * correlation_map(act, rho, sw2, sb2, q_star=q, **p1)
    if branch == "one":
        return c1
    p = float(maps.variance_map(act, q, sw2, sb2, **p1))
    r_in = np.clip(c1 / p, -1.0, 1.0)
    return p * correlation_map(act, r_in, sw2, sb2, q_star=p, **p2)


def residual_correlation_map(activation: Activation | str, rho: Any, q: float, sigma_w2: float,
                             sigma_b2: float, *, alpha: float = 1.0, branch: str = "one",
                             **params: Any) -> np.ndarray:
    r"""One block's correlation map for two inputs of equal variance ``q``:

    .. math:: \rho \mapsto \frac{q\rho + \alpha^2 C(\rho)}{q + \alpha^2 B(q)},

    :math:`C(\rho) = q R_q(\rho)` (one layer) or :math:`p R_p(q R_q(\rho)/p)`,
    :math:`p = V(q)` (two layers), :math:`R_q` the plain correlation map (eq. 6) at variance
    :math:`q`. At :math:`\rho = 1` it returns 1.

    Examples
    --------
    >>> round(float(residual_correlation_map("identity", 0.3, 1.0, 1.0, 0.0, alpha=1.0)), 12)
    0.3
    """
    act, sw2, sb2, a, br = _fixed(activation, sigma_w2, sigma_b2, alpha, branch)
    qf = float(maps.check_variance(q))
    r = np.asarray(rho, dtype=float)
    if not np.all((r >= -1) & (r <= 1)):
        raise ValueError(f"rho must be in [-1, 1] (got {rho!r})")
    sw2, sb2 = float(sw2), float(sb2)
    b = float(_branch(act, qf, sw2, sb2, br, params, params)[0])
    c = _cross(act, r, qf, sw2, sb2, br, params, params)
    return np.clip((qf * r + a * a * c) / (qf + a * a * b), -1.0, 1.0)


# ------------------------------------------------------------------------------------------
# Along depth
# ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ResidualTrajectory:
    r"""Infinite-width quantities of a residual MLP along depth.

    Attributes
    ----------
    q : ndarray (L+1,)
        Stream variance :math:`q^l`, :math:`l = 0..L` (:math:`q^0` = ``q_input``).
    inner_q : ndarray (L,)
        Inner pre-activation variance :math:`p^l = V_l(q^l)` (two-layer branch; empty for one).
    sparsity, inner_sparsity : ndarray (L,)
        :math:`P(\phi_l = 0)` of the first (and inner) activation of block :math:`l`.
    branch_chi : ndarray (L,)
        :math:`\chi_{b,l}`; ``gradient_factor`` = :math:`1 + \alpha^2\chi_{b,l}`.
    gradient_ratio : ndarray (L+1,)
        :math:`\|\delta^l\|/\|\delta^L\| = (\prod_{k \ge l}(1+\alpha^2\chi_{b,k}))^{1/2}`.
    rho : ndarray (L+1,) or None
        Correlation of two equal-norm inputs (if ``rho_input`` was given).
    params, inner_params : tuple of dict
        The activation parameters of each block (the thresholds that follow :math:`q`).
    setting : Setting
        The design: activation, :math:`q_\text{ref}`, :math:`\sigma_w^2, \sigma_b^2`.
    """

    q: np.ndarray
    inner_q: np.ndarray
    sparsity: np.ndarray
    inner_sparsity: np.ndarray
    branch_chi: np.ndarray
    gradient_factor: np.ndarray
    gradient_ratio: np.ndarray
    rho: np.ndarray | None
    params: tuple
    inner_params: tuple
    setting: Setting
    alpha: float
    branch: str
    tau_follows_q: bool

    @property
    def depth(self) -> int:
        """:math:`L`, the number of blocks."""
        return len(self.q) - 1


def _design(activation, sparsity, target_slope, q_star, sigma_w2, sigma_b2, params) -> Setting:
    return resolve_setting(activation, sparsity=sparsity, target_slope=target_slope,
                           q_star=q_star, sigma_w2=sigma_w2, sigma_b2=sigma_b2, **params)


def _check_follow(tau_follows_q: Any) -> bool:
    if not isinstance(tau_follows_q, (bool, np.bool_)):
        raise ValueError(f"tau_follows_q must be True or False (got {tau_follows_q!r})")
    return bool(tau_follows_q)


def _trajectory(st: Setting, L: int, a: float, branch: str, follow: bool, q0: float,
                rho0: float | None) -> ResidualTrajectory:
    act, sw2, sb2, qr = st.activation, st.sigma_w2, st.sigma_b2, st.q_star
    vals = st.params
    q = np.empty(L + 1)
    q[0] = q0
    inner = np.empty(L if branch == "two" else 0)
    s2 = np.full(L, np.nan)
    rho = None if rho0 is None else np.empty(L + 1)
    if rho is not None:
        rho[0] = rho0
    P1, P2 = [], []
    a2 = a * a
    for l in range(L):
        p1 = block_parameters(vals, q[l], qr, follow)
        # the maps' argument checks are done once, by the setting: second_moment directly
        v = sw2 * float(maps.second_moment(act, q[l], **p1)) + sb2
        p2 = block_parameters(vals, v, qr, follow) if branch == "two" else {}
        if branch == "two":
            inner[l] = v
            b = sw2 * float(maps.second_moment(act, v, **p2)) + sb2
        else:
            b = v
        q[l + 1] = q[l] + a2 * b
        if not q[l + 1] <= maps.Q_MAX:
            raise VarianceOverflowError(
                f"the stream variance q^l exceeds 1e100 at block {l + 1} of {L}: lower alpha "
                "or depth")
        if rho is not None:
            c = float(_cross(act, np.clip(rho[l], -1, 1), q[l], sw2, sb2, branch, p1, p2))
            rho[l + 1] = min(1.0, (q[l] * rho[l] + a2 * c) / q[l + 1])
        P1.append(p1)
        P2.append(p2)
    # sparsity and chi_b of every block at once (parameters as arrays over the blocks)
    pa1 = block_parameters(vals, q[:-1], qr, follow)
    s1 = np.asarray(maps.sparsity(act, q[:-1], **pa1), dtype=float)
    if branch == "two":
        pa2 = block_parameters(vals, inner, qr, follow)
        s2 = np.asarray(maps.sparsity(act, inner, **pa2), dtype=float)
    else:
        pa2 = {}
    chi = np.asarray(_branch_chi(act, q[:-1], inner if branch == "two" else None, sw2,
                                 branch, pa1, pa2), dtype=float) * np.ones(L)
    factor = 1.0 + a2 * chi
    ratio = np.sqrt(np.concatenate([np.cumprod(factor[::-1])[::-1], [1.0]]))
    return ResidualTrajectory(q, inner, s1, s2, chi, factor, ratio, rho, tuple(P1), tuple(P2),
                              st, a, branch, follow)


def residual_trajectory(activation: Activation | str, *, depth: int,
                        sparsity: float | None = None, target_slope: float | None = None,
                        alpha: float | None = None, branch: str = "one",
                        tau_follows_q: bool = True, q_star: float = 1.0,
                        q_input: float | None = None, sigma_w2: float | None = None,
                        sigma_b2: float | None = None, rho_input: float | None = None,
                        **params: float) -> ResidualTrajectory:
    r"""The infinite-width residual MLP along depth: :math:`q^l`, sparsity, :math:`\chi_b`,
    gradient ratio and (with ``rho_input``) the correlation of two inputs.

    Parameters
    ----------
    activation : Activation or str
    depth : int
        :math:`L`, the number of residual blocks.
    sparsity, target_slope : float, optional
        Set :math:`\tau` and :math:`m` at the design variance ``q_star`` (as for a plain
        net, :func:`~eoctheory.theory.setting.resolve_setting`).
    alpha : float, optional
        Branch scale :math:`\alpha \ge 0`; default :math:`1/\sqrt L`.
    branch : {"one", "two"}
        One- or two-layer branch (see the module notes).
    tau_follows_q : bool, default True
        Scale :math:`\tau, m` of each activation by :math:`\sqrt{v/q_\text{ref}}` with
        :math:`v` its input variance (keeps the sparsity); False keeps them fixed.
    q_star : float, default 1
        The design variance :math:`q_\text{ref}` (EoC point of the branch, sparsity target).
    q_input : float, optional
        :math:`q^0 = \|x\|^2/N_0` (default ``q_star``).
    sigma_w2, sigma_b2 : float, optional
        Branch weight and bias variances (default: the EoC point at ``q_star``).
    rho_input : float, optional
        Correlation of two inputs of equal norm; adds :attr:`ResidualTrajectory.rho`.
    **params
        Activation parameters (``tau``, ``m``, ...).

    Raises
    ------
    ValueError
        Bad depth, alpha, branch, rho_input or setting; :class:`VarianceOverflowError`
        when :math:`q^l` exceeds 1e100.
    """
    L = check_int(depth, "depth", 1)
    # about 0.2 ms of map evaluations per block (1e5 blocks: 20 s); refuse absurd depths
    check_resources(f"residual_trajectory(depth={L})", nbytes=8.0 * 12 * (L + 1),
                    operations=L * 4e6, hint="lower depth")
    a = check_alpha(alpha, L)
    br = check_branch(branch)
    _check_follow(tau_follows_q)
    st = _design(activation, sparsity, target_slope, q_star, sigma_w2, sigma_b2, params)
    q0 = st.q_star if q_input is None else float(maps.check_variance(q_input, "q_input"))
    r0 = None
    if rho_input is not None:
        r0 = float(rho_input)
        if not -1 <= r0 <= 1:
            raise ValueError(f"rho_input must be in [-1, 1] (got {rho_input!r})")
    return _trajectory(st, L, a, br, bool(tau_follows_q), q0, r0)


# ------------------------------------------------------------------------------------------
# Finite width: a Markov chain on x = log(q^l / qbar^l)
# ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ResNetPrediction:
    r"""Finite-width prediction for a residual MLP (see the module notes).

    Attributes
    ----------
    risk, drift_probability, explosion_probability, vanishing_probability : float
        As in :class:`~eoctheory.theory.finite_width.FiniteWidthPrediction`, with the
        design values (:math:`s(q_\text{ref})`, :math:`\chi_b` at the design) as reference
        and :math:`\|\delta^0\|/\|\delta^L\|` as the gradient ratio.
    drift_by_layer : ndarray (L+1,)
    log_ratio_mean, log_ratio_std : float
        Of :math:`\log(\|\delta^0\|/\|\delta^L\|)` (free chain).
    trajectory : ResidualTrajectory
        The infinite-width trajectory the chain follows.
    config : dict
    """

    risk: float
    drift_probability: float
    explosion_probability: float
    vanishing_probability: float
    drift_by_layer: np.ndarray
    log_ratio_mean: float
    log_ratio_std: float
    trajectory: ResidualTrajectory
    config: dict = field(default_factory=dict)


def _lognormal(mean: np.ndarray, var: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance of log Y for a log-normal Y with the given mean and variance."""
    mean = np.maximum(mean, 1e-300)
    v = np.log1p(np.maximum(var, 0.0) / (mean * mean))
    return np.log(mean) - v / 2, v


def _block_arrays(tr: ResidualTrajectory, L: int) -> tuple[dict, dict]:
    """Per-block parameters as (L, 1) arrays for broadcasting over the cells."""
    keys = tr.params[0].keys() if L else ()
    p1 = {k: np.array([float(p[k]) for p in tr.params])[:, None] for k in keys}
    p2 = ({k: np.array([float(p[k]) for p in tr.inner_params])[:, None] for k in keys}
          if tr.branch == "two" else {})
    return p1, p2


def _cell_coefficients(tr: ResidualTrajectory, qg: np.ndarray, N: float):
    """Per (block, cell): mean/var of log q^{l+1} and of log R_l, and (p, ok inputs)."""
    st, a2 = tr.setting, tr.alpha ** 2
    act, sw2, sb2 = st.activation, st.sigma_w2, st.sigma_b2
    L = len(tr.params)
    p1, p2 = _block_arrays(tr, L)
    mu = maps.second_moment(act, qg, **p1)
    vg = sw2 * sw2 * np.maximum(fw.fourth_moment(act, qg, **p1) - mu * mu, 0.0) / N
    g1 = sw2 * mu + sb2
    nu = maps.slope_moment(act, qg, **p1)
    rel = np.maximum(3 * maps.slope_moment4(act, qg, **p1) / np.maximum(nu * nu, 1e-300)
                     - 1, 0.0) / N
    chi = sw2 * nu
    p = None
    if tr.branch == "two":
        p = np.maximum(g1, maps.Q_MIN)
        mu2 = maps.second_moment(act, p, **p2)
        d2 = maps.variance_slope(act, p, sw2, **p2)
        vg = d2 * d2 * vg + sw2 * sw2 * np.maximum(fw.fourth_moment(act, p, **p2) - mu2 * mu2,
                                                   0.0) / N
        g1 = sw2 * mu2 + sb2
        nu2 = maps.slope_moment(act, p, **p2)
        chi = chi * sw2 * nu2
        rel = rel + np.maximum(3 * maps.slope_moment4(act, p, **p2)
                               / np.maximum(nu2 * nu2, 1e-300) - 1, 0.0) / N
    mq = qg + a2 * g1
    vq = 4 * a2 * qg * g1 / N + a2 * a2 * (2 * (g1 * g1 + vg) / N + vg)
    eq, sq = _lognormal(mq, vq)
    mR = 1 + a2 * chi
    vR = 4 * a2 * chi / N + a2 * a2 * chi * chi * rel
    eR, sR = _lognormal(mR, vR)
    return eq, sq, eR, sR, p


def _design_chi(st: Setting, branch: str) -> float:
    r""":math:`\chi_b` of a block at the design: input variance q_ref, thresholds of the
    design (the inner ones set for the inner variance, as ``tau_follows_q`` does)."""
    return float(_trajectory(st, 1, 0.0, branch, True, st.q_star, None).branch_chi[0])


def alive_at(tr: ResidualTrajectory, q: Any, sparsity_drift: float = fw.SPARSITY_DRIFT,
             chi_drift: float = fw.CHI_DRIFT) -> np.ndarray:
    r"""1.0 where block :math:`l` at stream variance ``q[l, j]`` has not drifted, else 0.0.

    Not drifted: the sparsity of each of the block's activations (at the block's
    parameters, the inner one at :math:`p = V_l(q)`) is within ``sparsity_drift`` of the
    design sparsity :math:`s(q_\text{ref})`, and :math:`\chi_b(q)` within a factor
    ``chi_drift`` of its design value. ``q`` has shape ``(L, k)``: the criterion of
    :func:`predict_resnet`, applied by :func:`eoctheory.nets.resnet.simulate_resnet` to
    measured variances.
    """
    qf = np.asarray(q, dtype=float)
    if qf.ndim != 2 or qf.shape[0] != len(tr.params):
        raise ValueError(f"q must have shape (L, k) with L = {len(tr.params)} blocks "
                         f"(got {qf.shape})")
    sd, cd = float(sparsity_drift), float(chi_drift)
    st = tr.setting
    act, sw2, sb2, qr = st.activation, st.sigma_w2, st.sigma_b2, st.q_star
    L = len(tr.params)
    p1, p2 = _block_arrays(tr, L)
    s_ref = float(maps.sparsity(act, qr))
    c_ref = _design_chi(st, tr.branch)
    ok = np.abs(maps.sparsity(act, qf, **p1) - s_ref) <= sd
    chi = maps.chi1(act, qf, sw2, **p1)
    if tr.branch == "two":
        p = np.maximum(maps.variance_map(act, qf, sw2, sb2, **p1), maps.Q_MIN)
        ok &= np.abs(maps.sparsity(act, p, **p2) - s_ref) <= sd
        chi = chi * maps.chi1(act, p, sw2, **p2)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = chi / c_ref if c_ref > 0 else np.where(chi > 0, np.inf, 1.0)
    ok &= (r <= cd) & (r >= 1 / cd)
    return ok.astype(float)


def _chain(tr: ResidualTrajectory, N: float, band: float, sd: float, cd: float):
    L = len(tr.params)
    qbar = tr.q
    # per-block relative sd of q (at the trajectory) sets the cell width
    e0, s0, *_ = _cell_coefficients(tr, qbar[:-1, None], N)
    step = np.sqrt(np.maximum(s0[:, 0], 0.0))
    first = math.sqrt(float(_sc.polygamma(1, N / 2.0)))
    total = math.sqrt(first ** 2 + float(np.sum(step ** 2)))
    half = min(math.log(band), max(10 * total, 0.05))
    h = max(min(float(step.min()) if L else first, first) / 2, 2 * half / _MAX_CELLS)
    n = int(min(max(math.ceil(2 * half / h), _MIN_CELLS), _MAX_CELLS))
    edges = np.linspace(-half, half, n + 1)
    cen = 0.5 * (edges[1:] + edges[:-1])
    check_resources(f"predict_resnet(width={int(N)}, depth={L})", nbytes=8.0 * 6 * L * n * n,
                    operations=30.0 * L * n * n, hint="lower depth")
    qg = qbar[:-1, None] * np.exp(cen)[None, :]
    eq, sq, eR, sR, _ = _cell_coefficients(tr, qg, N)
    mean_x = eq - np.log(qbar[1:])[:, None]
    sdx = np.sqrt(np.maximum(sq, 1e-300))
    hc = edges[1] - edges[0]
    # banded kernel: cell i sends mass to cells i + k, |k| <= w (8 sd beyond the largest
    # shift); the tails beyond go to the band's ends, and what leaves the grid to its end cells
    w = int(min(n, math.ceil((np.max(np.abs(mean_x - cen[None, :])) + 8 * sdx.max()) / hc) + 1))
    ks = np.arange(-w, w + 2)
    e = -half + (np.arange(n)[:, None] + ks[None, :]) * hc
    F = _sc.ndtr((e[None] - mean_x[:, :, None]) / sdx[:, :, None])
    F[:, :, 0], F[:, :, -1] = 0.0, 1.0
    K = np.diff(F, axis=2)
    sub = (np.arange(_ALIVE_POINTS) + 0.5) / _ALIVE_POINTS - 0.5
    qf = (qg[:, :, None] * np.exp(hc * sub)[None, None, :]).reshape(L, -1)
    alive = np.ones((L + 1, n))
    if L:
        alive[:L] = alive_at(tr, qf, sd, cd).reshape(L, n, _ALIVE_POINTS).mean(axis=2)
    # q^0 = q_in chi^2_N / N exactly (variance-preserving first layer)
    k = N / 2.0
    Fi = _sc.gammainc(k, k * np.exp(edges))
    p0 = np.diff(Fi)
    p0[0] += Fi[0]
    p0[-1] += 1.0 - Fi[-1]
    KT = _banded_kernels(K, w)
    out = []
    for use in (alive, None):
        st = np.zeros((3, n))
        st[0] = p0 if use is None else p0 * use[0]
        surv = np.empty(L + 1)
        surv[0] = st[0].sum()
        for l in range(L):
            a, b = eR[l], sR[l]
            st[2] += 2 * a * st[1] + (a * a + b) * st[0]
            st[1] += a * st[0]
            st = (KT[l] @ st.T).T
            if use is not None:
                st *= use[l + 1]
            surv[l + 1] = st[0].sum()
        out.append((st, surv))
    return out, n


def _banded_kernels(Kb: np.ndarray, w: int) -> list:
    """Per block, the transpose of the kernel as a sparse matrix: ``Kb[l, i, k]`` is the mass
    from cell i to cell i + k - w (clamped to the grid's end cells; duplicates summed)."""
    L, n, K = Kb.shape
    rows = np.repeat(np.arange(n), K)
    cols = np.clip(rows + np.tile(np.arange(K) - w, n), 0, n - 1)
    return [_sparse.csr_matrix((Kb[l].ravel(), (cols, rows)), shape=(n, n)) for l in range(L)]


def predict_resnet(activation: Activation | str, *, width: int, depth: int,
                   sparsity: float | None = None, target_slope: float | None = None,
                   alpha: float | None = None, branch: str = "one",
                   tau_follows_q: bool = True, q_star: float = 1.0,
                   sigma_w2: float | None = None, sigma_b2: float | None = None,
                   band: float = fw.SPAN, grad_limit: float = fw.GRAD_LIMIT,
                   sparsity_drift: float = fw.SPARSITY_DRIFT, chi_drift: float = fw.CHI_DRIFT,
                   **params: float) -> ResNetPrediction:
    r"""Finite-width risk of a residual MLP at initialisation (the module's "Finite width").

    ``risk = 1 - P(no drift for l <= L and 1/g <= ||delta^0||/||delta^L|| <= g)``, with the
    constants of :mod:`eoctheory.theory.finite_width` (``grad_limit`` g = 1e3,
    ``sparsity_drift`` 0.1, ``chi_drift`` 2). Arguments as :func:`residual_trajectory`;
    ``width`` is :math:`N` (every block), ``band`` the largest factor
    :math:`q^l/\bar q^l` followed.
    """
    N = check_int(width, "width", 2)
    L = check_int(depth, "depth", 1)
    b = fw.check_band(band)
    g = fw.check_grad_limit(grad_limit)
    sd, cd = float(sparsity_drift), float(chi_drift)
    if not 0 < sd <= 1:
        raise ValueError(f"sparsity_drift must be in (0, 1] (got {sparsity_drift!r})")
    if not (cd > 1 and math.isfinite(cd)):
        raise ValueError(f"chi_drift must be a finite number > 1 (got {chi_drift!r})")
    tr = residual_trajectory(activation, depth=L, sparsity=sparsity, target_slope=target_slope,
                             alpha=alpha, branch=branch, tau_follows_q=tau_follows_q,
                             q_star=q_star, sigma_w2=sigma_w2, sigma_b2=sigma_b2, **params)
    ((st, surv), (free, _)), n = _chain(tr, float(N), b, sd, cd)
    lim = 2 * math.log(g)

    def mix(s):
        p = np.maximum(s[0], 0.0)
        ok = p > 1e-300
        with np.errstate(all="ignore"):
            m = np.where(ok, s[1] / np.where(ok, p, 1.0), 0.0)
            v = np.where(ok, s[2] / np.where(ok, p, 1.0) - m * m, 0.0)
        return p, m, np.sqrt(np.maximum(v, 1e-12))

    w, m, s = mix(st)
    lo = float(np.sum(w * _sc.ndtr((-lim - m) / s)))
    hi = float(np.sum(w * _sc.ndtr((lim - m) / s)))
    alive = float(w.sum())
    clip = lambda v: float(min(max(v, 0.0), 1.0))  # noqa: E731
    risk, drift = clip(1.0 - (hi - lo)), clip(1.0 - alive)
    wf, mf, sf = mix(free)
    tot = wf.sum()
    mall = float(np.sum(wf * mf) / tot)
    vall = float(np.sum(wf * (sf * sf + mf * mf)) / tot - mall * mall)
    cfg = {"activation": tr.setting.activation.name, "params": tr.setting.params,
           "sigma_w2": tr.setting.sigma_w2, "sigma_b2": tr.setting.sigma_b2,
           "q_star": tr.setting.q_star, "width": N, "depth": L, "alpha": tr.alpha,
           "branch": tr.branch, "tau_follows_q": tr.tau_follows_q, "band": b,
           "grad_limit": g, "sparsity_drift": sd, "chi_drift": cd, "cells": n}
    return ResNetPrediction(risk, drift, clip(alive - hi), clip(lo),
                            np.clip(1.0 - surv, 0.0, 1.0), mall / 2,
                            math.sqrt(max(vall, 0.0)) / 2, tr, cfg)


# ------------------------------------------------------------------------------------------
# The verdict
# ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ResNetAssessment:
    r"""What :func:`assess_resnet` found (the ``check --arch resnet`` payload).

    Attributes
    ----------
    verdict : {"stable", "marginal", "unstable"}
        :func:`eoctheory.theory.finite_width.verdict_of` of ``risk`` at ``risk_threshold``.
    risk : float
        Finite width: :func:`predict_resnet`'s risk. Without a width: 1.0 if the
        infinite-width sparsity or :math:`\chi_b` drifts past the limits or the gradient
        ratio leaves :math:`[1/g, g]`, else 0.0.
    drift_probability, explosion_probability, vanishing_probability : float
    q : ndarray (L+1,)
        Infinite-width :math:`q^l` (empty if it overflowed).
    sparsity : ndarray (L,)
        Infinite-width sparsity of each block's (first) activation.
    gradient_ratio : ndarray (L+1,)
        Infinite-width :math:`\|\delta^l\|/\|\delta^L\|`.
    reasons : tuple of str
    """

    activation: str
    verdict: str
    risk: float
    drift_probability: float
    explosion_probability: float
    vanishing_probability: float
    q: np.ndarray
    sparsity: np.ndarray
    gradient_ratio: np.ndarray
    reasons: tuple
    width: int | None
    depth: int
    alpha: float
    branch: str
    tau_follows_q: bool
    sigma_w2: float
    sigma_b2: float
    q_star: float
    params: dict
    risk_threshold: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (arrays as lists)."""
        out = {k: getattr(self, k) for k in self.__dataclass_fields__}
        for k in ("q", "sparsity", "gradient_ratio"):
            out[k] = [float(v) for v in out[k]]
        out["reasons"] = list(self.reasons)
        return out


def assess_resnet(activation: Activation | str, *, depth: int, sparsity: float | None = None,
                  target_slope: float | None = None, width: int | None = None,
                  alpha: float | None = None, branch: str = "one", tau_follows_q: bool = True,
                  risk: float = 0.05, q_star: float = 1.0, sigma_w2: float | None = None,
                  sigma_b2: float | None = None, grad_limit: float = fw.GRAD_LIMIT,
                  **params: float) -> ResNetAssessment:
    r"""A verdict for a residual MLP initialised with a sparsifying activation.

    Parameters as :func:`residual_trajectory` and :func:`predict_resnet`; ``risk`` is the
    threshold of :func:`~eoctheory.theory.finite_width.verdict_of` (stable up to it,
    marginal up to 4 times it). Without ``width`` the infinite-width trajectory is judged
    (drift of the sparsity by more than 0.1 or of :math:`\chi_b` by a factor 2 from the
    design, or a gradient ratio outside :math:`[1/g, g]`: risk 1).

    Examples
    --------
    >>> assess_resnet("crelu", sparsity=0.85, target_slope=0.7, depth=50).verdict
    'stable'
    >>> assess_resnet("crelu", sparsity=0.85, target_slope=0.7, depth=50,
    ...               tau_follows_q=False, alpha=1.0).verdict
    'unstable'
    """
    L = check_int(depth, "depth", 1)
    thr = float(risk)
    if not 0 < thr < 1:
        raise ValueError(f"risk must be in (0, 1) (got {risk!r})")
    if width is not None:
        width = check_int(width, "width", 2)
    g = fw.check_grad_limit(grad_limit)
    a = check_alpha(alpha, L)
    br = check_branch(branch)
    _check_follow(tau_follows_q)
    st = _design(activation, sparsity, target_slope, q_star, sigma_w2, sigma_b2, params)
    head = (f"residual MLP, {L} {br}-layer blocks, alpha = {a:.4g}, "
            f"tau {'follows sqrt(q^l)' if tau_follows_q else 'fixed'}")
    common = dict(width=width, depth=L, alpha=a, branch=br, tau_follows_q=bool(tau_follows_q),
                  sigma_w2=st.sigma_w2, sigma_b2=st.sigma_b2, q_star=st.q_star,
                  params=st.params, risk_threshold=thr)
    kw = dict(depth=L, alpha=a, branch=br, tau_follows_q=tau_follows_q, q_star=st.q_star,
              sigma_w2=st.sigma_w2, sigma_b2=st.sigma_b2)
    try:
        tr = _trajectory(st, L, a, br, bool(tau_follows_q), st.q_star, None)
    except VarianceOverflowError as e:
        empty = np.empty(0)
        return ResNetAssessment(st.activation.name, "unstable", 1.0, 1.0, 0.0, 0.0, empty,
                                empty, empty, (head, str(e)), **common)
    s_ref = st.sparsity
    sp_all = tr.sparsity if br == "one" else np.concatenate([tr.sparsity, tr.inner_sparsity])
    ds = float(np.max(np.abs(sp_all - s_ref)))
    c_ref = _design_chi(st, br)
    cr = tr.branch_chi / c_ref if c_ref > 0 else np.full(L, np.inf)
    ratio = float(tr.gradient_ratio[0])
    reasons = [head,
               f"infinite width: q^L/q^0 = {tr.q[-1] / tr.q[0]:.4g}; sparsity "
               f"{tr.sparsity[0]:.3g} -> {tr.sparsity[-1]:.3g} (design {s_ref:.3g}, largest "
               f"drift {ds:.3g}); chi_b/chi_b(design) in [{cr.min():.3g}, {cr.max():.3g}]; "
               f"|grad 0|/|grad L| = {ratio:.4g}"]
    if width is None:
        drift = ds > fw.SPARSITY_DRIFT or cr.max() > fw.CHI_DRIFT or cr.min() < 1 / fw.CHI_DRIFT
        expl = (not drift) and ratio > g
        van = (not drift) and ratio < 1 / g
        rk = float(drift or expl or van)
        dp, ep, vp = float(drift), float(expl), float(van)
        if drift:
            reasons.append(f"the sparsity drifts by more than {fw.SPARSITY_DRIFT:g} or chi_b by a "
                           f"factor > {fw.CHI_DRIFT:g} along depth"
                           + ("" if tau_follows_q else ": a fixed tau does not follow q^l"))
        if expl:
            reasons.append(f"|grad 0|/|grad L| = {ratio:.3g} > {g:g}: lower alpha "
                           f"(alpha^2 L chi_b = {a * a * float(tr.branch_chi.sum()):.3g})")
        reasons.append("give a width for the finite-width risk")
    else:
        pred = predict_resnet(st.activation, width=width, grad_limit=g, **kw)
        rk, dp = pred.risk, pred.drift_probability
        ep, vp = pred.explosion_probability, pred.vanishing_probability
        reasons.append(f"finite width N = {width}: predicted risk {rk:.3g} "
                       f"({'<=' if rk <= thr else '>'} {thr:g}); P(drift) = {dp:.3g}, "
                       f"P(|grad 0|/|grad L| > {g:g}) = {ep:.3g}, P(< 1/{g:g}) = {vp:.3g}")
    return ResNetAssessment(st.activation.name, fw.verdict_of(rk, thr), rk, dp, ep, vp, tr.q,
                            tr.sparsity, tr.gradient_ratio, tuple(reasons), **common)
