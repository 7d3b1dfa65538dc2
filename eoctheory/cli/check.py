"""``python -m eoctheory check``: how to initialise, and whether training will be stable."""

from __future__ import annotations

import argparse
import json
import math

from eoctheory.cli.main import integer

HELP = "EoC initialisation (sigma_w^2, sigma_b^2, tau, m) and a stability verdict"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("activation", metavar="ACTIVATION",
                   help="relu, st, crelu, cst (the paper's ReLU_tau, ST_tau, CReLU, CST), "
                        "another catalogue name, or 'custom' with --expr")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--sparsity", type=float, help="target sparsity s in (0, 1); sets tau")
    g.add_argument("--tau", type=float, help="threshold tau >= 0")
    h = p.add_mutually_exclusive_group()
    h.add_argument("--m", type=float, help="clipping height m > 0")
    h.add_argument("--target-slope", type=float, dest="target_slope",
                   help="choose m so that V'(q*) equals this on the EoC (default 0.7 for "
                        "clipped activations when --m is not given)")
    p.add_argument("--q-star", type=float, default=1.0, dest="q_star",
                   help="fixed-point variance q* > 0 (default 1)")
    p.add_argument("--expr", help="SymPy expression in x for 'custom' (parameters tau, m)")
    p.add_argument("--width", type=integer(2), help="network width N: ground the verdict in "
                   "the finite-width predictor (needs --depth)")
    p.add_argument("--depth", type=integer(1), help="network depth L (with --width)")
    p.add_argument("--risk", type=float, default=0.05,
                   help="acceptable predicted risk with --width/--depth (default 0.05)")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def _activation(args):
    from eoctheory.engine.activations import Activation, get_activation

    if args.activation.lower() == "custom":
        if not args.expr:
            raise ValueError("'custom' needs --expr, a SymPy expression in x")
        # the safe reader finds the parameters in the parsed tree (tau, m default to 0, 1)
        return Activation.from_string(args.expr, name="custom")
    if args.expr:
        raise ValueError("--expr goes with ACTIVATION 'custom'")
    return get_activation(args.activation)


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
    from eoctheory.theory import eoc
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
    act = _activation(args)
    if not (math.isfinite(args.q_star) and args.q_star > 0):
        raise ValueError(f"--q-star must be a finite variance > 0 (got {args.q_star})")
    params: dict = {}
    has_tau, has_m = "tau" in act.param_names, "m" in act.param_names
    if (args.sparsity is not None or args.tau is not None) and not has_tau:
        raise ValueError(f"activation {act.name!r} has no threshold tau: drop --sparsity/--tau")
    if (args.m is not None or args.target_slope is not None) and not has_m:
        raise ValueError(f"activation {act.name!r} has no clipping height m: drop "
                         "--m/--target-slope")
    if args.sparsity is not None and not 0 < args.sparsity < 1:
        raise ValueError(f"--sparsity must be in (0, 1) (got {args.sparsity})")
    if args.tau is not None:
        params["tau"] = args.tau
    if args.m is not None:
        params["m"] = args.m
    target = args.target_slope
    if has_m and args.m is None and target is None:
        target = 0.7
    if target is not None:
        kw = {"sparsity": args.sparsity} if args.sparsity is not None else \
             {"tau": params.get("tau", act.values["tau"])}
        sol = eoc.m_for_slope(act, target, q_star=args.q_star, **kw)
        params["tau"], params["m"] = float(sol.tau), float(sol.m)
    elif args.sparsity is not None:
        params["tau"] = float(eoc.tau_from_sparsity(act, args.sparsity, args.q_star,
                                                    **{k: v for k, v in params.items()
                                                       if k != "tau"}))
    act.resolve(params)
    rep = assess(act, args.q_star, **params)
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
        "V_prime": rep.V_prime,
        "V_second": rep.V_second,
        "target_slope": target,
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
        f"eoctheory check: {act.name}" + (f"  ({act.expr})" if args.activation == "custom" else ""),
        f"  initialise on the Edge of Chaos at q* = {f(rep.q_star)}:",
        f"    sigma_w^2 = {rep.sigma_w2:.10g}    sigma_b^2 = {rep.sigma_b2:.10g}",
        f"    tau = {f(out['tau'])}    m = {f(out['m'])}"
        + (f"   (m chosen for V'(q*) = {target:g})" if target is not None else ""),
        f"  sparsity s = {rep.sparsity:.6g}    chi_1 = {rep.chi1:.6g}",
        f"  V'(q*) = {rep.V_prime:.6g}    V''(q*) = {rep.V_second:.6g}",
        "  fixed points of V: " + ", ".join(f"q = {p.q:.6g} ({p.kind}, V' = {p.V_prime:.4g})"
                                            for p in rep.fixed_points),
        f"  |V(q) - q| <= 0.01 q* on [{rep.tangent_region[0]:.4g}, {rep.tangent_region[1]:.4g}]",
    ] + risk_line + [
        f"  verdict: {rep.verdict.upper()}",
    ] + [f"    - {r}" for r in rep.reasons]
    print("\n".join(lines))
    return 0
