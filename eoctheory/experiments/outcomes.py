r"""Ground truth for the verdict: early training of EoC-initialised DNNs on real MNIST.

``python -m eoctheory.experiments.outcomes --data-dir ../shared/data/mnist --out results/outcomes``

Each run builds a depth :math:`L`, width :math:`N` network with the torch backend
(:func:`eoctheory.nets.torch.dnn`, the one setting resolver, the variance-preserving first
layer, EoC initialisation at :math:`q^* = 1`), and takes ``steps`` plain SGD steps
(cross-entropy, batch 64, no momentum) at a learning rate on a seeded 21,600-image MNIST
training subset. It records

* the training loss at every step (the loss curve);
* per-layer gradient norms :math:`\|\delta^l\| = \|\partial\mathcal L/\partial h^l\|` and
  :math:`\|\partial\mathcal L/\partial W^l\|` at initialisation (first batch); the
  per-layer :math:`\|\partial\mathcal L/\partial W^l\|` of steps 0-14 (the paper's Figure 5;
  ``fig5_weight_grad_norms``, 3 digits; absent from records made before it was added); and at
  every recorded step (steps 0-14, then every 25th) the first-to-last ratio
  :math:`\|\delta^1\|/\|\delta^L\|` and the largest weight-gradient norm;
* the held-out (2,400 validation images) loss and accuracy at initialisation and at the end,
  and the activation sparsity at initialisation.

Labels (:func:`label`), decided from the run alone, not from any prediction:

``diverged``
    the training loss became non-finite or exceeded :data:`DIVERGED_LOSS` (100; the loss of
    a uniform guess is :math:`\ln 10 = 2.30`) at some step -- the exploding-gradient failure
    of the paper's Sec. 3.1 and Figure 5;
``exploded`` / ``vanished``
    not diverged, but the first-to-last gradient ratio :math:`\|\delta^1\|/\|\delta^L\|`
    left :math:`[10^{-3}, 10^3]` (:data:`GRADIENT_LIMIT`) in one of the first 15 steps:
    the paper's Figure 5 failure (its Sec. 4: "training fails" in these runs). A clipped
    activation bounds the logits, so its loss stays finite while the first layers receive
    gradients 1e3 to 1e19 times the last layer's; the measured ratios have a gap between
    100 and 1e3 (``results/outcomes/README.md``);
``learning``
    none of the above, and the held-out loss at the end is at least :data:`LEARNING_DROP` (0.1)
    below :math:`\ln 10` -- the network has left the plateau of a uniform guess;
``stalled``
    neither: the loss is still on the plateau near :math:`\ln 10`. At this step budget and
    the paper's learning rate this is *not* a failure to train: the sparse networks leave
    the plateau later than plain ReLU (``results/mnist-dnn-reduced``: 0.11-0.21 accuracy
    after 2,025 steps, the paper's 0.92-0.95 after 200 epochs). The calibration counts
    ``diverged`` as failure.

The grid (:data:`GRIDS`) runs in a process pool (``--workers``, one torch thread each) with a
progress bar; every finished run is appended to ``runs.jsonl`` at once, so an interrupted
command resumes where it stopped; at the end ``runs.csv``, ``runs.json`` (one record per run)
and ``settings.csv`` (one row per setting and learning rate: counts of each label) are
written atomically.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

__all__ = ["CUSTOM", "DIVERGED_LOSS", "FAILED", "GRADIENT_LIMIT", "relabel", "GRIDS", "LEARNING_DROP", "RunSpec", "grid",
           "label", "load_runs", "main", "run_grid", "run_one", "summarise_settings"]

#: A training loss above this (or non-finite) at any step labels the run ``diverged``.
DIVERGED_LOSS = 100.0
#: A held-out loss at the end this far below ln 10 (the loss of a uniform guess) labels a
#: non-diverged run ``learning``.
LEARNING_DROP = 0.1
#: A first-to-last gradient ratio beyond [1/this, this] in the first FIG5_STEPS steps labels
#: a finite run ``exploded`` / ``vanished`` (the paper's Figure 5 failures).
GRADIENT_LIMIT = 1e3
#: Every label, failures first.
LABELS = ("diverged", "exploded", "vanished", "stalled", "learning")
#: Labels counted as a failure to train.
FAILED = ("diverged", "exploded", "vanished")
#: Steps whose per-layer gradient norms are recorded besides every 25th.
FIG5_STEPS = 15

#: Custom activations of the grid (expression, parameter values), run through the safe
#: reader and the generated torch kernels like any user's.
CUSTOM: dict[str, tuple[str, dict]] = {
    # a smooth clipped soft threshold: zero on |x| < tau, m tanh((|x| - tau)/m) outside
    "tanhclip": ("Piecewise((0, Abs(x) < tau), (m*tanh((x - tau)/m), x >= tau), "
                 "(m*tanh((x + tau)/m), True))", {}),
    # a leaky clipped ReLU: slope 1 on [tau, tau + m], slope k above
    "leakyclip": ("Piecewise((0, x < tau), (x - tau, x < tau + m), "
                  "(m + k*(x - tau - m), True))", {"k": 0.1}),
}


@dataclass(frozen=True)
class RunSpec:
    """One run of the grid."""

    activation: str
    sparsity: float | None = None
    target_slope: float | None = None
    depth: int = 100
    width: int = 300
    lr: float = 1e-3
    seed: int = 0
    steps: int = 300
    arch: str = "dnn"
    pool: int = 1
    batch_size: int = 64
    dataset: str = "mnist"

    def setting_key(self) -> str:
        """``activation[:s[:v]]`` (the setting, without shape, lr and seed)."""
        parts = [self.activation]
        if self.sparsity is not None:
            parts.append(f"{self.sparsity:g}")
        if self.target_slope is not None:
            parts.append(f"{self.target_slope:g}")
        return ":".join(parts)

    def key(self) -> str:
        """Unique name of the run."""
        tail = "" if self.arch == "dnn" else \
            f"|{self.arch}-pool{self.pool}-batch{self.batch_size}"
        if self.dataset != "mnist":
            tail += f"|{self.dataset}"
        return (f"{self.setting_key()}|L{self.depth}xN{self.width}|lr{self.lr:g}"
                f"|seed{self.seed}|steps{self.steps}{tail}")

    def train_config(self, data_dir: str | None = None):
        """The :class:`~eoctheory.experiments.train.TrainConfig` of this run."""
        from eoctheory.experiments.train import TrainConfig

        expr, params = (None, {})
        name = self.activation
        if name in CUSTOM:
            expr, params = CUSTOM[name]
            name = "custom"
        return TrainConfig(activation=name, expr=expr, params=dict(params),
                           sparsity=self.sparsity, target_slope=self.target_slope,
                           depth=self.depth, width=self.width, lr=self.lr, seed=self.seed,
                           batch_size=self.batch_size, limit=24_000, test_limit=1,
                           data_dir=data_dir, progress=False, arch=self.arch,
                           dataset=self.dataset)


def _settings_main() -> list[tuple]:
    """(activation, sparsity, target_slope) of the main grid (depth 100, width 300, lr 1e-3).

    ReLU_tau starts at s = 0.55 (s = 0.5 is plain ReLU, tau = 0)."""
    out: list[tuple] = [("plain_relu", None, None)]
    out += [("relu", s, None) for s in (0.55, 0.6, 0.65, 0.7)]
    out += [("st", s, None) for s in (0.3, 0.5, 0.6, 0.7)]
    out += [(a, s, v) for a in ("crelu", "cst") for s in (0.5, 0.7, 0.8, 0.85, 0.9)
            for v in (0.3, 0.5, 0.7, 0.9, 0.95)]
    out += [(a, s, v) for a in CUSTOM for s in (0.7, 0.85) for v in (0.5, 0.9)]
    return out


def _settings_other_lr() -> list[tuple]:
    """The settings also run at lr 1e-2 (the paper's CNN learning rate)."""
    out: list[tuple] = [("plain_relu", None, None), ("relu", 0.6, None), ("st", 0.5, None)]
    out += [(a, s, v) for a in ("crelu", "cst") for s in (0.7, 0.85, 0.9) for v in (0.5, 0.9)]
    out += [(a, 0.85, 0.9) for a in CUSTOM]
    return out


def _settings_shapes(shape: tuple[int, int]) -> list[tuple]:
    """The settings run at the other shapes (a cross-section of the main grid)."""
    few = [("plain_relu", None, None), ("crelu", 0.7, 0.7), ("crelu", 0.85, 0.9),
           ("cst", 0.85, 0.7)]
    if shape == (200, 512):
        return few
    return few + [("relu", 0.6, None), ("st", 0.5, None), ("cst", 0.85, 0.95),
                  ("crelu", 0.9, 0.5)]


def grid(name: str = "full", seeds: int = 5, steps: int = 300) -> list[RunSpec]:
    """The runs of a named grid (see :data:`GRIDS`)."""
    if name not in GRIDS:
        raise ValueError(f"grid must be one of {', '.join(GRIDS)} (got {name!r})")
    if not isinstance(seeds, int) or seeds < 1:
        raise ValueError(f"seeds must be an integer >= 1 (got {seeds!r})")
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be an integer >= 1 (got {steps!r})")
    extra = ({"arch": "cnn2d", "pool": 2, "batch_size": 32} if name.startswith("cnn")
             else {})
    runs: list[RunSpec] = []
    for (a, s, v), (L, N), lr in GRIDS[name]():
        for k in range(seeds):
            runs.append(RunSpec(a, s, v, L, N, lr, k, steps, **extra))
    return runs


def _full() -> Iterable[tuple]:
    for st in _settings_main():
        yield st, (100, 300), 1e-3
    for st in _settings_other_lr():
        yield st, (100, 300), 1e-2
    for shape in ((50, 300), (100, 100), (200, 512)):
        for st in _settings_shapes(shape):
            yield st, shape, 1e-3


def _quick() -> Iterable[tuple]:
    for st in (("plain_relu", None, None), ("relu", 0.6, None), ("crelu", 0.7, 0.7),
               ("leakyclip", 0.7, 0.5)):
        yield st, (10, 32), 1e-2


def _second_mode() -> Iterable[tuple]:
    """The paper's second failure mode (s = 0.85, small m), reduced to depth 30 so that the
    sparse networks leave the loss plateau within the budget; width 300 and 600 separate
    the candidate explanations that depend on N (units passing gradient, N f) from those
    that do not (the fraction f, c*, the Jacobian moments)."""
    for st in (("plain_relu", None, None), ("crelu", 0.85, 0.3), ("crelu", 0.85, 0.5),
               ("crelu", 0.85, 0.7), ("crelu", 0.7, 0.5), ("cst", 0.85, 0.5)):
        yield st, (30, 300), 1e-2
    for st in (("crelu", 0.85, 0.3), ("crelu", 0.85, 0.5)):
        yield st, (30, 600), 1e-2


def _cnn() -> Iterable[tuple]:
    """The paper's CNN grid (ReLU_tau and ST_tau at s = 0.5-0.7; CReLU and CST at
    s = 0.6-0.85 with V'(q*) = 0.5, 0.7, 0.9), reduced to this CPU: depth 10, 32 channels,
    MNIST images average-pooled to 14 x 14, lr 1e-2 (the paper's CNN rate), batch 32."""
    out: list[tuple] = [("plain_relu", None, None)]
    out += [(a, s, None) for a in ("relu", "st") for s in (0.55, 0.6, 0.7)]
    out += [(a, s, v) for a in ("crelu", "cst") for s in (0.6, 0.7, 0.8, 0.85)
            for v in (0.5, 0.7, 0.9)]
    for st in out:
        yield st, (10, 32), 1e-2


def _cnn_deep() -> Iterable[tuple]:
    """Nine settings of the paper's CNN grid at depth 20 (32 channels, 14 x 14 images,
    lr 1e-2): the settings whose outcome the paper states, run longer (``--steps 600``)."""
    for st in (("plain_relu", None, None), ("relu", 0.6, None), ("relu", 0.7, None),
               ("st", 0.6, None), ("crelu", 0.7, 0.7), ("crelu", 0.85, 0.9),
               ("cst", 0.7, 0.7), ("cst", 0.8, 0.9), ("cst", 0.85, 0.9)):
        yield st, (20, 32), 1e-2


#: Named grids: ``full`` (the calibration), ``quick`` (a minute, for tests and trying),
#: ``second_mode`` (longer runs on the paper's second failure mode; ``--steps 2000``).
GRIDS = {"full": lambda: list(_full()), "quick": lambda: list(_quick()),
         "second_mode": lambda: list(_second_mode()), "cnn": lambda: list(_cnn()),
         "cnn_deep": lambda: list(_cnn_deep())}


# ------------------------------------------------------------------------------------------
# One run
# ------------------------------------------------------------------------------------------
def label(losses: Sequence[float], final_loss: float | None,
          ratios: Sequence[float | None] = ()) -> str:
    """``diverged`` / ``exploded`` / ``vanished`` / ``learning`` / ``stalled`` from the
    training-loss curve, the held-out loss at the end and the first-to-last gradient ratios
    of the first :data:`FIG5_STEPS` steps (``None`` = not finite); see the module docstring."""
    a = np.asarray(losses, float)
    if a.size and (not np.all(np.isfinite(a)) or float(np.max(a)) > DIVERGED_LOSS):
        return "diverged"
    if final_loss is None or not math.isfinite(final_loss):
        return "diverged"
    r = np.array([np.inf if v is None else v for v in ratios], float)
    if r.size and np.max(r) > GRADIENT_LIMIT:
        return "exploded"
    if r.size and np.min(r) < 1.0 / GRADIENT_LIMIT:
        return "vanished"
    return "learning" if final_loss <= math.log(10.0) - LEARNING_DROP else "stalled"


_DATA: dict[str, Any] = {}


def _worker_init(data_dir: str | None, threads: int) -> None:
    import torch

    torch.set_num_threads(threads)
    _DATA.clear()
    _DATA["dir"] = data_dir


def _data(cfg, pool: int = 1):
    """The prepared data of ``cfg`` (cached per process), images average-pooled by ``pool``
    and renormalised to mean square q* per image for the CNN runs."""
    from dataclasses import replace

    from eoctheory.experiments.train import prepare_data

    key = (cfg.arch, pool, cfg.dataset)
    if key not in _DATA:
        d = prepare_data(cfg)
        if pool > 1:
            import torch.nn.functional as F

            def shrink(x):
                x = F.avg_pool2d(x, pool)
                x = x - x.mean(dim=(1, 2, 3), keepdim=True)
                return x / x.square().mean(dim=(1, 2, 3), keepdim=True).sqrt().clamp_min(1e-12)
            d = replace(d, x_train=shrink(d.x_train), x_val=shrink(d.x_val),
                        x_test=shrink(d.x_test))
        _DATA[key] = d
    return _DATA[key]


def _sig(values: Iterable[float], digits: int = 4) -> list:
    return [float(f"{v:.{digits}g}") if math.isfinite(v) else None for v in values]


def run_one(spec: RunSpec, data_dir: str | None = None) -> dict:
    """Run one spec; returns its JSON-ready record (see the module docstring)."""
    import torch
    import torch.nn.functional as F

    from eoctheory.experiments.train import _evaluate
    from eoctheory.nets import torch as et

    t0 = time.perf_counter()
    cfg = spec.train_config(data_dir if data_dir is not None else _DATA.get("dir"))
    cfg.validate()
    data = _data(cfg, spec.pool)
    torch.manual_seed(spec.seed)
    st = cfg.setting()
    act = et.activation_module(st)
    if spec.arch == "cnn2d":
        model = et.cnn(data.x_train.shape[1], spec.width, spec.depth, data.n_classes, act,
                       kernel_size=3, dim=2)
    else:
        model = et.dnn(data.x_train.shape[1], spec.width, spec.depth, data.n_classes, act,
                       flatten=False)
    gen = torch.Generator().manual_seed(spec.seed)
    ini = et.eoc_init_(model, act, q_star=1.0, first_layer="preserve", generator=gen)
    opt = torch.optim.SGD(model.parameters(), lr=spec.lr)
    sp_mon = et.SparsityMonitor(model)
    model.eval()
    val_loss0, val_acc0 = _evaluate(model, data.x_val, data.y_val, sp_mon)
    sparsity0 = sp_mon.mean()
    sp_mon.remove()
    model.train()
    gmon = et.GradientMonitor(model)
    n = len(data.y_train)
    order = torch.Generator().manual_seed(spec.seed + 1_000_003)
    perm = torch.randperm(n, generator=order)
    losses: list[float] = []
    rec_steps, ratio, wmax, init_delta, init_weight = [], [], [], None, None
    fig5: list[list] = []  # per-layer ||dL/dW^l|| at steps 0..FIG5_STEPS-1 (Figure 5)
    bs = cfg.batch_size
    for step in range(spec.steps):
        lo = (step * bs) % n
        if lo + bs > n:
            perm = torch.randperm(n, generator=order)
        idx = perm[lo:lo + bs]
        keep = step < FIG5_STEPS or step % 25 == 0
        gmon.enabled = keep
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(data.x_train[idx]), data.y_train[idx])
        loss.backward()
        lv = float(loss.detach())
        losses.append(lv)
        if keep:
            row = gmon.step()
            d = np.asarray(row["delta"], float)
            w = np.asarray(row["weight"], float)
            if step == 0:
                init_delta, init_weight = d, w
            rec_steps.append(step)
            # hidden layers 1..L: delta^1 is the first hidden pre-activation's gradient
            with np.errstate(all="ignore"):
                ratio.append(float(d[0] / d[spec.depth - 1]))
            wmax.append(float(np.nanmax(w)) if np.isfinite(w).any() else float("nan"))
            if step < FIG5_STEPS:
                fig5.append(_sig(w, 3))
        if not math.isfinite(lv) or lv > DIVERGED_LOSS:
            break
        opt.step()
    gmon.remove()
    model.eval()
    with torch.no_grad():
        val_loss, val_acc = _evaluate(model, data.x_val, data.y_val)
    lab = label(losses, val_loss,
                [r for k, r in zip(rec_steps, ratio) if k < FIG5_STEPS])
    d0 = init_delta[:spec.depth]
    return {
        "key": spec.key(), "setting": spec.setting_key(), **asdict(spec),
        "tau": st.tau, "m": st.m, "sigma_w2": ini.sigma_w2, "sigma_b2": ini.sigma_b2,
        "variance_slope": ini.variance_slope, "variance_curvature": ini.variance_curvature,
        "expected_sparsity": ini.sparsity, "init_sparsity": sparsity0,
        "label": lab, "steps_run": len(losses),
        "init_val_loss": val_loss0, "init_val_acc": val_acc0,
        "val_loss": val_loss if math.isfinite(val_loss) else None, "val_acc": val_acc,
        "final_train_loss": float(np.mean(losses[-20:])) if losses else None,
        "init_grad_ratio": float(d0[0] / d0[-1]),
        "init_delta_norms": _sig(d0), "init_weight_grad_norms": _sig(init_weight),
        "recorded_steps": rec_steps, "grad_ratio": _sig(ratio), "max_weight_grad": _sig(wmax),
        "fig5_weight_grad_norms": fig5,
        "loss": _sig(losses), "seconds": round(time.perf_counter() - t0, 2),
        "n_train": n, "n_val": len(data.y_val),
    }


