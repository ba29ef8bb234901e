"""Model throughput: training samples/s and inference blocks/s per node size, peak memory.

Random blocks (speed does not depend on content), the default staged model (adapters on
layer3+layer4), CPU unless --device says otherwise. Inference runs every stage the way
prediction does (shared trunk prefix once, then each stage). Run by hand:
`python benchmarks/model_speed.py --json out.json`.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import time

import torch
import torch.nn.functional as F

from av1tools.model.common import pick_device
from av1tools.model.hierarchy import STAGE_ORDER, STAGES
from av1tools.model.staged.config import StagedConfig
from av1tools.model.staged.data import SIZE_INDEX
from av1tools.model.staged.net import StagedNet


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(fn, repeat: int) -> float:
    fn()  # warm-up
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - start) / repeat


def measure(model: StagedNet, size: int, batch: int, device, repeat: int) -> dict:
    x = torch.rand(batch, 1, size, size, device=device)
    q = torch.rand(batch, device=device)
    s = torch.full((batch,), SIZE_INDEX[size], device=device)
    labels = torch.randint(0, 2, (batch,), device=device)

    @torch.no_grad()
    def infer():
        prefix = model.trunk_prefix(x, s)
        for stage in STAGE_ORDER:
            model(stage, x, q, s, prefix=prefix)
        if device.type == "cuda":
            torch.cuda.synchronize()

    opt = torch.optim.AdamW(model.stage_parameters("stage1"), lr=1e-4)

    def train_step():
        loss = F.cross_entropy(model("stage1", x, q, s), labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize()

    model.eval()
    t_inf = timed(infer, repeat)
    model.train()
    t_train = timed(train_step, repeat)
    return {
        "size": size,
        "batch": batch,
        "inference_blocks_per_s": batch / t_inf,
        "train_samples_per_s_stage1": batch / t_train,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--input-mode", default="native", choices=["native", "resize"])
    ap.add_argument("--json")
    args = ap.parse_args()
    device = pick_device(args.device)
    torch.manual_seed(0)
    model = StagedNet(StagedConfig(input_mode=args.input_mode), {s: len(STAGES[s].classes) for s in STAGE_ORDER}).to(
        device
    )
    rows = [measure(model, size, args.batch, device, args.repeat) for size in (64, 32, 16, 8)]
    result = {
        "device": str(device),
        "input_mode": args.input_mode,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "rows": rows,
        "peak_rss_mb": peak_rss_mb(),
        "machine": f"{platform.machine()}, {torch.get_num_threads()} threads",
    }
    if device.type == "cuda":
        result["peak_cuda_mb"] = torch.cuda.max_memory_allocated() / 2**20
        result["gpu"] = torch.cuda.get_device_name()
    for r in rows:
        print(
            f"{r['size']:>3}x{r['size']:<3} inference {r['inference_blocks_per_s']:8.0f} blocks/s   "
            f"training {r['train_samples_per_s_stage1']:7.0f} samples/s"
        )
    print(f"peak RSS {result['peak_rss_mb']:.0f} MB")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
