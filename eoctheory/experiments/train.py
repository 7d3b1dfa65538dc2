r"""Train an EoC-initialised deep network, as in the paper's experiments (Sec. 4, App. C, D).

``python -m eoctheory.experiments.train --activation crelu --sparsity 0.85 --target-slope 0.7
--depth 100 --width 300 --epochs 2 --dataset mnist --seed 0 --data-dir ../shared/data/mnist``

What it does (the paper's protocol, App. D):

* data: MNIST (or scikit-learn's 8x8 ``digits``); 10% of the training set held out for
  validation (a fixed seeded split); every image flattened and normalised to zero mean and
  :math:`\|x\|^2/N_0 = q^*`, so with the variance-preserving first layer
  :math:`q^1 = q^*` (the network starts at its fixed point);
* model: :func:`eoctheory.nets.torch.dnn` (``depth`` hidden layers of ``width``) with the
  activation's threshold :math:`\tau` from ``--sparsity`` (eq. 12) and, for CReLU/CST,
  :math:`m` from ``--target-slope`` (:math:`V'(q^*)`, Sec. 3.1), initialised on the Edge of
  Chaos (:func:`~eoctheory.nets.torch.eoc_init_`, App. A);
* SGD (no momentum, learning rate 1e-3), cross-entropy, mini-batches;
* after every epoch one JSON line in ``log.jsonl``: training loss, validation loss and
  accuracy, test accuracy and test activation sparsity (the fraction of zero activations
  over all layers on the test set, the paper's Table 2 quantity); epoch 0 is the
  initialisation;
* per-layer gradient norms :math:`\|\partial\mathcal L/\partial W^l\|` over the first 15
  SGD steps in ``gradnorms.json`` and plotted in ``gradnorms.png`` (the paper's Figure 5);
* ``summary.json`` with the final numbers.

A run whose loss becomes non-finite is stopped and marked ``diverged``; its accuracy is
measured as it stands (NaN logits predict class 0).

Before any work the configuration, the memory it needs (:mod:`eoctheory.limits`), the
output directory and the torch install are checked; a problem is one line on stderr and
exit status 2. Every output file is written atomically (:mod:`eoctheory.files`);
``log.jsonl`` is rewritten whole after each epoch, so it is always complete.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from eoctheory.cli.main import OneLineParser, integer

__all__ = ["ACTIVATION_NAMES", "TORCH_MISSING", "TrainConfig", "build_parser", "main",
           "prepare_data", "require_torch", "train"]

#: activations the harness builds (catalogue names).
ACTIVATION_NAMES = ("relu", "st", "crelu", "cst", "plain_relu")

#: The message when torch is missing (``train`` and the command line).
TORCH_MISSING = ("torch is not installed: pip install torch (CPU build: pip install torch "
                 "--index-url https://download.pytorch.org/whl/cpu)")

PROG = "python -m eoctheory.experiments.train"


def require_torch():
    """``import torch``, or ``ModuleNotFoundError`` with :data:`TORCH_MISSING` (one line)."""
    try:
        import torch
    except ImportError as exc:
        msg = TORCH_MISSING if exc.name == "torch" else \
            f"torch cannot be imported ({exc}); reinstall it: {TORCH_MISSING.split(': ', 1)[1]}"
        raise ModuleNotFoundError(msg, name="torch") from exc
    return torch


@dataclass
class TrainConfig:
    r"""One training run (the command-line options, as a dataclass).

    Attributes
    ----------
    activation : {"relu", "st", "crelu", "cst", "plain_relu"}
    sparsity : float, optional
        Target sparsity :math:`s` at :math:`q^*` (sets :math:`\tau`, eq. 12). Required
        except for ``plain_relu``.
    target_slope : float, optional
        :math:`V'(q^*)` on the EoC, sets :math:`m` (CReLU, CST; default 0.7).
    m : float, optional
        Clipping height given directly (exclusive with ``target_slope``).
    q_star : float
        Fixed-point variance :math:`q^*` (1 in the paper).
    depth, width : int
        Hidden layers and their width (paper: 100 and 300).
    epochs, lr, batch_size, momentum : training (paper: SGD, lr 1e-3, 200 epochs).
    dataset : {"mnist", "digits"}
    data_dir : str, optional
        Where MNIST is (see :func:`eoctheory.experiments.data.load_mnist`).
    limit : int, optional
        Use only this many training images (a seeded random subset), before the split.
    test_limit : int, optional
        Use only this many test images.
    val_fraction : float
        Held out for validation (0.1, App. D).
    seed : int
        Initialisation and batch order (the validation split is fixed).
    out : str, optional
        Output directory (log, plot, summary); nothing is written without it.
    threads : int, optional
        ``torch.set_num_threads``.
    grad_steps : int
        Steps whose per-layer gradient norms are recorded (15, Figure 5).
    progress : bool
        Progress bars on stderr.
    """

    activation: str = "crelu"
    sparsity: float | None = None
    target_slope: float | None = None
    m: float | None = None
    q_star: float = 1.0
    depth: int = 100
    width: int = 300
    epochs: int = 1
    lr: float = 1e-3
    batch_size: int = 64
    momentum: float = 0.0
    dataset: str = "mnist"
    data_dir: str | None = None
    limit: int | None = None
    test_limit: int | None = None
    val_fraction: float = 0.1
    seed: int = 0
    out: str | None = None
    threads: int | None = None
    grad_steps: int = 15
    progress: bool = True

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first bad parameter."""
        from eoctheory.experiments.data import DATASETS
        if self.activation not in ACTIVATION_NAMES:
            raise ValueError(f"activation must be one of {ACTIVATION_NAMES}, "
                             f"got {self.activation!r}")
        if self.activation == "plain_relu":
            for k in ("sparsity", "target_slope", "m"):
                if getattr(self, k) is not None:
                    raise ValueError(f"{k}: plain_relu takes no {k}")
        elif self.sparsity is None:
            raise ValueError(f"sparsity is required for activation {self.activation!r}")
        if self.activation in ("relu", "st") and (self.target_slope is not None
                                                   or self.m is not None):
            bad = "target_slope" if self.target_slope is not None else "m"
            raise ValueError(f"{bad}: {self.activation!r} has no clipping height m")
        if self.m is not None and self.target_slope is not None:
            raise ValueError("target_slope: give at most one of m and target_slope")
        if self.sparsity is not None and not 0 < self.sparsity < 1:
            raise ValueError(f"sparsity must be in (0, 1), got {self.sparsity!r}")
        for k in ("depth", "width", "epochs", "batch_size", "grad_steps"):
            v = getattr(self, k)
            low = 0 if k in ("epochs", "grad_steps") else 1
            if not isinstance(v, int) or v < low:
                raise ValueError(f"{k} must be an integer >= {low}, got {v!r}")
        for k in ("limit", "test_limit", "threads"):
            v = getattr(self, k)
            if v is not None and (not isinstance(v, int) or v < 1):
                raise ValueError(f"{k} must be an integer >= 1, got {v!r}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"lr must be a finite number > 0, got {self.lr!r}")
        if not (self.q_star > 0 and math.isfinite(self.q_star)):
            raise ValueError(f"q_star must be a finite number > 0, got {self.q_star!r}")
        if not 0 <= self.momentum < 1:
            raise ValueError(f"momentum must be in [0, 1), got {self.momentum!r}")
        if not 0 < self.val_fraction < 1:
            raise ValueError(f"val_fraction must be in (0, 1), got {self.val_fraction!r}")
        if self.dataset not in DATASETS:
            raise ValueError(f"dataset must be one of {DATASETS}, got {self.dataset!r}")
        if self.out is not None and str(self.out).strip() == "":
            raise ValueError("out must name a directory (got ''); use . for the current one")
        from eoctheory.limits import check_resources

        check_resources(f"training a width {self.width}, depth {self.depth} network with "
                        f"batch_size {self.batch_size}", nbytes=self.estimate_memory(),
                        hint="lower width, depth or batch_size")

    def estimate_memory(self) -> float:
        """Bytes the run needs at its peak: weights, gradients and optimiser state (float32),
        the activations autograd keeps for one mini-batch and for one evaluation chunk, and
        the normalised data set (MNIST size)."""
        n_in, n_out, n_data = 784, 10, 70_000
        params = self.depth * self.width * (self.width + 1) + (n_in + 1) * self.width \
            + (self.width + 1) * n_out
        copies = 2 + (self.momentum > 0)  # weights, gradients, momentum buffer
        acts = 4 * self.width * self.depth * (3 * self.batch_size + 2 * 1000)
        return 4.0 * params * copies + acts + 2 * 4.0 * n_data * n_in

    def label(self) -> str:
        """Short name of the setting, e.g. ``crelu-s0.85-v0.7``."""
        parts = [self.activation]
        if self.sparsity is not None:
            parts.append(f"s{self.sparsity:g}")
        if self.target_slope is not None:
            parts.append(f"v{self.target_slope:g}")
        if self.m is not None:
            parts.append(f"m{self.m:g}")
        return "-".join(parts)


@dataclass
class Prepared:
    """Tensors of one data set, split and normalised."""

    x_train: Any
    y_train: Any
    x_val: Any
    y_val: Any
    x_test: Any
    y_test: Any
    n_classes: int
    source: str
    extra: dict = field(default_factory=dict)



def _portable(path: str) -> str:
    """A data path as recorded in logs: relative to the working directory when below it or
    beside it (``../shared/...``), so committed results carry no machine paths."""
    import os

    try:
        rel = os.path.relpath(path)
    except ValueError:
        return path
    return rel if not rel.startswith("../../") else os.path.basename(path)


def _normalise(x: np.ndarray, q_star: float) -> np.ndarray:
    r"""Flatten; per image zero mean and :math:`\|x\|^2/N_0 = q^*`."""
    x = x.reshape(len(x), -1).astype(np.float32)
    x -= x.mean(axis=1, keepdims=True)
    rms = np.sqrt(np.mean(x * x, axis=1, keepdims=True))
    x /= np.maximum(rms, 1e-12)
    if q_star != 1.0:
        x *= np.float32(math.sqrt(q_star))
    return x


def prepare_data(cfg: TrainConfig):
    """Load, subset, split (validation fraction) and normalise; returns :class:`Prepared`."""
    import torch

    from eoctheory.experiments.data import load_dataset, split_validation

    ds = load_dataset(cfg.dataset, cfg.data_dir)
    x, y = ds.x_train, ds.y_train
    if cfg.limit is not None and cfg.limit < len(y):
        idx = np.sort(np.random.default_rng(12345).permutation(len(y))[:cfg.limit])
        x, y = x[idx], y[idx]
    tr, va = split_validation(len(y), cfg.val_fraction, seed=0)
    xt, yt = ds.x_test, ds.y_test
    if cfg.test_limit is not None and cfg.test_limit < len(yt):
        xt, yt = xt[:cfg.test_limit], yt[:cfg.test_limit]
    T = lambda a: torch.from_numpy(np.ascontiguousarray(a))  # noqa: E731
    return Prepared(T(_normalise(x[tr], cfg.q_star)), T(y[tr]),
                    T(_normalise(x[va], cfg.q_star)), T(y[va]),
                    T(_normalise(xt, cfg.q_star)), T(yt), ds.n_classes, ds.source)


def _bar(iterable, total: int, desc: str, enabled: bool):
    if not enabled:
        return iterable
    try:
        from tqdm.auto import tqdm
    except ImportError:  # simple fallback: one line per 10%
        def gen():
            step = max(1, total // 10)
            for i, item in enumerate(iterable):
                if i % step == 0:
                    sys.stderr.write(f"{desc}: {i}/{total}\n")
                yield item
        return gen()
    return tqdm(iterable, total=total, desc=desc, leave=False, file=sys.stderr,
                mininterval=1.0)


def _finite_max(a: Any) -> float:
    """Largest finite value (NaN if none; no warning on all-NaN input)."""
    a = np.asarray(a, float)
    a = a[np.isfinite(a)]
    return float(a.max()) if a.size else float("nan")


def _sig(a: np.ndarray, digits: int = 5) -> list:
    """Nested lists of floats rounded to ``digits`` significant digits (compact JSON)."""
    return [[float(f"{v:.{digits}g}") for v in row] for row in np.asarray(a, float)]


def _evaluate(model, x, y, monitor=None, batch: int = 1000) -> tuple[float, float]:
    import torch
    import torch.nn.functional as F

    loss_sum, correct = 0.0, 0
    if monitor is not None:
        monitor.reset()
        monitor.enabled = True
    with torch.no_grad():
        for i in range(0, len(y), batch):
            out = model(x[i:i + batch])
            loss_sum += float(F.cross_entropy(out, y[i:i + batch], reduction="sum"))
            correct += int((out.argmax(1) == y[i:i + batch]).sum())
    if monitor is not None:
        monitor.enabled = False
    n = max(len(y), 1)
    return loss_sum / n, correct / n


def plot_gradnorms(history: np.ndarray, path: str | os.PathLike, title: str = "") -> None:
    r"""Figure 5: per-layer :math:`\|\partial\mathcal L/\partial W^l\|` for the first steps.

    ``history`` has shape ``(steps, layers)``; one line per step on a log scale, layer index
    on the x axis (the readout is the last layer).
    """
    import matplotlib
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    h = np.asarray(history, float)
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=110)
    cmap = plt.get_cmap("viridis")
    n = max(len(h), 1)
    for k, row in enumerate(h):
        ax.plot(np.arange(1, len(row) + 1), row, color=cmap(k / max(n - 1, 1)), lw=1.2,
                label=f"step {k + 1}" if k in (0, n - 1) else None)
    ax.set_yscale("log")
    ax.set_xlabel("layer l")
    ax.set_ylabel(r"$\|\partial \mathcal{L} / \partial W^l\|$")
    ax.set_title(title or "per-layer gradient norms, first SGD steps", fontsize=10)
    if len(h):
        ax.legend(fontsize=8)
    sm = plt.cm.ScalarMappable(cmap=cmap, norm=plt.Normalize(1, n))
    fig.colorbar(sm, ax=ax, label="SGD step")
    fig.tight_layout()
    from eoctheory.files import atomic_output

    try:
        with atomic_output(path) as tmp:
            fig.savefig(tmp, format=Path(path).suffix.lstrip(".").lower() or "png")
    finally:
        plt.close(fig)


def train(cfg: TrainConfig, data: Prepared | None = None) -> dict:
    r"""Run one training job; returns the summary (also written to ``out/summary.json``).

    Returns
    -------
    dict
        The config, the initialisation (:math:`\tau, m, \sigma_w^2, \sigma_b^2, V'(q^*),
        V''(q^*)`), ``test_acc``, ``test_sparsity``, ``val_acc``, ``diverged``,
        ``epoch_seconds``, ``history`` (the per-epoch records).

    Raises
    ------
    ValueError
        Bad configuration (naming the parameter).
    eoctheory.experiments.data.DataNotFoundError
        MNIST not found.
    """
    from eoctheory.files import atomic_write_text, check_writable_dir

    cfg.validate()
    out = None if cfg.out is None else check_writable_dir(cfg.out, "out", create=True)
    torch = require_torch()
    import torch.nn.functional as F

    from eoctheory.nets import torch as et

    if cfg.threads is not None:
        torch.set_num_threads(cfg.threads)
    if data is None:
        data = prepare_data(cfg)
    torch.manual_seed(cfg.seed)
    act = et.make_activation(cfg.activation, sparsity=cfg.sparsity,
                             target_slope=cfg.target_slope,
                             q_star=cfg.q_star, **({"m": cfg.m} if cfg.m is not None else {}))
    n_in = data.x_train.shape[1]
    model = et.dnn(n_in, cfg.width, cfg.depth, data.n_classes, act, flatten=False)
    gen = torch.Generator().manual_seed(cfg.seed)
    ini = et.eoc_init_(model, act, q_star=cfg.q_star, first_layer="preserve", generator=gen)
    init_info = {"tau": act.tau, "m": getattr(act, "m", None), "sigma_w2": ini.sigma_w2,
                 "sigma_b2": ini.sigma_b2, "V_prime": ini.V_prime, "V_second": ini.V_second,
                 "expected_sparsity": ini.sparsity}
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum)
    log_lines: list[str] = []
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out / "config.json", json.dumps(
            {"config": asdict(cfg), "init": init_info}, indent=1) + "\n")
    sp_mon = et.SparsityMonitor(model)
    sp_mon.enabled = False
    gmon = et.GradientMonitor(model)
    history: list[dict] = []

    def record(epoch: int, train_loss: float | None, seconds: float) -> dict:
        model.eval()
        val_loss, val_acc = _evaluate(model, data.x_val, data.y_val)
        _, test_acc = _evaluate(model, data.x_test, data.y_test, sp_mon)
        rec = {"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss,
               "val_acc": val_acc, "test_acc": test_acc, "test_sparsity": sp_mon.mean(),
               "test_sparsity_layers": [round(v, 5) for v in sp_mon.sparsity().tolist()],
               "epoch_seconds": seconds}
        history.append(rec)
        if out is not None:  # the whole log, atomically: always complete, never half a line
            log_lines.append(json.dumps(rec) + "\n")
            atomic_write_text(out / "log.jsonl", "".join(log_lines))
        model.train()
        return rec

    record(0, None, 0.0)
    n = len(data.y_train)
    steps_per_epoch = math.ceil(n / cfg.batch_size)
    step, diverged, ep_times = 0, False, []
    bar_on = cfg.progress
    gen_order = torch.Generator().manual_seed(cfg.seed + 1_000_003)
    epochs = _bar(range(1, cfg.epochs + 1), cfg.epochs, f"{cfg.label()} seed {cfg.seed}",
                  bar_on)
    for epoch in epochs:
        t0 = time.perf_counter()
        perm = torch.randperm(n, generator=gen_order)
        loss_sum, seen = 0.0, 0
        batches = _bar(range(steps_per_epoch), steps_per_epoch, f"epoch {epoch}", bar_on)
        for b in batches:
            idx = perm[b * cfg.batch_size:(b + 1) * cfg.batch_size]
            xb, yb = data.x_train[idx], data.y_train[idx]
            opt.zero_grad(set_to_none=True)
            gmon.enabled = step < cfg.grad_steps
            loss = F.cross_entropy(model(xb), yb)
            loss.backward()
            if step < cfg.grad_steps:
                gmon.step()
            lv = float(loss.detach())
            if not math.isfinite(lv):
                diverged = True
                break
            opt.step()
            loss_sum += lv * len(yb)
            seen += len(yb)
            step += 1
        ep_times.append(time.perf_counter() - t0)
        rec = record(epoch, loss_sum / max(seen, 1), ep_times[-1])
        if hasattr(epochs, "set_postfix"):
            epochs.set_postfix(loss=f"{rec['train_loss']:.3g}", val=f"{rec['val_acc']:.3f}")
        if diverged:
            break
    gmon.enabled = False
    grads = gmon.array("weight")
    deltas = gmon.array("delta")
    gmon.remove()
    sp_mon.remove()
    last = history[-1]
    summary = {
        "setting": cfg.label(), "config": asdict(cfg), "init": init_info,
        "test_acc": last["test_acc"], "val_acc": last["val_acc"],
        "test_sparsity": last["test_sparsity"], "init_test_sparsity":
            history[0]["test_sparsity"], "train_loss": last["train_loss"],
        "epochs_run": last["epoch"], "diverged": diverged, "steps": step,
        "epoch_seconds": float(np.mean(ep_times)) if ep_times else float("nan"),
        "max_grad_norm_first_steps": _finite_max(grads),
        "data_source": _portable(data.source), "n_train": n, "n_val": len(data.y_val),
        "n_test": len(data.y_test), "history": history,
    }
    if out is not None:
        atomic_write_text(out / "gradnorms.json", json.dumps(
            {"weight": _sig(grads), "delta": _sig(deltas)}) + "\n")
        if len(grads):
            plot_gradnorms(grads, out / "gradnorms.png",
                           f"{cfg.label()}, depth {cfg.depth}, width {cfg.width}, "
                           f"seed {cfg.seed}: first {len(grads)} SGD steps")
        atomic_write_text(out / "summary.json", json.dumps(summary, indent=1) + "\n")
    return summary


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The training options (shared with :mod:`eoctheory.experiments.sweep`)."""
    p.add_argument("--depth", type=integer(1), default=100, help="hidden layers (default 100)")
    p.add_argument("--width", type=integer(1), default=300, help="layer width (default 300)")
    p.add_argument("--epochs", type=integer(0), default=1, help="epochs (paper: 200)")
    p.add_argument("--lr", type=float, default=1e-3, help="SGD learning rate (default 1e-3)")
    p.add_argument("--batch-size", type=integer(1), default=64,
                   help="mini-batch size (default 64)")
    p.add_argument("--momentum", type=float, default=0.0, help="SGD momentum (default 0)")
    p.add_argument("--q-star", type=float, default=1.0, help="fixed-point variance q*")
    p.add_argument("--dataset", default="mnist", help="mnist (default) or digits")
    p.add_argument("--data-dir", default=None,
                   help="directory with the MNIST IDX files (else $EOCTHEORY_DATA, the cache)")
    p.add_argument("--limit", type=integer(1), default=None,
                   help="use this many training images (before the 10%% validation split)")
    p.add_argument("--test-limit", type=integer(1), default=None,
                   help="use this many test images")
    p.add_argument("--threads", type=integer(1), default=None, help="torch threads per run")
    p.add_argument("--grad-steps", type=integer(0), default=15,
                   help="steps whose per-layer gradient norms are plotted (default 15)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def build_parser() -> OneLineParser:
    p = OneLineParser(prog=PROG,
                      description="Train an EoC-initialised DNN with a sparsifying activation "
                                  "(the paper's Sec. 4 experiment).")
    p.add_argument("--activation", required=True, choices=ACTIVATION_NAMES)
    p.add_argument("--sparsity", type=float, default=None, help="target sparsity s at q*")
    p.add_argument("--target-slope", type=float, default=None,
                   help="V'(q*) on the EoC, sets m (CReLU/CST; default 0.7)")
    p.add_argument("--m", type=float, default=None, help="clipping height m (CReLU/CST)")
    p.add_argument("--seed", type=integer(0), default=0)
    p.add_argument("--out", default=None,
                   help="output directory (default runs/SETTING-seedK; created if missing)")
    add_arguments(p)
    return p


def config_from_args(args: argparse.Namespace, **override: Any) -> TrainConfig:
    kw = dict(depth=args.depth, width=args.width, epochs=args.epochs, lr=args.lr,
              batch_size=args.batch_size, momentum=args.momentum, q_star=args.q_star,
              dataset=args.dataset, data_dir=args.data_dir, limit=args.limit,
              test_limit=args.test_limit, threads=args.threads, grad_steps=args.grad_steps,
              progress=not args.no_progress)
    kw.update(override)
    return TrainConfig(**kw)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m eoctheory.experiments.train``; returns the exit code.

    0 done; 2 a user mistake (bad option, memory over the limit, unwritable ``--out``,
    torch missing, MNIST not found), one line on stderr before any work; 141 stdout closed.
    """
    from eoctheory.cli.main import run_entry_point

    return run_entry_point(PROG, _main, argv)


