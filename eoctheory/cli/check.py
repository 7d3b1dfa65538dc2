"""``python -m eoctheory check``: how to initialise, and whether training will be stable."""

from __future__ import annotations

import argparse
import json

from eoctheory.cli.main import EXIT_MARGINAL, EXIT_UNSTABLE, VERDICT_EXIT, integer, keys_epilog
from eoctheory.cli.options import add_activation_arguments, add_setting_arguments, \
    setting_from_args

HELP = "EoC initialisation (sigma_w^2, sigma_b^2, tau, m) and a stability verdict"

#: Every key of ``check --json`` (the last three only with ``--width``/``--depth``).
JSON_KEYS = {
    "activation": "activation name",
    "expr": "phi(x) as parsed (null for a catalogue activation without one)",
    "tau": "threshold tau (null if the activation has none)",
    "m": "clipping height m (null if the activation has none)",
    "sparsity": "expected sparsity s = P(phi(h) = 0) at q* (eq. 12)",
    "q_star": "fixed-point variance q*",
    "sigma_w2": "weight variance sigma_w^2 on the Edge of Chaos",
    "sigma_b2": "bias variance sigma_b^2 on the Edge of Chaos",
    "chi1": "chi_1 at q* (1 on the Edge of Chaos)",
    "variance_slope": "V'(q*), slope of the variance map",
    "variance_curvature": "V''(q*), curvature of the variance map",
    "target_slope": "the V'(q*) that chose m (null if m was given or there is none)",
    "other_m": "other m reaching the same target slope (list)",
    "fixed_points": "fixed points of V: list of {q, V_prime, V_second, kind, residual, "
                    "digits}",
    "tangent_region": "[lo, hi]: where |V(q) - q| <= 0.01 q*",
    "verdict": "stable | marginal | unstable (exit code 0 | 3 | 4); the finite-width one "
               "with --width/--depth",
    "infinite_width_verdict": "the infinite-width verdict (eoctheory.theory.stability)",
    "reasons": "lines explaining the verdict (finite-width ones first)",
    "predicted_risk": "with --width/--depth: P(drift of s(q^l) or chi_1(q^l), or "
                      "|grad 1|/|grad L| outside [1/g, g]) at initialisation",
    "gradient_ratio_quantiles": "with --width/--depth: quantiles of |grad 1|/|grad L| "
                                "(level -> ratio)",
    "finite_width": "with --width/--depth: the predictor's summary, keys below",
    "resnet": "with --arch resnet: the residual network's assessment, keys below",
}
#: Keys present only with ``--width``/``--depth`` (``--arch dnn`` or ``cnn2d``).
FINITE_ONLY_KEYS = ("predicted_risk", "gradient_ratio_quantiles", "finite_width")
#: Keys present only with ``--arch resnet`` (with ``predicted_risk`` when a width is given).
RESNET_ONLY_KEYS = ("resnet",)
#: Every key of the ``resnet`` object (:class:`eoctheory.theory.resnet.ResNetAssessment`).
RESNET_KEYS = {
    "activation": "activation name",
    "verdict": "stable | marginal | unstable (the verdict of check --arch resnet)",
    "risk": "with --width: P(drift of s or chi_b, or |grad 0|/|grad L| outside [1/g, g]); "
            "without: 1 if the infinite-width trajectory drifts or the ratio leaves it, else 0",
    "drift_probability": "P(the sparsity or chi_b of a block drifts past the limits)",
    "explosion_probability": "P(no drift and |grad 0|/|grad L| > g)",
    "vanishing_probability": "P(no drift and |grad 0|/|grad L| < 1/g)",
    "q": "infinite-width q^l of the stream, l = 0..L",
    "sparsity": "infinite-width sparsity of each block's (first) activation",
    "gradient_ratio": "infinite-width |grad l|/|grad L|, l = 0..L",
    "reasons": "lines",
    "width": "--width (null without)",
    "depth": "--depth: the number of residual blocks",
    "alpha": "--alpha: the branch scale (default 1/sqrt(L))",
    "branch": "--branch: one | two layers per branch",
    "tau_follows_q": "false with --fixed-tau: tau and m stay those of q* in every block",
    "sigma_w2": "weight variance of the branches (the plain EoC point)",
    "sigma_b2": "bias variance of the branches",
    "q_star": "q* of the design (the stream's input variance)",
    "params": "the activation's parameters at q*",
    "risk_threshold": "--risk",
}
#: Every key of the ``finite_width`` object
#: (:func:`eoctheory.theory.finite_width.check_summary`).
#: ``--arch`` values (:data:`eoctheory.theory.finite_width.ARCHITECTURES`).
ARCH_CHOICES = ("dnn", "cnn2d", "resnet")
FINITE_WIDTH_KEYS = {
    "predicted_risk": "1 - P(no drift and 1/g <= |grad 1|/|grad L| <= g)",
    "drift_probability": "P(|s(q^l) - s(q*)| > sparsity_drift or chi_1(q^l)/chi_1(q*) "
                         "outside [1/chi_drift, chi_drift] at some layer)",
    "explosion_probability": "P(no drift and |grad 1|/|grad L| > g)",
    "vanishing_probability": "P(no drift and |grad 1|/|grad L| < 1/g)",
    "gradient_ratio_quantiles": "level -> quantile of |grad 1|/|grad L|",
    "q_quantiles_last_layer": "level -> quantile of q^L",
    "arch": "--arch: dnn | cnn2d",
    "width": "width N (with --arch cnn2d: the channels C)",
    "depth": "depth L",
    "band": "q^l is followed on [q*/band, band q*]",
    "grad_limit": "g",
    "sparsity_drift": "largest |s(q^l) - s(q*)| allowed",
    "chi_drift": "largest factor of chi_1(q^l)/chi_1(q*) allowed",
    "risk_threshold": "--risk",
    "verdict": "stable if predicted_risk <= --risk, marginal if <= 4 --risk, else unstable",
    "reasons": "lines",
}

