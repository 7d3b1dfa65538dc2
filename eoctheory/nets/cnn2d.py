r"""The NumPy reference 2-D CNN: k x k convolutions, same-size output, hand-written backprop.

A random 2-D convolutional network of depth :math:`L` with :math:`C` channels per layer,
initialised on the Edge of Chaos (a :class:`~eoctheory.theory.setting.Setting` from
:func:`~eoctheory.nets.network.eoc_init`) or at any :math:`(\sigma_w^2, \sigma_b^2)`, with a
forward pass that records, per layer, the empirical variance :math:`q^l`, its map over the
image, the activation sparsity, the correlation between pairs of inputs and the correlation
between neighbouring positions, and a hand-written backward pass (no torch, no autograd).
It is the 2-D counterpart of the 1-D CNN of :class:`~eoctheory.nets.network.Network` (eq. 2).

Conventions
-----------
* Layers :math:`l = 1, \dots, L`; channels :math:`C_0` (input) and :math:`C` (every layer);
  kernel :math:`k \times k`, :math:`k = 2r + 1` odd, stride 1, output of the input's size
  :math:`H \times W`. Positions :math:`x = (y, x)`, offsets :math:`d \in \{-r..r\}^2`:

  .. math::

     h^{1}_{c,x} = \sum_{c',d} W^{1}_{c,c',d}\, X_{c',x+d} + b^1_c, \qquad
     h^{l+1}_{c,x} = \sum_{c',d} W^{l+1}_{c,c',d}\, \phi(h^l_{c',x+d}) + b^{l+1}_c .

  The output :math:`h^L` is linear; the sparsity of layer :math:`l` is the fraction of zeros
  of :math:`\phi(h^l)`, also for :math:`l = L`. This is ``torch.nn.functional.conv2d``
  (a cross-correlation) with ``W[c, c', r + dy, r + dx]`` (:meth:`CNN2d.conv_weights`).
* Padding: ``"circular"`` (default): :math:`x + d` is taken modulo :math:`(H, W)`, so every
  position sees :math:`k^2 C` inputs and all positions are statistically identical -- the
  setting of the infinite-width theory (Xiao et al. 2018), where one position's variance
  follows the DNN map :math:`q^{l+1} = V(q^l)` (eq. 3). ``"zero"``: :math:`\phi(h)` (and
  the input) is 0 outside the image, so a border position sees fewer inputs and its
  variance differs: after the first layer an edge position of a ``k = 3`` network has
  :math:`6/9` of the weight sum and a corner :math:`4/9` (``q_map`` shows it).
* Weights :math:`W^l_{c,c',d} \sim N(0, \sigma_w^2/(k^2 C_{l-1}))`, biases
  :math:`b^l_c \sim N(0, \sigma_b^2)`; stored as ``weights[l-1]`` of shape
  ``(k^2 C_{l-1}, C)`` with row ``((dy + r) k + dx + r) C_{l-1} + c'`` and column ``c``, so
  that a layer is one ``matmul`` of the im2col matrix ``(B H W, k^2 C_{l-1})``.
  Drawn layer by layer (:func:`~eoctheory.nets.network.draw_layers`, ``W^l`` then
  ``b^l``) directly in the network's dtype.
* ``first_layer="standard"``: :math:`q^1 = \sigma_w^2 q_\text{in} + \sigma_b^2` for inputs
  with mean square :math:`q_\text{in}` per position (Sec. 2). ``"preserve"`` (the paper's
  experiments, as ``Network``): :math:`W^1 \sim N(0, g/(k^2 C_0))`, :math:`b^1 = 0`, so that
  :math:`q^1 = g\, q_\text{in}`; :math:`g = q^*/q_\text{in}` when ``q_input`` is given
  (:math:`q^1 = q^*`), else :math:`g = 1` (inputs normalised to :math:`q^*` start at the
  fixed point).
* Images are channels-first, ``(batch, C_0, H, W)`` like torch; inside, activations are
  channels-last ``(B H W, C)`` matrices.
* Records: :math:`q^l` of input :math:`b` is :math:`\|h^l_b\|^2/(C H W)`; the correlation of
  inputs :math:`a, b` is the cosine :math:`\langle h^l_a, h^l_b\rangle/(\|h^l_a\|\|h^l_b\|)`
  (non-centred, eq. 6); the spatial correlation at lag :math:`e` is
  :math:`\sum_{b,x}\langle h^l_{b,x}, h^l_{b,x+e}\rangle / \sqrt{\sum_{b,x}\|h^l_{b,x}\|^2
  \sum_{b,x}\|h^l_{b,x+e}\|^2}` over the pairs inside the image (wrapped, for circular
  padding), channel vectors :math:`h_{b,x} \in \mathbb R^C`, lags :math:`e = (0, 1)`
  (horizontal) and :math:`(1, 0)` (vertical). With circular padding, weights shared across
  positions but independent across offsets, each lag follows the DNN correlation map:
  :math:`c^{l+1}(e) = R(c^l(e))` at :math:`q^l = q^*`.

Examples
--------
>>> from eoctheory.nets.network import eoc_init
>>> ini = eoc_init("crelu", sparsity=0.7, target_slope=0.7)
>>> net = CNN2d.from_init(ini, in_channels=3, channels=16, depth=4, rng=0)
>>> x = np.random.default_rng(1).standard_normal((2, 3, 8, 8))
>>> rec = net.forward(x)
>>> rec.output.shape, rec.q.shape, rec.q_map.shape, rec.spatial_rho.shape
((2, 16, 8, 8), (4, 2), (4, 8, 8), (4, 2))
>>> back = net.backward(target=np.zeros_like(rec.output))
>>> back.grad_w_norm.shape, back.grad_input.shape
((4,), (2, 3, 8, 8))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from eoctheory.engine import maps
from eoctheory.engine.activations import Activation, get_activation
from eoctheory.engine.checks import check_int
from eoctheory.limits import NORMAL_COST, check_resources
from eoctheory.nets.network import (
    BackwardRecord,
    Init,
    input_pairs,
    check_dtype,
    check_first_layer,
    draw_layers,
    seed_rng,
)
from eoctheory.nets.pointwise_kernels import pointwise

__all__ = [
    "PADDINGS",
    "CNN2d",
    "CNN2dBackwardRecord",
    "CNN2dForwardRecord",
    "cnn2d_theory",
    "estimate_cnn2d",
    "input_statistics",
    "lag_correlation",
    "smooth_pair",
]

#: The padding modes of :class:`CNN2d`.
PADDINGS: tuple[str, ...] = ("circular", "zero")


@dataclass
class CNN2dForwardRecord:
    r"""What a forward pass of :class:`CNN2d` measured.

    Attributes
    ----------
    output : ndarray, shape (batch, C, H, W)
        :math:`h^L` (channels-first, a copy).
    q : ndarray, shape (L, batch)
        :math:`q^l` of each input, :math:`\|h^l_b\|^2/(C H W)`.
    q_map : ndarray, shape (L, H, W)
        Mean of :math:`(h^l_{c,x})^2` over the batch and the channels at each position
        (flat for circular padding; lower at the border for zero padding).
    sparsity : ndarray, shape (L,)
        Fraction of zeros in :math:`\phi(h^l)` over the batch.
    rho : ndarray, shape (L, n_pairs)
        Cosine correlation of :math:`h^l` between the paired inputs (``rho.mean(axis=1)``
        is the mean over pairs).
    pairs : ndarray, shape (n_pairs, 2)
    spatial_rho : ndarray, shape (L, 2)
        Correlation between neighbouring positions: column 0 horizontal (lag (0, 1)),
        column 1 vertical (lag (1, 0)); pooled over the batch and the channels.
    """

    output: np.ndarray
    q: np.ndarray
    q_map: np.ndarray
    sparsity: np.ndarray
    rho: np.ndarray
    pairs: np.ndarray
    spatial_rho: np.ndarray


@dataclass
class CNN2dBackwardRecord(BackwardRecord):
    r"""A :class:`~eoctheory.nets.network.BackwardRecord` plus the input gradient.

    Attributes
    ----------
    grad_input : ndarray, shape (batch, C_0, H, W)
        :math:`\partial\mathcal L/\partial X` (a new array).
    """

    grad_input: np.ndarray | None = None


def estimate_cnn2d(*, batch: int, height: int, width: int, in_channels: int, channels: int,
                   depth: int, kernel_size: int, keep: bool = True,
                   dtype: Any = np.float64) -> tuple[float, float]:
    r"""Bytes of the workspace and operations of one forward (+ backward if ``keep``).

    Memory: the im2col matrix :math:`B H W k^2 \max(C_0, C)`, the input, and
    :math:`h^l, \phi(h^l)` of every layer with ``keep`` (plus the backward pass's two
    gradient buffers, a scratch and a mask) or of one layer without. Operations:
    :math:`2 B H W k^2 C_{l-1} C` per layer forward, three times that with ``keep``.

    Examples
    --------
    >>> nb, ops = estimate_cnn2d(batch=8, height=32, width=32, in_channels=3, channels=300,
    ...                          depth=50, kernel_size=3, keep=False, dtype=np.float32)
    >>> round(nb / 1e6), round(ops / 1e9)
    (108, 650)
    """
    it = np.dtype(dtype).itemsize
    P = float(batch) * height * width
    k2 = float(kernel_size) ** 2
    C0, C, L = float(in_channels), float(channels), float(depth)
    col = P * k2 * max(C0, C) if kernel_size > 1 else 0.0
    acts = (2 * L + 3) * P * C if keep else 2 * P * C
    nbytes = (col + acts + 2 * P * C0) * it + (P * C if keep else 0.0)
    flops = 2 * P * k2 * C * (C0 + (L - 1) * C)
    return nbytes, flops * (3 if keep else 1)


# --- inputs and the infinite-channel theory (shared by simulate --arch cnn2d and fig_cnn) ----
def smooth_pair(channels: int, size: int, *, q: float, rho: float, rng) -> np.ndarray:
    r"""Two images ``(2, C_0, size, size)``: exact per-position norm and pair cosine.

    White noise smoothed by a circular :math:`2 \times 2` box (lag-1 correlation 0.5 before
    normalising), then Gram-Schmidt per position: :math:`\|x_{b,p}\|^2/C_0 = q` and
    :math:`\cos(x_{0,p}, x_{1,p}) = \rho` at every position :math:`p`.
    """
    z = rng.standard_normal((2, size, size, channels))
    z = z + np.roll(z, 1, axis=1)
    z = z + np.roll(z, 1, axis=2)
    u = z[0] / np.linalg.norm(z[0], axis=-1, keepdims=True)
    v = z[1] - np.sum(z[1] * u, axis=-1, keepdims=True) * u
    v /= np.linalg.norm(v, axis=-1, keepdims=True)
    x = np.stack([u, rho * u + np.sqrt(1.0 - rho * rho) * v])
    return (np.sqrt(q * channels) * x).transpose(0, 3, 1, 2)


def lag_correlation(x: np.ndarray) -> np.ndarray:
    """Pooled circular lag-(0, 1) and lag-(1, 0) correlations of images ``(B, C, H, W)``
    (as ``CNN2dForwardRecord.spatial_rho``)."""
    ss = np.sum(x * x)
    return np.array([np.sum(x * np.roll(x, -1, axis=3)) / ss,
                     np.sum(x * np.roll(x, -1, axis=2)) / ss])


def input_statistics(x: np.ndarray) -> tuple[float, float, np.ndarray]:
    r"""``(q, rho, lags)`` of images ``(B, C_0, H, W)`` (in float64): the mean square, the mean
    cosine of the adjacent pairs (0, 1), (2, 3), ... (NaN for one image) and
    :func:`lag_correlation` -- the layer-0 values of :func:`cnn2d_theory`."""
    xd = np.asarray(x, dtype=np.float64)
    flat = xd.reshape(xd.shape[0], -1)
    n = flat.shape[0] // 2
    if n:
        a, b = flat[0:2 * n:2], flat[1:2 * n:2]
        rho = float(np.mean(np.sum(a * b, axis=1)
                            / np.sqrt(np.sum(a * a, axis=1) * np.sum(b * b, axis=1))))
    else:
        rho = float("nan")
    return float(np.mean(xd * xd)), rho, lag_correlation(xd)


def cnn2d_theory(setting, q1: float, c1, depth: int
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""Infinite-channel :math:`q^l`, :math:`s(q^l)` and correlations ``(L, len(c1))``
    from layer-1 values ``q1`` and ``c1`` (every correlation under the same map,
    :math:`c^{l+1} = R_{q^l}(c^l)\, q^l / V(q^l)`; circular padding)."""
    import eoctheory as eoc
    from eoctheory.theory.correlation import correlation_map

    act, sw2, sb2 = setting.activation, setting.sigma_w2, setting.sigma_b2
    q = [float(q1)]
    c = [np.asarray(c1, dtype=float)]
    for _ in range(depth - 1):
        q_next = float(eoc.variance_map(act, q[-1], sw2, sb2))
        c.append(np.asarray(correlation_map(act, c[-1], sw2, sb2, q_star=q[-1]))
                 * q[-1] / q_next)
        q.append(q_next)
    q_arr = np.array(q)
    return q_arr, np.asarray(eoc.sparsity(act, q_arr), dtype=float), np.array(c)


