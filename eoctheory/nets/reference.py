r"""Reference finite-width networks in NumPy (no torch, no autograd).

A fully connected network (DNN) and a 1-D convolutional network (CNN, eq. 2) initialised
on the Edge of Chaos (or at any :math:`(\sigma_w^2, \sigma_b^2)`), with a forward pass that
records, per layer, the empirical pre-activation variance :math:`q^l`, the activation
sparsity and the correlation between pairs of inputs, and a hand-written backward pass that
records per-layer gradient norms. :func:`simulate` runs many seeds and sets the measurements
beside the infinite-width theory (variance map eq. 3, correlation map eq. 6, gradient
factor :math:`\chi_1` per layer, App. A).

Conventions
-----------
* Layers :math:`l = 1, \dots, L`; widths (channels) ``widths = (N_0, N_1, ..., N_L)``.
* :math:`h^1 = W^1 x + b^1`, :math:`h^l = W^l \phi(h^{l-1}) + b^l` (the output
  :math:`h^L` is linear). The activation sparsity of layer :math:`l` is the fraction of
  zeros in :math:`\phi(h^l)`, also for :math:`l = L` (it is what layer :math:`L+1` would
  see).
* CNN (eq. 2), kernel :math:`2k+1`, circular padding:
  :math:`h^l_i(a) = \sum_j \sum_{b=-k}^{k} W^l_{ij}(b)\,\phi(h^{l-1}_j(a+b)) + b^l_i`.
  Inputs are channels-last, shape ``(batch, positions, channels)``. A DNN is the case
  ``kernel_size = 1`` with inputs ``(batch, N_0)``.
* Weights :math:`W^l_{ij}(b) \sim N(0, \sigma_w^2 / (N_{l-1}(2k+1)))`, biases
  :math:`b^l_i \sim N(0, \sigma_b^2)`; stored as ``weights[l-1]`` of shape
  ``((2k+1) N_{l-1}, N_l)`` with row ``(b+k) N_{l-1} + j`` and column ``i`` (the
  transpose of :math:`W^l`, so that a layer is one ``matmul`` of an (im2col) activation
  matrix in the network's dtype).
* ``first_layer="standard"``: layer 1 like every other, so
  :math:`q^1 = \sigma_w^2 \|x\|^2/N_0 + \sigma_b^2` (Sec. 2).
  ``first_layer="preserve"`` (the paper's experiments): :math:`W^1 \sim N(0, 1/(N_0(2k+1)))`
  and :math:`b^1 = 0`, so :math:`q^1 = \|x\|^2/N_0`: inputs normalised to
  :math:`\|x\|^2/N_0 = q^*` start the network at its fixed point, :math:`q^1 = q^*`.
* :math:`q^l` of one input is :math:`\|h^l\|^2 / (N_l P)` (``P`` positions); correlation of
  inputs :math:`a, b` is the cosine :math:`\langle h^l_a, h^l_b\rangle / (\|h^l_a\|\|h^l_b\|)`,
  the quantity the correlation map :math:`R` describes (non-centred, eq. 6).
* Randomness: a :class:`numpy.random.Generator`; :func:`seed_rng` derives seed ``k`` of a
  run from ``SeedSequence(seed).spawn``, so seed ``k`` is the same network in runs of any
  length. Weights are drawn layer by layer (``W^l`` then ``b^l``) directly in the dtype.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from eoctheory.engine import maps
from eoctheory.engine.checks import check_int
from eoctheory.limits import NORMAL_COST, check_resources
from eoctheory.engine.activations import CATALOGUE, Activation, get_activation
from eoctheory.nets.kernels import NumpyKernels
from eoctheory.theory.setting import Setting, resolve_setting

__all__ = [
    "BackwardRecord",
    "ForwardRecord",
    "HAND_WRITTEN",
    "Init",
    "Network",
    "SimulationResult",
    "Trajectories",
    "correlated_inputs",
    "estimate_simulate",
    "eoc_init",
    "failures",
    "pointwise",
    "seed_rng",
    "simulate",
    "theory_trajectory",
    "variance_trajectories",
]

_FIRST_LAYER = ("standard", "preserve")


# ------------------------------------------------------------------------------------------
# Initialisation on (or off) the Edge of Chaos
# ------------------------------------------------------------------------------------------
#: An initialisation: the resolved :class:`~eoctheory.theory.setting.Setting` (the name
#: ``Init`` is kept for the networks' API).
Init = Setting


def eoc_init(activation: Activation | str, *, sparsity: float | None = None,
             m: float | None = None, target_slope: float | None = None, q_star: float = 1.0,
             sigma_w2: float | None = None, sigma_b2: float | None = None,
             **params: float) -> Init:
    r"""Resolve an activation's parameters and its Edge-of-Chaos point (App. A).

    The networks' spelling of :func:`eoctheory.theory.setting.resolve_setting` (clipped
    activations get ``target_slope = 0.7`` when neither ``m`` nor ``target_slope`` is given).

    Parameters
    ----------
    activation : Activation or str
    sparsity : float, optional
        Target sparsity :math:`s` at :math:`q^*`; sets ``tau`` (eq. 12,
        :func:`eoctheory.theory.eoc.tau_from_sparsity`).
    m : float, optional
        Clipping height (CReLU, CST).
    target_slope : float, optional
        Choose ``m`` so that :math:`V'(q^*)` equals this on the EoC (Sec. 3.1,
        :func:`eoctheory.theory.eoc.m_for_slope`). Exclusive with ``m``.
    q_star : float, default 1
        Fixed-point variance :math:`q^*`.
    sigma_w2, sigma_b2 : float, optional
        Give both to initialise off the EoC; by default :math:`\chi_1(q^*) = 1` and
        :math:`\sigma_b^2 = q^* - \sigma_w^2 \mathbb{E}[\phi(\sqrt{q^*}Z)^2]`.
    **params
        Other activation parameters (e.g. ``tau``).

    Raises
    ------
    ValueError
        Conflicting or out-of-range parameters, no EoC point at this :math:`q^*`.

    Examples
    --------
    >>> ini = eoc_init("relu", sparsity=0.5)
    >>> round(ini.sigma_w2, 12), round(ini.sigma_b2, 12), round(ini.chi1, 12)
    (2.0, 0.0, 1.0)
    """
    return resolve_setting(activation, sparsity=sparsity, m=m, target_slope=target_slope,
                           q_star=q_star, sigma_w2=sigma_w2, sigma_b2=sigma_b2, **params)


# ------------------------------------------------------------------------------------------
# Pointwise activation kernels in the network dtype
# ------------------------------------------------------------------------------------------
#: Hand-written NumPy kernels that exist (catalogue name -> kind); ``plain_relu`` is ReLU_0.
_HAND_KINDS = {"relu": "relu", "plain_relu": "relu", "st": "st", "crelu": "crelu",
               "cst": "cst", "hardtanh": "hardtanh", "tanh": "tanh", "identity": "identity"}
#: Catalogue activations whose hand-written kernel stays the default of :func:`pointwise`
#: because the generated one (:mod:`eoctheory.nets.kernels`) makes the network measurably
#: slower: forward+backward of the depth-100, width-300 DNN 4-7% slower in float32 and in
#: float64 (``benchmarks/bench_network.py``); ST and CST have a zero run between two sloped
#: runs, which costs the generated kernel a selection per sloped run where the hand-written
#: ``h - clip(h, -tau, tau)`` needs none. Every other activation (ReLU_tau, CReLU,
#: hard-tanh, tanh: within 3%) uses the generated kernels.
HAND_WRITTEN: tuple[str, ...] = ("st", "cst")


class _Pointwise:
    r"""In-place :math:`\phi` and multiplication by :math:`\phi'` on arrays of one dtype.

    ``kind="generated"``: the kernels generated from the activation's definition
    (:class:`~eoctheory.nets.kernels.NumpyKernels`), for any activation. Otherwise a
    hand-written kernel of a catalogue activation (eq. 7-10 and a few others). Either way
    the derivative at a kink is that of :meth:`Activation.derivative` (0 at the end points
    of a flat part) and arrays keep their dtype.
    """

    def __init__(self, act: Activation, kind: str):
        self.act = act
        self.kind = kind
        v = act.values
        self.tau = float(v.get("tau", 0.0))
        self.m = float(v.get("m", np.inf))
        self.kernels = NumpyKernels(act) if kind == "generated" else None

    @property
    def generated(self) -> bool:
        """Whether the kernels are the generated ones."""
        return self.kind == "generated"

    def phi(self, h: np.ndarray, out: np.ndarray) -> np.ndarray:
        """Write :math:`\\phi(h)` into ``out`` (same shape and dtype, not ``h``) and return it."""
        k, t, m = self.kind, self.tau, self.m
        if k == "generated":
            self.kernels.phi_into(h, out)
        elif k == "relu":  # max(0, h - tau)                               (eq. 7)
            np.subtract(h, t, out=out)
            np.maximum(out, 0, out=out)
        elif k == "st":  # h - clip(h, -tau, tau)                         (eq. 8)
            np.clip(h, -t, t, out=out)
            np.subtract(h, out, out=out)
        elif k == "crelu":  # clip(h - tau, 0, m)                          (eq. 9)
            np.subtract(h, t, out=out)
            np.clip(out, 0, m, out=out)
        elif k == "cst":  # clip(h - clip(h, -tau, tau), -m, m)           (eq. 10)
            np.clip(h, -t, t, out=out)
            np.subtract(h, out, out=out)
            np.clip(out, -m, m, out=out)
        elif k == "hardtanh":
            np.clip(h, -1, 1, out=out)
        elif k == "tanh":
            np.tanh(h, out=out)
        else:  # identity
            np.copyto(out, h)
        return out

    def mul_derivative(self, g: np.ndarray, h: np.ndarray, a: np.ndarray,
                       mask: np.ndarray, tmp: np.ndarray) -> None:
        r"""``g *= phi'(h)`` in place, given ``a = phi(h)``; ``mask`` (bool), ``tmp`` scratch."""
        k, m = self.kind, self.m
        if k == "generated":
            self.kernels.mul_derivative(g, h, tmp, mask)
            return
        if k == "relu":  # phi' = 1 where a > 0 (h > tau)
            np.greater(a, 0, out=mask)
        elif k == "st":  # |h| > tau
            np.not_equal(a, 0, out=mask)
        elif k in ("crelu", "cst", "hardtanh"):  # 0 < |a| < m (|a| < 1 for hardtanh)
            lim = 1.0 if k == "hardtanh" else m
            np.abs(a, out=tmp)
            np.less(tmp, lim, out=mask)
            if k != "hardtanh":
                np.logical_and(mask, tmp > 0, out=mask)
        elif k == "tanh":  # 1 - tanh^2
            np.multiply(a, a, out=tmp)
            np.subtract(1, tmp, out=tmp)
            np.multiply(g, tmp, out=g)
            return
        else:  # identity
            return
        np.multiply(g, mask, out=g)


