"""The model's design choices, measured on one dataset in one run:

- how blocks are fed: ``native`` size (with per-size BatchNorm statistics) vs everything
  resized to 64x64 -- Stage-1/Stage-2 validation macro-F1, training time, and inference
  blocks/s of the whole staged model;
- class-imbalance handling: class weights vs a balancing sampler vs focal loss vs nothing --
  Stage-1 and Stage-2 validation macro-F1.

Run by hand, e.g. after `av1tools demo`:
`python benchmarks/model_choices.py --data demo-out/data --json choices.json`
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import torch

from av1tools.model.config import TrainConfig, TrainJob
from av1tools.model.hierarchy import STAGE_ORDER, STAGES
from av1tools.model.nodes import load_index
from av1tools.model.staged.config import StagedConfig
from av1tools.model.staged.net import StagedNet
from av1tools.model.staged.train import train_staged


def inference_rate(config: StagedConfig, size: int = 16, batch: int = 256) -> float:
    model = StagedNet(config, {s: len(STAGES[s].classes) for s in STAGE_ORDER}).eval()
    x, q, s = torch.rand(batch, 1, size, size), torch.rand(batch), torch.full((batch,), 3)
    with torch.no_grad():
        for _ in range(2):
            start = time.perf_counter()
            prefix = model.trunk_prefix(x, s)
            for stage in STAGE_ORDER:
                model(stage, x, q, s, prefix=prefix)
            elapsed = time.perf_counter() - start
    return batch / elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", nargs="+", required=True)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--max-samples", type=int, default=8000)
    ap.add_argument("--out", default="/tmp/av1tools-model-choices")
    ap.add_argument("--json")
    args = ap.parse_args()
    index = load_index(args.data)
    base_tc = TrainConfig(epochs=args.epochs, max_samples=args.max_samples, progress=False)
    stages = ("stage1", "stage2")
    results = {"data": args.data, "epochs": args.epochs, "max_samples": args.max_samples, "runs": []}

    def trial(name: str, mc: StagedConfig, tc: TrainConfig) -> None:
        start = time.perf_counter()
        m = train_staged(
            TrainJob(tuple(args.data), Path(f"{args.out}/{name}"), net=mc, train=tc, stages=stages),
            log=lambda _: None,
            index=index,
        ).metrics
        row = {
            "name": name,
            "input_mode": mc.input_mode,
            "balance": tc.balance,
            "stage1_val_f1": m["stages"]["stage1"]["best_val_f1"],
            "stage2_val_f1": m["stages"]["stage2"]["best_val_f1"],
            "train_seconds": time.perf_counter() - start,
        }
        results["runs"].append(row)
        print(json.dumps(row), flush=True)

    for mode in ("native", "resize"):  # with the default balance
        trial(f"input-{mode}", StagedConfig(input_mode=mode), base_tc)
    for balance in ("weights", "sampler", "focal", "none"):
        if balance != base_tc.balance:  # the default's row is the native run above
            trial(f"balance-{balance}", StagedConfig(), replace(base_tc, balance=balance))
    results["inference_blocks_per_s_16x16"] = {
        m: inference_rate(StagedConfig(input_mode=m)) for m in ("native", "resize")
    }
    results["split"] = "sequence (default)"
    print(json.dumps(results["inference_blocks_per_s_16x16"]))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
