r"""``python -m eoctheory simulate``: finite-width networks against the variance map.

Builds ``--seeds`` random networks (DNN, or 1-D CNN with ``--arch cnn1d``;
``--arch cnn2d``: the NumPy 2-D CNN, see :func:`eoctheory.nets.simulation.simulate_cnn2d`, which
reports q^l, sparsity, pair and neighbour correlation only) initialised on the Edge
of Chaos, measures per layer :math:`q^l`, sparsity, input correlation and gradient norms, and
prints them beside the infinite-width theory (eq. 3, 6, 12), with the seeds that fail as the
finite-width predictor defines failure (:func:`eoctheory.nets.simulation.failures`): drift of
the sparsity or chi_1 at the measured q^l, gradient ratio ``|grad 1|/|grad L|`` beyond
``--grad-limit`` either way, overflow; and, as before, those whose q^l leaves the band
:math:`[q/4, 4q]` around the theory.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from eoctheory.cli.main import integer, keys_epilog
from eoctheory.cli.options import activation_from_args, add_activation_arguments, \
    add_setting_arguments, setting_kwargs
from eoctheory.cli.progress import Bar

#: ``--plot`` formats (matplotlib writes them from the suffix).
PLOT_SUFFIXES = (".png", ".pdf", ".svg")

HELP = "simulate finite-width networks on the EoC and compare q^l, sparsity, gradients with theory"

_PER_SEED = "per seed: "
#: Every key of ``simulate --json`` (lists over seeds or layers; NaN and inf are null).
JSON_KEYS = {
    "config": "what was simulated (keys below)",
    "seeds": "number of seeds K",
    "depth": "depth L",
    "layers": "1..L",
    "failed_fraction": "fraction of seeds failing (drift, exploded, vanished or overflow)",
    "failed": _PER_SEED + "drift or exploded or vanished or overflow",
    "first_failure": _PER_SEED + "first drifting or overflowing layer; L for a gradient-only "
                     "failure; 0 if none",
    "counts": "seeds in each: failed, drift, exploded, vanished, overflow, escaped",
    "drift": _PER_SEED + "|s(q^l) - s(q*)| > sparsity_drift or chi_1(q^l)/chi_1(q*) outside "
             "[1/chi_drift, chi_drift] at some layer (theory maps at the measured q^l)",
    "exploded": _PER_SEED + "|grad 1|/|grad L| > grad_limit",
    "vanished": _PER_SEED + "|grad 1|/|grad L| < 1/grad_limit",
    "overflow": _PER_SEED + "a non-finite q^l or gradient norm",
    "escaped": _PER_SEED + "the former failure: q^l left [q_theory/band, band q_theory] or "
               "overflowed",
    "first_drift": _PER_SEED + "first drifting or overflowing layer, 0 if none",
    "first_escape": _PER_SEED + "first layer outside the band, 0 if none",
    "gradient_ratio": _PER_SEED + "|grad 1|/|grad L| (null with --no-gradients)",
    "q_theory": "per layer: q^l of the variance map (eq. 3)",
    "q_mean": "per layer: mean measured q^l",
    "q_std": "per layer: standard deviation of q^l over seeds",
    "sparsity_theory": "per layer: sparsity at q_theory (eq. 12)",
    "sparsity_mean": "per layer: mean measured sparsity",
    "rho_theory": "per layer: correlation map (eq. 6)",
    "rho_mean": "per layer: mean measured correlation of the input pairs",
    "chi1_theory": "per layer: chi_1(q_theory)",
    "grad_h_theory": "per layer: theory of the RMS |dL/dh^l|",
    "grad_h_norm_mean": "per layer: mean |dL/dh^l|",
    "grad_h_norm_rms": "per layer: RMS |dL/dh^l| over seeds",
    "grad_w_norm_mean": "per layer: mean |dL/dW^l|",
    "q": "[seed][layer]: measured q^l (batch mean)",
    "sparsity": "[seed][layer]: measured sparsity",
    "grad_h_norm": "[seed][layer]: |dL/dh^l|",
    "grad_w_norm": "[seed][layer]: |dL/dW^l|_F",
}
#: Every key of the ``config`` object of ``simulate --json``.
CONFIG_KEYS = {
    "activation": "activation name",
    "params": "activation parameters (tau, m, ...)",
    "sigma_w2": "weight variance",
    "sigma_b2": "bias variance",
    "q_star": "fixed-point variance q*",
    "on_eoc": "whether (sigma_w2, sigma_b2) is the EoC point",
    "variance_slope": "V'(q*)",
    "variance_curvature": "V''(q*)",
    "chi1": "chi_1 at q*",
    "expected_sparsity": "s(q*)",
    "width": "width N (channels for a CNN)",
    "depth": "depth L",
    "batch": "inputs per network",
    "rho_input": "--rho",
    "q_input": "|x|^2/N_0",
    "kernel_size": "1 for a DNN",
    "positions": "CNN positions (1 for a DNN)",
    "first_layer": "--first-layer",
    "band": "--band (of escaped)",
    "sparsity_drift": "largest |s(q^l) - s(q*)| allowed",
    "chi_drift": "largest factor of chi_1(q^l)/chi_1(q*) allowed",
    "grad_limit": "--grad-limit",
    "gradients": "whether the backward pass ran",
    "dtype": "--dtype",
    "seed": "--seed",
}
#: Every key of ``simulate --arch cnn2d --json`` (per layer: lists over layers 1..L).
CNN2D_JSON_KEYS = {
    "config": "what was simulated (keys below)",
    "seeds": "number of seeds K",
    "depth": "depth L",
    "layers": "1..L",
    "q_theory": "per layer: q^l of the variance map (eq. 3) from the inputs' q",
    "q_mean": "per layer: mean measured q^l",
    "q_std": "per layer: standard deviation of q^l over seeds",
    "sparsity_theory": "per layer: s(q_theory) (eq. 12)",
    "sparsity_mean": "per layer: mean measured sparsity",
    "rho_theory": "per layer: input-pair correlation under the correlation map at q^l",
    "rho_mean": "per layer: mean measured correlation of the input pairs",
    "spatial_theory": "per layer: neighbour correlation (mean of lags (0,1), (1,0)) under "
                      "the same map",
    "spatial_mean": "per layer: mean measured neighbour correlation",
    "max_abs_error": "largest |mean - theory| over layers: q, sparsity, rho, spatial",
    "q": "[seed][layer]: measured q^l (batch mean)",
    "sparsity": "[seed][layer]: measured sparsity",
    "rho": "[seed][layer]: measured pair correlation (mean over pairs)",
    "spatial": "[seed][layer]: measured neighbour correlation",
}
#: Every key of the ``config`` object of ``simulate --arch cnn2d --json``.
CNN2D_CONFIG_KEYS = {
    "activation": "activation name",
    "params": "activation parameters (tau, m, ...)",
    "sigma_w2": "weight variance",
    "sigma_b2": "bias variance",
    "q_star": "fixed-point variance q* (the inputs' q per position)",
    "on_eoc": "whether (sigma_w2, sigma_b2) is the EoC point",
    "chi1": "chi_1 at q*",
    "expected_sparsity": "s(q*)",
    "channels": "channels C of every layer",
    "in_channels": "input channels (= channels)",
    "image": "image side H = W",
    "kernel_size": "kernel k (k x k)",
    "padding": "circular (the theory's setting)",
    "depth": "depth L",
    "batch": "images per network (batch/2 pairs)",
    "rho_input": "--rho",
    "input_q": "measured mean square of the inputs (the theory's start)",
    "input_rho": "measured pair cosine of the inputs",
    "input_spatial": "measured neighbour correlation of the inputs",
    "first_layer": "--first-layer",
    "dtype": "--dtype",
    "seed": "--seed",
}
EPILOG = "\n\n".join([
    "failure (the finite-width predictor's): drift of the sparsity by > 0.1 or of chi_1 by a\n"
    "factor > 2 at the measured q^l, |grad 1|/|grad L| > --grad-limit (exploded) or below its\n"
    "inverse (vanished), or overflow; --band only sets the former failure, reported as escaped.",
    keys_epilog(JSON_KEYS),
    keys_epilog(CONFIG_KEYS, "keys of config"),
    "--arch cnn2d: the NumPy 2-D CNN (circular padding, C input channels, pairs of smoothed\n"
    "images of side --image); no gradients, failures or --plot; per layer q^l, sparsity,\n"
    "pair and neighbour correlation against the infinite-channel maps.",
    keys_epilog(CNN2D_JSON_KEYS, "JSON keys (--arch cnn2d --json)"),
    keys_epilog(CNN2D_CONFIG_KEYS, "keys of config (--arch cnn2d)"),
])
#: ``--arch`` choices (``--cnn`` is ``--arch cnn1d``).
ARCHS = ("dnn", "cnn1d", "cnn2d")
#: ``--help`` examples (after the program's name).
EXAMPLES = (
    ("simulate crelu --sparsity 0.85 --target-slope 0.7 --width 300 --depth 100",
     "q^l, sparsity, correlation and gradients of 10 networks beside the theory"),
    ("simulate relu --sparsity 0.7 --seeds 20 --plot relu.png",
     "how many of 20 ReLU_tau networks fail at 70% sparsity, with a figure"),
    ("simulate st --sparsity 0.6 --arch cnn2d --channels 32 --depth 20 --json",
     "the 2-D CNN against the infinite-channel maps, as one JSON object"),
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_activation_arguments(p)
    add_setting_arguments(p)
    p.add_argument("--sigma-w2", type=float, help="off-EoC weight variance (with --sigma-b2)")
    p.add_argument("--sigma-b2", type=float, help="off-EoC bias variance (with --sigma-w2)")
    p.add_argument("--width", type=integer(2), default=None, metavar="N",
                   help="layer width N (default 300; the channels of a CNN by default)")
    p.add_argument("--depth", type=integer(1), default=100, metavar="L",
                   help="number of layers L (default 100)")
    p.add_argument("--seeds", type=integer(1), default=10, metavar="K",
                   help="independent networks (default 10)")
    p.add_argument("--batch", type=integer(1), default=8,
                   help="inputs per network, in pairs of correlation --rho (default 8)")
    p.add_argument("--rho", type=float, default=0.5, help="input pair correlation (default 0.5)")
    p.add_argument("--arch", choices=ARCHS, default=None,
                   help="dnn (default), cnn1d (the 1-D CNN of eq. 2) or cnn2d (the NumPy 2-D "
                        "CNN, k x k kernels, circular padding)")
    # --cnn: the older spelling of --arch cnn1d, kept working but not listed
    p.add_argument("--cnn", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--channels", type=integer(1), metavar="C",
                   help="CNN channels C (cnn1d: default --width; cnn2d: default --width or 64)")
    p.add_argument("--kernel-size", type=integer(1), dest="kernel_size",
                   help="CNN kernel size 2k+1, odd (cnn1d or cnn2d; default 3)")
    # --kernel: the older spelling of --kernel-size (train's name), kept working, not listed
    p.add_argument("--kernel", type=integer(1), dest="kernel_size", help=argparse.SUPPRESS)
    p.add_argument("--image", type=integer(1),
                   help="image side H = W, at least --kernel-size (cnn2d; default 16)")
    p.add_argument("--positions", type=integer(1),
                   help="CNN input length (--arch cnn1d; default 16)")
    p.add_argument("--first-layer", choices=("preserve", "standard"), default="preserve",
                   help="preserve: W^1 ~ N(0, 1/N_0), b^1 = 0, so q^1 = q* (default)")
    p.add_argument("--band", type=float, default=4.0,
                   help="a seed 'escapes' (the former failure, reported beside the "
                        "predictor's) if q^l leaves [q_theory/band, band q_theory] (default 4)")
    p.add_argument("--grad-limit", type=float, default=None, dest="grad_limit", metavar="G",
                   help="a seed explodes if |grad 1|/|grad L| > G, vanishes if < 1/G "
                        "(default 1e3, the predictor's)")
    p.add_argument("--no-gradients", action="store_true", help="skip the backward pass")
    p.add_argument("--dtype", choices=("float64", "float32"), default="float64",
                   help="floating-point type of the simulated networks (default float64; "
                        "float32 is faster and less precise)")
    p.add_argument("--seed", type=integer(0), default=0, help="base seed (default 0)")
    p.add_argument("--plot", metavar="FILE",
                   help="write a figure of q^l, sparsity, gradients (.png, .pdf or .svg; the "
                        "directory must exist)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")


def _print_setting(c: dict, params: str) -> None:
    """The first line of the text output: the activation and its initialisation."""
    print(f"{c['activation']}({params})  sigma_w2={c['sigma_w2']:.6g} sigma_b2="
          f"{c['sigma_b2']:.6g}  q*={c['q_star']:g}  {'on' if c['on_eoc'] else 'off'} the EoC")


def _rows(L: int) -> list[int]:
    if L <= 12:
        return list(range(L))
    idx = sorted({0, 1, 2, 4, 9, *range(19, L, max(10, L // 10)), L - 1})
    return [i for i in idx if i < L]


def _fmt(v: float) -> str:
    if not np.isfinite(v):
        return "nan" if np.isnan(v) else ("inf" if v > 0 else "-inf")
    return f"{v:.4g}"


def run(args: argparse.Namespace) -> int:
    from eoctheory.files import check_output_file
    from eoctheory.nets.simulation import simulate
    from eoctheory.theory.finite_width import GRAD_LIMIT
    from eoctheory.theory.setting import resolve_setting

    grad_limit = GRAD_LIMIT if args.grad_limit is None else args.grad_limit
    if not (grad_limit > 1 and np.isfinite(grad_limit)):
        raise ValueError(f"--grad-limit must be a finite number > 1 (got {args.grad_limit})")

    if args.cnn and args.arch not in (None, "cnn1d"):
        raise ValueError(f"--cnn is --arch cnn1d: it contradicts --arch {args.arch}")
    arch = "cnn1d" if args.cnn else (args.arch or "dnn")
    for name in ("channels", "kernel_size", "positions", "image"):  # CNN options without a CNN
        if getattr(args, name) is not None and arch == "dnn":
            raise ValueError(f"--{name.replace('_', '-')} is for a CNN: add --arch cnn1d "
                             "(--cnn) or --arch cnn2d (a DNN has --width units)")
    if args.positions is not None and arch == "cnn2d":
        raise ValueError("--positions is for --arch cnn1d; a 2-D CNN has --image")
    if args.image is not None and arch == "cnn1d":
        raise ValueError("--image is for --arch cnn2d; a 1-D CNN has --positions")
    kernel = 3 if args.kernel_size is None else args.kernel_size
    if arch == "cnn2d":
        return _run_cnn2d(args, kernel)
    args.cnn = arch == "cnn1d"
    width = 300 if args.width is None else args.width
    positions = 16 if args.positions is None else args.positions
    if args.cnn and kernel % 2 == 0:
        raise ValueError(f"--kernel-size must be odd (2k+1), got {kernel}")
    if args.plot is not None:  # before the work: a bad path must not cost a simulation
        check_output_file(args.plot, "--plot", PLOT_SUFFIXES)
    init = resolve_setting(activation_from_args(args), sigma_w2=args.sigma_w2,
                           sigma_b2=args.sigma_b2, default_slope=True, **setting_kwargs(args))
    with Bar(args.seeds, "simulate", unit="seed", quiet=args.quiet) as bar:
        res = simulate(init, width=width, depth=args.depth, seeds=args.seeds,
                       batch=args.batch, rho_input=args.rho,
                       kernel_size=kernel if args.cnn else 1, channels=args.channels,
                       positions=positions, first_layer=args.first_layer,
                       gradients=not args.no_gradients, band=args.band,
                       grad_limit=grad_limit, dtype=np.dtype(args.dtype), seed=args.seed,
                       progress=bar)
    if args.plot is not None:
        plot(res, args.plot)
    if args.json:
        print(json.dumps(res.to_dict(), allow_nan=False))
        return 0
    c = res.config
    params = ", ".join(f"{k}={v:.6g}" for k, v in c["params"].items())
    net = (f"CNN {c['width']} channels x {c['positions']} positions, kernel {c['kernel_size']}"
           if c["kernel_size"] > 1 else f"DNN width {c['width']}")
    _print_setting(c, params)
    print(f"V'(q*)={c['variance_slope']:.4g}  V''(q*)={c['variance_curvature']:.4g}  chi_1={c['chi1']:.4g}  "
          f"expected sparsity={c['expected_sparsity']:.4g}")
    print(f"{net}, depth {c['depth']}, {res.seeds} seeds, batch {c['batch']}, {c['dtype']}, "
          f"first layer: {c['first_layer']}")
    hdr = ("layer", "q theory", "q mean", "q sd", "s theory", "s mean", "rho th", "rho mean",
           "rms|dL/dh|", "theory")
    print("  ".join(f"{h:>9}" for h in hdr))
    qm, qs, sm, rm, gm = res.q_mean, res.q_std, res.sparsity_mean, res.rho_mean, \
        res.grad_h_norm_rms
    for i in _rows(res.depth):
        vals = (res.q_theory[i], qm[i], qs[i], res.sparsity_theory[i], sm[i], res.rho_theory[i],
                rm[i], gm[i], res.grad_h_theory[i])
        print(f"{i + 1:>9}  " + "  ".join(f"{_fmt(v):>9}" for v in vals))
    n = res.counts
    g = c["grad_limit"]
    print(f"failed: {n['failed']}/{res.seeds} seeds ({100 * res.failed_fraction:.0f}%): "
          f"drift {n['drift']} (sparsity by > {c['sparsity_drift']:g} or chi_1 by a factor > "
          f"{c['chi_drift']:g}), exploded {n['exploded']} (|grad 1|/|grad L| > {g:g}), "
          f"vanished {n['vanished']} (< 1/{g:g}), overflow {n['overflow']}"
          + ("" if c["gradients"] else " (no gradients: explosion not checked)")
          + (f"; first failing layers {sorted(int(v) for v in res.first_failure if v)}"
             if n["failed"] else ""))
    print(f"escaped (former failure): {n['escaped']}/{res.seeds} seeds left "
          f"[q/{c['band']:g}, {c['band']:g} q] around the theory or overflowed")
    if args.plot is not None:
        print(f"wrote {args.plot}")
    return 0


def _run_cnn2d(args: argparse.Namespace, kernel: int) -> int:
    """``--arch cnn2d``: :func:`eoctheory.nets.simulation.simulate_cnn2d`, table or JSON."""
    from eoctheory.nets.simulation import _jsonable, simulate_cnn2d
    from eoctheory.theory.setting import resolve_setting

    if kernel % 2 == 0:
        raise ValueError(f"--kernel-size must be odd (2k+1), got {kernel}")
    image = 16 if args.image is None else args.image
    if image < kernel:
        raise ValueError(f"--image ({image}) must be at least --kernel-size ({kernel})")
    if args.batch % 2 or args.batch < 2:
        raise ValueError(f"--batch must be even with --arch cnn2d (pairs of images), "
                         f"got {args.batch}")
    if args.plot is not None:
        raise ValueError("--plot is not available with --arch cnn2d")
    if not -1 <= args.rho <= 1:
        raise ValueError(f"--rho must be in [-1, 1], got {args.rho}")
    channels = args.channels if args.channels is not None else (args.width or 64)
    if channels < 2:
        raise ValueError(f"--channels must be >= 2 with --arch cnn2d, got {channels}")
    init = resolve_setting(activation_from_args(args), sigma_w2=args.sigma_w2,
                           sigma_b2=args.sigma_b2, default_slope=True, **setting_kwargs(args))
    with Bar(args.seeds, "simulate", unit="seed", quiet=args.quiet) as bar:
        r = simulate_cnn2d(init, channels=channels, depth=args.depth, seeds=args.seeds,
                           batch=args.batch, image=image, kernel_size=kernel,
                           rho_input=args.rho, first_layer=args.first_layer,
                           dtype=np.dtype(args.dtype), seed=args.seed, progress=bar)
    K, L = r["q"].shape
    names = ("q", "sparsity", "rho", "spatial")
    with np.errstate(all="ignore"):
        mean = {n: r[n].mean(axis=0) for n in names}
        q_std = r["q"].std(axis=0, ddof=1) if K > 1 else np.zeros(L)
    err = {n: float(np.max(np.abs(mean[n] - r[n + "_theory"]))) for n in names}
    if args.json:
        d = {"config": r["config"], "seeds": K, "depth": L, "layers": list(range(1, L + 1)),
             "q_std": _jsonable(q_std),
             "max_abs_error": {n: (v if np.isfinite(v) else None) for n, v in err.items()}}
        for n in names:
            d[n + "_theory"] = _jsonable(r[n + "_theory"])
            d[n + "_mean"] = _jsonable(mean[n])
            d[n] = _jsonable(r[n])
        print(json.dumps(d, allow_nan=False))
        return 0
    c = r["config"]
    params = ", ".join(f"{k}={v:.6g}" for k, v in c["params"].items())
    _print_setting(c, params)
    print(f"2-D CNN {c['channels']} channels, {c['image']}x{c['image']} images, kernel "
          f"{c['kernel_size']}x{c['kernel_size']}, circular padding, depth {L}, {K} seeds, "
          f"batch {c['batch']}, {c['dtype']}, first layer: {c['first_layer']}")
    print(f"inputs: q={c['input_q']:.4g}  pair rho={c['input_rho']:.4g}  neighbour "
          f"rho={c['input_spatial']:.4g}")
    hdr = ("layer", "q theory", "q mean", "q sd", "s theory", "s mean", "rho th", "rho mean",
           "spat th", "spat mean")
    print("  ".join(f"{h:>9}" for h in hdr))
    for i in _rows(L):
        vals = (r["q_theory"][i], mean["q"][i], q_std[i], r["sparsity_theory"][i],
                mean["sparsity"][i], r["rho_theory"][i], mean["rho"][i],
                r["spatial_theory"][i], mean["spatial"][i])
        print(f"{i + 1:>9}  " + "  ".join(f"{_fmt(v):>9}" for v in vals))
    print("max |mean - theory|: " + "  ".join(f"{n} {_fmt(err[n])}" for n in names))
    return 0


def plot(res, path: str) -> None:
    """q^l per seed (faint), mean (bold), theory (dashed); sparsity; gradient norms.

    ``path`` ends in .png, .pdf or .svg; it is written atomically (a temporary file in the
    same directory, then renamed), never through a symbolic link.
    """
    import warnings

    from eoctheory.files import atomic_output, check_output_file

    target = check_output_file(path, "path", PLOT_SUFFIXES)
    with warnings.catch_warnings(), atomic_output(target) as tmp:
        _plot(res, tmp, target.suffix.lower().lstrip("."))


def _plot(res, path: str, fmt: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    import warnings

    from eoctheory.figures.style import plain_log_ticks

    warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN layers of diverged seeds
    c = res.config
    layers = np.arange(1, res.depth + 1)
    fig, ax = plt.subplots(1, 3, figsize=(15, 4.2), constrained_layout=True)
    with np.errstate(all="ignore"):
        qplot = np.where(np.isfinite(res.q) & (res.q > 0), res.q, np.nan)
        for row in qplot:
            ax[0].plot(layers, row, color="C0", alpha=0.25, lw=0.8)
        ax[0].plot(layers, np.exp(np.nanmean(np.log(qplot), axis=0)) if res.seeds else [],
                   color="C0", lw=2.2, label="measured (geometric mean)")
    ax[0].plot(layers, res.q_theory, "k--", lw=1.5, label="variance map $V$ (eq. 3)")
    band = c["band"]
    ax[0].fill_between(layers, res.q_theory / band, res.q_theory * band, color="0.85",
                       zorder=0, label=f"band $[q/{band:g}, {band:g}q]$")
    ax[0].set_yscale("log")
    ax[0].set_xlabel("layer $l$")
    ax[0].set_ylabel("$q^l$ (pre-activation variance)")
    ax[0].set_title(f"{c['activation']}: {100 * res.failed_fraction:.0f}% of "
                    f"{res.seeds} seeds fail")
    ax[0].legend(fontsize=8)
    for row in res.sparsity:
        ax[1].plot(layers, row, color="C1", alpha=0.25, lw=0.8)
    ax[1].plot(layers, res.sparsity_mean, color="C1", lw=2.2, label="measured (mean)")
    ax[1].plot(layers, res.sparsity_theory, "k--", lw=1.5, label="theory (eq. 12)")
    ax[1].set_ylim(-0.02, 1.02)
    ax[1].set_xlabel("layer $l$")
    ax[1].set_ylabel(r"sparsity: fraction of $\phi(h^l)=0$")
    ax[1].legend(fontsize=8)
    g = np.where(np.isfinite(res.grad_h_norm) & (res.grad_h_norm > 0), res.grad_h_norm, np.nan)
    if np.any(np.isfinite(g)):
        for row in g:
            ax[2].plot(layers, row, color="C2", alpha=0.25, lw=0.8)
        ax[2].plot(layers, res.grad_h_norm_rms, color="C2", lw=2.2,
                   label="measured (root mean square over seeds)")
        ax[2].plot(layers, res.grad_h_theory, "k--", lw=1.5,
                   label=r"theory: $E\|\delta^l\|^2 = \chi_1(q^l)\, E\|\delta^{l+1}\|^2$")
        ax[2].set_yscale("log")
        ax[2].legend(fontsize=8)
    for axis in (ax[0], ax[2]):  # 0.5, 2, 40 rather than 5x10^-1, 2x10^0, 4x10^1
        plain_log_ticks(axis)
    ax[2].set_xlabel("layer $l$")
    ax[2].set_ylabel(r"$\|\partial \mathcal{L}/\partial h^l\|$")
    params = ", ".join(f"{k}={v:.3g}" for k, v in c["params"].items())
    fig.suptitle(f"{c['activation']}({params}), width {c['width']}, depth {c['depth']}, "
                 f"$\\sigma_w^2$={c['sigma_w2']:.3g}, $\\sigma_b^2$={c['sigma_b2']:.3g}, "
                 f"$q^*$={c['q_star']:g}")
    try:
        fig.savefig(path, dpi=110, format=fmt)
    finally:
        plt.close(fig)
