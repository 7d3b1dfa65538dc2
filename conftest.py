"""pytest at the repository root: modules `--doctest-modules` must not import without torch."""

import importlib.util

collect_ignore = [] if importlib.util.find_spec("torch") else [
    "eoctheory/nets/torch.py", "eoctheory/nets/torch_kernels.py"]
