r"""The finite-width network drawn exactly in law, to validate the finite-width prediction.

:func:`simulate_law` draws the per-layer :math:`q^l` and gradient norms
:math:`\|\delta^l\|` of many random DNNs in :math:`O(NL)` per network (forward and
backward), from the law of each layer given the previous one: no weight matrix is drawn. It
is tested against the reference network (:class:`eoctheory.nets.Network`) and is what
:func:`~eoctheory.theory.finite_width.predict` is validated against
(``benchmarks/bench_finite_width.py``).
"""

from __future__ import annotations

import math

import numpy as np

from eoctheory.engine import maps
from eoctheory.engine.activations import Activation, get_activation
from eoctheory.engine.checks import check_int

__all__ = [
    "simulate_law",
]


def simulate_law(activation: Activation | str, *, width: int, depth: int, seeds: int,
                 sigma_w2: float, sigma_b2: float, q_star: float = 1.0,
                 q_input: float | None = None, seed: int = 0, chunk_bytes: float = 6e7,
                 **params: float) -> tuple[np.ndarray, np.ndarray]:
    r"""Draw :math:`q^l` and :math:`\|\delta^l\|` of many DNNs exactly in law, in O(N L).

    One input with :math:`\|x\|^2/N = q_\text{in}`, variance-preserving first layer and a
    random output gradient :math:`\delta^L \sim N(0, I)`, as in
    :func:`eoctheory.nets.simulate` with ``batch=1``. Forward: :math:`h^1 =
    \sqrt{q_\text{in}}Z`, :math:`h^{l+1} = \sqrt{G_{l+1}}Z'` with
    :math:`G_{l+1} = \sigma_w^2\|\phi(h^l)\|^2/N + \sigma_b^2` (the law of the network's
    pre-activations given the previous layer). Backward: the weights given the forward pass
    are conditionally Gaussian, :math:`W^{l+1} = W_0 + \frac{\sigma_w^2}{N G_{l+1}}(h^{l+1} -
    W_0 a - \beta_0) a^{\mathsf T}` with :math:`a = \phi(h^l)` and a fresh prior draw
    :math:`(W_0, \beta_0)` (Gaussian conditioning on :math:`W a + b = h`), so

    .. math::

        (W^{l+1})^{\mathsf T}\delta = u + \frac{\sigma_w^2}{N G_{l+1}}
        \big(\langle\delta, h^{l+1}\rangle - \langle a, u\rangle - \beta\big)\,a,\quad
        u\sim N(0, \tfrac{\sigma_w^2}{N}\|\delta\|^2 I),\ \beta\sim N(0,\sigma_b^2\|\delta\|^2),

    exact without the gradient-independence assumption (:math:`W_0` is independent of
    :math:`\delta^{l+1}`, which involves only later layers). Tested against
    :class:`eoctheory.nets.Network` in law.

    Returns
    -------
    q, grad_h_norm : ndarray (seeds, depth)
        :math:`q^l = \|h^l\|^2/N` and :math:`\|\delta^l\|` (NaN after an overflow).
    """
    act = get_activation(activation, **params)
    N = check_int(width, "width", 2)
    L = check_int(depth, "depth", 1)
    K = check_int(seeds, "seeds", 1)
    sw2 = float(maps.check_sigma(sigma_w2, "sigma_w2", True))
    sb2 = float(maps.check_sigma(sigma_b2, "sigma_b2", False))
    qin = float(q_star if q_input is None else maps.check_variance(q_input, "q_input"))
    rng = np.random.default_rng(seed)
    q = np.empty((K, L))
    gh = np.empty((K, L))
    per = max(1, int(chunk_bytes // (8 * 2 * L * N)))
    with np.errstate(all="ignore"):
        for k0 in range(0, K, per):
            k1 = min(K, k0 + per)
            B = k1 - k0
            H = np.empty((L, B, N))
            G = np.empty((L, B, 1))
            G[0] = qin
            H[0] = math.sqrt(qin) * rng.standard_normal((B, N))
            A = np.empty((L, B, N))
            for l in range(L):
                if l:
                    G[l] = sw2 * np.mean(A[l - 1] ** 2, axis=1, keepdims=True) + sb2
                    H[l] = np.sqrt(G[l]) * rng.standard_normal((B, N))
                A[l] = act(H[l])
            q[k0:k1] = np.mean(H * H, axis=2).T
            d = rng.standard_normal((B, N))
            gh[k0:k1, L - 1] = np.linalg.norm(d, axis=1)
            for l in range(L - 2, -1, -1):
                a = A[l]
                nd = np.linalg.norm(d, axis=1, keepdims=True)
                u = math.sqrt(sw2 / N) * nd * rng.standard_normal((B, N))
                beta = math.sqrt(sb2) * nd * rng.standard_normal((B, 1))
                coef = (np.sum(d * H[l + 1], axis=1, keepdims=True)
                        - np.sum(a * u, axis=1, keepdims=True) - beta)
                wtd = u + (sw2 / (N * G[l + 1])) * coef * a
                d = act.derivative(H[l]) * wtd
                gh[k0:k1, l] = np.linalg.norm(d, axis=1)
    q[~np.isfinite(q)] = np.nan
    gh[~np.isfinite(gh)] = np.nan
    return q, gh
