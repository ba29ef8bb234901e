"""Every node of a set of shards as parallel arrays (no pixels): what training the staged
model and scoring any model against the encoder (``evaluate``) both walk over."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from av1tools.extract.dataset import open_dataset
from av1tools.extract.manifest import data_source


@dataclass
class NodeIndex:
    """Every node of every file, as parallel arrays (no pixels)."""

    files: list[Path]
    sequences: list[str]  # per file
    groups: list[str]  # per file: the split unit (a sequence, or a still-image directory)
    cq_levels: list[int]  # per file
    max_value: list[float]  # per file: 255 or 1023
    file: np.ndarray = field(repr=False)  # per node: file number
    size: np.ndarray = field(repr=False)
    row: np.ndarray = field(repr=False)  # row within blocks/SxS of its file
    partition: np.ndarray = field(repr=False)
    qindex: np.ndarray = field(repr=False)
    display_index: np.ndarray = field(repr=False)
    inside: np.ndarray = field(repr=False)
    splits: dict[str, str] = field(default_factory=dict, repr=False)  # from manifests

    def __len__(self) -> int:
        return len(self.file)

    def node_group(self) -> np.ndarray:
        """Per node: its file's split group."""
        return np.array(self.groups)[self.file]


NODE_COLUMNS = ("partition", "qindex", "display_index", "inside")


def load_index(paths: Sequence[str | os.PathLike]) -> NodeIndex:
    source = data_source(paths)
    cols: dict[str, list[np.ndarray]] = {k: [] for k in ("file", "size", "row") + NODE_COLUMNS}
    sequences, groups, cq_levels, max_value = [], [], [], []
    for fi, path in enumerate(source.files):
        with open_dataset(path) as ds:
            sequences.append(ds.attrs.sequence)
            groups.append(ds.attrs.group)
            cq_levels.append(ds.attrs.cq_level)
            max_value.append(ds.attrs.max_value)
            for size in ds.node_sizes:
                values = {name: ds.column(size, name) for name in NODE_COLUMNS}
                n = len(values["partition"])
                cols["file"].append(np.full(n, fi, dtype=np.int32))
                cols["size"].append(np.full(n, size, dtype=np.int32))
                cols["row"].append(np.arange(n, dtype=np.int64))
                for name in NODE_COLUMNS:
                    cols[name].append(values[name])
    arrays = {k: np.concatenate(v) if v else np.zeros(0) for k, v in cols.items()}
    return NodeIndex(source.files, sequences, groups, cq_levels, max_value, **arrays, splits=source.splits)
