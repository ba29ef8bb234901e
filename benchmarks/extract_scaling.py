"""Extraction throughput with 1 and 2 workers on this machine, and what it projects to on a
cluster (on paper, from the measured per-job cost and shard size).

Each run extracts the same shards (a clip at four cq-levels) into a fresh directory with
`av1tools extract --jobs N`; throughput is shards and encoded frames per wall-clock second.
Run by hand: `python benchmarks/extract_scaling.py --seq bikes --frames 10 --json scaling.json`
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CQ_LEVELS = ("23", "31", "39", "47")


def run(seq: str, frames: int, cpu_used: int, jobs: int, out: Path) -> float:
    cmd = [
        sys.executable,
        "-m",
        "av1tools",
        "extract",
        "--seq",
        seq,
        "--out",
        str(out),
        "--frames",
        str(frames),
        "--cpu-used",
        str(cpu_used),
        "--jobs",
        str(jobs),
        "-q",
    ]
    for cq in CQ_LEVELS:
        cmd += ["--cq-level", cq]
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seq", default="bikes")
    ap.add_argument("--frames", type=int, default=10)
    ap.add_argument("--cpu-used", type=int, default=3)
    ap.add_argument("--json")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for jobs in (1, 2):
            out = Path(tmp) / f"jobs{jobs}"
            seconds = run(args.seq, args.frames, args.cpu_used, jobs, out)
            shards = sorted(out.glob("*.h5"))
            size = sum(p.stat().st_size for p in shards) / len(shards)
            rows.append(
                {
                    "jobs": jobs,
                    "seconds": seconds,
                    "shards": len(shards),
                    "shards_per_s": len(shards) / seconds,
                    "frames_per_s": len(shards) * args.frames / seconds,
                    "mean_shard_mb": size / 1e6,
                }
            )
            print(json.dumps(rows[-1]), flush=True)
    per_job = rows[0]["seconds"] / rows[0]["shards"]  # one worker: a job's wall time, start-up included
    result = {
        "clip": args.seq,
        "frames": args.frames,
        "cpu_used": args.cpu_used,
        "rows": rows,
        "speedup_2_workers": rows[0]["seconds"] / rows[1]["seconds"],
        "seconds_per_job": per_job,
        "projection": {
            f"{w} workers": {
                "shards_per_hour": 3600 * w / per_job,
                "mb_written_per_hour": 3600 * w / per_job * rows[0]["mean_shard_mb"],
            }
            for w in (16, 64, 256)
        },
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
    }
    print(json.dumps(result["projection"], indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