def pointwise(activation: Activation | str, kernel: str = "auto",
              **params: float) -> _Pointwise:
    r"""The network's pointwise kernels for an activation: :math:`\phi` and :math:`g\,\phi'`.

    Parameters
    ----------
    activation : Activation or str
        Any activation (custom expressions and numeric-only ones included).
    kernel : {"auto", "generated", "hand"}, default "auto"
        ``"generated"``: generated from the definition (:mod:`eoctheory.nets.kernels`);
        ``"hand"``: the hand-written kernel of a catalogue activation (ValueError if there
        is none); ``"auto"``: hand-written for the names in :data:`HAND_WRITTEN`, generated
        for everything else.
    **params : float
        Parameter values.
    """
    act = get_activation(activation, **params)
    if kernel not in ("auto", "generated", "hand"):
        raise ValueError(f"kernel must be 'auto', 'generated' or 'hand', got {kernel!r}")
    ref = CATALOGUE.get(act.name)
    hand = _HAND_KINDS.get(act.name) if (ref is not None and act.expr is not None
                                         and act.expr == ref.expr) else None
    if kernel == "hand" and hand is None:
        raise ValueError(f"kernel: activation {act.name!r} has no hand-written kernel "
                         f"(those are {sorted(_HAND_KINDS)})")
    if kernel == "hand" or (kernel == "auto" and hand is not None and act.name in HAND_WRITTEN):
        return _Pointwise(act, hand)
    return _Pointwise(act, "generated")


