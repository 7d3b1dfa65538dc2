r"""Calibrate the verdict on measured training outcomes (:mod:`eoctheory.experiments.outcomes`).

``python -m eoctheory.experiments.calibration --runs results/outcomes``

For every setting and shape of the outcome table, the finite-width predictor
(:func:`eoctheory.theory.finite_width.predict`) gives the predicted risk at initialisation
and the verdict at the defaults (:func:`~eoctheory.theory.finite_width.verdict_of`, risk
threshold 0.05); the runs give what happened. Reported:

* the ROC AUC of the predicted risk against observed failure (a run is a failure when its
  label is ``diverged``, ``exploded`` or ``vanished``), over runs (each run one observation,
  scored by its setting's risk; ties count one half);
* the confusion table of the verdict against the observed outcome of each setting and
  learning rate: ``failed`` (at least half of its runs failed), ``mixed`` (some, fewer than
  half), ``learned`` (none failed and at least one left the loss plateau), ``stalled``
  (none failed, none left the plateau in the step budget);
* every disagreement: a setting that learned but is ``unstable``, one that failed but is
  ``stable`` (the two targets), and the softer ones (failed but ``marginal``; mixed).

Writes ``calibration.json`` and ``calibration.md`` beside the runs.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from eoctheory.experiments.outcomes import FAILED, RunSpec, load_runs

__all__ = ["auc", "calibrate", "main", "outcome_of", "predict_setting"]

DEFAULT_RISK = 0.05


def auc(scores: Sequence[float], positive: Sequence[bool]) -> float:
    """ROC AUC: P(score of a positive > score of a negative), ties one half (Mann-Whitney).

    Examples
    --------
    >>> auc([0.1, 0.4, 0.35, 0.8], [False, False, True, True])
    0.75
    """
    s = np.asarray(scores, float)
    y = np.asarray(positive, bool)
    pos, neg = s[y], s[~y]
    if not len(pos) or not len(neg):
        raise ValueError("auc needs both failures and non-failures")
    gt = (pos[:, None] > neg[None, :]).sum()
    eq = (pos[:, None] == neg[None, :]).sum()
    return float((gt + 0.5 * eq) / (len(pos) * len(neg)))


def outcome_of(labels: Sequence[str]) -> str:
    """``failed`` / ``mixed`` / ``learned`` / ``stalled`` of one setting's runs."""
    nf = sum(lab in FAILED for lab in labels)
    if 2 * nf >= len(labels):
        return "failed"
    if nf:
        return "mixed"
    return "learned" if any(lab == "learning" for lab in labels) else "stalled"


def predict_setting(rec: dict) -> dict:
    """Predicted risk (and its parts, and the median gradient ratio) of a run's setting."""
    from eoctheory.theory import finite_width as fw

    spec = RunSpec(rec["activation"], rec["sparsity"], rec["target_slope"])
    st = spec.train_config().setting()
    p = fw.predict(st.activation, width=rec["width"], depth=rec["depth"],
                   sigma_w2=st.sigma_w2, sigma_b2=st.sigma_b2, q_star=st.q_star, **st.params)
    return {"predicted_risk": p.risk, "drift": p.drift_probability,
            "explosion": p.explosion_probability, "vanishing": p.vanishing_probability,
            "predicted_median_ratio": p.gradient_quantile(0.5)}


