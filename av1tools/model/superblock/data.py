"""The superblock model's data from av1tools shards: a 64x64 luma block, its qindex, and the encoder's
type of each of its 85 tree nodes (-1 where the encoder never coded the node: below a
node it did not split, or outside the frame), with each node's allowed types.

Two ways to feed training: ``SuperblockSet`` holds every sample in memory (fast, for what
fits), ``SuperblockStream`` reads shards in a pool of DataLoader workers with a bounded
shuffle buffer (for datasets larger than memory).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from av1tools.extract.dataset import DatasetError, DatasetFile, node_pixels, open_dataset
from av1tools.model.predictor import nearest_references
from av1tools.model.superblock.layout import (
    LEVEL_SIZES,
    SB,
    SLOTS,
    SuperblockIndex,
    frame_allowed,
    level_cells,
    parent_cells,
    slot_index,
    superblock_keys,
)
from av1tools.partition import NUM_PARTITIONS

BITS = (1 << np.arange(NUM_PARTITIONS)).astype(np.uint16)


ROW_FIELDS = (
    "pixels",
    "references",
    "max_value",
    "qindex",
    "frame_size",
    "frame_info",
    "labels",
    "allowed",
    "inside",
    "group",
)


@dataclass
class Superblocks:
    """Samples as parallel arrays (N superblocks)."""

    pixels: np.ndarray  # (N, W, W) uint8 or uint16: the superblock and its context margin
    references: np.ndarray  # (N, R, W, W) the co-located windows of its frame's nearest references
    max_value: np.ndarray  # (N,) 255 or 1023
    qindex: np.ndarray  # (N,) uint8
    frame_size: np.ndarray  # (N, 2) the frame's width and height
    frame_info: np.ndarray  # (N, FRAME_INFO) float32
    labels: np.ndarray  # (N, 85) int8, -1 where not coded
    allowed: np.ndarray  # (N, 85) uint16 bit masks of allowed types
    inside: np.ndarray  # (N, 85) bool: the node lies wholly inside the frame
    group: np.ndarray  # (N,) int: index into ``groups``
    groups: list[str]

    def __len__(self) -> int:
        return len(self.qindex)

    def take(self, rows: np.ndarray) -> Superblocks:
        return replace(self, **{name: getattr(self, name)[rows] for name in ROW_FIELDS})

    @staticmethod
    def concat(parts: Sequence[Superblocks]) -> Superblocks:
        groups = sorted({g for p in parts for g in p.groups})
        where = {g: i for i, g in enumerate(groups)}
        columns = {name: np.concatenate([getattr(p, name) for p in parts]) for name in ROW_FIELDS if name != "group"}
        group = np.concatenate([np.array([where[p.groups[i]] for i in p.group], dtype=np.int32) for p in parts])
        return Superblocks(**columns, group=group, groups=groups)


def windows(luma: np.ndarray, xs: np.ndarray, ys: np.ndarray, margin: int) -> np.ndarray:
    """(N, 64 + 2 margin, ...) luma windows of the superblocks at (xs, ys): each superblock and
    ``margin`` pixels of the frame around it; past the frame's edges the edge samples repeat
    (as the encoder's own border extension does)."""
    if not margin:
        return node_pixels(luma, xs, ys, SB)
    padded = np.pad(luma, margin, mode="edge")
    return node_pixels(padded, np.asarray(xs), np.asarray(ys), SB + 2 * margin)


def frame_size_input(width: np.ndarray, height: np.ndarray) -> np.ndarray:
    """The network's frame-size input: log2 of the width and height, scaled to about 1."""
    return np.stack([np.log2(width), np.log2(height)], axis=-1).astype(np.float32) / 16.0


def display_lumas(ds: DatasetFile) -> dict[int, np.ndarray]:
    """Each display index's picture as references hold it: a shown frame's (its source), else
    the hidden frame's the encoder coded (a filtered alt-ref shown later as it is)."""
    coded = ds.coded_lumas()
    table = ds.frames_table()
    hidden = {int(table["display_index"][d]): luma for d, luma in coded.items() if table["hidden"][d]}
    return hidden | ds.frame_lumas()


def file_superblocks(ds: DatasetFile, config=None) -> Superblocks:
    """Every superblock of one shard (64x64 superblocks only), of every coded frame, with
    what ``config`` (a SuperblockConfig; None: none of it) reads besides: its context margin,
    its frame's nearest references' co-located windows, the frame's place in the pyramid."""
    margin = getattr(config, "margin", 0)
    count = getattr(config, "references", 0)
    a = ds.attrs
    if a.sb_size != SB:
        raise DatasetError(f"{ds.path}: the superblock model reads 64x64 superblocks, this shard has {a.sb_size}")
    sx, sy = ds.column(SB, "x").astype(np.int64), ds.column(SB, "y").astype(np.int64)
    coded = ds.column(SB, "decode_index")  # one key per coded frame, hidden alt-refs apart from their overlays
    index = SuperblockIndex(superblock_keys(coded, sx, sy))
    n = len(coded)
    labels = np.full((n, SLOTS), -1, dtype=np.int8)
    inside = np.zeros((n, SLOTS), dtype=bool)
    for size in ds.node_sizes:
        x, y = ds.column(size, "x").astype(np.int64), ds.column(size, "y").astype(np.int64)
        rows = index.rows(superblock_keys(ds.column(size, "decode_index"), x, y))
        slots = slot_index(x % SB, y % SB, np.full(len(x), size))
        labels[rows, slots] = ds.column(size, "partition").astype(np.int8)
        inside[rows, slots] = ds.column(size, "inside")
    xs, ys, masks = frame_allowed(a.width, a.height)
    position = {(int(x), int(y)): i for i, (x, y) in enumerate(zip(xs, ys))}
    per_sb = np.array([position[(int(x), int(y))] for x, y in zip(sx, sy)])
    allowed = (masks.astype(np.uint16) * BITS).sum(axis=2).astype(np.uint16)[per_sb]
    table = ds.frames_table()
    side = SB + 2 * margin
    pixels = ds.pixels(SB) if not margin else np.empty((n, side, side), dtype=ds.pixels(SB, slice(0, 1)).dtype)
    references = np.empty((n, count, side, side), dtype=pixels.dtype)
    if margin or count:
        lumas = ds.coded_lumas()
        by_display = display_lumas(ds) if count else {}
        for d in np.unique(coded):
            sel = np.flatnonzero(coded == d)
            if margin:
                pixels[sel] = windows(lumas[int(d)], sx[sel], sy[sel], margin)
            display, hidden = int(table["display_index"][d]), bool(table["hidden"][d])
            for r, ref in enumerate(nearest_references(display, hidden, table["ref_display"][d], count)):
                picture = by_display.get(ref, lumas[int(d)])  # no such reference: the frame itself
                references[sel, r] = windows(picture, sx[sel], sy[sel], margin)
    info = np.stack(
        [table["pyramid_level"][coded] / 6.0, table["hidden"][coded], table["frame_type"][coded] != 0], axis=1
    ).astype(np.float32)
    return Superblocks(
        pixels,
        references,
        np.full(n, a.max_value, np.float32),
        ds.column(SB, "qindex"),
        np.tile(np.array([a.width, a.height], np.int32), (n, 1)),
        info,
        labels,
        allowed,
        inside,
        np.zeros(n, np.int32),
        [a.group],
    )


def implied_labels(sb: Superblocks) -> Superblocks:
    """A copy whose uncoded nodes lying inside a block the encoder coded whole (an ancestor
    of type NONE) are labelled NONE: coding that block whole says no split below was worth
    it. Nodes under other types stay uncoded (-1)."""
    labels, inside = sb.labels.copy(), sb.inside.copy()
    none_ok = (sb.allowed & 1).astype(bool)  # NONE is bit 0
    for lv in range(1, len(LEVEL_SIZES)):
        child = np.arange(SLOTS)[level_cells(lv)]
        parent = level_cells(lv - 1).start + parent_cells(lv)
        whole = (labels[:, parent] == 0) & inside[:, parent] & (labels[:, child] < 0) & none_ok[:, child]
        labels[:, child] = np.where(whole, 0, labels[:, child])
        inside[:, child] |= whole
    return replace(sb, labels=labels, inside=inside)


def load_superblocks(files: Sequence[Path], config=None, max_bytes: int = 12 << 30) -> Superblocks:
    """Every superblock of ``files`` in memory, with what ``config`` reads (refused beyond
    ``max_bytes`` of pixels: use the stream instead)."""
    parts, total = [], 0
    for path in files:
        with open_dataset(path) as ds:
            part = file_superblocks(ds, config)
        total += part.pixels.nbytes + part.references.nbytes
        if total > max_bytes:
            raise DatasetError(f"more than {max_bytes >> 30} GiB of superblock pixels: train with --stream")
        parts.append(part)
    if not parts:
        raise DatasetError("no datasets given")
    return Superblocks.concat(parts)


def allowed_bool(bits: torch.Tensor) -> torch.Tensor:
    """(..., 85) uint16-as-int bit masks -> (..., 85, 10) booleans."""
    return (bits.long().unsqueeze(-1) >> torch.arange(NUM_PARTITIONS, device=bits.device)) & 1 == 1


def batch_tensors(sb: Superblocks, rows: np.ndarray) -> dict[str, torch.Tensor]:
    """One training batch as tensors (pixels in [0, 1]: the superblock's window, then its
    references' as further channels)."""
    scale = sb.max_value[rows, None, None, None]
    stack = np.concatenate([sb.pixels[rows][:, None], sb.references[rows]], axis=1).astype(np.float32) / scale
    pixels = torch.from_numpy(stack)
    size = sb.frame_size[rows]
    out = {
        "pixels": pixels,
        "qindex": torch.from_numpy(sb.qindex[rows].astype(np.float32) / 255.0),
        "frame_size": torch.from_numpy(frame_size_input(size[:, 0], size[:, 1])),
        "frame_info": torch.from_numpy(sb.frame_info[rows]),
        "labels": torch.from_numpy(sb.labels[rows].astype(np.int64)),
        "allowed": allowed_bool(torch.from_numpy(sb.allowed[rows].astype(np.int32))),
        "inside": torch.from_numpy(sb.inside[rows]),
    }
    return out


class SuperblockStream(IterableDataset):
    """Batches read shard by shard in DataLoader workers (each worker takes every k-th
    shard, each rank of a distributed run every world-th), shuffled within a buffer of at
    most ``buffer`` superblocks: memory stays bounded however many shards there are."""

    def __init__(
        self,
        files: Sequence[Path],
        batch_size: int,
        buffer: int = 20000,
        seed: int = 0,
        rank: int = 0,
        world: int = 1,
        implied: bool = False,  # label uncoded nodes inside a block coded whole as NONE
        config=None,  # the SuperblockConfig whose inputs to read (margin, references)
    ):
        self.files = list(files)
        self.implied = implied
        self.config = config
        self.batch_size, self.buffer, self.seed = batch_size, buffer, seed
        self.rank, self.world = rank, world
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _my_files(self) -> list[Path]:
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info else (0, 1)
        rng = np.random.default_rng(self.seed + self.epoch)
        files = [self.files[i] for i in rng.permutation(len(self.files))]
        mine = files[self.rank :: self.world]
        return mine[worker::workers]

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        info = get_worker_info()
        rng = np.random.default_rng((self.seed, self.epoch, self.rank, info.id if info else 0))
        pool: list[Superblocks] = []
        held = 0
        for path in self._my_files():
            with open_dataset(path) as ds:
                part = file_superblocks(ds, self.config)
            if self.implied:
                part = implied_labels(part)
            pool.append(part)
            held += len(part)
            while held >= self.buffer:
                yield from self._drain(pool, rng, keep=self.buffer // 2)
                held = sum(len(p) for p in pool)
        yield from self._drain(pool, rng, keep=0)

    def _drain(self, pool: list[Superblocks], rng, keep: int) -> Iterator[dict[str, torch.Tensor]]:
        merged = Superblocks.concat(pool)
        order = rng.permutation(len(merged))
        cut = len(order) - keep
        cut -= cut % self.batch_size if keep else 0
        for i in range(0, cut, self.batch_size):
            yield batch_tensors(merged, order[i : i + self.batch_size])
        pool.clear()
        if keep and cut < len(order):
            pool.append(merged.take(order[cut:]))


def worker_count() -> int:
    return max(1, min(4, (os.cpu_count() or 2) - 1))
