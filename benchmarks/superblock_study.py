"""The superblock model: validation F1 against training-set size, network width and context
inputs (``--context``: a margin of the frame, a local-activity channel, the frame's size),
with each variant's inference cost on one CPU thread.

Every run trains on the same data with the same validation groups (the manifest's split);
training-set size is a random fraction of the training superblocks (same seed). The shards
are read once per input layout and kept in memory across runs. Run by hand:
`python benchmarks/superblock_study.py --data zoo-work/data --out sbstudy --json study.json`
(`--context --variants plain margin16` for part of the ablation).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import torch

import av1tools.model.superblock.train as superblock_train
from av1tools.model.config import TrainConfig, TrainJob
from av1tools.model.families import train
from av1tools.model.superblock.config import FRAME_INFO, LEVEL_WEIGHTS, UNCODED, SuperblockConfig
from av1tools.model.superblock.net import SuperblockNet, count_macs

CONTEXT = {  # the ablation of context inputs: each alone, then together
    "plain": {},
    "margin16": {"margin": 16},
    "margin32": {"margin": 32},
    "activity": {"activity": True},
    "frame_size": {"frame_size": True},
    "margin16+activity+frame_size": {"margin": 16, "activity": True, "frame_size": True},
}
MOTION = {  # the ablation of temporal inputs (random-access shards)
    "plain": {},
    "references1": {"references": 1},
    "references2": {"references": 2},
    "frame_info": {"frame_info": True},
    "references2+frame_info": {"references": 2, "frame_info": True},
}


def _loaded_once(load):
    """``load_superblocks`` that keeps the last input layout's data (the variants of one layout
    train on the same arrays; a new layout lets the old one go)."""
    kept: dict = {}

    def cached(files, config=None, **kw):
        layout = (getattr(config, "margin", 0), getattr(config, "references", 0))
        key = (tuple(map(str, files)), layout)
        for k in [k for k in kept if k[1] != layout]:
            del kept[k]
        if key not in kept:
            kept[key] = load(files, config, **kw)
        return kept[key]

    return cached


def inference_us_per_sb(config: SuperblockConfig, batch: int) -> float:
    """Microseconds per superblock, one thread, a frame's superblocks in one batch."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        net = SuperblockNet(config).eval()
        x = torch.rand(batch, 1 + config.references, config.window, config.window)
        q, f, info = torch.rand(batch), torch.rand(batch, 2), torch.rand(batch, FRAME_INFO)
        with torch.inference_mode():
            for _ in range(3):
                net(x, q, f, info)
            start = time.perf_counter()
            for _ in range(20):
                net(x, q, f, info)
        return (time.perf_counter() - start) / 20 / batch * 1e6
    finally:
        torch.set_num_threads(threads)


def study(args, config: SuperblockConfig, variant: str) -> list[dict]:
    """One variant trained at every training-set size."""
    cost = {
        "macs": count_macs(config),
        "params": sum(p.numel() for p in SuperblockNet(config).parameters()),
        "us_per_sb_720p_batch": inference_us_per_sb(config, 240),
        "us_per_sb_cif_batch": inference_us_per_sb(config, 24),
    }
    rows = []
    for size in args.sizes:
        name = f"w{'-'.join(map(str, config.widths))}_{variant}_n{size or 'all'}"
        job = TrainJob(
            (args.data,),
            Path(args.out) / name,
            arch="superblock",
            net=config,
            train=TrainConfig(
                epochs=args.epochs,
                batch_size=256,
                lr=2e-3,
                patience=5,
                max_samples=size or None,
                max_val_samples=args.max_val or None,
                threads=args.threads,
                progress=False,
            ),
        )
        start = time.perf_counter()
        m = train(job, log=lambda message: None).metrics
        row = {
            "variant": variant,
            "widths": list(config.widths),
            "train_superblocks": m["train_superblocks"],
            "val_superblocks": m["val_superblocks"],
            "val_macro_f1": m["best_val"]["macro_f1"],
            "val_nll": m["best_val"]["nll"],
            "val_nll_uncalibrated": m["calibration"]["nll_before"],
            "val_ece": m["calibration"]["reliability_after"]["ece"],
            "val_accuracy": m["best_val"]["accuracy"],
            "val_macro_f1_by_size": m["best_val"]["by_size"],
            "best_epoch": max((h["epoch"] for h in m["history"] if h.get("best")), default=0),
            "epochs_run": len(m["history"]),
            "train_seconds": time.perf_counter() - start,
            "run": str(job.out),
            **cost,
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", default="/tmp/av1tools-superblock-study")
    ap.add_argument("--sizes", type=int, nargs="+", default=[10000, 30000, 0], help="training superblocks (0: all)")
    ap.add_argument("--widths", nargs="+", default=["16,24,32,48,64"])
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--level-weights", default=SuperblockConfig.level_weights, choices=LEVEL_WEIGHTS)
    ap.add_argument("--uncoded", default=SuperblockConfig.uncoded, choices=UNCODED)
    ap.add_argument("--context", action="store_true", help="the context ablation (each width, every variant)")
    ap.add_argument("--motion", action="store_true", help="the temporal ablation (random-access data)")
    ap.add_argument("--variants", nargs="+", choices=list(CONTEXT | MOTION), help="only these variants")
    ap.add_argument("--max-val", type=int, default=0, help="validation superblocks (a seeded sample; 0: all)")
    ap.add_argument("--threads", type=int, default=0, help="torch's CPU threads (0: one per core)")
    ap.add_argument("--json")
    args = ap.parse_args()
    superblock_train.load_superblocks = _loaded_once(superblock_train.load_superblocks)
    table = (CONTEXT if args.context else {}) | (MOTION if args.motion else {}) or {"plain": {}}
    variants = {v: c for v, c in table.items() if v in (args.variants or table)}
    rows = []
    for spec in args.widths:
        widths = tuple(int(w) for w in spec.split(","))
        for variant, context in variants.items():
            config = SuperblockConfig(widths=widths, level_weights=args.level_weights, uncoded=args.uncoded, **context)
            rows += study(args, config, variant)
    result = {
        "data": args.data,
        "epochs": args.epochs,
        "max_val": args.max_val,
        "level_weights": args.level_weights,
        "uncoded": args.uncoded,
        "rows": rows,
        "torch": torch.__version__,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {torch.get_num_threads()} threads",
    }
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