def calibrate(runs: Sequence[dict], risk: float = DEFAULT_RISK, progress: bool = False) -> dict:
    """Predictions beside outcomes; AUC, confusion table, disagreements (JSON-ready)."""
    from eoctheory.theory.finite_width import verdict_of

    preds: dict[tuple, dict] = {}
    groups: dict[tuple, list[dict]] = {}
    for r in runs:
        groups.setdefault((r["setting"], r["depth"], r["width"], r["lr"]), []).append(r)
    keys = sorted({(k[0], k[1], k[2]) for k in groups})
    it = keys
    if progress:
        from eoctheory.experiments.train import _bar
        it = _bar(keys, len(keys), "predict", True)
    first = {(r["setting"], r["depth"], r["width"]): r for r in runs}
    for k in it:
        preds[k] = predict_setting(first[k])
    rows = []
    for (s, L, N, lr), rs in sorted(groups.items(), key=lambda kv: (kv[0][1], kv[0][2],
                                                                     kv[0][3], kv[0][0])):
        p = preds[(s, L, N)]
        labels = [r["label"] for r in rs]
        rows.append({"setting": s, "depth": L, "width": N, "lr": lr, "runs": len(rs),
                     **{lab: labels.count(lab) for lab in
                        ("diverged", "exploded", "vanished", "stalled", "learning")},
                     "outcome": outcome_of(labels),
                     "measured_median_ratio": float(np.median([r["init_grad_ratio"]
                                                               for r in rs])),
                     **p, "verdict": verdict_of(p["predicted_risk"], risk)})
    score = [preds[(r["setting"], r["depth"], r["width"])]["predicted_risk"] for r in runs]
    fail = [r["label"] in FAILED for r in runs]
    conf: dict[str, dict[str, int]] = {}
    for row in rows:
        conf.setdefault(row["verdict"], {}).setdefault(row["outcome"], 0)
        conf[row["verdict"]][row["outcome"]] += 1
    bad = [row for row in rows if (row["outcome"] == "learned" and row["verdict"] == "unstable")
           or (row["outcome"] == "failed" and row["verdict"] == "stable")]
    soft = [row for row in rows if row not in bad and (
        (row["outcome"] == "failed" and row["verdict"] != "unstable")
        or (row["outcome"] in ("learned", "stalled") and row["verdict"] != "stable")
        or row["outcome"] == "mixed")]
    return {"risk_threshold": risk, "runs": len(runs), "failures": int(sum(fail)),
            "auc": auc(score, fail), "confusion": conf, "target_disagreements": bad,
            "other_disagreements": soft, "settings": rows}


def _md(cal: dict) -> str:
    out = [f"# Verdict calibration on {cal['runs']} training runs", "",
           f"ROC AUC of the predicted risk against observed failure (over runs): "
           f"**{cal['auc']:.3f}** ({cal['failures']} failed runs). Verdict at the default "
           f"risk threshold {cal['risk_threshold']:g} (stable <= threshold < marginal <= "
           f"4 x threshold < unstable) against the outcome of each setting and learning "
           "rate:", "",
           "| verdict | failed | mixed | stalled | learned |", "|---|---|---|---|---|"]
    for v in ("stable", "marginal", "unstable"):
        c = cal["confusion"].get(v, {})
        out.append(f"| {v} | " + " | ".join(str(c.get(o, 0)) for o in
                                              ("failed", "mixed", "stalled", "learned")) + " |")
    out += ["", f"Target disagreements (learned but unstable, failed but stable): "
            f"{len(cal['target_disagreements'])}.", ""]
    out += ["| setting | L x N | lr | runs | diverged | exploded | vanished | stalled | "
            "learning | outcome | measured median ratio | predicted median ratio | "
            "predicted risk | verdict |", "|" + "---|" * 14]
    for r in cal["settings"]:
        out.append(f"| {r['setting']} | {r['depth']} x {r['width']} | {r['lr']:g} | "
                   f"{r['runs']} | {r['diverged']} | {r['exploded']} | {r['vanished']} | "
                   f"{r['stalled']} | {r['learning']} | {r['outcome']} | "
                   f"{r['measured_median_ratio']:.3g} | {r['predicted_median_ratio']:.3g} | "
                   f"{r['predicted_risk']:.3g} | {r['verdict']} |")
    return "\n".join(out) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``python -m eoctheory.experiments.calibration [--runs DIR]``."""
    import argparse

    from eoctheory.files import atomic_write_text

    p = argparse.ArgumentParser(prog="python -m eoctheory.experiments.calibration",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", default="results/outcomes",
                   help="directory with runs.jsonl (default results/outcomes)")
    p.add_argument("--risk", type=float, default=DEFAULT_RISK,
                   help="risk threshold of the verdict (default 0.05)")
    p.add_argument("--quiet", action="store_true")
    a = p.parse_args(argv)
    d = Path(a.runs)
    runs = load_runs(d / "runs.jsonl")
    if not runs:
        sys.stderr.write(f"eoctheory calibration: no runs in {d / 'runs.jsonl'}\n")
        return 2
    t0 = time.perf_counter()
    cal = calibrate(runs, a.risk, progress=not a.quiet)
    atomic_write_text(d / "calibration.json", json.dumps(cal, indent=1) + "\n")
    md = _md(cal)
    atomic_write_text(d / "calibration.md", md)
    print(md.split("\n| setting")[0])
    print(f"({time.perf_counter() - t0:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
