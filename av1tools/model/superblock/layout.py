"""The superblock model's layout: one 64x64 superblock's tree as 85 *slots* (levels 64, 32,
16 and 8, each in raster order), the arithmetic between slots (sizes, offsets, parents)
and between dataset nodes and their superblock, and which types each slot may take."""

from __future__ import annotations

import numpy as np

from av1tools.partition import MI_SIZE, NUM_PARTITIONS, allowed_mask, edge_allowed, mi_grid_shape

SB = 64
LEVEL_SIZES = (64, 32, 16, 8)  # node size per level; level l has 2**l x 2**l nodes
LEVEL_SLOTS = tuple(4**lv for lv in range(len(LEVEL_SIZES)))  # 1, 4, 16, 64
LEVEL_OFFSET = tuple(int(x) for x in np.cumsum((0,) + LEVEL_SLOTS[:-1]))  # 0, 1, 5, 21
SLOTS = sum(LEVEL_SLOTS)  # 85
LEVEL_OF_SLOT = np.repeat(np.arange(len(LEVEL_SLOTS)), LEVEL_SLOTS)


def slot_geometry() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(dx, dy, size) of every slot relative to its superblock, levels in order, each level
    in raster order."""
    dx, dy, size = [], [], []
    for s in LEVEL_SIZES:
        n = SB // s
        for r in range(n):
            for c in range(n):
                dx.append(c * s)
                dy.append(r * s)
                size.append(s)
    return np.array(dx), np.array(dy), np.array(size)


SLOT_DX, SLOT_DY, SLOT_SIZE = slot_geometry()


def level_cells(level: int) -> slice:
    """The slots of one tree level."""
    return slice(LEVEL_OFFSET[level], LEVEL_OFFSET[level] + LEVEL_SLOTS[level])


def slot_index(dx: np.ndarray, dy: np.ndarray, size: np.ndarray) -> np.ndarray:
    """The slot of nodes at offsets (dx, dy) inside their superblock, of the given sizes."""
    level = np.log2(SB // size).astype(int)
    per_row = SB // size
    return np.asarray(LEVEL_OFFSET)[level] + (dy // size) * per_row + dx // size


def parent_cells(level: int) -> np.ndarray:
    """For each slot of ``level`` (>= 1), its parent's position within level - 1."""
    size = LEVEL_SIZES[level - 1]
    child = np.arange(LEVEL_OFFSET[level], LEVEL_OFFSET[level] + LEVEL_SLOTS[level])
    return (SLOT_DY[child] // size) * (SB // size) + SLOT_DX[child] // size


def superblock_keys(frame: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """One int64 per node naming the superblock that holds it (frame, row, column)."""
    frame, x, y = (np.asarray(a, dtype=np.int64) for a in (frame, x, y))
    return (frame << 32) | ((y // SB) << 16) | (x // SB)


class SuperblockIndex:
    """Finds the superblock row of dataset nodes: built once from the superblocks' keys."""

    def __init__(self, sb_keys: np.ndarray):
        self.order = np.argsort(sb_keys)
        self.sorted = sb_keys[self.order]

    def rows(self, node_keys: np.ndarray) -> np.ndarray:
        """The row (in the keys given) of each node's superblock."""
        return self.order[np.searchsorted(self.sorted, node_keys)]


def allowed_slots(sb_x: int, sb_y: int, width: int, height: int) -> np.ndarray:
    """(85, 10) booleans: the types each node of the superblock at (sb_x, sb_y) may take
    (its size's types, narrowed at the frame edge; none for nodes outside the mi grid)."""
    mi_rows, mi_cols = mi_grid_shape(width, height)
    out = np.zeros((SLOTS, NUM_PARTITIONS), dtype=bool)
    for i, (dx, dy, s) in enumerate(zip(SLOT_DX, SLOT_DY, SLOT_SIZE)):
        x, y = sb_x + int(dx), sb_y + int(dy)
        if y // MI_SIZE >= mi_rows or x // MI_SIZE >= mi_cols:
            continue
        edge = edge_allowed(x, y, int(s), mi_rows, mi_cols)
        if edge is None:
            out[i] = allowed_mask(int(s))
        else:
            out[i, list(edge)] = True
    return out


def frame_allowed(width: int, height: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every superblock of a frame: (xs, ys, allowed (N, 85, 10)), raster order. Only edge
    superblocks differ from the interior one, so the interior mask is computed once."""
    mi_rows, mi_cols = mi_grid_shape(width, height)
    xs, ys = np.meshgrid(np.arange(0, mi_cols * MI_SIZE, SB), np.arange(0, mi_rows * MI_SIZE, SB))
    xs, ys = xs.ravel(), ys.ravel()
    interior = allowed_slots(0, 0, 1 << 16, 1 << 16)
    masks = np.broadcast_to(interior, (len(xs), SLOTS, NUM_PARTITIONS)).copy()
    for i, (x, y) in enumerate(zip(xs, ys)):
        if x + SB > width or y + SB > height:
            masks[i] = allowed_slots(int(x), int(y), width, height)
    return xs, ys, masks
