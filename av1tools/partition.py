"""The AV1 vocabulary: partition types, block sizes, and partition trees.

A *node* is a square block of a superblock's partition tree at (x, y, size); its
*partition* is one of the ten AV1 types. Only SPLIT recurses: the sub-blocks of every
other type are leaves. libaom's numbering is used throughout (enum order below), and the
per-mi (4x4) block-size grid that libaom's ``inspect`` prints is the source of truth the
trees are rebuilt from.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from enum import IntEnum

import numpy as np

MI_SIZE = 4  # libaom's mode-info unit, in luma pixels
MIN_NODE_SIZE = 8  # nodes below 8x8 carry no partition choice of their own


class Partition(IntEnum):
    NONE = 0
    HORZ = 1
    VERT = 2
    SPLIT = 3
    HORZ_A = 4  # top half split, bottom half whole
    HORZ_B = 5  # top half whole, bottom half split
    VERT_A = 6  # left half split, right half whole
    VERT_B = 7  # left half whole, right half split
    HORZ_4 = 8
    VERT_4 = 9


PARTITION_NAMES: tuple[str, ...] = tuple(p.name for p in Partition)
NUM_PARTITIONS = len(Partition)

# libaom's BLOCK_SIZE enum -> (width, height), in enum order (BLOCK_4X4 = 0 ...).
BLOCK_SIZES: tuple[tuple[int, int], ...] = (
    (4, 4),
    (4, 8),
    (8, 4),
    (8, 8),
    (8, 16),
    (16, 8),
    (16, 16),
    (16, 32),
    (32, 16),
    (32, 32),
    (32, 64),
    (64, 32),
    (64, 64),
    (64, 128),
    (128, 64),
    (128, 128),
    (4, 16),
    (16, 4),
    (8, 32),
    (32, 8),
    (16, 64),
    (64, 16),
)
BLOCK_SIZE_ENUM: dict[tuple[int, int], int] = {wh: i for i, wh in enumerate(BLOCK_SIZES)}
NODE_SIZES: tuple[int, ...] = (128, 64, 32, 16, 8)


def mi_grid_shape(width: int, height: int) -> tuple[int, int]:
    """(mi_rows, mi_cols): libaom's mode-info grid covers the frame rounded up to 8 pixels."""
    return ((height + 7) // 8 * 8) // MI_SIZE, ((width + 7) // 8 * 8) // MI_SIZE


def block_size_name(index: int) -> str:
    w, h = BLOCK_SIZES[index]
    return f"BLOCK_{w}X{h}"


def allowed_partitions(size: int) -> tuple[Partition, ...]:
    """The partition types libaom may choose for a square node of this size."""
    if size == 8:
        return (Partition.NONE, Partition.HORZ, Partition.VERT, Partition.SPLIT)
    if size == 128:  # 128x32 and 32x128 blocks do not exist
        return tuple(p for p in Partition if p not in (Partition.HORZ_4, Partition.VERT_4))
    if size in (64, 32, 16):
        return tuple(Partition)
    raise ValueError(f"no partition node of size {size}")


def allowed_mask(size: int) -> np.ndarray:
    """Boolean vector over the 10 types: True where ``size`` allows the type."""
    mask = np.zeros(NUM_PARTITIONS, dtype=bool)
    mask[list(allowed_partitions(size))] = True
    return mask


def sub_blocks(partition: Partition, x: int, y: int, size: int) -> list[tuple[int, int, int, int]]:
    """The (x, y, w, h) blocks a node of ``size`` at (x, y) is cut into; for SPLIT the four
    quadrants (which are nodes themselves, or 4x4 leaves below 8x8)."""
    h2, q = size // 2, size // 4
    p = Partition(partition)
    if p == Partition.NONE:
        return [(x, y, size, size)]
    if p == Partition.HORZ:
        return [(x, y, size, h2), (x, y + h2, size, h2)]
    if p == Partition.VERT:
        return [(x, y, h2, size), (x + h2, y, h2, size)]
    quads = [(x, y, h2, h2), (x + h2, y, h2, h2), (x, y + h2, h2, h2), (x + h2, y + h2, h2, h2)]
    if p == Partition.SPLIT:
        return quads
    if p == Partition.HORZ_A:
        return quads[:2] + [(x, y + h2, size, h2)]
    if p == Partition.HORZ_B:
        return [(x, y, size, h2)] + quads[2:]
    if p == Partition.VERT_A:
        return [quads[0], quads[2], (x + h2, y, h2, size)]
    if p == Partition.VERT_B:
        return [(x, y, h2, size), quads[1], quads[3]]
    if p == Partition.HORZ_4:
        return [(x, y + i * q, size, q) for i in range(4)]
    return [(x + i * q, y, q, size) for i in range(4)]  # VERT_4


@dataclass(frozen=True)
class Node:
    x: int  # top-left, luma pixels
    y: int
    size: int
    partition: Partition


def partition_at(grid: np.ndarray, mi_row: int, mi_col: int, size: int) -> Partition:
    """The partition type of the square node whose top-left mi is (mi_row, mi_col), read
    from a [mi_rows][mi_cols] grid of BLOCK_SIZE enums.

    Unambiguous because only SPLIT recurses: the top-left block names the family and one
    probe into the other half separates the members. A probe past the grid's edge means
    that half lies outside the frame, where libaom only allows HORZ, VERT or SPLIT.
    """
    rows, cols = grid.shape
    half = size // 2 // MI_SIZE

    def block_at(r: int, c: int) -> tuple[int, int] | None:
        return BLOCK_SIZES[grid[r, c]] if r < rows and c < cols else None

    w, h = BLOCK_SIZES[grid[mi_row, mi_col]]
    s2, s4 = size // 2, size // 4
    if (w, h) == (size, size):
        return Partition.NONE
    if (w, h) == (size, s2):
        below = block_at(mi_row + half, mi_col)
        return Partition.HORZ_B if below == (s2, s2) else Partition.HORZ
    if (w, h) == (s2, size):
        right = block_at(mi_row, mi_col + half)
        return Partition.VERT_B if right == (s2, s2) else Partition.VERT
    if (w, h) == (size, s4) and size > 8:
        return Partition.HORZ_4
    if (w, h) == (s4, size) and size > 8:
        return Partition.VERT_4
    if (w, h) == (s2, s2):
        if block_at(mi_row + half, mi_col) == (size, s2):
            return Partition.HORZ_A
        if block_at(mi_row, mi_col + half) == (s2, size):
            return Partition.VERT_A
        return Partition.SPLIT
    if w <= s2 and h <= s2:
        return Partition.SPLIT
    raise ValueError(f"block {w}x{h} at mi ({mi_row}, {mi_col}) does not start a {size}x{size} partition")


def tree_nodes(grid: np.ndarray, mi_row: int, mi_col: int, size: int) -> Iterator[Node]:
    """Pre-order walk of the tree of the node at (mi_row, mi_col): the node, then (for
    SPLIT) its quadrants that start inside the grid, down to 8x8."""
    rows, cols = grid.shape
    if mi_row >= rows or mi_col >= cols or size < MIN_NODE_SIZE:
        return
    part = partition_at(grid, mi_row, mi_col, size)
    yield Node(mi_col * MI_SIZE, mi_row * MI_SIZE, size, part)
    if part == Partition.SPLIT:
        step = size // 2 // MI_SIZE
        for dr, dc in ((0, 0), (0, step), (step, 0), (step, step)):
            yield from tree_nodes(grid, mi_row + dr, mi_col + dc, size // 2)


def frame_nodes(grid: np.ndarray, sb_size: int) -> Iterator[Node]:
    """Every node of every superblock of one frame, superblocks in raster order."""
    rows, cols = grid.shape
    step = sb_size // MI_SIZE
    for r in range(0, rows, step):
        for c in range(0, cols, step):
            yield from tree_nodes(grid, r, c, sb_size)


def leaf_blocks(nodes: list[Node], mi_rows: int, mi_cols: int) -> list[tuple[int, int, int, int]]:
    """The coded blocks (x, y, w, h) a list of nodes describes: non-SPLIT nodes' sub-blocks
    and the 4x4 quarters of 8x8 SPLITs, keeping those that start inside the mi grid."""
    leaves = []
    for n in nodes:
        if n.partition == Partition.SPLIT and n.size > MIN_NODE_SIZE:
            continue
        for x, y, w, h in sub_blocks(n.partition, n.x, n.y, n.size):
            if y // MI_SIZE < mi_rows and x // MI_SIZE < mi_cols:
                leaves.append((x, y, w, h))
    return leaves


def paint_grid(nodes: list[Node], mi_rows: int, mi_cols: int) -> np.ndarray:
    """The block-size grid a set of nodes implies: the inverse of ``frame_nodes``.
    Cells no leaf covers stay 255 (libaom's BLOCK_INVALID)."""
    grid = np.full((mi_rows, mi_cols), 255, dtype=np.uint8)
    for x, y, w, h in leaf_blocks(nodes, mi_rows, mi_cols):
        grid[y // MI_SIZE : (y + h) // MI_SIZE, x // MI_SIZE : (x + w) // MI_SIZE] = BLOCK_SIZE_ENUM[(w, h)]
    return grid


def cq_level_to_qindex(cq_level: int) -> int:
    """libaom's quantizer_to_qindex table: --cq-level q codes at base qindex 4q (intra;
    249 and 255 at the top)."""
    if not 0 <= cq_level <= 63:
        raise ValueError(f"cq-level must be within 0..63, not {cq_level}")
    return {62: 249, 63: 255}.get(cq_level, 4 * cq_level)


def edge_allowed(x: int, y: int, size: int, mi_rows: int, mi_cols: int) -> tuple[Partition, ...] | None:
    """The types libaom allows a node whose halves cross the mi grid's edge (None when the
    node is unconstrained): bottom half out -> HORZ/SPLIT, right half out -> VERT/SPLIT."""
    half = size // 2 // MI_SIZE
    has_rows = y // MI_SIZE + half < mi_rows
    has_cols = x // MI_SIZE + half < mi_cols
    if has_rows and has_cols:
        return None
    if has_cols:
        return (Partition.HORZ, Partition.SPLIT)
    if has_rows:
        return (Partition.VERT, Partition.SPLIT)
    return (Partition.SPLIT,)
