"""The variance heuristic's settings (no torch): how finely a node's luma variance and its
qindex are binned into the table of partition-type frequencies."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import ClassVar

CHECKPOINT = "variance.json"  # a variance-heuristic run directory holds this file


@dataclass(frozen=True)
class VarianceConfig:
    """A texture heuristic: P(type | node size, qindex bin, log-variance bin), counted on
    training data. One feature per node (its luma variance), no learning beyond counting."""

    CHOICES: ClassVar[dict] = {}

    variance_bins: int = 24  # log2 variance of 8-bit-scale luma, 0 .. 2**(bins/2): half-octave bins
    qindex_bins: int = 8  # qindex 0..255 in equal bins
    prior: float = 1.0  # added to every allowed type's count (Laplace smoothing)

    def to_dict(self) -> dict:
        return asdict(self)
