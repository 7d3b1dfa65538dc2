r"""The reference network's pointwise kernels: :math:`\phi` and :math:`g\,\phi'` in place.

:func:`pointwise` gives a network the in-place :math:`\phi` and multiplication by
:math:`\phi'` of its activation, on arrays of the network's dtype: the kernels generated from
the activation's definition (:class:`~eoctheory.nets.kernels.NumpyKernels`, any activation)
or, for a catalogue activation, a hand-written one (eq. 7-10 and a few others);
:data:`HAND_WRITTEN` lists those that stay the default and why.

Examples
--------
>>> import numpy as np
>>> pw = pointwise("crelu", tau=0.5, m=1.0)
>>> pw.phi(np.array([0.0, 1.0, 2.0]), np.empty(3))
array([0. , 0.5, 1. ])
"""

from __future__ import annotations

import numpy as np

from eoctheory.engine.activations import CATALOGUE, Activation, get_activation
from eoctheory.nets.kernels import NumpyKernels

__all__ = [
    "HAND_WRITTEN",
    "pointwise",
]

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
