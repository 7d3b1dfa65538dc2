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
    "arch": "--arch: dnn | cnn2d (width = the channels C)",
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
    "arch": "--arch: dnn | cnn2d (width = the channels C)",
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

#: Every key of ``recommend --arch resnet --json``
#: (:class:`eoctheory.theory.resnet_recommend.ResNetRecommendation`).
RESNET_JSON_KEYS = {
    "mode": '"m"',
    "arch": '"resnet"',
    "activation": "activation name",
    "sparsity": "--sparsity",
    "width": "--width",
    "depth": "--depth: the number of residual blocks",
    "alpha": "--alpha: the branch scale (default 1/sqrt(depth))",
    "branch": "--branch: one | two layers per branch",
    "tau_follows_q": "false with --fixed-tau",
    "risk_threshold": "--risk",
    "margin": "--margin: the search keeps predicted_risk <= margin x risk_threshold",
    "safe": "predicted_risk <= risk_threshold (false: NOT SAFE, exit code 4)",
    "margin_kept": "predicted_risk <= margin x risk_threshold",
    "verdict": "stable | marginal | unstable: check --arch resnet at the answer",
    "q_star": "design variance q* (1)",
    "tau": "threshold tau (from the sparsity at q*)",
    "m": "the largest clipping height meeting the target (null without m)",
    "m_min_safe": "the smallest grid m meeting the same target (null when none)",
    "sigma_w2": "weight variance of the branches (the plain EoC point)",
    "sigma_b2": "bias variance of the branches",
    "predicted_risk": "P(drift of s or chi_b in a block, or |grad 0|/|grad L| outside "
                      "[1/g, g]) at the answer",
    "drift_probability": "P(drift)",
    "explosion_probability": "P(no drift and |grad 0|/|grad L| > g)",
    "vanishing_probability": "P(no drift and |grad 0|/|grad L| < 1/g)",
    "notes": "lines",
}

EPILOG = "\n\n".join([
    "policy: the answer keeps its predicted risk <= --margin x --risk (default 0.5 x 0.05),\n"
    "so check at the same width and depth calls it stable, a margin below the edge;\n"
    "--margin 1 gives the edge (the largest m with risk <= --risk).",
    keys_epilog(JSON_KEYS, "JSON keys (--json)"),
    keys_epilog(WIDTH_JSON_KEYS, "JSON keys (--m M --json)"),
    keys_epilog(RESNET_JSON_KEYS, "JSON keys (--arch resnet --json)"),
])
EXIT_CODES = {EXIT_OK: "a setting meeting --risk was found",
              EXIT_UNSTABLE: "NOT SAFE: nothing meets --risk (the least risky answer is "
                             "printed)"}
