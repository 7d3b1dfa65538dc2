"""
Your own activation
===================

Write an activation as text; every feature of the built-in ones follows with no new code.
Here a clipped ramp of slope 2, with the threshold ``tau`` and the clipping height ``m`` as
parameters (the sparsity sets ``tau``, the target slope :math:`V'(q^*)` sets ``m``). The text
is read by a whitelisting parser, never evaluated as Python. On the command line the same
expression goes to ``--expr``::

    python -m eoctheory check custom --expr "Piecewise(...)" --sparsity 0.8 --target-slope 0.6
"""

import eoctheory as eoc
from eoctheory.figures import activation_figure

text = "Piecewise((0, x < tau), (2*(x - tau), x < tau + m), (2*m, True))"
ramp = eoc.Activation.from_string(text, name="ramp")
print(ramp)

# %%
# The Edge-of-Chaos setting at 80% sparsity with :math:`V'(q^*) = 0.6`, and the closed form
# of :math:`V'(q)` that SymPy derived:
st = eoc.resolve_setting(ramp, sparsity=0.8, target_slope=0.6)
print(f"tau = {st.tau:.5f}, m = {st.m:.5f}, sigma_w^2 = {st.sigma_w2:.5f}, "
      f"sigma_b^2 = {st.sigma_b2:.5f}")
print(eoc.latex.latex_quantity(ramp, "dvariance"))

# %%
# The figure the paper draws for its own activations, for this one:
fig = activation_figure(ramp, sparsity=0.8, target_slope=0.6)