def _segments(n: int, d: int, circular: bool) -> list[tuple[slice, slice | None]]:
    """Rows ``dst`` of the output and ``src`` of the input with ``src = dst + d`` on an axis
    of length ``n`` (``src=None``: outside the image, zero padding)."""
    if circular:
        s = d % n
        segs = [(slice(0, n - s), slice(s, n))]
        if s:
            segs.append((slice(n - s, n), slice(0, s)))
        return segs
    if d >= 0:
        segs = [(slice(0, n - d), slice(d, n))]
        if d:
            segs.append((slice(n - d, n), None))
        return segs
    return [(slice(-d, n), slice(0, n + d)), (slice(0, -d), None)]


class CNN2d:
    r"""A random 2-D CNN with :math:`k \times k` same-size convolutions and hand-written backprop.

    .. math::

       h^{l+1}_{c,x} = \sum_{c'=1}^{C_l}\sum_{d \in \{-r..r\}^2} W^{l+1}_{c,c',d}\,
       \phi(h^l_{c',x+d}) + b^{l+1}_c, \qquad
       W^{l}_{c,c',d} \sim N\!\left(0, \frac{\sigma_w^2}{k^2 C_{l-1}}\right),\;
       b^l_c \sim N(0, \sigma_b^2)

    (see the module notes for the layout, the padding and the first layer).

    Parameters
    ----------
    activation : Activation or str
        Any catalogue or user activation (e.g. :meth:`Activation.from_string`);
        ``**params`` set its parameters.
    in_channels : int
        :math:`C_0`.
    channels : int
        :math:`C`, the channels of every layer.
    depth : int
        :math:`L`.
    sigma_w2, sigma_b2 : float
        :math:`\sigma_w^2 > 0`, :math:`\sigma_b^2 \ge 0`.
    kernel_size : int, default 3
        :math:`k`, odd.
    padding : {"circular", "zero"}, default "circular"
    first_layer : {"standard", "preserve"}, default "standard"
    q_input : float, optional
        With ``"preserve"``: the mean square of the inputs; the first layer's weights are
        scaled by :math:`q^*/q_\text{in}` so that :math:`q^1 = q^*`.
    q_star : float, default 1
        The target of ``q_input`` (``from_init`` passes the setting's :math:`q^*`).
    dtype : float32 or float64
        Of the weights, the activations and every matmul.
    rng : int, Generator or None
        Seed or generator (``int`` seeds go through :func:`~eoctheory.nets.network.seed_rng`
        with ``k = 0``).
    kernel : {"auto", "generated", "hand"}
        The pointwise kernels of :math:`\phi`, :math:`\phi'`
        (:func:`~eoctheory.nets.pointwise_kernels.pointwise`).

    Raises
    ------
    ValueError
        A bad argument (named), or weights that do not fit the memory limit
        (:func:`eoctheory.limits.check_resources`).
    """

    def __init__(self, activation: Activation | str, in_channels: int, channels: int,
                 depth: int, sigma_w2: float, sigma_b2: float, *, kernel_size: int = 3,
                 padding: str = "circular", first_layer: str = "standard",
                 q_input: float | None = None, q_star: float = 1.0, dtype: Any = np.float64,
                 rng: int | np.random.Generator | None = None, kernel: str = "auto",
                 **params: float):
        self.activation = get_activation(activation, **params)
        self._pw = pointwise(self.activation, kernel)
        self.in_channels = check_int(in_channels, "in_channels")
        self.channels = check_int(channels, "channels")
        L = check_int(depth, "depth")
        self.sigma_w2 = float(maps.check_sigma(sigma_w2, "sigma_w2", True))
        self.sigma_b2 = float(maps.check_sigma(sigma_b2, "sigma_b2", False))
        k = check_int(kernel_size, "kernel_size")
        if k % 2 == 0:
            raise ValueError(f"kernel_size must be odd (2r+1), got {k}")
        self.kernel_size = k
        if padding not in PADDINGS:
            raise ValueError(f"padding must be one of {PADDINGS}, got {padding!r}")
        self.padding = padding
        self.first_layer = check_first_layer(first_layer)
        if q_input is not None and first_layer != "preserve":
            raise ValueError("q_input scales the first layer of first_layer='preserve' only")
        self.q_star = float(maps.check_variance(q_star, "q_star"))
        self.q_input = None if q_input is None else float(maps.check_variance(q_input,
                                                                              "q_input"))
        self.dtype = check_dtype(dtype)
        widths = [self.in_channels] + [self.channels] * L
        k2 = k * k
        n = sum(k2 * a * b + b for a, b in zip(widths[:-1], widths[1:]))
        check_resources(f"CNN2d(in_channels={self.in_channels}, channels={self.channels}, "
                        f"depth={L}, kernel_size={k})", nbytes=2.0 * n * self.dtype.itemsize,
                        operations=n * NORMAL_COST,
                        hint="lower channels, depth or kernel_size")
        gen = seed_rng(rng)
        self.weights: list[np.ndarray] = []
        self.biases: list[np.ndarray] = []
        for W, b in draw_layers(gen, widths, k2, self.sigma_w2, self.sigma_b2, first_layer,
                                self.dtype):
            self.weights.append(W)
            self.biases.append(b)
        if self.q_input is not None:
            self.weights[0] *= self.dtype.type(np.sqrt(self.q_star / self.q_input))
        self._ws: dict = {}
        self._last: dict | None = None
        self._seg_cache: dict = {}

    @classmethod
    def from_init(cls, init: Init, in_channels: int, channels: int, depth: int,
                  **kw: Any) -> CNN2d:
        """A network with the activation, variances and :math:`q^*` of a Setting (``Init``)."""
        kw.setdefault("q_star", init.q_star)
        return cls(init.activation, in_channels, channels, depth, init.sigma_w2,
                   init.sigma_b2, **kw)

    @property
    def depth(self) -> int:
        """:math:`L`, the number of layers."""
        return len(self.weights)

    def conv_weights(self, layer: int) -> np.ndarray:
        """:math:`W^{l}` as ``(C_out, C_in, k, k)`` (torch's ``conv2d`` layout), layer
        ``l = layer + 1`` (0-based index into :attr:`weights`); a copy."""
        W = self.weights[layer]
        k = self.kernel_size
        return np.ascontiguousarray(W.reshape(k, k, -1, W.shape[1]).transpose(3, 2, 0, 1))

    # --- im2col ---------------------------------------------------------------------------
    def _segs(self, H: int, W: int) -> list:
        """For each offset ``(i, j)``: the (dst, src) slice pairs of rows and of columns."""
        key = (H, W)
        segs = self._seg_cache.get(key)
        if segs is None:
            k, r = self.kernel_size, self.kernel_size // 2
            circ = self.padding == "circular"
            segs = [(i, j, _segments(H, i - r, circ), _segments(W, j - r, circ))
                    for i in range(k) for j in range(k)]
            self._seg_cache = {key: segs}
        return segs

    def _im2col(self, a: np.ndarray, B: int, H: int, W: int, buf: np.ndarray) -> np.ndarray:
        r"""``(B H W, C)`` -> ``(B H W, k^2 C)``: block ``(i, j)`` holds :math:`a_{x+d}`,
        :math:`d = (i - r, j - r)` (wrapped, or 0 outside the image)."""
        k = self.kernel_size
        if k == 1:
            return a
        C = a.shape[1]
        a4 = a.reshape(B, H, W, C)
        col = buf[:B * H * W * k * k * C].reshape(B, H, W, k, k, C)
        for i, j, sy, sx in self._segs(H, W):
            for dy, ry in sy:
                for dx, rx in sx:
                    if ry is None or rx is None:
                        col[:, dy, dx, i, j, :] = 0
                    else:
                        col[:, dy, dx, i, j, :] = a4[:, ry, rx, :]
        return col.reshape(B * H * W, k * k * C)

    def _flipped(self, l: int) -> np.ndarray:
        r"""The adjoint kernel of layer ``l+1`` as a ``(k^2 C_out, C_in)`` matrix:
        row ``(i, j, c)``, column ``c'`` holds :math:`W_{c,c',(r-i', r-j')}`, so that
        :math:`\partial\mathcal L/\partial\phi(h) = \mathrm{im2col}(\delta)\,W_\text{flip}`."""
        W = self.weights[l]
        k = self.kernel_size
        Cin, Cout = W.shape[0] // (k * k), W.shape[1]
        return np.ascontiguousarray(
            W.reshape(k, k, Cin, Cout)[::-1, ::-1].transpose(0, 1, 3, 2)).reshape(
                k * k * Cout, Cin)

    # --- workspace ------------------------------------------------------------------------
    def _workspace(self, B: int, H: int, W: int, keep: bool) -> dict:
        key = (B, H, W, keep)
        ws = self._ws.get(key)
        if ws is not None:
            return ws
        nbytes, ops = estimate_cnn2d(batch=B, height=H, width=W, in_channels=self.in_channels,
                                     channels=self.channels, depth=self.depth,
                                     kernel_size=self.kernel_size, keep=keep, dtype=self.dtype)
        check_resources(f"CNN2d.forward(batch={B}, image {H}x{W}, channels={self.channels}, "
                        f"depth={self.depth}, kernel_size={self.kernel_size}, keep={keep})",
                        nbytes=nbytes, operations=ops,
                        hint="lower the batch, the image size (H, W), channels or depth"
                        + (", or use keep=False" if keep else ""))
        self._ws.clear()  # one workspace at a time: the network's memory stays bounded
        dt, k, L, C = self.dtype, self.kernel_size, self.depth, self.channels
        P = B * H * W
        if keep:
            Hs = [np.empty((P, C), dt) for _ in range(L)]
            As = [np.empty((P, C), dt) for _ in range(L)]
        else:
            h1, a1 = np.empty((P, C), dt), np.empty((P, C), dt)
            Hs, As = [h1] * L, [a1] * L
        cmax = max(self.in_channels, C)
        ws = {"H": Hs, "A": As, "col": np.empty(P * k * k * cmax, dt) if k > 1 else None}
        self._ws[key] = ws
        return ws

    def _shape_input(self, x: Any) -> tuple[np.ndarray, int, int, int]:
        x = np.asarray(x)
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"x must have shape (batch, in_channels={self.in_channels}, H, W);"
                             f" got {x.shape}")
        if not np.issubdtype(x.dtype, np.number) or np.iscomplexobj(x):
            raise ValueError(f"x must be real numbers, got dtype {x.dtype}")
        B, _, H, W = x.shape
        r = self.kernel_size // 2
        if B < 1 or H < r + 1 or W < r + 1:
            raise ValueError(f"x: the batch must be >= 1 and the image at least {r + 1}x{r + 1} "
                             f"(kernel_size={self.kernel_size}); got {x.shape}")
        X = np.empty((B, H, W, self.in_channels), self.dtype)
        X[...] = x.transpose(0, 2, 3, 1)
        return X.reshape(B * H * W, self.in_channels), B, H, W

    # --- forward --------------------------------------------------------------------------
    def forward(self, x: Any, *, keep: bool = True, pairs: Any = "adjacent"
                ) -> CNN2dForwardRecord:
        r"""Forward pass :math:`h^{l+1}_{c,x} = \sum_{c',d} W^{l+1}_{c,c',d}\phi(h^l_{c',x+d})
        + b^{l+1}_c`, recording :math:`q^l`, sparsity and correlations per layer.

        Each layer is one im2col copy (:math:`k^2` block copies, no loop over positions)
        and one ``matmul`` ``(B H W, k^2 C_{l-1}) @ (k^2 C_{l-1}, C)`` in the network's
        dtype.

        Parameters
        ----------
        x : array_like, shape (batch, C_0, H, W)
        keep : bool, default True
            Keep every layer's :math:`h^l` and :math:`\phi(h^l)` for :meth:`backward`;
            ``False`` reuses one buffer of each (statistics only).
        pairs : "adjacent", None or array of shape (n, 2)
            Input pairs whose correlation to record; ``"adjacent"`` is (0,1), (2,3), ...

        Returns
        -------
        CNN2dForwardRecord

        Raises
        ------
        ValueError
            ``x`` of the wrong shape or too small for the kernel; a workspace over the
            memory limit (checked before allocating).
        """
        X, B, H, W = self._shape_input(x)
        pr = input_pairs(pairs, B)
        ws = self._workspace(B, H, W, keep)
        L, C, HW = self.depth, self.channels, H * W
        circ = self.padding == "circular"
        q = np.empty((L, B))
        qmap = np.empty((L, H, W))
        sp = np.empty(L)
        rho = np.empty((L, len(pr)))
        srho = np.empty((L, 2))
        a = X
        with np.errstate(all="ignore"):
            for l in range(L):
                Wl, bl, Hl, Al = self.weights[l], self.biases[l], ws["H"][l], ws["A"][l]
                np.matmul(self._im2col(a, B, H, W, ws["col"]), Wl, out=Hl)
                Hl += bl
                # per-position squared norms (accumulated in the dtype over C, then float64)
                sqp = np.einsum("pc,pc->p", Hl, Hl).astype(np.float64).reshape(B, H, W)
                sq = sqp.sum(axis=(1, 2))
                q[l] = sq / (HW * C)
                qmap[l] = sqp.mean(axis=0) / C
                H3 = Hl.reshape(B, HW, C)
                for n, (ia, ib) in enumerate(pr):
                    dot = np.einsum("pc,pc->p", H3[ia], H3[ib]).sum(dtype=np.float64)
                    rho[l, n] = dot / np.sqrt(sq[ia] * sq[ib])
                srho[l] = self._spatial(Hl.reshape(B, H, W, C), sqp, circ)
                self._pw.phi(Hl, Al)
                sp[l] = 1.0 - np.count_nonzero(Al) / Al.size
                a = Al
        out = np.ascontiguousarray(ws["H"][L - 1].reshape(B, H, W, C).transpose(0, 3, 1, 2))
        self._last = {"X": X, "B": B, "H": H, "W": W, "keep": keep}
        return CNN2dForwardRecord(out, q, qmap, sp, rho, pr, srho)

    __call__ = forward

    @staticmethod
    def _spatial(h4: np.ndarray, sqp: np.ndarray, circular: bool) -> np.ndarray:
        """Cosine between neighbours at lags (0, 1) and (1, 0), pooled over batch and x."""
        res = np.empty(2)
        for n, axis in enumerate((2, 1)):
            lo = [slice(None)] * 4
            hi = [slice(None)] * 4
            lo[axis], hi[axis] = slice(0, -1), slice(1, None)
            dot = np.einsum("bhwc,bhwc->bhw", h4[tuple(lo)], h4[tuple(hi)]).sum(
                dtype=np.float64)
            if circular:  # the wrapped pair (last, first)
                lo[axis], hi[axis] = slice(-1, None), slice(0, 1)
                dot += np.einsum("bhwc,bhwc->bhw", h4[tuple(lo)], h4[tuple(hi)]).sum(
                    dtype=np.float64)
                den = sqp.sum()
            else:
                den = np.sqrt(sqp[tuple(lo[:3])].sum() * sqp[tuple(hi[:3])].sum())
            res[n] = dot / den
        return res

    # --- backward -------------------------------------------------------------------------
    def backward(self, target: Any = None, *, grad_output: Any = None) -> CNN2dBackwardRecord:
        r"""Backpropagation through the last :meth:`forward` (``keep=True``).

        The loss is :math:`\mathcal L = \tfrac12\|h^L - y\|^2` summed over the batch
        (:math:`\delta^L = h^L - y`), or :math:`\delta^L = \partial\mathcal L/\partial h^L`
        is given as ``grad_output``; both of shape ``(batch, C, H, W)``. Then, with
        :math:`\delta^l = \partial\mathcal L/\partial h^l`,

        .. math::

           \frac{\partial\mathcal L}{\partial W^l_{c,c',d}} = \sum_{b,x}
           \delta^l_{b,c,x}\,\phi(h^{l-1}_{b,c',x+d}), \quad
           \frac{\partial\mathcal L}{\partial b^l_c} = \sum_{b,x}\delta^l_{b,c,x}, \quad
           \delta^{l-1}_{c',x} = \phi'(h^{l-1}_{c',x}) \sum_{c,d} W^l_{c,c',d}\,
           \delta^l_{c,x-d}

        (:math:`\phi(h^0) = X`; the last sum without :math:`\phi'` is
        :math:`\partial\mathcal L/\partial X`). The weight gradient is
        ``im2col(phi(h^{l-1})).T @ delta``; the back-propagated sum is the same-size
        convolution of :math:`\delta^l` with the flipped kernel (zero or circular padding
        as forward), ``im2col(delta) @ W_flip``.

        Returns
        -------
        CNN2dBackwardRecord
            Norms per layer, the gradients (``grad_w``, ``grad_b``: buffers owned by the
            network, in the layout of :attr:`weights`) and ``grad_input``.
        """
        last = self._last
        if last is None or not last["keep"]:
            raise ValueError("backward needs a preceding forward(x, keep=True)")
        if (target is None) == (grad_output is None):
            raise ValueError("give exactly one of target and grad_output")
        B, H, W, X = last["B"], last["H"], last["W"], last["X"]
        ws = self._ws[(B, H, W, True)]
        L, C = self.depth, self.channels
        P = B * H * W
        given = target if target is not None else grad_output
        name = "target" if target is not None else "grad_output"
        g = np.asarray(given)
        if g.shape != (B, C, H, W):
            raise ValueError(f"{name} must have the output's shape {(B, C, H, W)}, "
                             f"got {g.shape}")
        if "dbuf" not in ws:
            ws["dbuf"] = [np.empty((P, C), self.dtype) for _ in range(2)]
            ws["mask"] = np.empty((P, C), bool)
            ws["tmp"] = np.empty((P, C), self.dtype)
        if not hasattr(self, "_gw"):
            self._gw = [np.empty_like(Wl) for Wl in self.weights]
            self._gb = [np.empty_like(b) for b in self.biases]
        gw_n, gb_n, gh_n = np.empty(L), np.empty(L), np.empty(L)
        delta = ws["dbuf"][0]
        d4 = delta.reshape(B, H, W, C)
        d4[...] = g.transpose(0, 2, 3, 1)
        with np.errstate(all="ignore"):
            if target is not None:
                np.subtract(ws["H"][L - 1], delta, out=delta)
                loss = 0.5 * float(np.vdot(delta, delta))
            else:
                loss = float("nan")
            for l in range(L - 1, -1, -1):
                a_prev = X if l == 0 else ws["A"][l - 1]
                col = self._im2col(a_prev, B, H, W, ws["col"])
                np.matmul(col.T, delta, out=self._gw[l])
                np.sum(delta, axis=0, out=self._gb[l])
                gw_n[l] = np.sqrt(np.vdot(self._gw[l], self._gw[l]))
                gb_n[l] = np.sqrt(np.vdot(self._gb[l], self._gb[l]))
                gh_n[l] = np.sqrt(np.vdot(delta, delta))
                dcol = self._im2col(delta, B, H, W, ws["col"])
                if l == 0:
                    gx = np.matmul(dcol, self._flipped(0))
                    break
                nxt = ws["dbuf"][(L - l) % 2]
                np.matmul(dcol, self._flipped(l), out=nxt)
                self._pw.mul_derivative(nxt, ws["H"][l - 1], ws["A"][l - 1], ws["mask"],
                                        ws["tmp"])
                delta = nxt
        grad_x = np.ascontiguousarray(gx.reshape(B, H, W, -1).transpose(0, 3, 1, 2))
        return CNN2dBackwardRecord(loss, gw_n, gb_n, gh_n, self._gw, self._gb, grad_x)

    def loss(self, x: Any, target: Any) -> float:
        r""":math:`\tfrac12\|h^L(x) - y\|^2` summed over the batch (for finite differences)."""
        rec = self.forward(x, keep=False, pairs=None)
        d = rec.output.astype(np.float64) - np.asarray(target, np.float64).reshape(
            rec.output.shape)
        return 0.5 * float(np.vdot(d, d))
