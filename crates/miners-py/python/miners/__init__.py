"""miners from Python: encoders from a catalog or a model directory, exact
k-nearest-neighbour search and DistFuse, computed by the Rust workspace.

The native module links the libtorch of the installed ``torch`` package
(built with ``LIBTORCH_USE_PYTORCH=1``), so ``torch`` is imported first and
its version checked.
"""

import torch as _torch

SUPPORTED_TORCH = "2.11"

if not _torch.__version__.startswith(SUPPORTED_TORCH + "."):
    raise ImportError(
        f"miners links libtorch {SUPPORTED_TORCH}; the installed torch is {_torch.__version__}: "
        f"install torch {SUPPORTED_TORCH}.* (pip install 'torch=={SUPPORTED_TORCH}.*')"
    )

from ._miners import DistFuse, Encoder, Models, search  # noqa: E402

__all__ = ["DistFuse", "Encoder", "Models", "search", "SUPPORTED_TORCH"]
