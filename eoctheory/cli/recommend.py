"""``python -m eoctheory recommend``: the most expressive safe m at a width and depth.

Two modes:

* ``recommend ACT --sparsity S --width N --depth L [--risk R] [--margin F] [--q-star Q]``:
  the largest clipping height m whose predicted finite-width risk (drift of the sparsity or
  chi_1 along depth, or a first-to-last gradient ratio beyond ``--grad-limit`` either way,
  at initialisation, :mod:`eoctheory.theory.finite_width`) is at most F x R (default F =
  0.5: half the acceptable risk, a margin below the edge of ``check``'s "stable"), with tau,
  sigma_w^2, sigma_b^2, V'(q*), V''(q*), the risk, its parts, the verdict ``check`` would
  give and the gradient-ratio quantiles. Without ``--q-star`` q* is searched (for
  positively homogeneous activations it is a gauge: reported at q* = 1 with the scaling
  rule).
* ``recommend ACT --sparsity S --m M --depth L [--max-width W]``: the smallest width
  making (S, M) that safe (so ``--width`` does not go with ``--m``).

Exit code 0 when a setting meeting the risk is found, 4 (NOT SAFE) when none is (the answer
is printed first), 2 for bad input.
"""

from __future__ import annotations

import argparse
import json
import math

from eoctheory.cli.main import EXIT_OK, EXIT_UNSTABLE, integer, keys_epilog
from eoctheory.cli.options import activation_from_args, add_activation_arguments

HELP = "largest safe clipping height m (or smallest safe width) at finite width and depth"

_RISK_PARTS = {
    "predicted_risk": "1 - P(no drift and 1/g <= |grad 1|/|grad L| <= g), g = grad_limit",
    "drift_probability": "P(the sparsity s(q^l) moves > 0.1 from s(q*) or "
                         "chi_1(q^l)/chi_1(q*) leaves [1/2, 2] at some layer)",
    "explosion_probability": "P(no drift and |grad 1|/|grad L| > g)",
    "vanishing_probability": "P(no drift and |grad 1|/|grad L| < 1/g)",
    "gradient_ratio_quantiles": "level -> quantile of |grad 1|/|grad L|",
}
_SETTING = {
    "sigma_w2": "weight variance on the Edge of Chaos",
    "sigma_b2": "bias variance on the Edge of Chaos",
    "variance_slope": "V'(q*)",
    "variance_curvature": "V''(q*)",
}
_POLICY = {
    "risk_threshold": "--risk",
    "margin": "--margin: the search keeps predicted_risk <= margin x risk_threshold",
    "verdict": "stable | marginal | unstable: what check gives the answer at this width and "
               "depth (stable: predicted_risk <= risk_threshold; marginal: <= 4 x it)",
}
#: Every key of ``recommend --json`` (largest safe m at --width).
JSON_KEYS = {
    "mode": '"m"',
    "activation": "activation name",
    "sparsity": "--sparsity",
    "width": "--width",
    "depth": "--depth",
    **_POLICY,
    "safe": "predicted_risk <= risk_threshold (false: NOT SAFE, exit code 4; the least "
            "risky m is shown)",
    "margin_kept": "predicted_risk <= margin x risk_threshold (false with safe: no m keeps "
                   "the margin, the edge is shown)",
    "q_star": "fixed-point variance q* of the answer",
    "q_star_gauge": "true for positively homogeneous activations: any q* works with tau and "
                    "m times sqrt(q*)",
    "tau": "threshold tau (from the sparsity at q*)",
    "m": "the largest clipping height meeting the target (null without m)",
    "m_normalised": "m / sqrt(q*)",
    "m_min_safe": "the smallest m meeting the same target (null when none)",
    **_SETTING,
    **_RISK_PARTS,
    "band": "--band: q^l is followed on [q*/band, band q*]",
    "grad_limit": "--grad-limit g",
    "notes": "lines",
}
#: Every key of ``recommend --m M --json`` (smallest safe width).
WIDTH_JSON_KEYS = {
    "mode": '"width"',
    "activation": "activation name",
    "sparsity": "--sparsity",
    "m": "--m",
    "tau": "threshold tau (from the sparsity at q*)",
    "q_star": "--q-star (default 1)",
    "depth": "--depth",
    **_POLICY,
    "width": "smallest width with predicted_risk <= margin x risk_threshold (null: none up "
             "to max_width, exit code 4)",
    **_RISK_PARTS,
    **_SETTING,
    "band": "--band",
    "grad_limit": "--grad-limit g",
    "max_width": "--max-width",
    "notes": "lines",
}
for _d in (JSON_KEYS, WIDTH_JSON_KEYS):  # the predictor's numbers at the answer
    for _k in _RISK_PARTS:
        _d[_k] = _d[_k] + (" (at the answer)" if _k == "predicted_risk" else "")

