"""
Check before training: a walkthrough
====================================

A notebook-style walkthrough of what ``python -m eoctheory check`` does, step by step, for
a depth-100, width-300 network with CReLU at 85% sparsity. Each ``# %%`` line starts a cell
(download the notebook below, or run the cells in an editor).
"""

# sphinx_gallery_thumbnail_number = 2

# %%
# The activation and its derived expressions
# ------------------------------------------
# CReLU\ :sub:`τ,m` (the paper's eq. 9) is defined once, as a SymPy expression with the
# threshold :math:`\tau` and the clipping height :math:`m` as symbols:
import matplotlib.pyplot as plt
import numpy as np

import eoctheory as eoc
from eoctheory.latex import latex_equation

act = eoc.get_activation("crelu")
print(act.expr)

# %%
# The program derives the expected sparsity (eq. 12), the slope of the variance map
# :math:`V'(q)` (eq. 13) and :math:`\chi_1` (eq. 11) from that definition, and prints them
# in the paper's notation. Drawn here with Matplotlib's mathtext:
names = ["sparsity", "dvariance", "chi1"]
fig, ax = plt.subplots(figsize=(6.4, 1.6))
ax.set_axis_off()
for i, name in enumerate(names):
    ax.text(0.0, 1 - i / len(names), f"${latex_equation(act, name)}$", fontsize=11,
            va="top", transform=ax.transAxes)

# %%
# The variance map itself is longer; its LaTeX source, as ``latex`` prints it:
print(latex_equation(act, "variance"))

# %%
# Initialise on the Edge of Chaos
# -------------------------------
# The one setting resolver turns (activation, sparsity, target slope :math:`V'(q^*)`) into
# :math:`\tau`, :math:`m`, :math:`\sigma_w^2` and :math:`\sigma_b^2` with
# :math:`\chi_1(q^*) = 1` and :math:`V(q^*) = q^*` at :math:`q^* = 1`:
st = eoc.resolve_setting("crelu", sparsity=0.85, target_slope=0.7)
print(f"tau = {st.tau:.5f}, m = {st.m:.5f}")
print(f"sigma_w^2 = {st.sigma_w2:.6f}, sigma_b^2 = {st.sigma_b2:.6f}")
print(f"s = {st.sparsity:.3f}, chi_1 = {st.chi1:.3f}, V'(q*) = {st.variance_slope:.3f}, "
      f"V''(q*) = {st.variance_curvature:.4f}")

# %%
# The variance map and its fixed points
# -------------------------------------
# :math:`q^*` should be the only fixed point nearby, and attract from both sides
# (:math:`V'(q^*) < 1`). Every fixed point is verified in mpmath:
fps = eoc.fixed_points(act, st.sigma_w2, st.sigma_b2, **st.params)
for fp in fps:
    print(f"q = {fp.q:.6g}: V'(q) = {fp.V_prime:.3f} ({fp.kind}), {fp.digits:.0f} digits")

q = np.linspace(0.01, 3, 300)
fig, ax = plt.subplots(figsize=(5, 4))
ax.plot(q, eoc.variance_map(act, q, st.sigma_w2, st.sigma_b2, **st.params),
        label="$V(q)$, CReLU, $s = 0.85$, $V'(q^*) = 0.7$")
ax.plot(q, q, "k--", lw=1, label="identity")
ax.plot([fp.q for fp in fps], [fp.q for fp in fps], "o", color="C3", label="fixed point")
ax.set_xlabel("$q$")
ax.set_ylabel("$V(q)$")
ax.legend(loc="upper left")
fig.tight_layout()

# %%
# The verdict
# -----------
# At infinite width the verdict follows the paper's Sec. 3.1 analysis:
report = eoc.assess(act, **st.params)
print(report.verdict)
for reason in report.reasons:
    print(" -", reason)

# %%
# At the width and depth you will train, the finite-width predictor gives the probability
# that the sparsity or :math:`\chi_1` drifts along depth, or that the gradients explode or
# vanish; ``check`` calls a setting stable when this risk is at most 0.05:
from eoctheory.theory.finite_width import predict

pred = predict(act, sparsity=0.85, target_slope=0.7, width=300, depth=100)
print(f"predicted risk {pred.risk:.3g} (drift {pred.drift_probability:.2g}, "
      f"explosion {pred.explosion_probability:.2g}, vanishing {pred.vanishing_probability:.2g})")