# ------------------------------------------------------------------------------------------
# Records
# ------------------------------------------------------------------------------------------
@dataclass
class ForwardRecord:
    r"""What a forward pass measured.

    Attributes
    ----------
    output : ndarray
        :math:`h^L`, shape ``(batch, N_L)`` (DNN) or ``(batch, positions, N_L)``.
    q : ndarray, shape (L, batch)
        Empirical :math:`q^l` of each input, :math:`\|h^l\|^2/(N_l P)`.
    sparsity : ndarray, shape (L,)
        Fraction of zeros in :math:`\phi(h^l)` over the batch.
    rho : ndarray, shape (L, n_pairs)
        Cosine correlation of :math:`h^l` between the paired inputs.
    pairs : ndarray, shape (n_pairs, 2)
    """

    output: np.ndarray
    q: np.ndarray
    sparsity: np.ndarray
    rho: np.ndarray
    pairs: np.ndarray


@dataclass
class BackwardRecord:
    r"""What a backward pass measured.

    Attributes
    ----------
    loss : float
        :math:`\tfrac12\|h^L - y\|^2` summed over the batch (NaN if an output gradient was
        supplied instead of a target).
    grad_w_norm, grad_b_norm : ndarray, shape (L,)
        Frobenius norms of :math:`\partial \mathcal L/\partial W^l` and of
        :math:`\partial \mathcal L/\partial b^l`.
    grad_h_norm : ndarray, shape (L,)
        :math:`\|\delta^l\|`, :math:`\delta^l = \partial\mathcal L/\partial h^l` over the batch.
    grad_w, grad_b : list of ndarray
        The gradients (same layout as :attr:`Network.weights`); buffers owned by the network,
        overwritten by its next backward pass.
    """

    loss: float
    grad_w_norm: np.ndarray
    grad_b_norm: np.ndarray
    grad_h_norm: np.ndarray
    grad_w: list
    grad_b: list