def _run_in_worker(spec: RunSpec) -> dict:
    try:
        return run_one(spec)
    except Exception as exc:  # a failed run is reported, never silently dropped
        return {"key": spec.key(), "error": f"{type(exc).__name__}: {exc}"}


# ------------------------------------------------------------------------------------------
# The grid
# ------------------------------------------------------------------------------------------
def relabel(rec: dict) -> str:
    """The label of a stored record, recomputed from its loss curve and gradient ratios."""
    return label(rec["loss"], rec["val_loss"],
                 [r for k, r in zip(rec["recorded_steps"], rec["grad_ratio"])
                  if k < FIG5_STEPS])


def load_runs(path: str | os.PathLike) -> list[dict]:
    """Records of a ``runs.jsonl`` (a torn last line, from an interrupted run, is skipped).

    A gzipped copy beside it (``runs.jsonl.gz``, how a large record set is committed) is
    read first; a record of the plain file replaces one of the same key.
    """
    import gzip

    p = Path(path)
    gz = p.with_name(p.name + ".gz")
    texts = ([gzip.decompress(gz.read_bytes()).decode()] if gz.exists() else []) + \
        ([p.read_text()] if p.exists() else [])
    by_key: dict = {}
    for text in texts:
        for line in text.splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            if "error" not in rec:
                rec["label"] = relabel(rec)
                by_key[rec.get("key", len(by_key))] = rec
    return list(by_key.values())


