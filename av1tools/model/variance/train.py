"""Fitting the variance heuristic: one pass over the training shards' nodes, counting."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from av1tools.configs import plain, write_config
from av1tools.extract.dataset import open_dataset
from av1tools.extract.manifest import data_source
from av1tools.model.common import TrainResult
from av1tools.model.config import TrainJob
from av1tools.model.splits import held_out_groups
from av1tools.model.variance.config import VarianceConfig
from av1tools.model.variance.table import SIZES, VarianceTable, block_variance
from av1tools.paths import output_dir, write_text_atomic

Log = Callable[[str], None]


def train_variance(job: TrainJob, log: Log = print) -> TrainResult:
    """Count the encoder's types per (size, qindex, variance) bin over the training groups'
    nodes inside the frame; the validation groups are held out as for the other families."""
    config = job.net or VarianceConfig()
    start = time.perf_counter()
    source = data_source(job.data)
    attrs = {}
    for f in source.files:
        with open_dataset(f) as ds:
            attrs[f] = (ds.attrs.group, ds.attrs.sequence)
    sequences: dict[str, set[str]] = {}
    for group, sequence in attrs.values():
        sequences.setdefault(group, set()).add(sequence)
    tc = job.train
    held, how = held_out_groups(
        list(sequences), sequences, tc.val_fraction, tc.val_sequences or None, tc.seed, source.splits
    )
    table = VarianceTable.empty(config)
    nodes = 0
    for f in (f for f in source.files if attrs[f][0] not in held):
        with open_dataset(f) as ds:
            for size in (s for s in ds.node_sizes if s in SIZES):
                inside = ds.column(size, "inside").astype(bool)
                pixels = ds.pixels(size)[inside]
                table.add(
                    size,
                    block_variance(pixels, ds.attrs.max_value),
                    ds.column(size, "qindex")[inside],
                    ds.column(size, "partition")[inside],
                )
                nodes += int(inside.sum())
    log(f"variance heuristic: {nodes:,} training nodes counted (held out by {how}: {len(held)} groups)")
    with output_dir(job.out) as run_dir:
        table.save(run_dir, {"job": plain(job)})
        metrics = {
            "arch": "variance",
            "data": [str(f) for f in source.files],
            "split": {"val_sequences": held, "chosen_by": how},
            "model": config.to_dict(),
            "train_nodes": nodes,
            "seconds": time.perf_counter() - start,
        }
        write_text_atomic(run_dir / "metrics.json", json.dumps(metrics, indent=2))
        write_config(run_dir, job)
    summary = {"variance": {"train_nodes": nodes, "checkpoint": str(run_dir / "variance.json")}}
    return TrainResult(run_dir, metrics, summary)
