"""
The paper's Figure 4: a clipped activation gains fixed points
=============================================================

At 85% sparsity, CReLU with :math:`V'(q^*) = 0.9` hugs the identity near :math:`q^* = 1`
while CST with the same slope has gained an unstable fixed point near :math:`q^*` and a
stable one far out (filled markers: stable, open: unstable). Every fixed point is found by
:func:`eoctheory.fixed_points` and verified in mpmath at 30 and 45 digits.
"""

import eoctheory as eoc
from eoctheory.figures import make

fig = make("fig4")

# %%
# The fixed points behind the markers:
st = eoc.resolve_setting("cst", sparsity=0.85, target_slope=0.9)
for fp in eoc.fixed_points(st.activation, st.sigma_w2, st.sigma_b2, **st.params):
    print(f"q = {fp.q:.6g}  V'(q) = {fp.V_prime:.4f}  {fp.kind}")
