"""Data loading against training speed, for both model families.

- superblock model: superblocks per second delivered by the in-memory set and by the
  stream (shards read by DataLoader worker processes, bounded shuffle buffer), against the
  model's training superblocks per second;
- staged model: Stage-1 nodes per second from the cached and the lazy (per-item HDF5 read)
  NodeDataset, against the model's training samples per second.

Run by hand: `python benchmarks/loader_speed.py --data /work/data/train --json loader.json`
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import time
from pathlib import Path

import numpy as np
import torch

from av1tools.extract.manifest import data_source
from av1tools.model.hierarchy import STAGE_ORDER, STAGES
from av1tools.model.nodes import load_index
from av1tools.model.staged.config import StagedConfig
from av1tools.model.staged.data import NodeDataset, SizeBatchSampler, stage_rows
from av1tools.model.staged.net import StagedNet
from av1tools.model.superblock.config import SuperblockConfig
from av1tools.model.superblock.data import SuperblockStream, batch_tensors, load_superblocks
from av1tools.model.superblock.net import SuperblockNet
from av1tools.model.superblock.train import node_loss


def rate(batches, limit: int, count) -> float:
    """Items per second over the first ``limit`` batches (after one warm-up batch)."""
    it = iter(batches)
    next(it)
    start, n = time.perf_counter(), 0
    for i, batch in enumerate(it):
        n += count(batch)
        if i + 1 >= limit:
            break
    return n / (time.perf_counter() - start)


def superblock_rows(files, batch: int, limit: int, workers: int) -> dict:
    sb = load_superblocks(files[:200])
    order = np.random.default_rng(0).permutation(len(sb))
    memory = rate(
        (batch_tensors(sb, np.sort(order[i : i + batch])) for i in range(0, len(order), batch)),
        limit,
        lambda b: len(b["qindex"]),
    )
    stream = SuperblockStream(files, batch, buffer=8000)
    loader = torch.utils.data.DataLoader(stream, batch_size=None, num_workers=workers)
    streamed = rate(loader, limit, lambda b: len(b["qindex"]))
    net = SuperblockNet(SuperblockConfig())
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
    sample = batch_tensors(sb, order[:batch])

    def step(_):
        loss = node_loss(net(sample["pixels"], sample["qindex"]), sample, net.config.level_weights, 1)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return batch

    model = rate(range(limit + 1), limit, step)
    return {
        "family": "superblock",
        "batch": batch,
        "loader_memory_per_s": memory,
        f"loader_stream_{workers}_workers_per_s": streamed,
        "model_train_per_s": model,
    }


def staged_rows(data: str, batch: int, limit: int) -> dict:
    index = load_index([data])
    rows, labels = stage_rows(index, "stage1", np.ones(len(index), bool), max_samples=20000)
    out = {"family": "staged", "batch": batch}
    for cache in (True, False):
        ds = NodeDataset(index, rows, labels, cache=cache)
        sampler = SizeBatchSampler(ds.sizes, batch, True, 0)
        loader = torch.utils.data.DataLoader(ds, batch_sampler=sampler)
        out[f"loader_{'memory' if cache else 'lazy_hdf5'}_per_s"] = rate(loader, limit, lambda b: len(b[3]))
    model = StagedNet(StagedConfig(), {s: len(STAGES[s].classes) for s in STAGE_ORDER})
    opt = torch.optim.AdamW(model.stage_parameters("stage1"), lr=1e-4)
    loader = torch.utils.data.DataLoader(
        NodeDataset(index, rows, labels, cache=True), batch_sampler=SizeBatchSampler(ds.sizes, batch, True, 0)
    )
    batches = [b for _, b in zip(range(limit + 1), loader)]

    def step(b):
        pixels, q, size, label = b
        loss = torch.nn.functional.cross_entropy(model("stage1", pixels, q, size), label)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return len(label)

    out["model_train_per_s"] = rate(batches, limit, step)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--batches", type=int, default=30)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--json")
    args = ap.parse_args()
    files = data_source([args.data]).files
    rows = [superblock_rows(files, args.batch, args.batches, args.workers), staged_rows(args.data, 128, args.batches)]
    for r in rows:
        print(json.dumps(r))
    result = {
        "data": args.data,
        "shards": len(files),
        "rows": rows,
        "torch_threads": torch.get_num_threads(),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
    }
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
