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

import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np


__all__ = ["ACTIVATION_NAMES", "ARCHS", "TORCH_MISSING", "TrainConfig", "finite_max", "main",
           "prepare_data", "require_torch", "train"]

#: The paper's activations (any catalogue name, or ``custom`` with ``expr``, also trains).
ACTIVATION_NAMES = ("relu", "st", "crelu", "cst", "plain_relu")

#: Network architectures ``train`` builds.
ARCHS = ("dnn", "cnn2d")
#: Evaluation chunk of a 2-D CNN (images per forward pass without gradients).
_EVAL_CNN = 100

#: The message when torch is missing (``train`` and the command line).
TORCH_MISSING = ("torch is not installed: pip install torch (CPU build: pip install torch "
                 "--index-url https://download.pytorch.org/whl/cpu)")



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
    activation : str
        A catalogue name (``relu``, ``st``, ``crelu``, ``cst``, ``plain_relu``, ``gelu``, ...)
        or ``custom`` with ``expr``.
    expr : str, optional
        :math:`\phi(x)` of a ``custom`` activation (read by the safe expression reader).
    params : dict
        Values of a custom activation's parameters other than ``tau`` and ``m``.
    sparsity : float, optional
        Target sparsity :math:`s` at :math:`q^*` (sets :math:`\tau`, eq. 12).
    target_slope : float, optional
        :math:`V'(q^*)` on the EoC, sets :math:`m` (default 0.7 for activations with a
        clipping height; :func:`eoctheory.theory.setting.resolve_setting`).
    m : float, optional
        Clipping height given directly (exclusive with ``target_slope``).
    q_star : float
        Fixed-point variance :math:`q^*` (1 in the paper).
    depth, width : int
        Hidden layers and their width (paper: 100 and 300); with ``arch="cnn2d"`` conv
        layers and their channels (paper's CNN: 50 and 300).
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
    arch : {"dnn", "cnn2d"}
        The paper's DNN (:func:`eoctheory.nets.torch.dnn`, images flattened) or its CNN
        (:func:`eoctheory.nets.torch.cnn` with ``dim=2``: ``depth`` k x k convolutions of
        ``width`` channels, circular padding, global average pooling, a linear readout;
        images kept as (channels, height, width)).
    kernel_size : int
        Convolution kernel size k (odd; 3 in the paper), with ``arch="cnn2d"``.
    """

    activation: str = "crelu"
    expr: str | None = None
    params: dict = field(default_factory=dict)
    sparsity: float | None = None
    tau: float | None = None
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
    arch: str = "dnn"
    kernel_size: int = 3

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first bad parameter."""
        from eoctheory.experiments.data import DATASETS

        self.setting()  # the activation and its setting (one line naming what is wrong)
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
        if self.arch not in ARCHS:
            raise ValueError(f"arch must be one of {ARCHS}, got {self.arch!r}")
        if not isinstance(self.kernel_size, int) or self.kernel_size < 1 \
                or self.kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be an odd integer >= 1, got {self.kernel_size!r}")
        if self.out is not None and str(self.out).strip() == "":
            raise ValueError("out must name a directory (got ''); use . for the current one")
        from eoctheory.limits import check_resources

        check_resources(f"training a width {self.width}, depth {self.depth} network with "
                        f"batch_size {self.batch_size}", nbytes=self.estimate_memory(),
                        hint="lower width, depth or batch_size")

    def resolved_activation(self):
        """The :class:`~eoctheory.engine.activations.Activation` of ``activation``/``expr``."""
        from eoctheory.engine.activations import Activation, get_activation

        if self.activation == "custom":
            if not self.expr:
                raise ValueError("activation 'custom' needs expr (--expr on the command line)")
            return Activation.from_string(self.expr, name="custom", params=self.params or None)
        if self.expr:
            raise ValueError(f"expr goes with activation 'custom' (got {self.activation!r})")
        if self.params:
            raise ValueError(f"params go with activation 'custom' (got {self.activation!r})")
        return get_activation(self.activation)

    def setting(self):
        """The resolved :class:`~eoctheory.theory.setting.Setting` (default slope 0.7 for
        activations with a clipping height, as on the command line)."""
        from eoctheory.theory.setting import resolve_setting

        return resolve_setting(self.resolved_activation(), sparsity=self.sparsity,
                               tau=self.tau, m=self.m,
                               target_slope=self.target_slope, q_star=self.q_star,
                               default_slope=True)

    def estimate_memory(self) -> float:
        """Bytes the run needs at its peak: weights, gradients and optimiser state (float32),
        the activations autograd keeps for one mini-batch and for one evaluation chunk, and
        the normalised data set (MNIST size)."""
        n_in, n_out, n_data = 3072, 10, 70_000  # CIFAR-10 size bounds every data set here
        copies = 2 + (self.momentum > 0)  # weights, gradients, momentum buffer
        if self.arch == "cnn2d":
            k2, C, pos = self.kernel_size ** 2, self.width, 32 * 32
            params = self.depth * C * (k2 * C + 1) + (C + 1) * n_out
            acts = 4 * C * pos * self.depth * (3 * self.batch_size + 2 * _EVAL_CNN)
        else:
            params = self.depth * self.width * (self.width + 1) \
                + (n_in + 1) * self.width + (self.width + 1) * n_out
            acts = 4 * self.width * self.depth * (3 * self.batch_size + 2 * 1000)
        return 4.0 * params * copies + acts + 2 * 4.0 * n_data * n_in

    def label(self) -> str:
        """Short name of the setting, e.g. ``crelu-s0.85-v0.7``."""
        parts = [self.activation] if self.arch == "dnn" else [self.arch, self.activation]
        if self.tau is not None:
            parts.append(f"t{self.tau:g}")
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


def _normalise(x: np.ndarray, q_star: float, images: bool = False) -> np.ndarray:
    r"""Per image zero mean and :math:`\|x\|^2/N_0 = q^*`; flattened, or with ``images``
    as ``(N, channels, height, width)`` (a grey image gains one channel; channels-last
    colour images are transposed)."""
    shape = x.shape
    x = x.reshape(len(x), -1).astype(np.float32)
    x -= x.mean(axis=1, keepdims=True)
    rms = np.sqrt(np.mean(x * x, axis=1, keepdims=True))
    x /= np.maximum(rms, 1e-12)
    if q_star != 1.0:
        x *= np.float32(math.sqrt(q_star))
    if not images:
        return x
    if len(shape) == 3:
        return x.reshape(len(x), 1, *shape[1:])
    if len(shape) == 4 and shape[-1] in (1, 3) and shape[1] not in (1, 3):
        return np.ascontiguousarray(x.reshape(shape).transpose(0, 3, 1, 2))
    if len(shape) == 4:
        return x.reshape(shape)
    raise ValueError(f"dataset images have shape {shape[1:]}; arch cnn2d needs 2-D images")


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
    img = cfg.arch == "cnn2d"
    return Prepared(T(_normalise(x[tr], cfg.q_star, img)), T(y[tr]),
                    T(_normalise(x[va], cfg.q_star, img)), T(y[va]),
                    T(_normalise(xt, cfg.q_star, img)), T(yt), ds.n_classes, ds.source)


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


def finite_max(a: Any) -> float:
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
    st = cfg.setting()
    act = et.activation_module(st)
    n_in = data.x_train.shape[1]
    if cfg.arch == "cnn2d":
        model = et.cnn(data.x_train.shape[1], cfg.width, cfg.depth, data.n_classes, act,
                       kernel_size=cfg.kernel_size, dim=2)
    else:
        model = et.dnn(n_in, cfg.width, cfg.depth, data.n_classes, act, flatten=False)
    ev = _EVAL_CNN if cfg.arch == "cnn2d" else 1000
    gen = torch.Generator().manual_seed(cfg.seed)
    ini = et.eoc_init_(model, act, q_star=cfg.q_star, first_layer="preserve", generator=gen)
    init_info = {"tau": st.tau, "m": st.m, "sigma_w2": ini.sigma_w2,
                 "sigma_b2": ini.sigma_b2, "variance_slope": ini.variance_slope, "variance_curvature": ini.variance_curvature,
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
        val_loss, val_acc = _evaluate(model, data.x_val, data.y_val, batch=ev)
        _, test_acc = _evaluate(model, data.x_test, data.y_test, sp_mon, batch=ev)
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
        "max_grad_norm_first_steps": finite_max(grads),
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


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m eoctheory.experiments.train``: the ``train`` command under its old name.

    ``--activation NAME`` is accepted as the command's ACTIVATION; prefer
    ``python -m eoctheory train ACTIVATION ...``.
    """
    from eoctheory.cli.main import main as cli_main

    args = list(sys.argv[1:] if argv is None else argv)
    if "--activation" in args:
        i = args.index("--activation")
        args = args[i + 1:i + 2] + args[:i] + args[i + 2:]
    return cli_main(["train", *args])


if __name__ == "__main__":
    raise SystemExit(main())
