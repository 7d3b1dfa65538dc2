"""The theory built on the engine: tau <-> sparsity and the Edge of Chaos
(:mod:`~eoctheory.theory.eoc`), fixed points, bifurcations and the verdict
(:mod:`~eoctheory.theory.stability`), the correlation map
(:mod:`~eoctheory.theory.correlation`) and the finite-width predictor
(:mod:`~eoctheory.theory.finite_width`). Imports only :mod:`eoctheory.engine`.
"""
