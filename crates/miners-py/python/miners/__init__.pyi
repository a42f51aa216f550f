"""Type stubs of the `miners` package.

Long calls (``encode`` and the task functions) run with the GIL released,
draw miners' progress bars on stderr when it is a terminal, and stop on
Ctrl-C between batches, raising ``KeyboardInterrupt``: records of finished
cells and cached vectors are kept, so a sweep resumes where it stopped."""

from os import PathLike
from typing import Any, Dict, List, Literal, Optional, Sequence, Tuple, Union

import numpy as np
import numpy.typing as npt

SUPPORTED_TORCH: str

Role = Literal["query", "passage"]
MetricName = Literal["euclidean", "cosine", "dot", "manhattan"]

class Models:
    """A catalog of models (``models.toml``) and the device they run on."""

    def __init__(self, catalog: Optional[str | PathLike[str]] = None, device: str = "cpu") -> None:
        """Opens ``catalog`` (a ``models.toml``), or none: encoders are then
        model directories or ``hf:`` ids. Raises ``FileNotFoundError`` for a
        missing catalog, ``ValueError`` for a malformed one or a bad device."""
    def encoder(self, reference: str) -> Encoder:
        """The encoder a catalog id, a model directory or an ``hf:`` id names.
        Raises ``FileNotFoundError`` when it names nothing, ``ValueError``
        when it cannot be loaded."""

class Encoder:
    """One sentence encoder."""

    @property
    def id(self) -> str:
        """The encoder's id."""
    @property
    def dim(self) -> int:
        """The vectors' width."""
    def encode(self, texts: Sequence[str], role: Role = "query") -> npt.NDArray[np.float32]:
        """Vectors ``[len(texts), dim]`` with the model's prompt for ``role``,
        exactly as sentence-transformers encodes the same directory (within
        1e-6). Ctrl-C stops between batches (``KeyboardInterrupt``)."""

def search(
    queries: npt.NDArray[np.float32],
    pool: npt.NDArray[np.float32],
    k: int,
    metric: MetricName = "euclidean",
) -> Tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    """The ``k`` nearest rows of ``pool`` for each row of ``queries``, best
    first: indices and scores ``[len(queries), k]`` (distances for euclidean
    and manhattan). Exact; ties go to the lower index. Raises ``ValueError``
    for mismatched widths, non-finite values or ``k`` outside ``1..=len(pool)``."""

class DistFuse:
    """Several encoders' scores of text pairs, weighted and summed: the
    ``distfuse`` package's API."""

    def __init__(
        self,
        members: Sequence[Encoder],
        weights: Optional[Sequence[float]] = None,
        dist_measure: Literal["euclidean", "cosine", "manhattan"] = "euclidean",
        instructions: Optional[Sequence[Optional[str]]] = None,
        first_weight: Literal["weighted", "ignored"] = "weighted",
    ) -> None:
        """``weights``: one per member (default 1); ``instructions``: one per
        member, applied as ``Instruct: {task}\\nQuery: {text}``;
        ``first_weight="ignored"`` adds the first member unweighted, as the
        ``distfuse`` package does (the default weighs every member, as the
        MINERS scripts do)."""
    def score_pairs(self, texts1: Sequence[str], texts2: Sequence[str]) -> npt.NDArray[np.float64]:
        """Fused scores ``[len(texts1), len(texts2)]``."""
    def score_references(
        self, predictions: Sequence[str], references: Sequence[Sequence[str]]
    ) -> npt.NDArray[np.float64]:
        """Each prediction's fused score against its best reference."""

Record = Dict[str, Any]
PathLike_ = Union[str, PathLike[str]]

def bitext(
    dataset: str,
    model: Union[str, Sequence[str]],
    *,
    models: Optional[Models] = None,
    weights: Optional[Sequence[float]] = None,
    metric: MetricName = "euclidean",
    k: Sequence[int] = (1, 5, 10),
    limit: Optional[int] = None,
    data_dir: Optional[PathLike_] = None,
) -> List[Record]:
    """Bitext retrieval; one record (as the CLI writes it) per language pair and k."""

def classify(
    dataset: str,
    model: Union[str, Sequence[str]],
    *,
    models: Optional[Models] = None,
    weights: Optional[Sequence[float]] = None,
    metric: MetricName = "euclidean",
    k: Sequence[int] = (1, 5, 10),
    cross: bool = False,
    limit: Optional[int] = None,
    data_dir: Optional[PathLike_] = None,
) -> List[Record]:
    """Retrieval-based classification; one record per test language and k."""

def icl(
    dataset: str,
    retriever: Union[str, Sequence[str]],
    generator: str,
    *,
    models: Optional[Models] = None,
    k: Sequence[int] = (0, 1),
    cross: bool = False,
    limit: Optional[int] = None,
    data_dir: Optional[PathLike_] = None,
) -> List[Record]:
    """In-context learning; one record per test language and k, with the
    per-example predictions."""

def sweep(
    spec: PathLike_, out: PathLike_, *, models: Optional[Models] = None, data_dir: Optional[PathLike_] = None
) -> Tuple[int, int, List[str]]:
    """Runs a sweep spec into ``out`` (resuming); jobs run, skipped and failed.
    Ctrl-C stops it between batches; calling it again resumes."""
