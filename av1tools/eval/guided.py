"""Decision files for av1tools' patched libaom, and the counters it writes.

The patch (third_party/libaom/patches/) reads ``AV1TOOLS_PARTITION_MAP``: per coded frame
(source timestamp = display index, hidden flag) and square block (mi_row, mi_col, size),
a bit mask of the partition types the RD search may try. One bit replaces the search with
that type; several prune it to those; blocks not listed are searched as usual, and at
blocks crossing the frame edge the mask is narrowed to what the edge allows.
``AV1TOOLS_PARTITION_STATS`` receives one line per coded frame counting the search work:
nodes visited, (node, type) evaluations, RD mode searches.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from av1tools.eval.config import OperatingPoint
from av1tools.extract.inspect import FrameGrid
from av1tools.partition import MI_SIZE, MIN_NODE_SIZE, Partition, frame_nodes
from av1tools.paths import atomic_output

MAP_HEADER = "av1tools-partition-map 1\n"
MAP_ENV = "AV1TOOLS_PARTITION_MAP"
STATS_ENV = "AV1TOOLS_PARTITION_STATS"


@dataclass(frozen=True)
class MapEntry:
    display_index: int  # the source frame's timestamp
    x: int
    y: int
    size: int
    mask: int  # bit p: partition type p allowed
    hidden: bool = False
    guided: bool = True  # False: the node keeps libaom's normal search (not written to the map)


def write_partition_map(path: Path, entries: Iterable[MapEntry]) -> int:
    """Write a decision file atomically; returns the number of blocks it constrains."""
    n = 0
    with atomic_output(path) as tmp, open(tmp, "w") as f:
        f.write(MAP_HEADER)
        for e in entries:
            if not e.guided:
                continue
            if not 0 < e.mask < 1 << 10:
                raise ValueError(f"partition mask {e.mask} out of range at {e}")
            f.write(f"{e.display_index} {int(e.hidden)} {e.y // MI_SIZE} {e.x // MI_SIZE} {e.size} {e.mask}\n")
            n += 1
    return n


def oracle_entries(grids: Iterable[FrameGrid], sb_size: int) -> list[MapEntry]:
    """A baseline encode's own partitions, one forced type per node of every shown frame
    (hidden frames keep the normal search: their source index is not in the bitstream)."""
    return [
        MapEntry(g.display_index, n.x, n.y, n.size, 1 << int(n.partition))
        for g in grids
        if g.show_frame
        for n in frame_nodes(g.block_size, sb_size)
    ]


SPLIT_BIT = 1 << Partition.SPLIT


def allowed_sets(probs: np.ndarray, decision: np.ndarray, point: OperatingPoint) -> tuple[np.ndarray, np.ndarray]:
    """Per node, the bit mask of types the encoder may try and whether the node is guided
    at all (False: libaom's normal search). ``probs`` (N, 10) are over allowed types only
    (zero elsewhere); ``decision`` (N,) comes first and is always in the set, the rest by
    probability. Types of probability 0 never enter."""
    n = len(probs)
    first = np.where(np.arange(probs.shape[1])[None, :] == decision[:, None].astype(np.int64), np.inf, probs)
    order = np.argsort(-first, axis=1, kind="stable")  # the decision first, then by probability
    ranked = np.take_along_axis(probs, order, axis=1)
    rank = np.arange(probs.shape[1])[None, :]
    if point.threshold is not None:
        chosen = (ranked >= point.threshold) | (rank == 0)
    elif point.coverage is not None:
        needed = (np.cumsum(ranked, axis=1) < point.coverage - 1e-9).sum(axis=1) + 1
        chosen = rank < needed[:, None]
    else:
        chosen = rank < (point.top_k or 1)
    chosen = chosen & ((ranked > 0) | (rank == 0))
    bits = np.where(chosen, np.left_shift(1, order), 0).sum(axis=1)
    guided = np.ones(n, bool)
    if point.coverage is not None:
        guided = np.bitwise_count(bits.astype(np.uint16)) <= point.max_types
    return bits.astype(np.int64), guided


def descends(probs: np.ndarray, decision: np.ndarray, point: OperatingPoint) -> np.ndarray:
    """Which nodes the guided encoder looks below: those whose set holds SPLIT, and those
    left to the normal search (which may split them)."""
    bits, guided = allowed_sets(probs, decision, point)
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

    def __len__(self) -> int:
        return len(self.x)

    def __iter__(self):
        for d, x, y, s, m, g in zip(self.display_index, self.x, self.y, self.size, self.mask, self.guided):
            yield MapEntry(int(d), int(x), int(y), int(s), int(m), guided=bool(g))

    @staticmethod
    def concat(tables: list[MapTable]) -> MapTable:
        return MapTable(
            *(
                np.concatenate([getattr(t, f) for t in tables]) if tables else np.zeros(0, np.int64)
                for f in ("display_index", "x", "y", "size", "mask", "guided")
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
        bits, guided = allowed_sets(p.probs, p.decision, point)
        keep = _reached(p, (bits & SPLIT_BIT).astype(bool) | ~guided, sb_size)
        tables.append(
            MapTable(
                np.full(int(keep.sum()), p.display_index, np.int64),
                p.x[keep].astype(np.int64),
                p.y[keep].astype(np.int64),
                p.size[keep].astype(np.int64),
                bits[keep],
                guided[keep],
            )
        )
    return MapTable.concat(tables)


STAT_SIZES = (128, 64, 32, 16, 8, 4)  # the patch's node-size order


@dataclass(frozen=True)
class FrameCounters:
    """One coded frame's line from AV1TOOLS_PARTITION_STATS (docs/guided.md)."""

    display_index: int  # source timestamp
    show_frame: bool
    frame_type: int
    nodes: int  # partition-search nodes visited
    partition_evals: int  # (node, partition type) pairs evaluated
    mode_searches: int  # RD mode searches of a block that ran (reused results not counted)
    mode_pixels: int  # luma pixels those mode searches covered
    frame_ns: int  # the frame's encode time
    node_count: np.ndarray  # (6,) per node size (STAT_SIZES): nodes searched
    node_ns: np.ndarray  # (6,) their time, sub-blocks included
    type_count: np.ndarray  # (6, 10) per node size and type: evaluations
    type_ns: np.ndarray  # (6, 10) their own time (a SPLIT's excludes its sub-blocks' searches)
    network_ns: int = 0  # AV1TOOLS_MODEL: the network's CPU time in this frame (older lines: 0)
    network_calls: int = 0  # and its forward passes (one per superblock searched)


def read_stats(path: Path) -> list[FrameCounters]:
    out = []
    for line in Path(path).read_text().splitlines():
        if not line.strip():
            continue
        v = np.array([int(x) for x in line.split()], dtype=np.int64)
        sizes = v[8:20].reshape(6, 2)
        types = v[20:140].reshape(6, 10, 2)
        network = v[140:142] if len(v) >= 142 else (0, 0)  # appended by the native-model patch
        out.append(
            FrameCounters(
                int(v[0]),
                bool(v[1]),
                int(v[2]),
                *map(int, v[3:8]),
                sizes[:, 0],
                sizes[:, 1],
                types[..., 0],
                types[..., 1],
                int(network[0]),
                int(network[1]),
            )
        )
    return out


def counter_totals(counters: list[FrameCounters]) -> dict[str, int]:
    return {
        name: sum(getattr(c, name) for c in counters)
        for name in ("nodes", "partition_evals", "mode_searches", "mode_pixels", "frame_ns")
    }


def guided_env(map_path: Path | None, stats_path: Path | None) -> dict[str, str]:
    env = dict(os.environ)
    env.pop(MAP_ENV, None)
    env.pop(STATS_ENV, None)
    if map_path is not None:
        env[MAP_ENV] = str(map_path)
    if stats_path is not None:
        env[STATS_ENV] = str(stats_path)
    return env