EPILOG = "\n\n".join([
    "policy: the answer keeps its predicted risk <= --margin x --risk (default 0.5 x 0.05),\n"
    "so check at the same width and depth calls it stable, a margin below the edge;\n"
    "--margin 1 gives the edge (the largest m with risk <= --risk).",
    keys_epilog(JSON_KEYS, "JSON keys (--json)"),
    keys_epilog(WIDTH_JSON_KEYS, "JSON keys (--m M --json)"),
])
EXIT_CODES = {EXIT_OK: "a setting meeting --risk was found",
              EXIT_UNSTABLE: "NOT SAFE: nothing meets --risk (the least risky answer is "
                             "printed)"}


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_activation_arguments(p)
    p.add_argument("--sparsity", type=float, required=True,
                   help="target sparsity s in (0, 1); sets tau at q*")
    p.add_argument("--width", type=integer(2),
                   help="layer width N (needed unless --m is given; not with --m)")
    p.add_argument("--depth", type=integer(1), required=True, help="depth L")
    p.add_argument("--risk", type=float, default=0.05,
                   help="largest acceptable predicted risk, check's --risk (default 0.05)")
    p.add_argument("--margin", type=float, default=0.5,
                   help="in (0, 1]: keep the predicted risk at most MARGIN x --risk "
                        "(default 0.5, a margin below the edge; 1: the edge)")
    p.add_argument("--q-star", type=float, dest="q_star",
                   help="fixed-point variance q* > 0 (default: searched; a gauge for "
                        "homogeneous activations)")
    p.add_argument("--m", type=float,
                   help="clipping height m: switch to finding the smallest safe width")
    # defaults (None here: finite_width is imported only when the command runs) are
    # finite_width.SPAN and GRAD_LIMIT
    p.add_argument("--band", type=float, default=None,
                   help="the predictor follows q^l on [q*/b, b q*] (default 16); "
                        "failure is decided by the drift of the sparsity and chi_1 and by "
                        "the gradient tails, not by the band")
    p.add_argument("--grad-limit", type=float, default=None, dest="grad_limit",
                   help="failure: |grad layer 1| / |grad layer L| above g (explosion) or "
                        "below 1/g (vanishing) (default 1e3)")
    p.add_argument("--max-width", type=integer(4), default=None, dest="max_width",
                   help="largest width tried with --m (default 100000)")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def _finite(x: float | None, name: str) -> None:
    if x is not None and not math.isfinite(x):
        raise ValueError(f"{name} must be finite (got {x})")


