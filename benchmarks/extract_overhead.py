"""Extraction overhead: wall time of `av1tools extract` vs the bare aomenc encode it wraps.

Both run on the same clip and settings, alternating, in one process tree; the ratio of the
medians is the overhead (target <= 1.05). Run by hand: `make bench` or
`python benchmarks/extract_overhead.py --seq bikes --frames 10`.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from av1tools.extract.aom import EncodeSettings, find_tools
from av1tools.extract.sequences import resolve_sequence


def wall(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seq", default="bikes")
    ap.add_argument("--frames", type=int, default=30)
    ap.add_argument("--cq-level", type=int, default=32)
    ap.add_argument("--cpu-used", type=int, default=3)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", type=Path, help="also write the result here")
    args = ap.parse_args()

    tools = find_tools()
    y4m = resolve_sequence(args.seq).path
    settings = EncodeSettings(cq_level=args.cq_level, cpu_used=args.cpu_used, frames=args.frames)
    bare, full = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeat):
            out = Path(tmp) / f"run{i}"
            bare.append(wall([str(tools.aomenc)] + settings.aomenc_args(y4m, Path(tmp) / "bare.ivf", 8)))
            full.append(
                wall(
                    [
                        sys.executable,
                        "-m",
                        "av1tools",
                        "extract",
                        "--seq",
                        str(y4m),
                        "--out",
                        str(out),
                        "--cq-level",
                        str(args.cq_level),
                        "--frames",
                        str(args.frames),
                        "--cpu-used",
                        str(args.cpu_used),
                        "--jobs",
                        "1",
                        "-q",
                    ]
                )
            )
            print(f"run {i}: aomenc {bare[-1]:.2f} s, av1tools extract {full[-1]:.2f} s", file=sys.stderr)
    result = {
        "clip": args.seq,
        "frames": args.frames,
        "cq_level": args.cq_level,
        "cpu_used": args.cpu_used,
        "aomenc_median_s": round(statistics.median(bare), 3),
        "extract_median_s": round(statistics.median(full), 3),
        "ratio": round(statistics.median(full) / statistics.median(bare), 4),
        "machine": f"{platform.node()} {platform.processor() or platform.machine()}, "
        f"{__import__('os').cpu_count()} cores",
    }
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
