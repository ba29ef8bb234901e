"""The one interface evaluation sees: a trained model of any family, ready to predict.

A ``Predictor`` gives, for a frame's luma, every node its walk reaches with the ten types'
probabilities and a decision (``FramePrediction``), and for the nodes of an open dataset
the stage-hierarchy probabilities and decisions (``evaluate``). Loading one by name or run
directory goes through ``av1tools.model.families.load_predictor``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from av1tools.model.config import WALKS
from av1tools.partition import Partition

# Which nodes a walk looks below, from their (N, 10) probabilities and (N,) decisions.
Expand = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass
class FramePrediction:
    """The nodes of one frame a walk reached, as columns."""

    display_index: int
    x: np.ndarray
    y: np.ndarray
    size: np.ndarray
    probs: np.ndarray  # (N, 10), zero where a node cannot take a type
    decision: np.ndarray  # (N,) uint8
    seconds: float = 0.0


class Predictor(Protocol):
    kind: str  # the family's name
    decision: str  # "greedy" or "product"
    device: Any  # torch.device

    def predict_frame(
        self,
        luma: np.ndarray,
        max_value: float,
        qindex: int,
        sb_size: int = 64,
        walk: str | Expand = "split",
        display_index: int = 0,
    ) -> FramePrediction: ...

    def file_node_predictions(self, ds: Any, rows: dict[int, np.ndarray]) -> dict[int, tuple[dict, np.ndarray]]:
        """Per node size, (stage probabilities, decisions) of the rows ``rows`` of an open dataset."""
        ...


def expander(walk: str | Expand) -> Expand:
    """The tree walk: "split" descends below predicted SPLITs, "all" below every node, or a
    function of (probs, decisions) says below which nodes."""
    if callable(walk):
        return walk
    if walk == "all":
        return lambda probs, decision: np.ones(len(decision), bool)
    if walk == "split":
        return lambda probs, decision: decision == Partition.SPLIT
    raise ValueError(f"walk must be one of {WALKS} or a function")
