"""``python -m eoctheory recommend``: the most expressive safe m at a width and depth.

Two modes:

* ``recommend ACT --sparsity S --width N --depth L [--risk R] [--q-star Q]``: the largest
  clipping height m whose predicted finite-width risk (variance escape or gradient
  explosion at initialisation, :mod:`eoctheory.theory.finite_width`) is at most R, with tau,
  sigma_w^2, sigma_b^2, V'(q*), V''(q*), the risk and the gradient-ratio quantiles.
  Without ``--q-star`` q* is searched (for positively homogeneous activations it is a
  gauge: reported at q* = 1 with the scaling rule).
* ``recommend ACT --sparsity S --m M --depth L [--max-width W]``: the smallest width
  making (S, M) safe (so ``--width`` does not go with ``--m``).
"""

from __future__ import annotations

import argparse
import json
import math

from eoctheory.cli.main import integer
from eoctheory.cli.options import activation_from_args, add_activation_arguments

HELP = "largest safe clipping height m (or smallest safe width) at finite width and depth"


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_activation_arguments(p)
    p.add_argument("--sparsity", type=float, required=True,
                   help="target sparsity s in (0, 1); sets tau at q*")
    p.add_argument("--width", type=integer(2),
                   help="layer width N (needed unless --m is given; not with --m)")
    p.add_argument("--depth", type=integer(1), required=True, help="depth L")
    p.add_argument("--risk", type=float, default=0.05,
                   help="largest acceptable predicted risk (default 0.05)")
    p.add_argument("--q-star", type=float, dest="q_star",
                   help="fixed-point variance q* > 0 (default: searched; a gauge for "
                        "homogeneous activations)")
    p.add_argument("--m", type=float,
                   help="clipping height m: switch to finding the smallest safe width")
    p.add_argument("--band", type=float, default=4.0,
                   help="escape band factor b: q^l outside [q*/b, b q*] fails (default 4)")
    p.add_argument("--grad-limit", type=float, default=10.0, dest="grad_limit",
                   help="explosion: |grad layer 1| / |grad layer L| above this (default 10)")
    p.add_argument("--max-width", type=integer(4), default=None, dest="max_width",
                   help="largest width tried with --m (default 100000)")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def _finite(x: float | None, name: str) -> None:
    if x is not None and not math.isfinite(x):
        raise ValueError(f"{name} must be finite (got {x})")


def run(args: argparse.Namespace) -> int:
    from eoctheory.theory.recommend import min_width, recommend

    act = activation_from_args(args)
    for name in ("sparsity", "risk", "q_star", "m", "band", "grad_limit"):
        _finite(getattr(args, name), f"--{name.replace('_', '-')}")
    if not 0 < args.sparsity < 1:
        raise ValueError(f"--sparsity must be in (0, 1) (got {args.sparsity})")
    if not 0 < args.risk < 1:
        raise ValueError(f"--risk must be in (0, 1) (got {args.risk})")
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
                        risk=args.risk, q_star=1.0 if args.q_star is None else args.q_star,
                        band=args.band, grad_limit=args.grad_limit, max_width=max_width)
        if args.json:
            print(json.dumps({"mode": "width", **res.to_dict()}))
            return 0
        gq = res.gradient_ratio_quantiles
        lines = [
            f"eoctheory recommend: {act.name}, s = {res.sparsity:g}, m = {res.m:.6g}, "
            f"depth {res.depth}, q* = {res.q_star:g}",
            (f"  smallest safe width: N = {res.width}" if res.width is not None else
             f"  no width up to {res.max_width} is safe"),
            f"  predicted risk {res.predicted_risk:.3g} (threshold {res.risk_threshold:g}): "
            f"escape {res.escape_probability:.3g}, explosion {res.explosion_probability:.3g}",
            f"  tau = {res.tau:.6g}    sigma_w^2 = {res.sigma_w2:.10g}    "
            f"sigma_b^2 = {res.sigma_b2:.10g}",
            f"  V'(q*) = {res.variance_slope:.6g}    V''(q*) = {res.variance_curvature:.6g}",
            "  |grad 1|/|grad L| quantiles: " + "  ".join(f"{k}: {v:.3g}"
                                                         for k, v in gq.items()),
        ] + [f"  note: {n}" for n in res.notes]
        print("\n".join(lines))
        return 0
    if args.width is None:
        raise ValueError("--width is required (or give --m to find the smallest safe width)")
    rec = recommend(act, sparsity=args.sparsity, width=args.width, depth=args.depth,
                    risk=args.risk, q_star=args.q_star, band=args.band,
                    grad_limit=args.grad_limit)
    if args.json:
        print(json.dumps({"mode": "m", **rec.to_dict()}))
        return 0
    gq = rec.gradient_ratio_quantiles
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
        f"depth {rec.depth}, risk <= {rec.risk_threshold:g}",
        head,
        f"  q* = {rec.q_star:g}    tau = {rec.tau:.6g}    sigma_w^2 = {rec.sigma_w2:.10g}    "
        f"sigma_b^2 = {rec.sigma_b2:.10g}",
        f"  V'(q*) = {rec.variance_slope:.6g}    V''(q*) = {rec.variance_curvature:.6g}",
        f"  predicted risk {rec.predicted_risk:.3g}: escape from [q*/{rec.band:g}, "
        f"{rec.band:g} q*] {rec.escape_probability:.3g}, |grad 1|/|grad L| > "
        f"{rec.grad_limit:g}: {rec.explosion_probability:.3g}",
        "  |grad 1|/|grad L| quantiles: " + "  ".join(f"{k}: {v:.3g}" for k, v in gq.items()),
    ] + [f"  note: {n}" for n in rec.notes]
    print("\n".join(lines))
    return 0