def _main(argv: Sequence[str] | None) -> int:
    from eoctheory.cli.main import report_user_error
    from eoctheory.experiments.data import DataNotFoundError
    from eoctheory.files import check_writable_dir

    args = build_parser().parse_args(argv)
    cfg = config_from_args(args, activation=args.activation, sparsity=args.sparsity,
                           target_slope=args.target_slope, m=args.m, seed=args.seed)
    if cfg.activation in ("crelu", "cst") and cfg.m is None and cfg.target_slope is None:
        cfg.target_slope = 0.7
    if args.out is None:
        cfg.out = os.path.join("runs", f"{cfg.label()}-seed{cfg.seed}")
    else:
        cfg.out = args.out
    cfg.validate()
    check_writable_dir(cfg.out, "--out", create=True)
    try:
        require_torch()
        s = train(cfg)
    except (ModuleNotFoundError, DataNotFoundError) as exc:
        if isinstance(exc, ModuleNotFoundError) and exc.name != "torch":
            raise
        return report_user_error(PROG, exc)
    ini = s["init"]
    m_txt = f"  m = {ini['m']:.5g}" if ini["m"] is not None else ""
    print(f"{s['setting']} seed {cfg.seed}: tau = {ini['tau']:.5g}{m_txt}  "
          f"sigma_w^2 = {ini['sigma_w2']:.5g}  sigma_b^2 = {ini['sigma_b2']:.5g}  "
          f"V'(q*) = {ini['V_prime']:.3g}  V''(q*) = {ini['V_second']:.3g}")
    print(f"  epochs {s['epochs_run']}{' (diverged)' if s['diverged'] else ''}: "
          f"train loss {s['train_loss']:.4g}  val acc {s['val_acc']:.4f}  "
          f"test acc {s['test_acc']:.4f}  test sparsity {s['test_sparsity']:.4f} "
          f"(at init {s['init_test_sparsity']:.4f})  {s['epoch_seconds']:.1f} s/epoch")
    print(f"  log: {Path(cfg.out) / 'log.jsonl'}   Figure 5: {Path(cfg.out) / 'gradnorms.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
