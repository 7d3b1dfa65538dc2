r"""Plain against residual MLPs at sparsity 0.85 on MNIST: a short torch validation.

    python results/resnet/run_resnet.py [--steps 300] [--seeds 2] [--first-seed 0] [--lr 1e-2]
                                        [--data-dir DIR]

For ReLU_tau, ST_tau, CReLU and CST (clipped ones at V'(q*) = 0.7), each at sparsity 0.85
at q* = 1: the paper's plain network (:func:`eoctheory.nets.torch.dnn`, EoC, variance-
preserving first layer) and the residual MLP of :mod:`eoctheory.nets.torch_resnet`
(one-layer branches on the same EoC point, alpha = 1/sqrt(L), thresholds following
sqrt(qbar^l)), depth 100, width 300. Plain SGD, batch 64, on a seeded 10,000-image subset
of the MNIST training set (images centred and scaled to ||x||^2/784 = 1), held-out loss
and accuracy on 2,000 other training images. Labels as
:func:`eoctheory.experiments.outcomes.label` (diverged / exploded / vanished from the
first-to-last gradient ratio of the first 15 steps / learning / stalled). Writes
``results/resnet/runs.json`` and prints the table of the README.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

from eoctheory.experiments.data import load_mnist
from eoctheory.experiments.outcomes import FIG5_STEPS, label
from eoctheory.nets import torch as et
from eoctheory.nets.torch_resnet import StreamMonitor, resnet, resnet_init_

ACTS = {"relu": dict(sparsity=0.85), "st": dict(sparsity=0.85),
        "crelu": dict(sparsity=0.85, target_slope=0.7),
        "cst": dict(sparsity=0.85, target_slope=0.7)}


def data(data_dir):
    d = load_mnist(data_dir, download=False)
    x = torch.tensor(np.asarray(d.x_train, np.float32).reshape(len(d.x_train), -1))
    x = x - x.mean(dim=1, keepdim=True)
    x = x / x.square().mean(dim=1, keepdim=True).sqrt()
    y = torch.tensor(np.asarray(d.y_train, np.int64))
    perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))
    tr, va = perm[:10_000], perm[10_000:12_000]
    return x[tr], y[tr], x[va], y[va]


def run(act, arch, seed, steps, lr, xs, width=300, depth=100):
    xt, yt, xv, yv = xs
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    if arch == "plain":
        st = et.make_activation(act, **ACTS[act]).eoc(1.0)
        model = et.dnn(784, width, depth, 10, et.activation_module(st), flatten=False)
        et.eoc_init_(model, et.activation_module(st), first_layer="preserve", generator=gen)
        mon = et.GradientMonitor(model)
    else:
        model = resnet(784, width, depth, 10, act, flatten=False, **ACTS[act])
        resnet_init_(model, generator=gen)
        mon = StreamMonitor(model)
    sp = et.SparsityMonitor(model)
    with torch.no_grad():
        model(xv)
    s0 = sp.mean()
    sp.remove()
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    order = torch.Generator().manual_seed(seed + 1)
    losses, ratios = [], []
    for step in range(steps):
        idx = torch.randint(0, len(yt), (64,), generator=order)
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(xt[idx]), yt[idx])
        loss.backward()
        losses.append(loss.item())
        if step < FIG5_STEPS:
            row = mon.step()
            d = np.asarray(row["delta"] if isinstance(row, dict) else row, float)
            d = d[:depth] if arch == "plain" else d
            with np.errstate(all="ignore"):
                r = float(d[0] / d[-1])
            ratios.append(r if math.isfinite(r) else None)
        if not math.isfinite(losses[-1]) or losses[-1] > 100:
            break
        opt.step()
    with torch.no_grad():
        out = model(xv)
        vl = float(F.cross_entropy(out, yv))
        va = float((out.argmax(1) == yv).float().mean())
    sp = et.SparsityMonitor(model)
    with torch.no_grad():
        model(xv)
    s1 = sp.mean()
    sp.remove()
    return {"activation": act, "arch": arch, "seed": seed, "label": label(losses, vl, ratios),
            "val_loss": vl if math.isfinite(vl) else None, "val_acc": va,
            "init_sparsity": s0, "final_sparsity": s1,
            "init_grad_ratio": ratios[0] if ratios else None,
            "loss_first": losses[0], "loss_last20": float(np.mean(losses[-20:]))}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--first-seed", type=int, default=0,
                    help="seeds first-seed .. first-seed + seeds - 1 (runs.json is merged)")
    ap.add_argument("--lr", type=float, default=1e-2)
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    xs = data(a.data_dir)
    runs = []
    t0 = time.perf_counter()
    for act in ACTS:
        for arch in ("plain", "residual"):
            for seed in range(a.first_seed, a.first_seed + a.seeds):
                r = run(act, arch, seed, a.steps, a.lr, xs)
                runs.append(r)
                print(f"{act:6s} {arch:8s} seed {seed}: {r['label']:9s} val acc "
                      f"{r['val_acc']:.3f} sparsity {r['init_sparsity']:.3f} -> "
                      f"{r['final_sparsity']:.3f}  ratio0 {r['init_grad_ratio']}  "
                      f"({time.perf_counter() - t0:.0f} s)", flush=True)
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "runs.json")
    key = lambda r: (r["activation"], r["arch"], r["seed"])  # noqa: E731
    if os.path.exists(out):  # merge: runs of other seeds are kept (same steps and lr only)
        with open(out) as f:
            old = json.load(f)
        if old.get("steps") == a.steps and old.get("lr") == a.lr:
            new = {key(r) for r in runs}
            runs = [r for r in old["runs"] if key(r) not in new] + runs
    runs.sort(key=key)
    with open(out, "w") as f:
        json.dump({"steps": a.steps, "lr": a.lr, "runs": runs}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
