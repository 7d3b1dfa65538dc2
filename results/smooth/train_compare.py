"""Early MNIST training of CReLU against SCReLU at s = 0.85, V'(q*) = 0.9 (issue 15, part 2).

The runs of ``eoctheory.experiments.outcomes`` (depth 100, width 300, SGD lr 1e-3, batch 64,
EoC at q* = 1, variance-preserving first layer; ``STEPS`` steps, labelled by
``outcomes.label``: diverged / exploded / vanished / stalled / learning). The smooth
variants run as custom activations (the catalogue expression as text through the safe
reader, ``beta`` as a parameter), registered in this process only.

    python results/smooth/train_compare.py --data-dir DIR [--seeds 3] [--steps 300]

writes ``results/smooth/train_runs.jsonl`` (one record per run, appended as it finishes)
and prints a table of labels per setting.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import time

from eoctheory.engine.activations import CATALOGUE
from eoctheory.experiments import outcomes

SETTINGS = [("crelu", None), ("screlu", 1.0), ("screlu", 4.0)]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", required=True)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--slope", type=float, default=0.9)
    args = p.parse_args()
    import torch

    torch.set_num_threads(1)
    out = pathlib.Path(__file__).parent / "train_runs.jsonl"
    done = set()
    if out.exists():
        done = {json.loads(line)["key"] for line in out.read_text().splitlines() if line}
    t0 = time.time()
    for name, beta in SETTINGS:
        act = name
        if beta is not None:
            act = f"{name}_beta{beta:g}"
            outcomes.CUSTOM[act] = (str(CATALOGUE[name].expr), {"beta": beta})
        for seed in range(args.seeds):
            spec = outcomes.RunSpec(act, 0.85, args.slope, seed=seed, steps=args.steps)
            if spec.key() in done:
                continue
            rec = outcomes.run_one(spec, args.data_dir)
            rec = {k: rec[k] for k in ("key", "setting", "seed", "steps", "tau", "m",
                                       "variance_curvature", "init_sparsity", "label",
                                       "steps_run", "val_loss", "val_acc", "init_grad_ratio",
                                       "grad_ratio", "seconds")}
            with out.open("a") as fh:
                fh.write(json.dumps(rec) + "\n")
            print(f"{spec.key()}: {rec['label']} ({time.time() - t0:.0f} s)", flush=True)
    runs = [json.loads(line) for line in out.read_text().splitlines() if line]
    print("\n| setting | runs | labels | held-out loss (median) |")
    print("|---|---|---|---|")
    for key in dict.fromkeys(r["setting"] for r in runs):
        rs = [r for r in runs if r["setting"] == key]
        labels = {}
        for r in rs:
            labels[r["label"]] = labels.get(r["label"], 0) + 1
        losses = sorted(r["val_loss"] for r in rs if r["val_loss"] is not None)
        med = f"{losses[len(losses) // 2]:.3f}" if losses else "-"
        print(f"| {key} | {len(rs)} | {', '.join(f'{k} {v}' for k, v in labels.items())} | "
              f"{med} |")


if __name__ == "__main__":
    main()
