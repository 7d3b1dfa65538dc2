"""Vectorised bracketed root finding (Illinois false position), shared by eoc and stability."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def bracket_first(f_grid: np.ndarray) -> np.ndarray:
    """Index i of the first sign change between grid columns i and i+1 (or -1), per row."""
    s = np.sign(f_grid)
    change = (s[:, :-1] * s[:, 1:] <= 0) & ~((s[:, :-1] == 0) & (s[:, 1:] == 0))
    idx = np.argmax(change, axis=1)
    return np.where(change.any(axis=1), idx, -1)


def illinois(f: Callable[[np.ndarray], np.ndarray], lo: np.ndarray, hi: np.ndarray,
             flo: np.ndarray, fhi: np.ndarray, xtol: float = 4e-16,
             maxiter: int = 100) -> np.ndarray:
    """Roots of ``f`` (vectorised over rows) inside brackets with ``flo * fhi <= 0``.

    Illinois-modified regula falsi: superlinear, never leaves the bracket.
    """
    a, b = np.array(lo, float), np.array(hi, float)
    fa, fb = np.array(flo, float), np.array(fhi, float)
    side = np.zeros(a.shape, dtype=int)
    x = np.where(fa == 0, a, b)
    done = (fa == 0) | (fb == 0)
    for _ in range(maxiter):
        if done.all():
            break
        denom = fb - fa
        safe = np.where(denom != 0, denom, 1.0)
        c = np.where(denom != 0, b - fb * (b - a) / safe, 0.5 * (a + b))
        c = np.clip(c, np.minimum(a, b), np.maximum(a, b))
        fc = np.where(done, 0.0, f(np.where(done, x, c)))
        x = np.where(done, x, c)
        same_b = np.sign(fc) == np.sign(fb)
        # Illinois: when the same end is kept twice, halve its function value
        a_new = np.where(same_b, a, c)
        fa_new = np.where(same_b, np.where(side == -1, 0.5 * fa, fa), fc)
        b_new = np.where(same_b, c, b)
        fb_new = np.where(same_b, fc, np.where(side == 1, 0.5 * fb, fb))
        side_new = np.where(same_b, -1, 1)
        keep = done
        a, fa = np.where(keep, a, a_new), np.where(keep, fa, fa_new)
        b, fb = np.where(keep, b, b_new), np.where(keep, fb, fb_new)
        side = np.where(keep, side, side_new)
        done = done | (fc == 0) | (np.abs(b - a) <= xtol * np.maximum(np.abs(x), 1e-300))
    return x