#: ``--help`` examples (after the program's name).
EXAMPLES = (
    ("recommend crelu --sparsity 0.85 --width 300 --depth 100",
     "the largest clipping height m that check at this width and depth calls stable"),
    ("recommend cst --sparsity 0.7 --m 1.5 --depth 200",
     "the smallest width making CST at 70% sparsity with m = 1.5 that safe"),
    ("recommend crelu --sparsity 0.85 --width 300 --depth 100 --risk 0.01 --margin 1 --json",
     "a stricter risk, at the edge, as one JSON object"),
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_activation_arguments(p)
    p.add_argument("--sparsity", type=float, required=True, metavar="S",
                   help="target sparsity s in (0, 1); sets tau at q*")
    p.add_argument("--arch", choices=("dnn", "cnn2d", "resnet"), default="dnn",
                   help="architecture (default dnn): dnn (width N), cnn2d (a 2-D CNN; "
                        "the predictor uses N = its channels C, see check --help) or resnet "
                        "(a residual MLP of --depth blocks; with --width, not --m)")
    p.add_argument("--alpha", type=float, default=None,
                   help="--arch resnet: branch scale alpha > 0 (default 1/sqrt(depth))")
    p.add_argument("--branch", choices=("one", "two"), default="one",
                   help="--arch resnet: one or two layers per branch (default one)")
    p.add_argument("--fixed-tau", action="store_true", dest="fixed_tau",
                   help="--arch resnet: keep tau and m of q* in every block (default: they "
                        "follow sqrt(q^l))")
    p.add_argument("--width", "--channels", type=integer(2), dest="width", metavar="N",
                   help="layer width N, or the channels C with --arch cnn2d (needed unless "
                        "--m is given; not with --m)")
    p.add_argument("--depth", type=integer(1), required=True, metavar="L", help="depth L")
    p.add_argument("--risk", type=float, default=0.05,
                   help="largest acceptable predicted risk, check's --risk (default 0.05)")
    p.add_argument("--margin", type=float, default=0.5,
                   help="in (0, 1]: keep the predicted risk at most MARGIN x --risk "
                        "(default 0.5, a margin below the edge; 1: the edge)")
    p.add_argument("--q-star", type=float, dest="q_star", metavar="Q",
                   help="fixed-point variance q* > 0 (default: searched; a gauge for "
                        "homogeneous activations)")
    p.add_argument("--m", type=float, metavar="M",
                   help="clipping height m: switch to finding the smallest safe width")
    # defaults (None here: finite_width is imported only when the command runs) are
    # finite_width.SPAN and GRAD_LIMIT
    p.add_argument("--band", type=float, default=None,
                   help="the predictor follows q^l on [q*/BAND, BAND q*] (default 16); "
                        "failure is decided by the drift of the sparsity and chi_1 and by "
                        "the gradient tails, not by the band")
    p.add_argument("--grad-limit", type=float, default=None, dest="grad_limit", metavar="G",
                   help="failure: |grad layer 1| / |grad layer L| above G (explosion) or "
                        "below 1/G (vanishing) (default 1e3)")
    p.add_argument("--max-width", type=integer(4), default=None, dest="max_width", metavar="N",
                   help="largest width tried with --m (default 100000)")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def _finite(x: float | None, name: str) -> None:
    if x is not None and not math.isfinite(x):
        raise ValueError(f"{name} must be finite (got {x})")


def run(args: argparse.Namespace) -> int:
    from eoctheory.cli.progress import with_status
    from eoctheory.theory.finite_width import GRAD_LIMIT, SPAN
    from eoctheory.theory.recommend import min_width, recommend

    # the searches have no progress hook: a status line while they run (a terminal only)
    min_width = with_status("recommend: searching the width", min_width, quiet=args.quiet)
    recommend = with_status("recommend: searching m and q*", recommend, quiet=args.quiet)

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
    if args.arch != "resnet" and (args.alpha is not None or args.branch != "one"
                                  or args.fixed_tau):
        raise ValueError("--alpha, --branch and --fixed-tau go with --arch resnet")
    if args.arch == "resnet":
        return _run_resnet(args, act)
    unit, sym, least = (("channels", "C", "fewest safe channels") if args.arch == "cnn2d"
                        else ("width", "N", "smallest safe width"))
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
            print(json.dumps({"mode": "width", "arch": args.arch, **res.to_dict()}))
            return code
        gq = res.gradient_ratio_quantiles
        target = res.margin * res.risk_threshold
        lines = [
            f"eoctheory recommend: {act.name}, s = {res.sparsity:g}, m = {res.m:.6g}, "
            f"depth {res.depth}, q* = {res.q_star:g}, risk <= {res.risk_threshold:g} "
            f"kept at <= {target:g} (margin {res.margin:g})",
            (f"  {least}: {sym} = {res.width}" if res.width is not None else
             f"  NOT SAFE: no {unit} up to {res.max_width} keeps the risk <= {target:g}"),
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
        print(json.dumps({"mode": "m", "arch": args.arch, **rec.to_dict()}))
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
        f"eoctheory recommend: {act.name}, s = {rec.sparsity:g}, {unit} {rec.width}, "
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


def _run_resnet(args: argparse.Namespace, act) -> int:
    """``recommend --arch resnet``: the largest safe m of a residual MLP at --width."""
    from eoctheory.theory.resnet_recommend import recommend_resnet

    if args.m is not None or args.width is None:
        raise ValueError("--arch resnet needs --width (the smallest safe width, --m, is for "
                         "the plain network only)")
    rec = recommend_resnet(act, sparsity=args.sparsity, width=args.width, depth=args.depth,
                           alpha=args.alpha, branch=args.branch,
                           tau_follows_q=not args.fixed_tau, risk=args.risk,
                           margin=args.margin, band=args.band, grad_limit=args.grad_limit,
                           q_star=1.0 if args.q_star is None else args.q_star)
    code = EXIT_OK if rec.safe else EXIT_UNSTABLE
    if args.json:
        print(json.dumps({"mode": "m", "arch": "resnet", **rec.to_dict()}))
        return code
    target = rec.margin * rec.risk_threshold
    if rec.m is None:
        head = ("  (no clipping height m for this activation)" if rec.safe
                else "  NOT SAFE at this width, depth and alpha")
    elif rec.safe:
        head = (f"  largest safe m = {rec.m:.6g}  (smallest safe m = "
                f"{rec.m_min_safe:.3g})")
    else:
        head = f"  NOT SAFE: no m meets the risk; least risky m = {rec.m:.6g}"
    lines = [
        f"eoctheory recommend: {act.name}, s = {rec.sparsity:g}, residual MLP of width "
        f"{rec.width}, {rec.depth} {rec.branch}-layer blocks, alpha = {rec.alpha:.4g}"
        + (", fixed tau" if not rec.tau_follows_q else ", tau follows sqrt(q^l)")
        + f", risk <= {rec.risk_threshold:g} kept at <= {target:g} (margin {rec.margin:g})",
        head,
        f"  q* = {rec.q_star:g}    tau = {rec.tau:.6g}    sigma_w^2 = {rec.sigma_w2:.10g}    "
        f"sigma_b^2 = {rec.sigma_b2:.10g}",
        f"  predicted risk {rec.predicted_risk:.3g} (check --arch resnet: {rec.verdict}): "
        f"drift {rec.drift_probability:.3g}, |grad 0|/|grad L| > 1000: "
        f"{rec.explosion_probability:.3g}, < 1/1000: {rec.vanishing_probability:.3g}",
    ] + [f"  note: {n}" for n in rec.notes]
    print("\n".join(lines))
    return code
