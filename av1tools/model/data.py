"""Datasets over av1tools HDF5 files: an index of nodes, splits, and per-stage views.

Pixels are read lazily (one h5py handle per DataLoader worker, opened in the worker) or
cached in memory for small sets. Batches hold one node size each, so every block is fed
at its native size (see docs/model.md for why).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

import h5py
import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from av1tools.extract.dataset import DatasetError, node_group, open_dataset
from av1tools.model.stages import STAGES
from av1tools.partition import NODE_SIZES

SIZE_INDEX = {s: i for i, s in enumerate(NODE_SIZES)}


def dataset_files(paths: Sequence[str | os.PathLike]) -> list[Path]:
    """The .h5 files named, directories searched (non-recursively), in a stable order."""
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(p.glob("*.h5"))
            if not found:
                raise DatasetError(f"{p}: no .h5 datasets in this directory")
            files += found
        elif p.exists():
            files.append(p)
        else:
            raise DatasetError(f"{p}: no such file or directory")
    return files


@dataclass
class NodeIndex:
    """Every node of every file, as parallel arrays (no pixels)."""
    files: list[Path]
    sequences: list[str]  # per file
    max_value: list[float]  # per file: 255 or 1023
    file: np.ndarray = field(repr=False)  # per node: file number
    size: np.ndarray = field(repr=False)
    row: np.ndarray = field(repr=False)  # row within blocks/SxS of its file
    partition: np.ndarray = field(repr=False)
    qindex: np.ndarray = field(repr=False)
    frame: np.ndarray = field(repr=False)
    inside: np.ndarray = field(repr=False)

    def __len__(self) -> int:
        return len(self.file)


def load_index(paths: Sequence[str | os.PathLike]) -> NodeIndex:
    files = dataset_files(paths)
    cols: dict[str, list[np.ndarray]] = {k: [] for k in
                                         ("file", "size", "row", "partition", "qindex", "frame", "inside")}
    sequences, max_value = [], []
    for fi, path in enumerate(files):
        with open_dataset(path) as f:
            sequences.append(str(f.attrs["sequence"]))
            max_value.append(float((1 << int(f.attrs["bit_depth"])) - 1))
            for size in NODE_SIZES:
                if node_group(size) not in f:
                    continue
                g = f[node_group(size)]
                n = len(g["partition"])
                cols["file"].append(np.full(n, fi, dtype=np.int32))
                cols["size"].append(np.full(n, size, dtype=np.int32))
                cols["row"].append(np.arange(n, dtype=np.int64))
                for name in ("partition", "qindex", "frame", "inside"):
                    cols[name].append(g[name][:])
    if not files:
        raise DatasetError("no datasets given")
    arrays = {k: np.concatenate(v) if v else np.zeros(0) for k, v in cols.items()}
    return NodeIndex(files, sequences, max_value, **arrays)


@dataclass(frozen=True)
class Split:
    train: np.ndarray  # boolean masks over the index
    val: np.ndarray
    record: dict  # what a run writes down to be reproduced


def _stable_fraction(text: str) -> float:
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF


def split_index(index: NodeIndex, mode: str = "sequence", val_fraction: float = 0.25,
                val_sequences: Sequence[str] | None = None, seed: int = 0) -> Split:
    """Train/validation masks. ``sequence``: whole sequences (all their QPs) are held out, so
    no frame of a validation sequence is trained on; ``frame``: frames are held out, the
    same frames at every QP. Falls back to ``frame`` when there is a single sequence."""
    names = sorted(set(index.sequences))
    if mode == "sequence" and len(names) < 2 and not val_sequences:
        mode = "frame"
    if mode == "sequence":
        if val_sequences:
            unknown = set(val_sequences) - set(names)
            if unknown:
                raise ValueError(f"validation sequences not in the data: {', '.join(sorted(unknown))}")
            held = sorted(val_sequences)
        else:
            rng = np.random.default_rng(seed)
            k = max(1, round(len(names) * val_fraction))
            held = sorted(rng.choice(names, size=k, replace=False).tolist())
        val = np.isin(np.array(index.sequences)[index.file], held)
        record = {"mode": "sequence", "val_sequences": held,
                  "train_sequences": [n for n in names if n not in held]}
    elif mode == "frame":
        keys = {(s, f) for s, f in zip(np.array(index.sequences)[index.file], index.frame)}
        held_frames = {k for k in keys if _stable_fraction(f"{seed}:{k[0]}:{k[1]}") < val_fraction}
        val = np.array([(s, f) in held_frames
                        for s, f in zip(np.array(index.sequences)[index.file], index.frame)], dtype=bool)
        record = {"mode": "frame", "val_fraction": val_fraction, "seed": seed,
                  "val_frames": sorted([f"{s}:{int(f)}" for s, f in held_frames])}
    else:
        raise ValueError(f"split mode must be 'sequence' or 'frame', not {mode!r}")
    return Split(~val, val, record)


def stage_rows(index: NodeIndex, stage: str, mask: np.ndarray, include_border: bool = False,
               max_samples: int | None = None, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
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
        self._handles: dict[int, h5py.File] = {}
        self._pid = -1
        self._cache = self._load_all() if cache else None

    def __len__(self) -> int:
        return len(self.rows)

    def _load_all(self) -> dict[int, np.ndarray]:
        """Pixels of every selected node, read group by group in file order."""
        out: dict[int, np.ndarray] = {}
        ix = self.index
        for fi in np.unique(ix.file[self.rows]):
            with h5py.File(ix.files[fi], "r") as f:
                for size in np.unique(ix.size[self.rows]):
                    sel = np.flatnonzero((ix.file[self.rows] == fi) & (ix.size[self.rows] == size))
                    if not len(sel):
                        continue
                    pixels = f[node_group(int(size))]["pixels"][:]
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
            self._handles[fi] = h5py.File(self.index.files[fi], "r")
        return self._handles[fi][node_group(int(self.index.size[j]))]["pixels"][self.index.row[j]]

    def __getitem__(self, i: int):
        j = self.rows[i]
        pixels = self._pixels(i).astype(np.float32) / self.index.max_value[self.index.file[j]]
        return (torch.from_numpy(pixels)[None], torch.tensor(self.index.qindex[j] / 255.0, dtype=torch.float32),
                torch.tensor(SIZE_INDEX[int(self.index.size[j])]), torch.tensor(int(self.labels[i])))


class SizeBatchSampler(Sampler[list[int]]):
    """Batches of one node size each (blocks keep their native size), shuffled by seed."""

    def __init__(self, sizes: np.ndarray, batch_size: int, shuffle: bool, seed: int = 0,
                 weights: np.ndarray | None = None):
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
            batches += [members[i:i + self.batch_size].tolist()
                        for i in range(0, len(members), self.batch_size)]
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
