"""The staged model's data: an index of nodes over av1tools HDF5 files, splits, per-stage views.

Pixels are read lazily (one file handle per DataLoader worker, opened in the worker) or
cached in memory for small sets. Batches hold one node size each, so every block is fed
at its native size (see docs/model.md for why).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from av1tools.extract.dataset import DatasetFile, open_dataset
from av1tools.extract.manifest import stable_fraction
from av1tools.model.hierarchy import STAGES
from av1tools.model.nodes import NodeIndex
from av1tools.model.splits import SplitError, a_few, held_out_groups
from av1tools.partition import NODE_SIZES

SIZE_INDEX = {s: i for i, s in enumerate(NODE_SIZES)}


@dataclass(frozen=True)
class Split:
    train: np.ndarray  # boolean masks over the index
    val: np.ndarray
    record: dict  # what a run writes down to be reproduced

    def words(self) -> str:
        """The split in a log line: its mode and, by sequence, a few held-out names."""
        r = self.record
        if r["mode"] != "sequence":
            return r["mode"]
        val, train = r["val_sequences"], r["train_sequences"]
        return f"by sequence: {len(train)} training, {len(val)} validation ({a_few(val)})"


def _val_groups(
    index: NodeIndex, val_fraction: float, val_sequences: Sequence[str] | None, seed: int
) -> tuple[list[str], str]:
    sequences: dict[str, set[str]] = {}
    for g, s in zip(index.groups, index.sequences):
        sequences.setdefault(g, set()).add(s)
    return held_out_groups(index.groups, sequences, val_fraction, val_sequences, seed, index.splits)


def split_index(
    index: NodeIndex,
    mode: str = "sequence",
    val_fraction: float = 0.25,
    val_sequences: Sequence[str] | None = None,
    seed: int = 0,
) -> Split:
    """Train/validation masks. ``sequence``: whole groups (a sequence with all its QPs, or a
    still-image directory) are held out, as the manifest assigns them, else as named, else
    by a hash of their name; ``frame``: frames are held out, the same frames at every QP.
    Falls back to ``frame`` when there is a single group. Raises SplitError when either side
    would be empty."""
    groups = sorted(set(index.groups))
    if mode == "sequence" and len(groups) < 2 and not val_sequences:
        mode = "frame"
    if mode == "sequence":
        held, how = _val_groups(index, val_fraction, val_sequences, seed)
        val = np.isin(index.node_group(), held)
        record = {
            "mode": "sequence",
            "chosen_by": how,
            "val_sequences": held,
            "train_sequences": [g for g in groups if g not in held],
        }
    elif mode == "frame":
        seqs = np.array(index.sequences)[index.file]
        keys = sorted({(s, int(f)) for s, f in zip(seqs, index.display_index)})
        held_frames = {k for k in keys if stable_fraction(f"{seed}:{k[0]}:{k[1]}") < val_fraction}
        if not held_frames and len(keys) > 1:  # documented fallback: hold out one frame
            held_frames = {min(keys, key=lambda k: stable_fraction(f"{seed}:{k[0]}:{k[1]}"))}
        val = np.array([(s, int(f)) in held_frames for s, f in zip(seqs, index.display_index)], dtype=bool)
        record = {
            "mode": "frame",
            "val_fraction": val_fraction,
            "seed": seed,
            "val_frames": sorted(f"{s}:{f}" for s, f in held_frames),
        }
    else:
        raise ValueError(f"split mode must be 'sequence' or 'frame', not {mode!r}")
    if not val.any():
        raise SplitError(
            f"the validation split is empty ({len(groups)} sequence(s), "
            f"{len(set(zip(index.file, index.display_index)))} frame(s)): "
            "add data or choose --val-seq"
        )
    if val.all():
        raise SplitError("the training split is empty: every node is held out for validation")
    return Split(~val, val, record)


def stage_rows(
    index: NodeIndex,
    stage: str,
    mask: np.ndarray,
    include_border: bool = False,
    max_samples: int | None = None,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """(positions in the index, class labels) of the nodes a stage trains on. Border nodes
    are left out by default: the frame edge, not the content, constrains their type."""
    labels = STAGES[stage].label_of()[index.partition]
    keep = mask & (labels >= 0)
    if not include_border:
        keep &= index.inside.astype(bool)
    rows = np.flatnonzero(keep)
    if max_samples is not None and len(rows) > max_samples:
        rng = np.random.default_rng(seed)
        rows = np.sort(rng.choice(rows, size=max_samples, replace=False))
    return rows, labels[rows]


def class_counts(labels: np.ndarray, num_classes: int) -> np.ndarray:
    return np.bincount(labels, minlength=num_classes)


class NodeDataset(Dataset):
    """Items: (pixels (1, S, S) in [0, 1], qindex / 255, size index, label)."""

    def __init__(self, index: NodeIndex, rows: np.ndarray, labels: np.ndarray, cache: bool = True):
        self.index = index
        self.rows = rows
        self.labels = labels
        self.sizes = index.size[rows]
        self._handles: dict[int, DatasetFile] = {}
        self._pid = -1
        self._cache = self._load_all() if cache else None

    def __len__(self) -> int:
        return len(self.rows)

    def _load_all(self) -> dict[int, np.ndarray]:
        """Pixels of every selected node, read group by group in file order."""
        out: dict[int, np.ndarray] = {}
        ix = self.index
        for fi in np.unique(ix.file[self.rows]):
            with open_dataset(ix.files[fi]) as ds:
                for size in np.unique(ix.size[self.rows]):
                    sel = np.flatnonzero((ix.file[self.rows] == fi) & (ix.size[self.rows] == size))
                    if not len(sel):
                        continue
                    pixels = ds.pixels(int(size))
                    for i, r in zip(sel, ix.row[self.rows[sel]]):
                        out[int(i)] = pixels[r]
        return out

    def _pixels(self, i: int) -> np.ndarray:
        if self._cache is not None:
            return self._cache[i]
        if self._pid != os.getpid():  # h5py handles must not cross a fork
            self._handles, self._pid = {}, os.getpid()
        j = self.rows[i]
        fi = int(self.index.file[j])
        if fi not in self._handles:
            self._handles[fi] = open_dataset(self.index.files[fi])
        return self._handles[fi].pixels(int(self.index.size[j]), int(self.index.row[j]))

    def __getitem__(self, i: int):
        j = self.rows[i]
        pixels = self._pixels(i).astype(np.float32) / self.index.max_value[self.index.file[j]]
        return (
            torch.from_numpy(pixels)[None],
            torch.tensor(self.index.qindex[j] / 255.0, dtype=torch.float32),
            torch.tensor(SIZE_INDEX[int(self.index.size[j])]),
            torch.tensor(int(self.labels[i])),
        )


class SizeBatchSampler(Sampler[list[int]]):
    """Batches of one node size each (blocks keep their native size), shuffled by seed."""

    def __init__(
        self, sizes: np.ndarray, batch_size: int, shuffle: bool, seed: int = 0, weights: np.ndarray | None = None
    ):
        self.sizes = sizes
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.epoch = 0
        self.weights = weights  # per item: draw with replacement in proportion (a balancing sampler)

    def _order(self, rng: np.random.Generator) -> np.ndarray:
        n = len(self.sizes)
        if self.weights is not None:
            return rng.choice(n, size=n, replace=True, p=self.weights / self.weights.sum())
        return rng.permutation(n) if self.shuffle else np.arange(n)

    def _batches(self, epoch: int) -> list[list[int]]:
        rng = np.random.default_rng(self.seed + epoch)
        order = self._order(rng)
        batches = []
        for size in np.unique(self.sizes):
            members = order[self.sizes[order] == size]
            batches += [members[i : i + self.batch_size].tolist() for i in range(0, len(members), self.batch_size)]
        if self.shuffle:  # training: BatchNorm cannot normalise a lone 8x8 block's 1x1 maps
            batches = [b for b in batches if len(b) > 1]
            rng.shuffle(batches)
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        batches = self._batches(self.epoch)
        self.epoch += 1
        return iter(batches)

    def __len__(self) -> int:
        return len(self._batches(self.epoch))  # the coming epoch's
