"""``python -m eoctheory train``: train an EoC-initialised DNN (the paper's Sec. 4 experiment).

``python -m eoctheory train crelu --sparsity 0.85 --target-slope 0.7 --depth 100 --width 300
--epochs 3 --data-dir DIR`` trains with SGD (10% of the training set held out), logs JSON lines
and plots the per-layer gradient norms of the first 15 steps (Figure 5). Any activation
trains: a catalogue name or ``custom --expr ...`` (its torch module is generated from the
expression, :mod:`eoctheory.nets.kernels`).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from eoctheory.cli.main import integer
from eoctheory.cli.options import add_activation_arguments, add_setting_arguments

HELP = "train an EoC-initialised DNN with any activation on MNIST (torch; Sec. 4)"
#: ``--help`` examples (after the program's name).
EXAMPLES = (
    ("train crelu --sparsity 0.85 --target-slope 0.7 --epochs 3 --data-dir DIR",
     "the paper's Sec. 4 network (depth 100, width 300) on MNIST; log and Figure 5 in runs/"),
    ("train relu --sparsity 0.6 --depth 20 --width 100 --limit 5000 --out runs/quick",
     "a quick run on 5000 images"),
    ("train custom --expr \"Piecewise((0, x < tau), (x - tau, True))\" --sparsity 0.7 "
     "--dataset digits", "your own activation, on scikit-learn's digits (no download)"),
)


def add_training_arguments(p: argparse.ArgumentParser) -> None:
    """The training options (shared with the ``sweep`` command)."""
    p.add_argument("--arch", choices=("dnn", "cnn2d"), default="dnn",
                   help="dnn: the paper's fully connected network (default); cnn2d: its CNN, "
                        "k x k convolutions, circular padding, global average pooling")
    p.add_argument("--depth", type=integer(1), default=100, metavar="L",
                   help="hidden (dnn) or convolutional (cnn2d) layers L (default 100; the "
                        "paper's CNN has 50)")
    p.add_argument("--width", type=integer(1), default=300, metavar="N",
                   help="layer width, or channels per layer with --arch cnn2d (default 300)")
    p.add_argument("--kernel-size", type=integer(1), default=3, dest="kernel_size",
                   help="convolution kernel size, odd (default 3; --arch cnn2d)")
    p.add_argument("--epochs", type=integer(0), default=1, help="epochs (paper: 200)")
    p.add_argument("--lr", type=float, default=1e-3, help="SGD learning rate (default 1e-3)")
    p.add_argument("--batch-size", type=integer(1), default=64,
                   help="mini-batch size (default 64)")
    p.add_argument("--momentum", type=float, default=0.0, help="SGD momentum (default 0)")
    p.add_argument("--dataset", default="mnist", choices=("mnist", "fashion_mnist", "cifar10",
                                                          "digits"),
                   help="mnist (default), fashion_mnist, cifar10 or digits (scikit-learn)")
    p.add_argument("--data-dir", default=None, metavar="DIR",
                   help="directory with the data set's files (else $EOCTHEORY_DATA, a system "
                        "copy for fashion_mnist, the cache, a download)")
    p.add_argument("--limit", type=integer(1), default=None,
                   help="use this many training images (before the 10%% validation split)")
    p.add_argument("--test-limit", type=integer(1), default=None,
                   help="use this many test images")
    p.add_argument("--threads", type=integer(1), default=None, help="torch threads per run")
    p.add_argument("--grad-steps", type=integer(0), default=15,
                   help="steps whose per-layer gradient norms are plotted (default 15)")
    # --no-progress: the older spelling of --quiet (added to every long command by
    # eoctheory.cli.main), kept working but not listed
    p.add_argument("--no-progress", action="store_true", dest="quiet", help=argparse.SUPPRESS)


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_activation_arguments(p)
    add_setting_arguments(p)
    p.add_argument("--seed", type=integer(0), default=0,
                   help="seed of the initialisation and the batch order (default 0)")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="output directory (default runs/SETTING-seedK; created if missing)")
    add_training_arguments(p)


def config_from_args(args: argparse.Namespace, **override: Any):
    """A :class:`~eoctheory.experiments.train.TrainConfig` of the training options."""
    from eoctheory.cli.options import param_values
    from eoctheory.cli.progress import enabled
    from eoctheory.experiments.train import TrainConfig

    kw = dict(depth=args.depth, width=args.width, epochs=args.epochs, lr=args.lr,
              batch_size=args.batch_size, momentum=args.momentum, q_star=args.q_star,
              dataset=args.dataset, data_dir=args.data_dir, limit=args.limit,
              test_limit=args.test_limit, threads=args.threads, grad_steps=args.grad_steps,
              progress=enabled(args.quiet), arch=args.arch, kernel_size=args.kernel_size)
    for key in ("activation", "expr", "sparsity", "tau", "m", "target_slope", "seed"):
        if hasattr(args, key):
            kw[key] = getattr(args, key)
    if getattr(args, "param", None):
        kw["params"] = param_values(args.param)
    kw.update(override)
    return TrainConfig(**kw)


def user_errors(work):
    """Run ``work()``; a missing torch or missing data set is the user's to fix: ValueError."""
    from eoctheory.experiments.data import DataNotFoundError

    try:
        return work()
    except (ModuleNotFoundError, DataNotFoundError) as exc:
        if isinstance(exc, ModuleNotFoundError) and exc.name != "torch":
            raise
        raise ValueError(str(exc).strip().splitlines()[0]) from None


def run(args: argparse.Namespace) -> int:
    from eoctheory.experiments.train import require_torch, train
    from eoctheory.files import check_writable_dir

    cfg = config_from_args(args)
    cfg.out = os.path.join("runs", f"{cfg.label()}-seed{cfg.seed}") if args.out is None \
        else args.out
    cfg.validate()
    check_writable_dir(cfg.out, "--out", create=True)
    s = user_errors(lambda: (require_torch(), train(cfg))[1])
    ini = s["init"]
    m_txt = f"  m = {ini['m']:.5g}" if ini["m"] is not None else ""
    tau_txt = f"tau = {ini['tau']:.5g}{m_txt}  " if ini["tau"] is not None else m_txt.lstrip()
    print(f"{s['setting']} seed {cfg.seed}: {tau_txt}"
          f"sigma_w^2 = {ini['sigma_w2']:.5g}  sigma_b^2 = {ini['sigma_b2']:.5g}  "
          f"V'(q*) = {ini['variance_slope']:.3g}  V''(q*) = {ini['variance_curvature']:.3g}")
    print(f"  epochs {s['epochs_run']}{' (diverged)' if s['diverged'] else ''}: "
          f"train loss {s['train_loss']:.4g}  val acc {s['val_acc']:.4f}  "
          f"test acc {s['test_acc']:.4f}  test sparsity {s['test_sparsity']:.4f} "
          f"(at init {s['init_test_sparsity']:.4f})  {s['epoch_seconds']:.1f} s/epoch")
    print(f"  log: {Path(cfg.out) / 'log.jsonl'}   Figure 5: {Path(cfg.out) / 'gradnorms.png'}")
    return 0
