r"""The NumPy reference network: a random DNN or 1-D CNN with hand-written backprop.

A fully connected network (DNN) and a 1-D convolutional network (CNN, eq. 2) initialised
on the Edge of Chaos (:func:`eoc_init`) or at any :math:`(\sigma_w^2, \sigma_b^2)`, with a
forward pass that records, per layer, the empirical pre-activation variance :math:`q^l`, the
activation sparsity and the correlation between pairs of inputs, and a hand-written backward
pass that records per-layer gradient norms (no torch, no autograd). The infinite-width
predictions per layer are in :mod:`eoctheory.nets.trajectories`, the comparison over many
seeds in :mod:`eoctheory.nets.simulation`.

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

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from eoctheory.engine import maps
from eoctheory.engine.activations import Activation, get_activation
from eoctheory.engine.checks import check_int
from eoctheory.limits import NORMAL_COST, check_resources
from eoctheory.nets.pointwise_kernels import pointwise
from eoctheory.theory.setting import Setting, resolve_setting

__all__ = [
    "BackwardRecord",
    "FIRST_LAYERS",
    "ForwardRecord",
    "Init",
    "Network",
    "check_dtype",
    "check_first_layer",
    "correlated_inputs",
    "draw_layers",
    "eoc_init",
    "seed_rng",
]

#: The first-layer schemes of :class:`Network` (see the module notes).
FIRST_LAYERS: tuple[str, ...] = ("standard", "preserve")


def check_first_layer(first_layer: str) -> str:
    """``first_layer`` if it is one of :data:`FIRST_LAYERS`, else ValueError."""
    if first_layer not in FIRST_LAYERS:
        raise ValueError(f"first_layer must be one of {FIRST_LAYERS}, got {first_layer!r}")
    return first_layer


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


def check_dtype(dtype: Any) -> np.dtype:
    """``dtype`` as a NumPy dtype if it is float32 or float64, else ValueError."""
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
        The pointwise kernels of :math:`\phi` and :math:`\phi'` (see
        :func:`~eoctheory.nets.pointwise_kernels.pointwise`).

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
        self.sigma_w2 = float(maps.check_sigma(sigma_w2, "sigma_w2", True))
        self.sigma_b2 = float(maps.check_sigma(sigma_b2, "sigma_b2", False))
        ks = check_int(kernel_size, "kernel_size")
        if ks % 2 == 0:
            raise ValueError(f"kernel_size must be odd (2k+1), got {ks}")
        self.kernel_size = ks
        self.first_layer = check_first_layer(first_layer)
        self.dtype = check_dtype(dtype)
        n = sum(ks * a * b + b for a, b in zip(self.widths[:-1], self.widths[1:]))
        check_resources(f"Network(widths of {len(self.widths)} layers up to "
                        f"{max(self.widths)}, kernel_size={ks})",
                        nbytes=float(n) * self.dtype.itemsize, operations=n * NORMAL_COST,
                        hint="lower the widths or the depth")
        gen = seed_rng(rng)
        self.weights: list[np.ndarray] = []
        self.biases: list[np.ndarray] = []
        for W, b in draw_layers(gen, self.widths, ks, self.sigma_w2, self.sigma_b2,
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
        pr = input_pairs(pairs, B)
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


def input_pairs(pairs: Any, B: int) -> np.ndarray:
    """The (a, b) index pairs of a batch of B inputs: None, "adjacent", "all" or an array."""
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


def draw_layers(rng: np.random.Generator, widths: Sequence[int], K: int, sigma_w2: float,
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
    q = float(maps.check_variance(q, "q"))
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