def run(args: argparse.Namespace) -> int:
    from eoctheory.theory.finite_width import GRAD_LIMIT, SPAN
    from eoctheory.theory.recommend import min_width, recommend

    if args.band is None:
        args.band = SPAN
    if args.grad_limit is None:
        args.grad_limit = GRAD_LIMIT
    act = activation_from_args(args)
    for name in ("sparsity", "risk", "margin", "q_star", "m", "band", "grad_limit"):
        _finite(getattr(args, name), f"--{name.replace('_', '-')}")
    if not 0 < args.sparsity < 1:
        raise ValueError(f"--sparsity must be in (0, 1) (got {args.sparsity})")
    if not 0 < args.risk < 1:
        raise ValueError(f"--risk must be in (0, 1) (got {args.risk})")
    if not 0 < args.margin <= 1:
        raise ValueError(f"--margin must be in (0, 1] (got {args.margin})")
    if args.depth < 1:
        raise ValueError(f"--depth must be >= 1 (got {args.depth})")
    if args.q_star is not None and not args.q_star > 0:
        raise ValueError(f"--q-star must be > 0 (got {args.q_star})")
    if not args.band > 1:
        raise ValueError(f"--band must be > 1 (got {args.band})")
    if not args.grad_limit > 0:
        raise ValueError(f"--grad-limit must be > 0 (got {args.grad_limit})")
    if args.m is not None and args.width is not None:
        raise ValueError("--width does not go with --m: with --m recommend finds the smallest "
                         "safe width (up to --max-width); without --m, the largest safe m at "
                         "--width")
    if args.max_width is not None and args.m is None:
        raise ValueError("--max-width goes with --m (the smallest safe width is searched up "
                         "to it)")
    if args.m is not None:
        if "m" not in act.param_names:
            raise ValueError(f"activation {act.name!r} has no clipping height m: drop --m")
        if not args.m > 0:
            raise ValueError(f"--m must be > 0 (got {args.m})")
        max_width = 100_000 if args.max_width is None else args.max_width
        res = min_width(act, sparsity=args.sparsity, depth=args.depth, m=args.m,
                        risk=args.risk, margin=args.margin,
                        q_star=1.0 if args.q_star is None else args.q_star,
                        band=args.band, grad_limit=args.grad_limit, max_width=max_width)
        code = EXIT_OK if res.width is not None else EXIT_UNSTABLE
        if args.json:
            print(json.dumps({"mode": "width", **res.to_dict()}))
            return code
        gq = res.gradient_ratio_quantiles
        target = res.margin * res.risk_threshold
        lines = [
            f"eoctheory recommend: {act.name}, s = {res.sparsity:g}, m = {res.m:.6g}, "
            f"depth {res.depth}, q* = {res.q_star:g}, risk <= {res.risk_threshold:g} "
            f"kept at <= {target:g} (margin {res.margin:g})",
            (f"  smallest safe width: N = {res.width}" if res.width is not None else
             f"  NOT SAFE: no width up to {res.max_width} keeps the risk <= {target:g}"),
            _risk_line(res),
            f"  tau = {res.tau:.6g}    sigma_w^2 = {res.sigma_w2:.10g}    "
            f"sigma_b^2 = {res.sigma_b2:.10g}",
            f"  V'(q*) = {res.variance_slope:.6g}    V''(q*) = {res.variance_curvature:.6g}",
            "  |grad 1|/|grad L| quantiles: " + "  ".join(f"{k}: {v:.3g}"
                                                         for k, v in gq.items()),
        ] + [f"  note: {n}" for n in res.notes]
        print("\n".join(lines))
        return code
    if args.width is None:
        raise ValueError("--width is required (or give --m to find the smallest safe width)")
    rec = recommend(act, sparsity=args.sparsity, width=args.width, depth=args.depth,
                    risk=args.risk, margin=args.margin, q_star=args.q_star, band=args.band,
                    grad_limit=args.grad_limit)
    code = EXIT_OK if rec.safe else EXIT_UNSTABLE
    if args.json:
        print(json.dumps({"mode": "m", **rec.to_dict()}))
        return code
    gq = rec.gradient_ratio_quantiles
    target = rec.margin * rec.risk_threshold
    if not rec.safe:  # m_min_safe is None then: no m meets the risk
        head = ("  NOT SAFE: no m meets the risk; least risky m = " + f"{rec.m:.6g}"
                if rec.m is not None else "  NOT SAFE at this width and depth")
    elif rec.m is not None:
        head = (f"  largest safe m = {rec.m:.6g}  (m/sqrt(q*) = {rec.m_normalised:.6g}; "
                f"smallest safe m = {rec.m_min_safe:.3g})")
    else:
        head = "  (no clipping height m for this activation)"
    lines = [
        f"eoctheory recommend: {act.name}, s = {rec.sparsity:g}, width {rec.width}, "
        f"depth {rec.depth}, risk <= {rec.risk_threshold:g} kept at <= {target:g} "
        f"(margin {rec.margin:g})",
        head,
        f"  q* = {rec.q_star:g}    tau = {rec.tau:.6g}    sigma_w^2 = {rec.sigma_w2:.10g}    "
        f"sigma_b^2 = {rec.sigma_b2:.10g}",
        f"  V'(q*) = {rec.variance_slope:.6g}    V''(q*) = {rec.variance_curvature:.6g}",
        _risk_line(rec),
        "  |grad 1|/|grad L| quantiles: " + "  ".join(f"{k}: {v:.3g}" for k, v in gq.items()),
    ] + [f"  note: {n}" for n in rec.notes]
    print("\n".join(lines))
    return code


def _risk_line(r) -> str:
    """The predicted risk, its parts and check's verdict, in one line."""
    g = r.grad_limit
    return (f"  predicted risk {r.predicted_risk:.3g} (check: {r.verdict}): drift of the "
            f"sparsity or chi_1 {r.drift_probability:.3g}, |grad 1|/|grad L| > {g:g}: "
            f"{r.explosion_probability:.3g}, < 1/{g:g}: {r.vanishing_probability:.3g}")