def seed_rng(seed: int | np.random.Generator | None, k: int = 0) -> np.random.Generator:
    """Generator for seed ``k`` of a run: child ``k`` of ``SeedSequence(seed)``.

    A Generator passed in is returned unchanged.
    """
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(int(k),)))




def _check_dtype(dtype: Any) -> np.dtype:
    dt = np.dtype(dtype)
    if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ValueError(f"dtype must be float32 or float64, got {dt}")
    return dt


# ------------------------------------------------------------------------------------------
# The network
# ------------------------------------------------------------------------------------------
class Network:
    r"""A random fully connected network or 1-D CNN (eq. 2) with hand-written backprop.

    Parameters
    ----------
    activation : Activation or str
        Any catalogue or user activation; ``**params`` set its parameters.
    widths : sequence of int
        :math:`(N_0, N_1, \dots, N_L)`: input width and the widths (channels) of the
        :math:`L` layers.
    sigma_w2, sigma_b2 : float
        :math:`\sigma_w^2 > 0`, :math:`\sigma_b^2 \ge 0`; weights
        :math:`N(0, \sigma_w^2/(N_{l-1}(2k+1)))`, biases :math:`N(0, \sigma_b^2)`.
    kernel_size : int, default 1
        :math:`2k+1` (odd). 1 is a DNN (or a pointwise CNN on 3-D inputs).
    first_layer : {"standard", "preserve"}
        ``"preserve"``: :math:`W^1 \sim N(0, 1/(N_0(2k+1)))`, :math:`b^1 = 0`, so that
        :math:`q^1 = \|x\|^2/N_0` (see the module notes).
    dtype : float32 or float64
    rng : int, Generator or None
        Seed or generator (``int`` seeds go through :func:`seed_rng` with ``k = 0``).
    kernel : {"auto", "generated", "hand"}, default "auto"
        The pointwise kernels of :math:`\phi` and :math:`\phi'` (see :func:`pointwise`).

    Examples
    --------
    >>> ini = eoc_init("crelu", sparsity=0.7, target_slope=0.7)
    >>> net = Network.from_init(ini, [100] * 6, first_layer="preserve", rng=0)
    >>> x = correlated_inputs(4, 100, q=1.0, rho=0.5, rng=1)
    >>> rec = net.forward(x)
    >>> rec.q.shape, rec.sparsity.shape, rec.rho.shape
    ((5, 4), (5,), (5, 2))
    >>> back = net.backward(target=np.zeros_like(rec.output))
    >>> back.grad_w_norm.shape
    (5,)
    """

    def __init__(self, activation: Activation | str, widths: Sequence[int], sigma_w2: float,
                 sigma_b2: float, *, kernel_size: int = 1, first_layer: str = "standard",
                 dtype: Any = np.float64, rng: int | np.random.Generator | None = None,
                 kernel: str = "auto", **params: float):
        self.activation = get_activation(activation, **params)
        self._pw = pointwise(self.activation, kernel)
        if isinstance(widths, (int, np.integer)) or len(widths) < 2:
            raise ValueError("widths must list the input width and at least one layer width")
        self.widths = tuple(check_int(w, "widths") for w in widths)
        self.sigma_w2 = float(maps._check_sigma(sigma_w2, "sigma_w2", True))
        self.sigma_b2 = float(maps._check_sigma(sigma_b2, "sigma_b2", False))
        ks = check_int(kernel_size, "kernel_size")
        if ks % 2 == 0:
            raise ValueError(f"kernel_size must be odd (2k+1), got {ks}")
        self.kernel_size = ks
        if first_layer not in _FIRST_LAYER:
            raise ValueError(f"first_layer must be one of {_FIRST_LAYER}, got {first_layer!r}")
        self.first_layer = first_layer
        self.dtype = _check_dtype(dtype)
        n = sum(ks * a * b + b for a, b in zip(self.widths[:-1], self.widths[1:]))
        check_resources(f"Network(widths of {len(self.widths)} layers up to "
                        f"{max(self.widths)}, kernel_size={ks})",
                        nbytes=float(n) * self.dtype.itemsize, operations=n * NORMAL_COST,
                        hint="lower the widths or the depth")
        gen = seed_rng(rng)
        self.weights: list[np.ndarray] = []
        self.biases: list[np.ndarray] = []
        for W, b in _draw_layers(gen, self.widths, ks, self.sigma_w2, self.sigma_b2,
                                 first_layer, self.dtype):
            self.weights.append(W)
            self.biases.append(b)
        self._ws: dict = {}
        self._last: dict | None = None

    @classmethod
    def from_init(cls, init: Init, widths: Sequence[int], **kw: Any) -> Network:
        """A network with the activation and variances of an :class:`Init`."""
        return cls(init.activation, widths, init.sigma_w2, init.sigma_b2, **kw)

    @property
    def depth(self) -> int:
        """:math:`L`, the number of layers."""
        return len(self.widths) - 1

    # --- workspace ------------------------------------------------------------------------
    def _workspace(self, B: int, P: int, keep: bool) -> dict:
        key = (B, P, keep)
        ws = self._ws.get(key)
        if ws is not None:
            return ws
        dt, K = self.dtype, self.kernel_size
        wmax = max(self.widths[1:])
        if keep:
            H = [np.empty((B * P, n), dt) for n in self.widths[1:]]
            A = [np.empty((B * P, n), dt) for n in self.widths[1:]]
        else:
            pp = [np.empty(B * P * wmax, dt) for _ in range(2)]
            h1 = np.empty(B * P * wmax, dt)
            H = [h1[:B * P * n].reshape(B * P, n) for n in self.widths[1:]]
            A = [pp[i % 2][:B * P * n].reshape(B * P, n) for i, n in enumerate(self.widths[1:])]
        ws = {"H": H, "A": A,
              "col": (np.empty(B * P * K * max(self.widths[:-1]), dt) if K > 1 else None),
              "mask": np.empty(B * P * wmax, bool), "tmp": np.empty(B * P * wmax, dt)}
        if len(self._ws) > 4:
            self._ws.clear()
        self._ws[key] = ws
        return ws

    def _im2col(self, a: np.ndarray, B: int, P: int, buf: np.ndarray) -> np.ndarray:
        """``(B*P, C)`` -> ``(B*P, (2k+1) C)``: column block ``b+k`` holds a(position + b)."""
        K = self.kernel_size
        if K == 1:
            return a
        C = a.shape[1]
        k = K // 2
        a3 = a.reshape(B, P, C)
        col = buf[:B * P * K * C].reshape(B, P, K, C)
        for j in range(K):
            s = (j - k) % P  # circular: col[:, a, j] = a3[:, (a + j - k) mod P]
            col[:, :P - s, j, :] = a3[:, s:, :]
            if s:
                col[:, P - s:, j, :] = a3[:, :s, :]
        return col.reshape(B * P, K * C)

    def _col2im(self, dcol: np.ndarray, B: int, P: int, C: int, out: np.ndarray) -> np.ndarray:
        """Adjoint of :meth:`_im2col` (sums the circular shifts back) into ``out``."""
        K = self.kernel_size
        k = K // 2
        d4 = dcol.reshape(B, P, K, C)
        o3 = out.reshape(B, P, C)
        o3[...] = 0
        for j in range(K):
            s = (j - k) % P
            o3[:, s:, :] += d4[:, :P - s, j, :]
            if s:
                o3[:, :s, :] += d4[:, P - s:, j, :]
        return out

    def _shape_input(self, x: Any) -> tuple[np.ndarray, int, int]:
        x = np.asarray(x)
        N0 = self.widths[0]
        if x.ndim == 1:
            x = x[None, :]
        if x.ndim == 2 and self.kernel_size == 1:
            B, P = x.shape[0], 1
        elif x.ndim == 3:
            B, P = x.shape[0], x.shape[1]
        else:
            raise ValueError("x must have shape (batch, N_0) for a DNN or (batch, positions, "
                             f"channels) for a CNN; got {x.shape}")
        if x.shape[-1] != N0:
            raise ValueError(f"x has {x.shape[-1]} features/channels, the network expects "
                             f"N_0 = {N0}")
        if self.kernel_size > 1 and P < self.kernel_size // 2 + 1:
            raise ValueError(f"x has {P} positions, fewer than k+1 = {self.kernel_size // 2 + 1}")
        return np.ascontiguousarray(x, dtype=self.dtype).reshape(B * P, N0), B, P

    # --- forward --------------------------------------------------------------------------
    def forward(self, x: Any, *, keep: bool = True,
                pairs: Any = "adjacent") -> ForwardRecord:
        r"""Forward pass :math:`h^l = W^l \phi(h^{l-1}) + b^l` (eq. 1, 2), recording per layer.

        Parameters
        ----------
        x : array_like
            ``(batch, N_0)`` or ``(batch, positions, N_0)`` (channels-last).
        keep : bool, default True
            Keep every layer's :math:`h^l` and :math:`\phi(h^l)` for :meth:`backward`;
            ``False`` reuses two buffers (variance/sparsity/correlation only).
        pairs : "adjacent", None or array of shape (n, 2)
            Input pairs whose correlation to record; ``"adjacent"`` is (0,1), (2,3), ...

        Returns
        -------
        ForwardRecord
        """
        X, B, P = self._shape_input(x)
        pr = _pairs(pairs, B)
        ws = self._workspace(B, P, keep)
        L = self.depth
        q = np.empty((L, B))
        sp = np.empty(L)
        rho = np.empty((L, len(pr)))
        a = X
        with np.errstate(all="ignore"):
            for l in range(L):
                W, b, H, A = self.weights[l], self.biases[l], ws["H"][l], ws["A"][l]
                np.matmul(self._im2col(a, B, P, ws["col"]), W, out=H)
                if self.sigma_b2 > 0 or l == 0:
                    H += b
                n = H.shape[1] * P
                H3 = H.reshape(B, P * H.shape[1])
                sq = np.einsum("ij,ij->i", H3, H3, dtype=np.float64)
                q[l] = sq / n
                if len(pr):
                    dots = np.einsum("ij,ij->i", H3[pr[:, 0]], H3[pr[:, 1]], dtype=np.float64)
                    rho[l] = dots / np.sqrt(sq[pr[:, 0]] * sq[pr[:, 1]])
                self._pw.phi(H, A)
                sp[l] = 1.0 - np.count_nonzero(A) / A.size
                a = A
        out = ws["H"][L - 1].copy()
        out = out.reshape(B, P, -1) if (P > 1 or np.ndim(x) == 3) else out
        self._last = {"X": X, "B": B, "P": P, "keep": keep, "shape": out.shape}
        return ForwardRecord(out, q, sp, rho, pr)

    __call__ = forward

    # --- backward -------------------------------------------------------------------------
    def backward(self, target: Any = None, *, grad_output: Any = None) -> BackwardRecord:
        r"""Backpropagation (App. A, sec. 5): :math:`\delta^l = D^l (W^{l+1})^T \delta^{l+1}`.

        Uses the activations kept by the last :meth:`forward` (``keep=True``). The loss is
        :math:`\mathcal L = \tfrac12 \|h^L - y\|^2` summed over the batch
        (:math:`\delta^L = h^L - y`) or, with ``grad_output``,
        :math:`\delta^L = \partial\mathcal L/\partial h^L` is given. Then
        :math:`\partial\mathcal L/\partial W^l = \phi(h^{l-1})^T \delta^l` (im2col for the
        CNN), :math:`\partial\mathcal L/\partial b^l = \sum \delta^l` and
        :math:`\delta^{l-1} = \phi'(h^{l-1}) \odot \delta^l (W^l)^T`.
        """
        last = self._last
        if last is None or not last["keep"]:
            raise ValueError("backward needs a preceding forward(x, keep=True)")
        if (target is None) == (grad_output is None):
            raise ValueError("give exactly one of target and grad_output")
        B, P, X = last["B"], last["P"], last["X"]
        ws = self._ws[(B, P, True)]
        L = self.depth
        out = ws["H"][L - 1]
        given = target if target is not None else grad_output
        name = "target" if target is not None else "grad_output"
        g = np.asarray(given, dtype=self.dtype)
        if g.size != out.size:
            raise ValueError(f"{name} must have the output's shape {last['shape']}, "
                             f"got {np.shape(given)}")
        g = g.reshape(out.shape)
        if "dbuf" not in ws:
            wmax = max(self.widths[1:])
            ws["dbuf"] = [np.empty(B * P * wmax, self.dtype) for _ in range(2)]
            ws["dcol"] = (np.empty(B * P * self.kernel_size * max(self.widths[:-1]), self.dtype)
                          if self.kernel_size > 1 else None)
        if not hasattr(self, "_gw"):
            self._gw = [np.empty_like(W) for W in self.weights]
            self._gb = [np.empty_like(b) for b in self.biases]
        gw_n, gb_n, gh_n = np.empty(L), np.empty(L), np.empty(L)
        with np.errstate(all="ignore"):
            delta = ws["dbuf"][0][:out.size].reshape(out.shape)
            if target is not None:
                np.subtract(out, g, out=delta)
                loss = 0.5 * float(np.vdot(delta, delta))
            else:
                np.copyto(delta, g)
                loss = float("nan")
            for l in range(L - 1, -1, -1):
                a_prev = X if l == 0 else ws["A"][l - 1]
                col = self._im2col(a_prev, B, P, ws["col"])
                np.matmul(col.T, delta, out=self._gw[l])
                np.sum(delta, axis=0, out=self._gb[l])
                gw_n[l] = np.sqrt(np.vdot(self._gw[l], self._gw[l]))
                gb_n[l] = np.sqrt(np.vdot(self._gb[l], self._gb[l]))
                gh_n[l] = np.sqrt(np.vdot(delta, delta))
                if l == 0:
                    break
                C = self.widths[l]
                nxt = ws["dbuf"][(L - l) % 2][:B * P * C].reshape(B * P, C)
                if self.kernel_size == 1:
                    np.matmul(delta, self.weights[l].T, out=nxt)
                else:
                    dcol = ws["dcol"][:B * P * self.kernel_size * C].reshape(B * P, -1)
                    np.matmul(delta, self.weights[l].T, out=dcol)
                    self._col2im(dcol, B, P, C, nxt)
                n = nxt.size
                self._pw.mul_derivative(nxt, ws["H"][l - 1], ws["A"][l - 1],
                                        ws["mask"][:n].reshape(nxt.shape),
                                        ws["tmp"][:n].reshape(nxt.shape))
                delta = nxt
        return BackwardRecord(loss, gw_n, gb_n, gh_n, self._gw, self._gb)

    def loss(self, x: Any, target: Any) -> float:
        r""":math:`\tfrac12\|h^L(x) - y\|^2` summed over the batch (for finite differences)."""
        rec = self.forward(x, keep=False, pairs=None)
        d = rec.output.astype(np.float64) - np.asarray(target, np.float64).reshape(rec.output.shape)
        return 0.5 * float(np.vdot(d, d))


