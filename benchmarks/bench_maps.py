"""Speed and accuracy of the compiled variance maps against the practical alternatives.

For ReLU_tau, CReLU and CST (tau = 0.5, m = 1), and CReLU and CST with a short clipping
window (m = 0.05, m/sqrt(q) < 0.25: the short-window rule at every point): V, V', V'' on
10^3, 10^5, 10^6 values of q in [0.05, 5], ns per point, for
  compiled   eoctheory's SymPy-derived, lambdified closed forms (input checks included)
  hand       a hand-written NumPy closed form (THEORY.md §3; the practical limit)
  GH-n       Gauss-Hermite quadrature of degree n = 25, 100, 400 (V only)
  quad       scipy.integrate.quad split at the breakpoints (10^3 points only, V only)
with the max relative error of each against the mpmath oracle on a subsample.
Also: `import eoctheory` and the first derivation of the whole catalogue, cold, in a
subprocess. Run: python benchmarks/bench_maps.py
"""

from __future__ import annotations

import subprocess
import sys
import time

import numpy as np
from _timing import best_of
from scipy import integrate
from scipy.special import ndtr, roots_hermitenorm

import eoctheory as eoc
from eoctheory.engine import precise
from eoctheory.theory.eoc import tau_from_sparsity

SQ2PI = np.sqrt(2 * np.pi)
SW2 = 2.0
PARAMS = {"relu": {"tau": 0.5}, "crelu": {"tau": 0.5, "m": 1.0}, "cst": {"tau": 0.5, "m": 1.0}}
# short clipping windows: m / sqrt(q) from 0.022 to 0.22, below maps.SHORT_WIDTH everywhere,
# so every point takes the short-window rule (the hand-written closed form loses digits there)
SHORT = {"crelu": {"tau": 0.5, "m": 0.05}, "cst": {"tau": 0.5, "m": 0.05}}


def pdf(x):
    return np.exp(-0.5 * x * x) / SQ2PI


def hand_V(name, q, tau, m=None):
    sq = np.sqrt(q)
    a = tau / sq
    if name == "relu":
        return SW2 * ((q + tau**2) * ndtr(-a) - tau * sq * pdf(a))
    b = (tau + m) / sq
    pa, pb = pdf(a), pdf(b)
    mass = ndtr(-a) - ndtr(-b)
    e = (q + tau**2) * mass + sq * (tau * pa - (tau - m) * pb) - 2 * tau * sq * pa \
        + m * m * ndtr(-b)
    e = q * (mass + a * pa - b * pb) - 2 * tau * sq * (pa - pb) + tau**2 * mass + m * m * ndtr(-b)
    return SW2 * (2 * e if name == "cst" else e)


def hand_dV(name, q, tau, m=None):
    sq = np.sqrt(q)
    a = tau / sq
    if name == "relu":
        return SW2 * ndtr(-a)
    b = (tau + m) / sq
    d = ndtr(-a) - ndtr(-b) - m * pdf(b) / sq
    return SW2 * (2 * d if name == "cst" else d)


def hand_d2V(name, q, tau, m=None):
    sq = np.sqrt(q)
    a = tau / sq
    if name == "relu":
        return SW2 * tau * pdf(a) / (2 * q * sq)
    b = (tau + m) / sq
    pa, pb = pdf(a), pdf(b)
    d = (a * pa - b * pb) / (2 * q) - m * pb * (b * b - 1) / (2 * q * sq)
    return SW2 * (2 * d if name == "cst" else d)


def gh_V(act, q, n, params):
    z, w = roots_hermitenorm(n)  # numpy's hermegauss overflows beyond degree ~300
    w = w / SQ2PI
    x = np.sqrt(q)[:, None] * z[None, :]
    return SW2 * (act(x, **params) ** 2 @ w)


def quad_V(act, q, params):
    bps = [float(b) for b in precise.breakpoints(act, **params)]
    out = np.empty(len(q))
    f = lambda z, sq: float(act(sq * z, **params)) ** 2 * np.exp(-0.5 * z * z) / SQ2PI  # noqa
    for i, qi in enumerate(q):
        sq = np.sqrt(qi)
        pts = [b / sq for b in bps]
        edges = [-np.inf, *pts, np.inf]
        out[i] = SW2 * sum(integrate.quad(f, lo, hi, args=(sq,), epsabs=0, epsrel=1e-13,
                                          limit=200)[0] for lo, hi in zip(edges[:-1], edges[1:]))
    return out




def max_rel(vals, q, oracle):
    idx = np.linspace(0, len(q) - 1, 12).astype(int)
    errs = []
    for i in idx:
        ref = float(oracle(q[i]))
        errs.append(abs(float(vals[i]) - ref) / abs(ref))
    return max(errs)


