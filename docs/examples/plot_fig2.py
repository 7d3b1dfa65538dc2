"""
The paper's Figure 2: ReLU_tau and ST_tau on the Edge of Chaos
==============================================================

On the Edge of Chaos at :math:`q^* = 1` the variance maps :math:`V(q)` of ReLU\\ :sub:`τ` and
ST\\ :sub:`τ` coincide for every threshold :math:`\\tau`; for :math:`\\tau > 0` each touches
the identity at :math:`q^*` with slope :math:`V'(q^*) = 1` and curves away above it, so
:math:`q^*` attracts from below only: the paper's reason why these sparse activations fail
to train at depth.

:func:`eoctheory.figures.make` builds every figure of the paper from the public API;
``python -m eoctheory.figures fig2`` writes the same figure to ``figures/fig2.png``.
"""

from eoctheory.figures import REGISTRY, make

print(REGISTRY["fig2"][1])
fig = make("fig2")

# %%
# The slope at the fixed point, from the derived map (no closed form typed by hand):
import eoctheory as eoc

for tau in (0.5, 1.0):
    pt = eoc.eoc_point("relu", 1.0, tau=tau)
    print(f"tau = {tau}: sigma_w^2 = {float(pt.sigma_w2):.4f}, "
          f"V'(q*) = {float(eoc.variance_slope('relu', 1.0, pt.sigma_w2, tau=tau)):.6f}")
