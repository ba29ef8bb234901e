"""Rebuilding partition types from hand-made block-size grids."""

import numpy as np
import pytest
from conftest import random_tree

from av1tools.partition import (
    BLOCK_SIZE_ENUM,
    MI_SIZE,
    Node,
    Partition,
    allowed_partitions,
    frame_nodes,
    leaf_blocks,
    mi_grid_shape,
    paint_grid,
    partition_at,
    sub_blocks,
    tree_nodes,
)


def grid_for(nodes: list[Node], width: int, height: int) -> np.ndarray:
    rows, cols = mi_grid_shape(width, height)
    grid = paint_grid(nodes, rows, cols)
    assert (grid != 255).all(), "hand-made tree does not cover the grid"
    return grid


@pytest.mark.parametrize("size,part", [(s, p) for s in (128, 64, 32, 16, 8) for p in allowed_partitions(s)])
def test_every_type_at_every_size_is_rebuilt(size, part):
    nodes = [Node(0, 0, size, part)]
    if part == Partition.SPLIT and size > 8:
        h = size // 2
        nodes += [Node(x, y, h, Partition.NONE) for y in (0, h) for x in (0, h)]
    grid = grid_for(nodes, size, size)
    assert partition_at(grid, 0, 0, size) == part
    assert list(tree_nodes(grid, 0, 0, size)) == nodes


def test_sub_blocks_tile_the_node():
    for size in (64, 32, 16):
        for part in Partition:
            cover = np.zeros((size, size), dtype=int)
            for x, y, w, h in sub_blocks(part, 0, 0, size):
                cover[y : y + h, x : x + w] += 1
            assert (cover == 1).all(), part


def test_nested_splits_round_trip():
    nodes = [
        Node(0, 0, 64, Partition.SPLIT),
        Node(0, 0, 32, Partition.SPLIT),
        Node(0, 0, 16, Partition.SPLIT),
        Node(0, 0, 8, Partition.SPLIT),
        Node(8, 0, 8, Partition.HORZ),
        Node(0, 8, 8, Partition.VERT),
        Node(8, 8, 8, Partition.NONE),
        Node(16, 0, 16, Partition.HORZ_4),
        Node(0, 16, 16, Partition.VERT_A),
        Node(16, 16, 16, Partition.HORZ_B),
        Node(32, 0, 32, Partition.VERT_4),
        Node(0, 32, 32, Partition.HORZ_A),
        Node(32, 32, 32, Partition.VERT_B),
    ]
    grid = grid_for(nodes, 64, 64)
    assert list(frame_nodes(grid, 64)) == nodes


def test_a_and_b_types_are_told_apart_from_split():
    # SPLIT whose quadrants are whole looks like HORZ_A/VERT_A at the top-left corner.
    split = [Node(0, 0, 32, Partition.SPLIT)] + [Node(x, y, 16, Partition.NONE) for y in (0, 16) for x in (0, 16)]
    horz_a = [Node(0, 0, 32, Partition.HORZ_A)]
    vert_a = [Node(0, 0, 32, Partition.VERT_A)]
    for nodes, want in ((split, Partition.SPLIT), (horz_a, Partition.HORZ_A), (vert_a, Partition.VERT_A)):
        assert partition_at(grid_for(nodes, 32, 32), 0, 0, 32) == want


def test_frame_border_superblocks():
    # 176x144: the mi grid is 44x36; the last superblock column starts at x=128 and the
    # last row at y=128, so those nodes cross the frame edge.
    width, height = 176, 144
    rows, cols = 36, 44
    nodes = []
    for sy in (0, 64, 128):
        for sx in (0, 64, 128):
            if sy == 128:  # only 16 rows left: libaom allows HORZ or SPLIT
                nodes += [Node(sx, sy, 64, Partition.SPLIT), Node(sx, sy, 32, Partition.HORZ)]
                nodes += [Node(sx + 32, sy, 32, Partition.HORZ)] if sx + 32 < width else []
            elif sx == 128:  # 48 columns left
                nodes += [
                    Node(sx, sy, 64, Partition.SPLIT),
                    Node(sx, sy, 32, Partition.NONE),
                    Node(sx + 32, sy, 32, Partition.VERT),
                    Node(sx, sy + 32, 32, Partition.NONE),
                    Node(sx + 32, sy + 32, 32, Partition.VERT),
                ]
            else:
                nodes.append(Node(sx, sy, 64, Partition.NONE))
    grid = grid_for(nodes, width, height)
    assert grid.shape == (rows, cols)
    assert list(frame_nodes(grid, 64)) == nodes


def test_horz_at_bottom_edge_is_not_horz_b():
    # A 32x32 node whose bottom half lies past the grid: the probe falls outside.
    nodes = [Node(0, 0, 32, Partition.HORZ)]
    grid = paint_grid(nodes, 4, 8)  # 16 rows of pixels, 32 columns
    assert partition_at(grid, 0, 0, 32) == Partition.HORZ


def test_leaves_tile_grid_exactly():
    rng = np.random.default_rng(1)
    for _ in range(50):
        nodes = list(random_tree(rng, 0, 0, 64))
        leaves = leaf_blocks(nodes, 16, 16)
        cover = np.zeros((64, 64), dtype=int)
        for x, y, w, h in leaves:
            cover[y : y + h, x : x + w] += 1
        assert (cover == 1).all()
        grid = paint_grid(nodes, 16, 16)
        assert list(tree_nodes(grid, 0, 0, 64)) == nodes


def test_allowed_partitions():
    assert len(allowed_partitions(8)) == 4
    assert Partition.HORZ_4 not in allowed_partitions(128)
    assert len(allowed_partitions(64)) == 10
    with pytest.raises(ValueError):
        allowed_partitions(4)


def test_block_size_enum_matches_libaom():
    assert BLOCK_SIZE_ENUM[(8, 8)] == 3
    assert BLOCK_SIZE_ENUM[(128, 128)] == 15
    assert BLOCK_SIZE_ENUM[(64, 16)] == 21
    assert MI_SIZE == 4
