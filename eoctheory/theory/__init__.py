"""The theory built on the engine: tau <-> sparsity and the Edge of Chaos
(:mod:`~eoctheory.theory.eoc`), the one setting resolver (:mod:`~eoctheory.theory.setting`),
fixed points, bifurcations and the verdict (:mod:`~eoctheory.theory.stability`), the
correlation map (:mod:`~eoctheory.theory.correlation`), the finite-width predictor
(:mod:`~eoctheory.theory.finite_width`), its recommendations
(:mod:`~eoctheory.theory.recommend`) and an exact-in-law sampler to validate it
(:mod:`~eoctheory.theory.finite_width_law`); residual MLPs in
:mod:`~eoctheory.theory.resnet`. Imports only :mod:`eoctheory.engine`.
"""
