r"""Residual-MLP theory against the plain one: speed (issue 15 target: within 2x).

    python benchmarks/bench_resnet.py [--repeat R]

Each row times a residual quantity and its plain counterpart on the same inputs (best of
R runs, one BLAS thread) and prints the ratio:

* the block variance map :math:`q + \alpha^2 V(q)` (one-layer branch) vs :math:`V(q)`, and
  the two-layer :math:`q + \alpha^2 V(V(q))` vs two plain layers :math:`V(V(q))`, on
  :math:`10^5` values of q;
* the block gradient factor :math:`1 + \alpha^2\chi_1(q)` vs :math:`\chi_1(q)`;
* the block correlation map vs the plain correlation map (50 correlations);
* the trajectory along depth 100 (variance, sparsity, :math:`\chi_b`, gradient ratio) vs
  the plain network's :func:`eoctheory.nets.trajectories.theory_trajectory`;
* the verdict without a width: :func:`assess_resnet` (EoC setting, trajectory, drift and
  gradient criteria) vs the plain :func:`eoctheory.theory.stability.assess` (fixed points,
  mpmath-verified) at the same setting;
* the finite-width risk at width 300, depth 100 (:func:`predict_resnet` vs
  :func:`eoctheory.theory.finite_width.predict`).
"""

from __future__ import annotations

import argparse
import os
import sys

_ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
_ap.add_argument("--repeat", type=int, default=5, help="runs per timing (best is kept)")
ARGS = _ap.parse_args()
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
from _timing import best_of  # noqa: E402

from eoctheory.engine import maps  # noqa: E402
from eoctheory.nets.trajectories import theory_trajectory  # noqa: E402
from eoctheory.theory import finite_width as fw  # noqa: E402
from eoctheory.theory import resnet as rn  # noqa: E402
from eoctheory.theory.correlation import correlation_map  # noqa: E402
from eoctheory.theory.setting import resolve_setting  # noqa: E402
from eoctheory.theory.stability import assess  # noqa: E402


def main() -> None:
    R = ARGS.repeat
    st = resolve_setting("crelu", sparsity=0.85, target_slope=0.7)
    a, sw2, sb2, p = st.activation, st.sigma_w2, st.sigma_b2, st.params
    q = np.geomspace(0.1, 10, 100_000)
    r = np.linspace(-0.9, 0.99, 50)
    kw = dict(sparsity=0.85, target_slope=0.7)
    rows = [
        ("variance map, one-layer block (1e5 q)",
         lambda: rn.residual_variance_map(a, q, sw2, sb2, alpha=0.1, **p),
         lambda: maps.variance_map(a, q, sw2, sb2, **p), 2.0),
        ("variance map, two-layer block (1e5 q)",
         lambda: rn.residual_variance_map(a, q, sw2, sb2, alpha=0.1, branch="two", **p),
         lambda: maps.variance_map(a, maps.variance_map(a, q, sw2, sb2, **p), sw2, sb2, **p),
         2.0),
        ("gradient factor (1e5 q)",
         lambda: rn.residual_gradient_factor(a, q, sw2, sb2, alpha=0.1, **p),
         lambda: maps.chi1(a, q, sw2, **p), 2.0),
        ("correlation map (50 rho)",
         lambda: rn.residual_correlation_map(a, r, 1.3, sw2, sb2, alpha=0.1, **p),
         lambda: correlation_map(a, r, sw2, sb2, q_star=1.3, **p), 2.0),
        ("trajectory, depth 100",
         lambda: rn.residual_trajectory(a, depth=100, **kw),
         lambda: theory_trajectory(st, 100, 1.0), 2.0),
        ("EoC setting + verdict without a width",
         lambda: rn.assess_resnet("crelu", depth=100, **kw),
         lambda: assess(st.activation, sigma_w2=sw2, sigma_b2=sb2), 2.0),
        ("finite-width risk, 300 x 100",
         lambda: rn.predict_resnet("crelu", width=300, depth=100, **kw),
         lambda: fw.predict("crelu", width=300, depth=100, **kw), 2.0),
    ]
    print(f"{'quantity':40s} {'residual':>10s} {'plain':>10s} {'ratio':>7s}  target")
    for name, res, plain, target in rows:
        res(), plain()  # warm the caches (derivations, compiled maps)
        tr, tp = best_of(res, R), best_of(plain, R)
        ok = "ok" if tr <= target * tp else "MISSED"
        print(f"{name:40s} {tr * 1e3:8.2f}ms {tp * 1e3:8.2f}ms {tr / tp:7.2f}  "
              f"<= {target:g}x {ok}")


if __name__ == "__main__":
    main()
