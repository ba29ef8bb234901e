"""The one interface evaluation sees: a trained model of any family, ready to predict.

A ``Predictor`` gives, for a frame's luma, every node its walk reaches with the ten types'
probabilities and a decision (``FramePrediction``), and for the nodes of an open dataset
the stage-hierarchy probabilities and decisions (``evaluate``). Loading one by name or run
directory goes through ``av1tools.model.families.load_predictor``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from av1tools.extract.dataset import node_pixels
from av1tools.model.config import WALKS
from av1tools.partition import MI_SIZE, MIN_NODE_SIZE, Partition, allowed_mask, edge_allowed, mi_grid_shape

# Which nodes of one size a walk looks below, from their (N, 10) probabilities, (N,)
# decisions and the size.
Expand = Callable[[np.ndarray, np.ndarray, int], np.ndarray]


@dataclass
class FramePrediction:
    """The nodes of one coded frame a walk reached, as columns."""

    display_index: int
    x: np.ndarray
    y: np.ndarray
    size: np.ndarray
    probs: np.ndarray  # (N, 10), zero where a node cannot take a type
    decision: np.ndarray  # (N,) uint8
    seconds: float = 0.0
    hidden: bool = False  # an alt-ref coded but not shown (its display index: the frame it stands for)


@dataclass(frozen=True)
class FrameContext:
    """What a model that sees motion reads of a coded frame beyond its own luma (the others
    ignore it): its nearest past and future references' pictures, and its place in the group."""

    references: tuple[np.ndarray, ...] = ()
    pyramid_level: int = 0
    hidden: bool = False
    inter: bool = False


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
        context: FrameContext | None = None,
    ) -> FramePrediction: ...

    def file_node_predictions(self, ds: Any, rows: dict[int, np.ndarray]) -> dict[int, tuple[dict, np.ndarray]]:
        """Per node size, (stage probabilities, decisions) of the rows ``rows`` of an open dataset."""
        ...


def nearest_references(display: int, hidden: bool, refs: Sequence[int], count: int) -> list[int]:
    """The display indices of a coded frame's nearest past and (with ``count`` 2) future
    reference among its ``refs`` (-1: none). An overlay's reference to the alt-ref it shows
    (same display index) counts as past; a hidden frame never references itself."""
    past = [r for r in refs if 0 <= r <= display and not (hidden and r == display)]
    future = [r for r in refs if r > display]
    out = [max(past, default=-1), min(future, default=-1)]
    return out[:count]


def expander(walk: str | Expand) -> Expand:
    """The tree walk: "split" descends below predicted SPLITs, "all" below every node, or a
    function of (probs, decisions, node size) says below which nodes."""
    if callable(walk):
        return walk
    if walk == "all":
        return lambda probs, decision, size: np.ones(len(decision), bool)
    if walk == "split":
        return lambda probs, decision, size: decision == Partition.SPLIT
    raise ValueError(f"walk must be one of {WALKS} or a function")


# Probabilities (N, 10) and decisions (N,) of one tree level's nodes, from their pixels in
# [0, 1] (N, S, S), their size and the types each may take (N, 10) booleans.
LevelPredict = Callable[[np.ndarray, int, np.ndarray], tuple[np.ndarray, np.ndarray]]


def level_allowed(xs: np.ndarray, ys: np.ndarray, size: int, mi_rows: int, mi_cols: int) -> np.ndarray:
    """(N, 10) booleans: the types nodes of ``size`` at (xs, ys) may take (narrowed at the edge)."""
    allowed = np.tile(allowed_mask(size), (len(xs), 1))
    for i, (x, y) in enumerate(zip(xs, ys)):
        edge = edge_allowed(int(x), int(y), size, mi_rows, mi_cols)
        if edge is not None:
            allowed[i] = False
            allowed[i, list(edge)] = True
    return allowed


def walk_frame(
    luma: np.ndarray,
    max_value: float,
    sb_size: int,
    predict_level: LevelPredict,
    expand: Expand,
    display_index: int = 0,
    hidden: bool = False,
) -> FramePrediction:
    """The tree walk of a model that predicts node by node: from the superblocks down, each
    level's nodes as one batch, below the nodes ``expand`` says."""
    start = time.perf_counter()
    h, w = luma.shape
    mi_rows, mi_cols = mi_grid_shape(w, h)
    xs, ys = np.meshgrid(np.arange(0, mi_cols * MI_SIZE, sb_size), np.arange(0, mi_rows * MI_SIZE, sb_size))
    level_x, level_y = xs.ravel(), ys.ravel()
    size = sb_size
    parts: list[tuple[np.ndarray, ...]] = []
    while size >= MIN_NODE_SIZE and len(level_x):
        pixels = node_pixels(luma, level_x, level_y, size).astype(np.float32) / max_value
        probs, decision = predict_level(pixels, size, level_allowed(level_x, level_y, size, mi_rows, mi_cols))
        parts.append((level_x, level_y, np.full(len(level_x), size), probs, decision))
        go = expand(probs, decision, size)
        half = size // 2
        cx = np.concatenate([level_x[go] + dx for dy in (0, half) for dx in (0, half)])
        cy = np.concatenate([level_y[go] + dy for dy in (0, half) for dx in (0, half)])
        inside = (cx // MI_SIZE < mi_cols) & (cy // MI_SIZE < mi_rows)
        level_x, level_y, size = cx[inside], cy[inside], half
    cols = [np.concatenate(c) for c in zip(*parts)]
    return FramePrediction(*(display_index, *cols), time.perf_counter() - start, hidden)