def main():
    rng = np.random.default_rng(0)
    rows = []
    cases = [(name, name, params) for name, params in PARAMS.items()]
    cases += [(f"{name} m=0.05", name, params) for name, params in SHORT.items()]
    for label, name, params in cases:
        act = eoc.get_activation(name, **params)
        eoc.variance_map(act, 1.0, SW2, 0.0)  # compile outside the timing
        for n in (10**3, 10**5, 10**6):
            q = np.sort(rng.uniform(0.05, 5.0, n))
            reps = 9 if n < 10**6 else 7
            comp = {
                "V": lambda: eoc.variance_map(act, q, SW2, 0.0),
                "V'": lambda: eoc.variance_slope(act, q, SW2),
                "V''": lambda: eoc.variance_curvature(act, q, SW2),
            }
            hand = {"V": hand_V, "V'": hand_dV, "V''": hand_d2V}
            orac = {"V": lambda x: precise.variance_map(act, x, SW2, 0.0, 25),
                    "V'": lambda x: precise.variance_slope(act, x, SW2, 25),
                    "V''": lambda x: precise.variance_curvature(act, x, SW2, 25)}
            for qty in ("V", "V'", "V''"):
                tc = best_of(comp[qty], reps) / n * 1e9
                th = best_of(lambda: hand[qty](name, q, **params), reps) / n * 1e9
                ec = max_rel(comp[qty](), q, orac[qty]) if n == 10**3 else np.nan
                eh = max_rel(hand[qty](name, q, **params), q, orac[qty]) if n == 10**3 else np.nan
                row = [label, n, qty, tc, th, tc / th, ec, eh]
                if qty == "V" and label == name:
                    for deg in (25, 100, 400):
                        if n <= 10**5 or deg <= 100:
                            tg = best_of(lambda: gh_V(act, q, deg, params), 2) / n * 1e9
                        else:
                            tg = np.nan
                        eg = max_rel(gh_V(act, q, deg, params), q, orac["V"]) if n == 10**3 else np.nan
                        row += [tg, eg]
                    if n == 10**3:
                        t0 = time.perf_counter()
                        qv = quad_V(act, q, params)
                        row += [(time.perf_counter() - t0) / n * 1e9, max_rel(qv, q, orac["V"])]
                rows.append(row)
    hdr = ("act", "n", "qty", "compiled ns", "hand ns", "ratio", "err comp", "err hand",
           "GH25 ns", "err", "GH100 ns", "err", "GH400 ns", "err", "quad ns", "err")
    print(" | ".join(hdr))
    for r in rows:
        cells = []
        for v in r:
            if isinstance(v, str):
                cells.append(v)
            elif isinstance(v, (int, np.integer)):
                cells.append(f"{v:.0e}")
            elif np.isnan(v):
                cells.append("-")
            elif abs(v) < 1e-3 and v != 0:
                cells.append(f"{v:.1e}")
            else:
                cells.append(f"{v:.3g}")
        print(" | ".join(cells))
    # tails: sparsity 0.99 and q from 1e-4 to 1e4, relative error of the compiled maps
    worst = 0.0
    for q0 in (1e-4, 1.0, 1e4):
        for name in PARAMS:
            s = 0.99
            tau = float(tau_from_sparsity(name, s, q0))
            kw = {"tau": tau, **({"m": np.sqrt(q0)} if name != "relu" else {})}
            for f in (0.5, 1.0, 2.0):
                q = q0 * f
                for fast, slow in ((eoc.variance_map(name, q, SW2, 0.0, **kw),
                                    precise.variance_map(name, q, SW2, 0.0, 25, **kw)),
                                   (eoc.variance_slope(name, q, SW2, **kw),
                                    precise.variance_slope(name, q, SW2, 25, **kw))):
                    worst = max(worst, abs(float(fast) - float(slow)) / abs(float(slow)))
    print(f"tails (s = 0.99, q* = 1e-4..1e4, q = q*/2..2q*): max rel error of V, V' = {worst:.1e}")
    code = ("import time; t=time.perf_counter(); import eoctheory as e; t1=time.perf_counter();"
            "[e.derive(n) for n in ('relu','st','crelu','cst','plain_relu','identity','hardtanh')];"
            "print(f'{t1-t:.3f} {time.perf_counter()-t1:.3f}')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout
    t_imp, t_der = out.split()
    print(f"cold: import eoctheory {t_imp} s; first derivation of the catalogue {t_der} s")


if __name__ == "__main__":
    main()