CSV_FIELDS = ("setting", "activation", "sparsity", "target_slope", "depth", "width", "lr",
              "seed", "steps", "tau", "m", "sigma_w2", "sigma_b2", "variance_slope",
              "variance_curvature", "init_sparsity", "label", "steps_run", "init_val_acc",
              "val_acc", "val_loss", "final_train_loss", "init_grad_ratio", "seconds")


def summarise_settings(runs: Sequence[dict]) -> list[dict]:
    """One row per (setting, shape, lr): label counts and median initial gradient ratio."""
    groups: dict[tuple, list[dict]] = {}
    for r in runs:
        groups.setdefault((r["setting"], r["depth"], r["width"], r["lr"]), []).append(r)
    rows = []
    for (s, L, N, lr), rs in sorted(groups.items(), key=lambda kv: (kv[0][1], kv[0][2],
                                                                     kv[0][3], kv[0][0])):
        c = {k: sum(r["label"] == k for r in rs) for k in LABELS}
        acc = [r["val_acc"] for r in rs]
        rows.append({"setting": s, "depth": L, "width": N, "lr": lr, "runs": len(rs), **c,
                     "val_acc_mean": float(np.mean(acc)), "val_acc_std": float(np.std(acc)),
                     "median_init_grad_ratio": float(np.median([r["init_grad_ratio"]
                                                                for r in rs])),
                     "variance_slope": rs[0]["variance_slope"],
                     "variance_curvature": rs[0]["variance_curvature"],
                     "tau": rs[0]["tau"], "m": rs[0]["m"]})
    return rows


