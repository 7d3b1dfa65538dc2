"""``python -m eoctheory check``: how to initialise, and whether training will be stable."""

from __future__ import annotations

import argparse
import json

from eoctheory.cli.main import integer
from eoctheory.cli.options import add_activation_arguments, add_setting_arguments, \
    setting_from_args

HELP = "EoC initialisation (sigma_w^2, sigma_b^2, tau, m) and a stability verdict"


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_activation_arguments(p)
    add_setting_arguments(p)
    p.add_argument("--width", type=integer(2), help="network width N: ground the verdict in "
                   "the finite-width predictor (needs --depth)")
    p.add_argument("--depth", type=integer(1), help="network depth L (with --width)")
    p.add_argument("--risk", type=float, default=0.05,
                   help="acceptable predicted risk with --width/--depth (default 0.05)")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def _ground_verdict(rep, finite: dict) -> None:
    """With a width and depth, the predicted risk decides (documented in the README).

    risk > threshold: unstable; an infinite-width 'unstable' whose predicted risk at this
    width and depth is within the threshold becomes 'marginal'; otherwise the
    infinite-width verdict stands. The predictor's reasons come first.
    """
    risky = finite["verdict"] == "risky"
    if risky:
        rep.verdict = "unstable"
    elif rep.verdict == "unstable":
        rep.verdict = "marginal"
        finite["reasons"].append("the infinite-width analysis says q* is not robustly "
                                 "attracting, but at this width and depth it rarely matters")
    rep.reasons = finite["reasons"] + rep.reasons


def run(args: argparse.Namespace) -> int:
    from eoctheory.theory.stability import assess

    if (args.width is None) != (args.depth is None):
        raise ValueError("--width and --depth go together")
    if not 0 < args.risk < 1:
        raise ValueError(f"--risk must be in (0, 1) (got {args.risk})")
    if args.width is not None:  # refuse an oversized prediction before any work
        from eoctheory.limits import check_resources
        from eoctheory.theory.finite_width import estimate_predict

        nbytes, ops = estimate_predict(args.width, args.depth)
        check_resources(f"--width {args.width} --depth {args.depth}", nbytes=nbytes,
                        operations=ops, hint="lower --depth")
    st = setting_from_args(args)
    act, params, target = st.activation, st.params, st.target_slope
    rep = assess(act, st.q_star, **params)
    finite = None
    if args.width is not None:
        from eoctheory.theory.finite_width import check_summary

        finite = check_summary(act, params, rep.sigma_w2, rep.sigma_b2, rep.q_star,
                               args.width, args.depth, risk=args.risk)
        _ground_verdict(rep, finite)
    out = {
        "activation": act.name,
        "expr": str(act.expr) if act.expr is not None else None,
        "tau": params.get("tau", act.values.get("tau")),
        "m": params.get("m", act.values.get("m")),
        "sparsity": rep.sparsity,
        "q_star": rep.q_star,
        "sigma_w2": rep.sigma_w2,
        "sigma_b2": rep.sigma_b2,
        "chi1": rep.chi1,
        "variance_slope": rep.V_prime,
        "variance_curvature": rep.V_second,
        "target_slope": target,
        "other_m": list(st.other_m),
        "fixed_points": [f.as_dict() for f in rep.fixed_points],
        "tangent_region": list(rep.tangent_region),
        "verdict": rep.verdict,
        "reasons": rep.reasons,
    }
    if finite is not None:
        out["predicted_risk"] = finite["predicted_risk"]
        out["gradient_ratio_quantiles"] = finite["gradient_ratio_quantiles"]
        out["finite_width"] = finite
    if args.json:
        print(json.dumps(out))
        return 0
    f = lambda v: "-" if v is None else f"{v:.6g}"  # noqa: E731
    risk_line = [] if finite is None else [
        f"  width {finite['width']}, depth {finite['depth']}: predicted risk "
        f"{finite['predicted_risk']:.3g} (variance escape or gradient explosion)"]
    lines = [
        f"eoctheory check: {act.name}" + (f"  ({act.expr})" if args.expr else ""),
        f"  initialise on the Edge of Chaos at q* = {f(rep.q_star)}:",
        f"    sigma_w^2 = {rep.sigma_w2:.10g}    sigma_b^2 = {rep.sigma_b2:.10g}",
        f"    tau = {f(out['tau'])}    m = {f(out['m'])}"
        + (f"   (m chosen for V'(q*) = {target:g})" if target is not None else ""),
        f"  sparsity s = {rep.sparsity:.6g}    chi_1 = {rep.chi1:.6g}",
        f"  V'(q*) = {rep.V_prime:.6g}    V''(q*) = {rep.V_second:.6g}",
        "  fixed points of V: " + ", ".join(f"q = {p.q:.6g} ({p.kind}, V' = {p.V_prime:.4g})"
                                            for p in rep.fixed_points),
        f"  |V(q) - q| <= 0.01 q* on [{rep.tangent_region[0]:.4g}, {rep.tangent_region[1]:.4g}]",
    ] + ([f"  note: V'(q*) = {target:g} is also reached at m = "
           + ", ".join(f"{v:.6g}" for v in st.other_m)
           + " (the smallest m on a rising branch is used; give --m to choose)"]
         if st.other_m else []) + risk_line + [
        f"  verdict: {rep.verdict.upper()}",
    ] + [f"    - {r}" for r in rep.reasons]
    print("\n".join(lines))
    return 0
