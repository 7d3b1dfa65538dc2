r"""Layer-by-layer trajectories: the infinite-width theory and finite-width samples.

:func:`theory_trajectory` iterates the infinite-width maps (variance map eq. 3, correlation
map eq. 6, gradient factor :math:`\chi_1` per layer, App. A) from the input variance;
:func:`variance_trajectories` draws the finite-width :math:`q^l` and sparsity of a DNN for
many seeds, exactly in law in :math:`O(N)` per layer or by drawing the network's weights
(the same random stream as :class:`~eoctheory.nets.network.Network`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from eoctheory.engine import maps
from eoctheory.engine.checks import check_int
from eoctheory.limits import NORMAL_COST, check_resources
from eoctheory.nets.network import (
    Init,
    check_dtype,
    check_first_layer,
    correlated_inputs,
    draw_layers,
    seed_rng,
)
from eoctheory.nets.pointwise_kernels import pointwise

__all__ = [
    "Trajectories",
    "theory_trajectory",
    "variance_trajectories",
]


def theory_trajectory(init: Init, depth: int, q_input: float, *, rho_input: float | None = None,
                      first_layer: str = "preserve") -> dict[str, np.ndarray]:
    r"""Infinite-width predictions per layer :math:`l = 1..L`.

    * :math:`q^1 = q_\text{in}` (``preserve``) or :math:`\sigma_w^2 q_\text{in}+\sigma_b^2`
      (``standard``), with :math:`q_\text{in} = \|x\|^2/N_0`; then
      :math:`q^{l+1} = V(q^l)` (eq. 3).
    * sparsity :math:`s^l = P(\phi(\sqrt{q^l} Z) = 0)` (eq. 12).
    * correlation: :math:`\rho^1 = \rho_\text{in}` (preserve) or
      :math:`(\sigma_w^2 \rho_\text{in} q_\text{in} + \sigma_b^2)/q^1`; then
      :math:`\rho^{l+1} = (\sigma_w^2 \mathbb{E}[\phi(u_1)\phi(u_2)] + \sigma_b^2)/q^{l+1}`
      with :math:`(u_1, u_2)` of variance :math:`q^l` and correlation :math:`\rho^l`, i.e.
      the correlation map :math:`R` (eq. 6) evaluated at variance :math:`q^l`, times
      :math:`q^l/q^{l+1}` (exactly :math:`R(\rho^l)` on the EoC where :math:`q^l = q^*`).
    * gradient factor :math:`\chi_1(q^l) = \sigma_w^2\mathbb{E}[\phi'(\sqrt{q^l}Z)^2]`:
      :math:`\mathbb{E}\|\delta^l\|^2 = \chi_1(q^l)\,\mathbb{E}\|\delta^{l+1}\|^2` (App. A).

    Layers after the theory leaves :math:`(0, 10^{150})` are NaN.
    """
    act, sw2, sb2 = init.activation, init.sigma_w2, init.sigma_b2
    L = check_int(depth, "depth")
    q = np.full(L, np.nan)
    q[0] = q_input if first_layer == "preserve" else sw2 * q_input + sb2
    inside = lambda v: maps.Q_MIN <= v <= maps.Q_MAX  # noqa: E731 - the maps' range
    for l in range(1, L):
        if not inside(q[l - 1]):  # diverged or collapsed past the maps' range: the rest NaN
            break
        q[l] = float(maps.variance_map(act, q[l - 1], sw2, sb2))
    ok = np.isfinite(q) & (q >= maps.Q_MIN) & (q <= maps.Q_MAX)
    s = np.full(L, np.nan)
    c1 = np.full(L, np.nan)
    s[ok] = maps.sparsity(act, q[ok])
    c1[ok] = maps.chi1(act, q[ok], sw2)
    rho = np.full(L, np.nan)
    if rho_input is not None:
        from eoctheory.theory.correlation import correlation_map

        rho[0] = rho_input if first_layer == "preserve" else \
            (sw2 * rho_input * q_input + sb2) / q[0]
        for l in range(1, L):
            if not (ok[l] and np.isfinite(rho[l - 1])):
                break
            r = float(np.clip(rho[l - 1], -1.0, 1.0))
            rho[l] = float(correlation_map(act, r, sw2, sb2, q_star=q[l - 1])) * q[l - 1] / q[l]
    return {"q": q, "sparsity": s, "rho": rho, "chi1": c1}


# ------------------------------------------------------------------------------------------
# Variance-only trajectories for many seeds
# ------------------------------------------------------------------------------------------
@dataclass
class Trajectories:
    r"""Per-seed layer trajectories: ``q`` and ``sparsity`` of shape (seeds, L) (batch means)."""

    q: np.ndarray
    sparsity: np.ndarray


def variance_trajectories(init: Init, width: int, depth: int, seeds: int, *,
                          q_input: float | None = None, batch: int = 1,
                          first_layer: str = "preserve", method: str = "law",
                          dtype: Any = np.float64, seed: int = 0) -> Trajectories:
    r"""Finite-width :math:`q^l` (and sparsity) trajectories of a DNN for many seeds.

    Nothing but the current layer is stored. Two methods:

    ``"weights"``
        Draws every :math:`W^l, b^l` (the same random stream as
        :class:`~eoctheory.nets.network.Network` with seed ``k``, so the trajectory equals
        that network's) and multiplies: :math:`O(N^2)` per layer, dominated by drawing
        :math:`N^2` normals.
    ``"law"``
        Exact in distribution and :math:`O(N)` per layer. Given the layer input
        :math:`A = \phi(h^{l-1})` (``batch`` rows), :math:`W^l` and :math:`b^l` are
        independent of it, so the rows of :math:`h^l` restricted to each unit :math:`i`,
        :math:`(h^l_i(x_1),\dots,h^l_i(x_B))`, are iid over :math:`i` and Gaussian with
        covariance :math:`G = \sigma_w^2 A A^T / N_{l-1} + \sigma_b^2 \mathbf 1\mathbf 1^T`.
        So :math:`h^l = S Z` with :math:`SS^T = G` and :math:`Z` a fresh
        ``(batch, N_l)`` normal matrix has exactly the law of the network's :math:`h^l`
        given :math:`h^{l-1}`; by induction the whole trajectory has the network's law (for
        one seed it is not the same sample). All seeds run at once.

    Inputs are :func:`~eoctheory.nets.network.correlated_inputs` with
    :math:`\|x\|^2/N_0 = q_\text{in}` (default ``init.q_star``), :math:`N_0 = ` ``width``.
    """
    width = check_int(width, "width", 2)
    L = check_int(depth, "depth")
    K = check_int(seeds, "seeds")
    B = check_int(batch, "batch")
    dt = check_dtype(dtype)
    check_first_layer(first_layer)
    qin = (init.q_star if q_input is None
           else float(maps.check_variance(q_input, "q_input")))
    if method not in ("law", "weights"):
        raise ValueError(f"method must be 'law' or 'weights', got {method!r}")
    it = dt.itemsize
    if method == "law":  # a, h, the activations and Z: (seeds, batch, width) each
        nbytes = 4.0 * K * B * width * it + 3.0 * K * B * B * 8 + 2.0 * K * L * 8
        ops = L * K * B * width * (NORMAL_COST + 2 * B + 20) + L * 2e5
    else:  # one layer's weights at a time
        nbytes = 2.0 * width * width * it + 4.0 * B * width * it + 2.0 * K * L * 8
        ops = K * L * (width * width * (NORMAL_COST + 2 * B) + 2e5)
    check_resources(f"variance_trajectories(width={width}, depth={L}, seeds={K}, batch={B}, "
                    f"method={method!r})", nbytes=nbytes, operations=ops,
                    hint="lower width, depth, seeds or batch")
    pw = pointwise(init.activation)
    sw2, sb2 = init.sigma_w2, init.sigma_b2
    q = np.empty((K, L))
    sp = np.empty((K, L))
    x = correlated_inputs(B, width, q=qin, rho=0.5, rng=seed_rng(seed, 10**6))
    if method == "weights":
        widths = (width,) * (L + 1)
        with np.errstate(all="ignore"):
            for k in range(K):
                a = x.astype(dt)
                h = np.empty((B, width), dt)
                for l, (W, b) in enumerate(draw_layers(seed_rng(seed, k), widths, 1, sw2, sb2,
                                                        first_layer, dt)):
                    np.matmul(a, W, out=h)
                    h += b
                    q[k, l] = np.einsum("ij,ij->", h, h, dtype=np.float64) / h.size
                    if l == 0:
                        a = np.empty_like(h)
                    pw.phi(h, a)
                    sp[k, l] = 1.0 - np.count_nonzero(a) / a.size
        return Trajectories(q, sp)
    gen = seed_rng(seed, 0)
    a = np.broadcast_to(x.astype(dt), (K, B, width))
    h = np.empty((K, B, width), dt)
    act_buf = np.empty((K, B, width), dt)
    eye = np.eye(B)
    with np.errstate(all="ignore"):
        for l in range(L):
            first = l == 0 and first_layer == "preserve"
            a64 = a.astype(np.float64, copy=False)
            G = np.matmul(a64, np.swapaxes(a64, 1, 2)) * ((1.0 if first else sw2) / width)
            if not first:
                G += sb2
            bad = ~np.all(np.isfinite(G), axis=(1, 2))
            G[bad] = eye
            w, U = np.linalg.eigh(G)
            S = U * np.sqrt(np.maximum(w, 0.0))[:, None, :]
            Z = gen.standard_normal((K, B, width), dtype=dt)
            np.matmul(S.astype(dt), Z, out=h)
            h[bad] = np.nan
            q[:, l] = np.einsum("kij,kij->k", h, h, dtype=np.float64) / (B * width)
            pw.phi(h, act_buf)
            sp[:, l] = 1.0 - np.count_nonzero(act_buf.reshape(K, -1), axis=1) / (B * width)
            a = act_buf
    return Trajectories(q, sp)