EPILOG = "\n\n".join([
    "verdict: without --width/--depth the infinite-width rule of "
    "eoctheory.theory.stability;\nwith them the finite-width predictor decides: stable if "
    "the predicted risk <= --risk,\nmarginal if <= 4 --risk, else unstable (the "
    "infinite-width reasons still follow).",
    keys_epilog(JSON_KEYS),
    keys_epilog(FINITE_WIDTH_KEYS, "keys of finite_width"),
    keys_epilog(RESNET_KEYS, "keys of resnet (--arch resnet)"),
])
EXIT_CODES = {0: "verdict stable", EXIT_MARGINAL: "verdict marginal",
              EXIT_UNSTABLE: "verdict unstable"}
#: ``--help`` examples (after the program's name).
EXAMPLES = (
    ("check crelu --sparsity 0.85 --target-slope 0.7",
     "sigma_w^2, sigma_b^2, tau, m on the Edge of Chaos and the infinite-width verdict"),
    ("check relu --sparsity 0.7 --width 300 --depth 100",
     "the verdict of the finite-width predictor for that network (exit code 0, 3 or 4)"),
    ("check custom --expr \"Piecewise((0, x < tau), (x - tau, True))\" --tau 0.5 --json",
     "your own activation, as one JSON object"),
    ("check gelu --q-star 2", "a smooth activation (its fixed points verified in mpmath)"),
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_activation_arguments(p)
    add_setting_arguments(p)
    p.add_argument("--arch", choices=ARCH_CHOICES, default="dnn",
                   help="architecture of --width/--depth (default dnn): dnn (width N), "
                        "cnn2d (a 2-D CNN with --channels C; the predictor uses N = C), "
                        "resnet (a residual MLP of --depth blocks h + alpha (W phi(h) + b), "
                        "eoctheory.theory.resnet; --width optional)")
    p.add_argument("--width", "--channels", type=integer(2), dest="width", metavar="N",
                   help="network width N (--channels: the channels C of --arch cnn2d): "
                        "ground the verdict in the finite-width predictor (needs --depth)")
    p.add_argument("--depth", type=integer(1), metavar="L",
                   help="network depth L (with --width)")
    p.add_argument("--risk", type=float, default=0.05,
                   help="acceptable predicted risk with --width/--depth (default 0.05): "
                        "stable at most this, marginal at most 4 times it")
    p.add_argument("--alpha", type=float, default=None,
                   help="--arch resnet: branch scale alpha > 0 (default 1/sqrt(depth))")
    p.add_argument("--branch", choices=("one", "two"), default="one",
                   help="--arch resnet: one layer (h + alpha (W phi(h) + b)) or two "
                        "(h + alpha (W2 phi(W1 phi(h) + b1) + b2)) per branch (default one)")
    p.add_argument("--fixed-tau", action="store_true", dest="fixed_tau",
                   help="--arch resnet: keep tau and m of q* in every block (default: they "
                        "follow sqrt(q^l), which keeps the sparsity)")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def _ground_verdict(rep, finite: dict) -> None:
    """With a width and depth, the finite-width verdict decides.

    ``finite["verdict"]`` (:func:`eoctheory.theory.finite_width.verdict_of`: stable if the
    predicted risk is within ``--risk``, marginal within 4 times it, else unstable) replaces
    the infinite-width one; the predictor's reasons come first, then the infinite-width
    reasons (introduced by a line naming that verdict when it differs).
    """
    infinite = rep.verdict
    rep.verdict = finite["verdict"]
    extra = [] if infinite == rep.verdict else [
        f"the infinite-width analysis says {infinite} (its reasons follow); at this width "
        "and depth the predicted risk decides"]
    rep.reasons = list(finite["reasons"]) + extra + list(rep.reasons)


def run(args: argparse.Namespace) -> int:
    from eoctheory.cli.progress import status
    from eoctheory.theory.stability import assess

    resnet = args.arch == "resnet"
    if not resnet and (args.alpha is not None or args.branch != "one" or args.fixed_tau):
        raise ValueError("--alpha, --branch and --fixed-tau go with --arch resnet")
    if resnet and args.depth is None:
        raise ValueError("--arch resnet needs --depth (the number of residual blocks)")
    if not resnet and (args.width is None) != (args.depth is None):
        raise ValueError("--width and --depth go together")
    if args.arch == "cnn2d" and args.width is None:
        raise ValueError(f"--arch {args.arch} needs --channels/--width and --depth (the "
                         "infinite-width analysis is the same for every architecture)")
    if not 0 < args.risk < 1:
        raise ValueError(f"--risk must be in (0, 1) (got {args.risk})")
    if args.width is not None and not resnet:  # refuse an oversized one before any work
        from eoctheory.limits import check_resources
        from eoctheory.theory.finite_width import estimate_predict

        nbytes, ops = estimate_predict(args.width, args.depth)
        check_resources(f"--width {args.width} --depth {args.depth}", nbytes=nbytes,
                        operations=ops, hint="lower --depth")
    st = setting_from_args(args)
    act, params, target = st.activation, st.params, st.target_slope
    with status("check: fixed points of V, verified in mpmath", quiet=args.quiet):
        rep = assess(act, st.q_star, **params)
    infinite_verdict = rep.verdict
    finite = None
    res = None
    if resnet:
        from eoctheory.theory.resnet import assess_resnet

        res = assess_resnet(act, depth=args.depth, width=args.width, alpha=args.alpha,
                            branch=args.branch, tau_follows_q=not args.fixed_tau,
                            risk=args.risk, q_star=rep.q_star, sigma_w2=rep.sigma_w2,
                            sigma_b2=rep.sigma_b2, **params)
        # the plain analysis of V describes the network without skips: one line of it
        rep.reasons = list(res.reasons) + [
            f"without the skip connections (a plain network of these layers) the "
            f"infinite-width verdict would be {rep.verdict}"]
        rep.verdict = res.verdict
    elif args.width is not None:
        from eoctheory.theory.finite_width import check_summary

        finite = check_summary(act, params, rep.sigma_w2, rep.sigma_b2, rep.q_star,
                               args.width, args.depth, risk=args.risk, arch=args.arch)
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
        "infinite_width_verdict": infinite_verdict,
        "reasons": rep.reasons,
    }
    if finite is not None:
        out["predicted_risk"] = finite["predicted_risk"]
        out["gradient_ratio_quantiles"] = finite["gradient_ratio_quantiles"]
        out["finite_width"] = finite
    if res is not None:
        if args.width is not None:
            out["predicted_risk"] = res.risk
        out["resnet"] = res.to_dict()
    code = VERDICT_EXIT[rep.verdict]
    if args.json:
        print(json.dumps(out))
        return code
    f = lambda v: "-" if v is None else f"{v:.6g}"  # noqa: E731
    risk_line = [] if finite is None else [
        f"  {'channels' if args.arch == 'cnn2d' else 'width'} {finite['width']}, depth "
        f"{finite['depth']}: predicted risk "
        f"{finite['predicted_risk']:.3g} (threshold {finite['risk_threshold']:g}; drift of "
        f"the sparsity or chi_1 along depth, or |grad 1|/|grad L| beyond "
        f"{finite['grad_limit']:g} or below 1/{finite['grad_limit']:g})"]
    lines = [
        f"eoctheory check: {act.name}" + (f"  ({act.expr})" if args.expr else ""),
        f"  initialise on the Edge of Chaos at q* = {f(rep.q_star)}:",
        f"    sigma_w^2 = {rep.sigma_w2:.10g}    sigma_b^2 = {rep.sigma_b2:.10g}",
        f"    tau = {f(out['tau'])}    m = {f(out['m'])}"
        + (f"   (m chosen for V'(q*) = {target:g})" if target is not None else ""),
        f"  sparsity s = {rep.sparsity:.6g}    chi_1 = {rep.chi1:.6g}",
        f"  V'(q*) = {rep.V_prime:.6g}    V''(q*) = {rep.V_second:.6g}",
        "  fixed points of V: " + (", ".join(f"q = {p.q:.6g} ({p.kind}, V' = {p.V_prime:.4g})"
                                             for p in rep.fixed_points)
                                   or "none isolated (V(q) = q on a whole interval)"),
        f"  |V(q) - q| <= 0.01 q* on [{rep.tangent_region[0]:.4g}, {rep.tangent_region[1]:.4g}]",
    ] + ([f"  note: V'(q*) = {target:g} is also reached at m = "
           + ", ".join(f"{v:.6g}" for v in st.other_m)
           + " (the smallest m on a rising branch is used; give --m to choose)"]
         if st.other_m else []) + risk_line + [
        f"  verdict: {rep.verdict.upper()}",
    ] + [f"    - {r}" for r in rep.reasons]
    print("\n".join(lines))
    return code
