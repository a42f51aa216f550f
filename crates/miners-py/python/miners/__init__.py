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

from . import _miners  # noqa: E402
from ._miners import DistFuse, Encoder, Models, search  # noqa: E402

__all__ = [
    "DistFuse", "Encoder", "Models", "search", "bitext", "classify", "icl", "sweep", "SUPPORTED_TORCH",
]


def _names(model):
    return [model] if isinstance(model, str) else list(model)


def bitext(dataset, model, *, models=None, **options):
    """Bitext retrieval of ``dataset`` by ``model`` (a reference, or several
    for a DistFuse with ``weights``); the records as dicts, one per language
    pair and k. Options: ``weights``, ``metric``, ``k``, ``limit``, ``data_dir``."""
    return _miners.bitext(models or Models(), dataset, _names(model), **options)


def classify(dataset, model, *, models=None, **options):
    """Retrieval-based classification of ``dataset``: the k nearest labelled
    texts vote; the records as dicts, one per language and k. Options:
    ``weights``, ``metric``, ``k``, ``cross``, ``limit``, ``data_dir``."""
    return _miners.classify(models or Models(), dataset, _names(model), **options)


def icl(dataset, retriever, generator, *, models=None, **options):
    """In-context learning on ``dataset``: ``retriever`` picks demonstrations,
    ``generator`` answers; the records as dicts (with per-example outputs).
    Options: ``k``, ``cross``, ``limit``, ``data_dir``."""
    return _miners.icl(models or Models(), dataset, _names(retriever), generator, **options)


def sweep(spec, out, *, models=None, data_dir=None):
    """Runs the sweep ``spec`` (a ``sweep.toml``) into ``out``, resuming what
    is there; returns ``(jobs run, jobs skipped, jobs failed)``."""
    return _miners.sweep(models or Models(), spec, out, data_dir=data_dir)
