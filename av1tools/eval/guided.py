"""Decision maps for the patched encoder (``av1tools.encoder`` holds the file format): a
baseline's own partitions (the oracle), and a model's predictions at an operating point."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from av1tools.encoder import SPLIT_BIT, MapEntry
from av1tools.eval.config import OperatingPoint
from av1tools.extract.inspect import FrameGrid
from av1tools.partition import MIN_NODE_SIZE, frame_nodes


def oracle_entries(grids: Iterable[FrameGrid], sb_size: int) -> list[MapEntry]:
    """A baseline encode's own partitions, one forced type per node of every coded frame,
    hidden alt-refs included: each keyed, as the encoder looks it up, by the display index
    it stands for (``inspect_bitstream`` derives a hidden frame's from the order hints; the
    encoder's frame records give the same) and its hidden flag. A frame whose display index
    is unknown (-1) keeps the normal search."""
    grids = list(grids)
    _check_unique_frames(grids)
    return [
        MapEntry(g.display_index, n.x, n.y, n.size, 1 << int(n.partition), hidden=not g.show_frame)
        for g in grids
        if g.display_index >= 0
        for n in frame_nodes(g.block_size, sb_size)
    ]


def _check_unique_frames(grids: list[FrameGrid]) -> None:
    """The map names a frame by (display index, hidden): two coded frames with one name
    would get each other's partitions."""
    seen: dict[tuple[int, bool], int] = {}
    for g in grids:
        key = (g.display_index, not g.show_frame)
        if g.display_index >= 0 and key in seen:
            raise ValueError(
                f"coded frames {seen[key]} and {g.decode_index} are both "
                f"{'hidden' if key[1] else 'shown'} at display index {key[0]}: a map cannot tell them apart"
            )
        seen[key] = g.decode_index


def allowed_sets(
    probs: np.ndarray, decision: np.ndarray, point: OperatingPoint, size: np.ndarray | int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Per node, the bit mask of types the encoder may try and whether the node is guided
    at all (False: libaom's normal search). ``probs`` (N, 10) are over allowed types only
    (zero elsewhere); ``decision`` (N,) comes first and is always in the set, the rest by
    probability. Types of probability 0 never enter. ``size``: the nodes' sizes (one for
    all, or (N,)), needed by a point with a coverage by node size."""
    n = len(probs)
    first = np.where(np.arange(probs.shape[1])[None, :] == decision[:, None].astype(np.int64), np.inf, probs)
    order = np.argsort(-first, axis=1, kind="stable")  # the decision first, then by probability
    ranked = np.take_along_axis(probs, order, axis=1)
    rank = np.arange(probs.shape[1])[None, :]
    if point.threshold is not None:
        chosen = (ranked >= point.threshold) | (rank == 0)
    elif point.coverage is not None:
        needed = (np.cumsum(ranked, axis=1) < _coverage_bound(point, size, n, ranked.dtype)[:, None]).sum(axis=1) + 1
        chosen = rank < needed[:, None]
    else:
        chosen = rank < (point.top_k or 1)
    chosen = chosen & ((ranked > 0) | (rank == 0))
    bits = np.where(chosen, np.left_shift(1, order), 0).sum(axis=1)
    guided = np.ones(n, bool)
    if point.coverage is not None:
        guided = np.bitwise_count(bits.astype(np.uint16)) <= point.max_types
    return bits.astype(np.int64), guided


def _coverage_bound(point: OperatingPoint, size: np.ndarray | int | None, n: int, dtype) -> np.ndarray:
    """(N,) the running sum each node's set must reach, in the probabilities' dtype: numpy
    compares float32 arrays with a Python float in float32 (NEP 50), and so does the
    encoder, so a bound by node size is rounded the same way."""
    bound = np.full(n, point.coverage - 1e-9)
    if point.size_coverage:
        if size is None:
            raise ValueError("a coverage by node size needs the nodes' sizes")
        sizes = np.broadcast_to(np.asarray(size), (n,))
        for s, value in point.size_coverage:
            bound[sizes == s] = value - 1e-9
    return bound.astype(dtype)


def descends(probs: np.ndarray, decision: np.ndarray, point: OperatingPoint, size: int | None = None) -> np.ndarray:
    """Which nodes the guided encoder looks below: those whose set holds SPLIT, and those
    left to the normal search (which may split them)."""
    bits, guided = allowed_sets(probs, decision, point, size)
    return (bits & SPLIT_BIT).astype(bool) | ~guided


@dataclass(frozen=True)
class MapTable:
    """A decision map as columns (one row per node the guided encoder reaches): what a model
    produces, without a Python object per node. Iterating yields MapEntry rows."""

    display_index: np.ndarray
    x: np.ndarray
    y: np.ndarray
    size: np.ndarray
    mask: np.ndarray
    guided: np.ndarray
    hidden: np.ndarray  # the node's frame is a hidden alt-ref

    def __len__(self) -> int:
        return len(self.x)

    def __iter__(self):
        columns = (self.display_index, self.x, self.y, self.size, self.mask, self.guided, self.hidden)
        for d, x, y, s, m, g, h in zip(*columns):
            yield MapEntry(int(d), int(x), int(y), int(s), int(m), hidden=bool(h), guided=bool(g))

    @staticmethod
    def concat(tables: list[MapTable]) -> MapTable:
        return MapTable(
            *(
                np.concatenate([getattr(t, f) for t in tables]) if tables else np.zeros(0, np.int64)
                for f in ("display_index", "x", "y", "size", "mask", "guided", "hidden")
            )
        )


def _reached(p, descend: np.ndarray, sb_size: int) -> np.ndarray:
    """Which of a frame's predicted nodes the guided encoder reaches: the superblocks, and
    nodes whose parent it reaches and looks below (vectorised, level by level)."""
    x, y, size = p.x.astype(np.int64), p.y.astype(np.int64), p.size.astype(np.int64)
    key = (size << 40) | (y << 20) | x
    order = np.argsort(key)
    reached = size == sb_size
    s = sb_size
    while s > MIN_NODE_SIZE:
        child = np.flatnonzero(size == s // 2)
        if len(child):
            px, py = x[child] - x[child] % s, y[child] - y[child] % s
            pkey = (np.int64(s) << 40) | (py << 20) | px
            pos = np.searchsorted(key[order], pkey)
            pos = np.minimum(pos, len(order) - 1)
            parent = order[pos]
            found = key[parent] == pkey
            reached[child] = found & reached[parent] & descend[parent]
        s //= 2
    return reached


def prediction_entries(frames: Iterable, sb_size: int, point: OperatingPoint) -> MapTable:
    """The decision map of ``point`` for the nodes the guided encoder will reach:
    superblocks, then the children of nodes it looks below (those whose set holds SPLIT,
    or left to the normal search). ``frames``: FramePrediction objects whose walk visited at
    least those nodes."""
    tables = []
    for p in frames:
        bits, guided = allowed_sets(p.probs, p.decision, point, p.size)
        keep = _reached(p, (bits & SPLIT_BIT).astype(bool) | ~guided, sb_size)
        tables.append(
            MapTable(
                np.full(int(keep.sum()), p.display_index, np.int64),
                p.x[keep].astype(np.int64),
                p.y[keep].astype(np.int64),
                p.size[keep].astype(np.int64),
                bits[keep],
                guided[keep],
                np.full(int(keep.sum()), p.hidden),
            )
        )
    return MapTable.concat(tables)
