"""The variance heuristic at prediction time: each node's type probabilities from its
luma variance and the frame's qindex, by table lookup, on the same tree walk and
operating points as the learned models."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from av1tools.model.config import AGREEMENT_DECISION, DECISIONS
from av1tools.model.hierarchy import greedy_decision, stage_probs_from_types
from av1tools.model.predictor import Expand, FramePrediction, expander, walk_frame
from av1tools.model.variance.table import SIZES, VarianceTable, block_variance
from av1tools.partition import allowed_mask


class VariancePredictor:
    """A ``Predictor`` from a fitted variance table (no network, no device)."""

    kind = "variance"

    def __init__(self, run_dir: str | os.PathLike, device: str = "cpu", decision: str = AGREEMENT_DECISION):
        if decision not in DECISIONS:
            raise ValueError(f"decision must be one of {DECISIONS}")
        self.run_dir = Path(run_dir)
        self.decision = decision
        self.device = "cpu"  # a table lookup: it runs where the encoder runs
        self.table = VarianceTable.load(self.run_dir)

    def _decide(self, probs: np.ndarray, allowed: np.ndarray) -> np.ndarray:
        if self.decision == "product":
            return probs.argmax(axis=1).astype(np.uint8)
        return greedy_decision(stage_probs_from_types(probs), allowed).astype(np.uint8)

    def predict_nodes(self, pixels: np.ndarray, qindex: np.ndarray, size: int, allowed: np.ndarray):
        """(N, 10) probabilities and (N,) decisions of same-size blocks in [0, 1]."""
        if size not in SIZES:
            raise ValueError(f"the variance table covers nodes of {SIZES}, not {size}")
        probs = self.table.probs(size, block_variance(pixels, 1.0), qindex, allowed)
        return probs, self._decide(probs, allowed)

    def predict_frame(
        self,
        luma: np.ndarray,
        max_value: float,
        qindex: int,
        sb_size: int = 64,
        walk: str | Expand = "split",
        display_index: int = 0,
        context=None,  # a FrameContext: this model reads a frame's own luma only
    ) -> FramePrediction:
        def level(pixels: np.ndarray, size: int, allowed: np.ndarray):
            return self.predict_nodes(pixels, np.full(len(pixels), qindex), size, allowed)

        hidden = bool(getattr(context, "hidden", False))
        return walk_frame(luma, max_value, sb_size, level, expander(walk), display_index, hidden)

    def file_node_predictions(self, ds, rows: dict[int, np.ndarray]) -> dict[int, tuple[dict, np.ndarray]]:
        out = {}
        for size, sel in rows.items():
            pixels = ds.pixels(size)[sel].astype(np.float32) / ds.attrs.max_value
            allowed = np.broadcast_to(allowed_mask(size), (len(sel), len(allowed_mask(size))))
            probs, decision = self.predict_nodes(pixels, ds.column(size, "qindex")[sel], size, allowed)
            out[size] = (stage_probs_from_types(probs), decision)
        return out