def _pairs(pairs: Any, B: int) -> np.ndarray:
    if pairs is None:
        return np.empty((0, 2), dtype=np.intp)
    if isinstance(pairs, str):
        if pairs != "adjacent":
            raise ValueError(f"pairs must be 'adjacent', None or an (n, 2) array, got {pairs!r}")
        idx = np.arange(B // 2 * 2, dtype=np.intp)
        return idx.reshape(-1, 2)
    pr = np.asarray(pairs, dtype=np.intp).reshape(-1, 2)
    if pr.size and (pr.min() < 0 or pr.max() >= B):
        raise ValueError(f"pairs index inputs 0..{B - 1}")
    return pr


def _draw_layers(rng: np.random.Generator, widths: Sequence[int], K: int, sigma_w2: float,
                 sigma_b2: float, first_layer: str, dtype: np.dtype):
    """Yield ``(W^l, b^l)`` layer by layer; the one place that consumes the random stream."""
    for l in range(1, len(widths)):
        fan_in = widths[l - 1] * K
        W = rng.standard_normal((fan_in, widths[l]), dtype=dtype)
        b = rng.standard_normal(widths[l], dtype=dtype)
        if l == 1 and first_layer == "preserve":
            W *= dtype.type(np.sqrt(1.0 / fan_in))
            b[...] = 0
        else:
            W *= dtype.type(np.sqrt(sigma_w2 / fan_in))
            b *= dtype.type(np.sqrt(sigma_b2))
        yield W, b


def correlated_inputs(batch: int, width: int, *, q: float = 1.0, rho: float = 0.5,
                      positions: int | None = None,
                      rng: int | np.random.Generator | None = 0) -> np.ndarray:
    r"""Gaussian inputs in pairs with exact norm and correlation.

    Every input (every position, for a CNN) has :math:`\|x\|^2/N_0 = q` exactly, and inputs
    ``2i`` and ``2i+1`` have cosine correlation exactly ``rho`` (Gram-Schmidt on Gaussian
    draws). Shape ``(batch, width)``, or ``(batch, positions, width)`` if ``positions``.
    """
    batch = check_int(batch, "batch")
    width = check_int(width, "width", 2)
    q = float(maps._check_q(q, "q"))
    if not -1 <= rho <= 1:
        raise ValueError(f"rho must be in [-1, 1], got {rho!r}")
    gen = seed_rng(rng)
    P = 1 if positions is None else check_int(positions, "positions")
    npair = (batch + 1) // 2
    z = gen.standard_normal((npair, P, 2, width))
    u = z[:, :, 0] / np.linalg.norm(z[:, :, 0], axis=-1, keepdims=True)
    v = z[:, :, 1] - np.sum(z[:, :, 1] * u, axis=-1, keepdims=True) * u
    v /= np.linalg.norm(v, axis=-1, keepdims=True)
    x = np.stack([u, rho * u + np.sqrt(1 - rho * rho) * v], axis=1)  # (npair, 2, P, width)
    x = (np.sqrt(q * width) * x).reshape(2 * npair, P, width)[:batch]
    return x[:, 0, :] if positions is None else x


# ------------------------------------------------------------------------------------------
# Theory
# ------------------------------------------------------------------------------------------
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
    for l in range(1, L):
        if not (0 < q[l - 1] < 1e150):
            break
        q[l] = float(maps.variance_map(act, q[l - 1], sw2, sb2))
    ok = np.isfinite(q) & (q > 0) & (q < 1e150)
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
        Draws every :math:`W^l, b^l` (the same random stream as :class:`Network` with seed
        ``k``, so the trajectory equals that network's) and multiplies: :math:`O(N^2)` per
        layer, dominated by drawing :math:`N^2` normals.
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

    Inputs are :func:`correlated_inputs` with :math:`\|x\|^2/N_0 = q_\text{in}` (default
    ``init.q_star``), :math:`N_0 = ` ``width``.
    """
    width = check_int(width, "width", 2)
    L = check_int(depth, "depth")
    K = check_int(seeds, "seeds")
    B = check_int(batch, "batch")
    dt = _check_dtype(dtype)
    if first_layer not in _FIRST_LAYER:
        raise ValueError(f"first_layer must be one of {_FIRST_LAYER}, got {first_layer!r}")
    qin = init.q_star if q_input is None else float(maps._check_q(q_input, "q_input"))
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
                for l, (W, b) in enumerate(_draw_layers(seed_rng(seed, k), widths, 1, sw2, sb2,
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
        See :func:`theory_trajectory`.
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
        From :func:`eoc_init`.
    width, depth : int
        :math:`N` (all layers and the input) and :math:`L`. For a CNN (``kernel_size > 1``)
        the channel count is ``channels`` (default ``width``) on ``positions`` positions.
    batch : int
        Inputs per network, in pairs of correlation ``rho_input``
        (:func:`correlated_inputs`; every input and position has
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
    qin = init.q_star if q_input is None else float(maps._check_q(q_input, "q_input"))
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
              "on_eoc": init.on_eoc, "V_prime": init.V_prime, "V_second": init.V_second,
              "chi1": init.chi1, "expected_sparsity": init.sparsity, "width": C,
              "depth": L, "batch": B, "rho_input": rho_input, "q_input": qin,
              "kernel_size": ks, "positions": P or 1, "first_layer": first_layer,
              "band": band, "dtype": str(np.dtype(dtype)), "seed": seed}
    return SimulationResult(q, sp, rho, gw, gh, th["q"], th["sparsity"], th["rho"], th["chi1"],
                            gth, first > 0, first, config)
