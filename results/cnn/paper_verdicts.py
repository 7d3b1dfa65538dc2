"""check's verdict at the paper's CNN shape (50 layers, 300 channels) for its CNN grid.

Run from the repository root: ``python results/cnn/paper_verdicts.py > results/cnn/verdicts.md``.
The verdict is ``check ACT --sparsity S [--target-slope V] --arch cnn2d --channels 300
--depth 50`` (the finite-width predictor with N = C; eoctheory.theory.finite_width).
"""

from __future__ import annotations

import eoctheory as eoc
from eoctheory.theory import finite_width as fw

GRID = ([("relu", s, None) for s in (0.5, 0.6, 0.7)]
        + [("st", s, None) for s in (0.5, 0.6, 0.7)]
        + [("crelu", s, v) for s in (0.6, 0.7, 0.8, 0.85) for v in (0.5, 0.7, 0.9)]
        + [("cst", s, v) for s in (0.5, 0.6, 0.7, 0.8, 0.85) for v in (0.5, 0.7, 0.9)])


def main() -> None:
    print("# check at the paper's CNN shape: 50 layers, 300 channels\n")
    print("`python results/cnn/paper_verdicts.py > results/cnn/verdicts.md`; the verdict of "
          "`check ACT --sparsity S [--target-slope V] --arch cnn2d --channels 300 --depth 50` "
          "for the paper's CNN grid.\n")
    print("| setting | m | V''(q*) | predicted risk | verdict |")
    print("|---|---|---|---|---|")
    for name, s, v in GRID:
        kw = {"sparsity": s} | ({"target_slope": v} if v is not None else {})
        st = eoc.resolve_setting(name, **kw)
        rep = eoc.assess(st.activation, st.q_star, **st.params)
        f = fw.check_summary(st.activation, st.params, rep.sigma_w2, rep.sigma_b2,
                             rep.q_star, 300, 50, arch="cnn2d")
        m = st.params.get("m")
        label = f"{name} s={s:g}" + (f" V'={v:g}" if v is not None else "")
        print(f"| {label} | {'-' if m is None else f'{m:.3g}'} | {rep.V_second:.3g} | "
              f"{f['predicted_risk']:.3g} | {f['verdict']} |")


if __name__ == "__main__":
    main()
