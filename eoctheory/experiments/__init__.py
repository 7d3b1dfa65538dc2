"""Experiments: data loaders (:mod:`~eoctheory.experiments.data`), training of the paper's
networks with the torch backend (:mod:`~eoctheory.experiments.train`) and sweeps over
settings (:mod:`~eoctheory.experiments.sweep`). Importing this package imports no torch.
"""
