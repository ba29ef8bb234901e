"""The patched encoder's interface, in one place: the environment variables av1tools' libaom
patch reads (third_party/libaom/patches/, documented in docs/guided.md), the decision-file
format it reads and the counters file it writes.

- ``AV1TOOLS_PARTITION_MAP``: per coded frame (source timestamp = display index, hidden
  flag) and square block (mi_row, mi_col, size), a bit mask of the partition types the RD
  search may try. One bit replaces the search with that type; several prune it to those;
  blocks not listed are searched as usual; at blocks crossing the frame edge the mask is
  narrowed to what the edge allows.
- ``AV1TOOLS_PARTITION_STATS``: one line per coded frame counting and timing the search.
- ``AV1TOOLS_EXACT_GUIDE=1``: the speed features that tie a block's search to types tried
  before it are off (the oracle then reproduces the baseline bit for bit).
- ``AV1TOOLS_MODEL`` (+ ``_POINT``, ``_DUMP``, ``_KERNELS``): the encoder runs an exported
  superblock model itself (``av1tools.native``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from av1tools.partition import MI_SIZE, Partition
from av1tools.paths import atomic_output

MAP_ENV = "AV1TOOLS_PARTITION_MAP"
STATS_ENV = "AV1TOOLS_PARTITION_STATS"
EXACT_ENV = "AV1TOOLS_EXACT_GUIDE"
MODEL_ENV = "AV1TOOLS_MODEL"  # an exported superblock model the encoder runs itself
POINT_ENV = "AV1TOOLS_MODEL_POINT"  # its operating point, overriding the file's
DUMP_ENV = "AV1TOOLS_MODEL_DUMP"  # where it writes the allowed set it used at every node
KERNELS_ENV = "AV1TOOLS_MODEL_KERNELS"  # c | vector4 | auto
INTRA_CNN_ENV = "AV1TOOLS_INTRA_CNN"  # 0: libaom's own intra partition CNN off (the swap)
MAP_HEADER = "av1tools-partition-map 1\n"
STAT_SIZES = (128, 64, 32, 16, 8, 4)  # the patch's node-size order in its counters
STAT_SIZE_ROW = {s: i for i, s in enumerate(STAT_SIZES)}
SPLIT_BIT = 1 << Partition.SPLIT  # mask bit p allows partition type p


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


def encoder_env(map_path: Path | None, stats_path: Path | None, exact: bool | None = None) -> dict[str, str]:
    """This process's environment with the patch's variables set as given (and any inherited
    ones removed): a map, a counters file, the exact switch (None: left out)."""
    env = dict(os.environ)
    for name in (MAP_ENV, STATS_ENV, EXACT_ENV, MODEL_ENV, POINT_ENV, DUMP_ENV, INTRA_CNN_ENV):
        env.pop(name, None)
    if map_path is not None:
        env[MAP_ENV] = str(map_path)
    if stats_path is not None:
        env[STATS_ENV] = str(stats_path)
    if exact is not None:
        env[EXACT_ENV] = "1" if exact else "0"
    return env
