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


def write_partition_map(path: Path, entries: Iterable[MapEntry]) -> int:
    """Write a decision file atomically; returns the number of blocks it constrains."""
    n = 0
    with atomic_output(path) as tmp, open(tmp, "w") as f:
        f.write(MAP_HEADER)
        for e in entries:
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


def choose_mask(
    probs: np.ndarray, top_k: int | None = None, threshold: float | None = None, decision: int | None = None
) -> int:
    """The allowed set for one node: its ``decision`` (else the most probable type), plus
    the next most probable types up to ``top_k`` in all, or plus every type with
    probability >= ``threshold``. Types of probability 0 (not allowed) never enter."""
    order = [int(t) for t in np.argsort(-probs, kind="stable")]
    first = order[0] if decision is None else int(decision)
    rest = [t for t in order if t != first and probs[t] > 0]
    if threshold is not None:
        chosen = [first] + [t for t in rest if probs[t] >= threshold]
    else:
        chosen = [first] + rest[: (top_k or 1) - 1]
    return int(sum(1 << t for t in chosen))


def prediction_entries(
    frames: Iterable, sb_size: int, top_k: int | None = None, threshold: float | None = None
) -> list[MapEntry]:
    """Decisions for the nodes the guided encoder will reach: superblocks, and the children
    of nodes whose allowed set holds SPLIT. ``frames``: FramePrediction objects whose walk
    visited at least those nodes."""
    out = []
    for p in frames:
        probs = {(int(x), int(y), int(s)): (pr, d) for x, y, s, pr, d in zip(p.x, p.y, p.size, p.probs, p.decision)}
        level = [(x, y) for (x, y, s) in probs if s == sb_size]
        size = sb_size
        while level and size >= MIN_NODE_SIZE:
            nxt = []
            for x, y in level:
                if (x, y, size) not in probs:
                    continue
                pr, decision = probs[(x, y, size)]
                mask = choose_mask(pr, top_k, threshold, decision)
                out.append(MapEntry(int(p.display_index), x, y, size, mask))
                if mask & (1 << Partition.SPLIT):
                    h = size // 2
                    nxt += [(x + dx, y + dy) for dy in (0, h) for dx in (0, h)]
            level, size = nxt, size // 2
    return out


@dataclass(frozen=True)
class FrameCounters:
    display_index: int  # source timestamp
    show_frame: bool
    frame_type: int
    nodes: int  # partition-search nodes visited
    partition_evals: int  # (node, partition type) pairs evaluated
    mode_searches: int  # RD mode searches of a block
    mode_pixels: int  # luma pixels those mode searches covered


def read_stats(path: Path) -> list[FrameCounters]:
    out = []
    for line in Path(path).read_text().splitlines():
        if line.strip():
            pts, show, ftype, *counts = (int(v) for v in line.split())
            out.append(FrameCounters(pts, bool(show), ftype, *counts))
    return out


def counter_totals(counters: list[FrameCounters]) -> dict[str, int]:
    return {
        name: sum(getattr(c, name) for c in counters)
        for name in ("nodes", "partition_evals", "mode_searches", "mode_pixels")
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