def _csv(rows: Sequence[dict], fields: Sequence[str]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(fields), extrasaction="ignore",
                       lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in fields})
    return buf.getvalue()


def write_tables(out: Path, runs: Sequence[dict]) -> None:
    """``runs.csv``, ``settings.csv`` and ``runs.jsonl`` rewritten in key order (atomically)."""
    from eoctheory.files import atomic_write_text

    runs = sorted(runs, key=lambda r: r["key"])
    atomic_write_text(out / "runs.csv", _csv(runs, CSV_FIELDS))
    atomic_write_text(out / "runs.jsonl", "".join(json.dumps(r, separators=(",", ":")) + "\n"
                                                 for r in runs))
    rows = summarise_settings(runs)
    atomic_write_text(out / "settings.csv", _csv(rows, list(rows[0]) if rows else ["setting"]))


def run_grid(specs: Sequence[RunSpec], out: str | os.PathLike, *, data_dir: str | None = None,
             workers: int = 2, threads: int = 1, progress: bool = True) -> list[dict]:
    """Run the specs not yet in ``out/runs.jsonl`` in a process pool; write the tables."""
    from eoctheory.files import check_writable_dir

    outp = check_writable_dir(out, "out", create=True)
    outp.mkdir(parents=True, exist_ok=True)
    log = outp / "runs.jsonl"
    done = {r["key"] for r in load_runs(log)}
    todo = [s for s in specs if s.key() not in done]
    # expensive runs first, so the pool ends together
    todo.sort(key=lambda s: -s.depth * s.width * s.width)
    if todo:
        from eoctheory.experiments.train import _bar

        with open(log, "a") as fh, ProcessPoolExecutor(
                max_workers=workers, initializer=_worker_init,
                initargs=(data_dir, threads)) as pool:
            futs = [pool.submit(_run_in_worker, s) for s in todo]
            for f in _bar(as_completed(futs), len(futs), "runs", progress):
                rec = f.result()
                fh.write(json.dumps(rec, separators=(",", ":")) + "\n")
                fh.flush()
                if "error" in rec:
                    sys.stderr.write(f"run {rec['key']} failed: {rec['error']}\n")
    keys = {s.key() for s in specs}
    runs = [r for r in load_runs(log) if r["key"] in keys]
    write_tables(outp, runs)
    return runs


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``python -m eoctheory.experiments.outcomes [options]``."""
    import argparse
    from dataclasses import replace

    p = argparse.ArgumentParser(prog="python -m eoctheory.experiments.outcomes",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--grid", default="full", choices=sorted(GRIDS),
                   help="full: the calibration grid (520 runs); quick: 4 tiny runs; "
                        "second_mode: the longer depth-30 runs (use --steps 2000)")
    p.add_argument("--seeds", type=int, default=5, help="seeds per setting (default 5)")
    p.add_argument("--steps", type=int, default=300, help="SGD steps per run (default 300)")
    p.add_argument("--workers", type=int, default=2, help="processes (default 2)")
    p.add_argument("--threads", type=int, default=1, help="torch threads per process")
    p.add_argument("--data-dir", default=None,
                   help="the dataset's directory (default: the loader's search order)")
    p.add_argument("--dataset", default="mnist",
                   choices=("mnist", "fashion_mnist", "cifar10"),
                   help="training data (default mnist; fashion_mnist: Debian's "
                        "dataset-fashion-mnist works offline)")
    p.add_argument("--out", default="results/outcomes",
                   help="output directory; runs already in its runs.jsonl are skipped")
    p.add_argument("--limit-runs", type=int, default=None,
                   help="run only the first N runs of the grid (timing)")
    p.add_argument("--exclude", nargs="*", default=[], metavar="ACTIVATION",
                   help="leave out runs of these activations")
    p.add_argument("--quiet", action="store_true")
    a = p.parse_args(argv)
    try:
        for k in ("workers", "threads"):
            if getattr(a, k) < 1:
                raise ValueError(f"--{k} must be an integer >= 1 (got {getattr(a, k)})")
        if a.limit_runs is not None and a.limit_runs < 1:
            raise ValueError(f"--limit-runs must be an integer >= 1 (got {a.limit_runs})")
        specs = grid(a.grid, a.seeds, a.steps)
        specs = [replace(sp, dataset=a.dataset) for sp in specs
                 if sp.activation not in a.exclude]
        if a.limit_runs:
            specs = specs[:a.limit_runs]
        from eoctheory.experiments.train import require_torch
        from eoctheory.files import check_writable_dir

        require_torch()
        check_writable_dir(a.out, "out", create=True)
        if specs:  # the data must be there before the pool starts
            from eoctheory.experiments.data import load_dataset
            load_dataset(a.dataset, a.data_dir)
    except (ValueError, OSError, ModuleNotFoundError) as exc:
        sys.stderr.write(f"{p.prog}: {exc}\n")
        return 2
    t0 = time.perf_counter()
    runs = run_grid(specs, a.out, data_dir=a.data_dir, workers=a.workers, threads=a.threads,
                    progress=not a.quiet)
    print(f"{len(runs)} runs in {a.out} ({time.perf_counter() - t0:.0f} s); labels: "
          + ", ".join(f"{k} {sum(r['label'] == k for r in runs)}" for k in LABELS))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
