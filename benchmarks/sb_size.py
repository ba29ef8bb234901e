"""Why guided runs fix 64x64 superblocks: what libaom's dynamic superblock size (its default)
changes against --sb-size=64, measured with the stock, unpatched aomenc.

All-intra at speed >= 1, libaom picks 64x64 when the smaller frame dimension is at most 480
and 128x128 above. Per clip: BD-rate PSNR-Y of dynamic against 64 (positive: dynamic costs
bits) and its CPU time against 64, rounds alternating so drift hits both alike. Run by hand:
`python benchmarks/sb_size.py --seq bigbuckbunny-test --frames 4 --json sb.json`.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
from pathlib import Path

from av1tools.eval.bdrate import bd_rate
from av1tools.eval.config import DEFAULT_CQ_LEVELS
from av1tools.eval.quality import measure_quality
from av1tools.extract.aom import EncodeSettings, reference_tools, run_encoder
from av1tools.extract.sequences import resolve_sequence_set
from av1tools.extract.y4m import Y4MReader


def curve(runs: dict, sb: int) -> tuple[list[float], list[float]]:
    """(kbps, PSNR-Y) over the cq-levels of one superblock setting."""
    return [runs[(sb, q)]["kbps"] for q in DEFAULT_CQ_LEVELS], [runs[(sb, q)]["psnr_y"] for q in DEFAULT_CQ_LEVELS]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seq", action="append", required=True, help="clips (repeatable; sets too)")
    ap.add_argument("--frames", type=int, default=4)
    ap.add_argument("--cpu-used", type=int, default=3)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--json", type=Path, help="also write the result here")
    args = ap.parse_args()
    tools = reference_tools()  # libaom exactly as Debian's source builds it, without av1tools' patch
    rows = []
    with tempfile.TemporaryDirectory(prefix="av1tools-sb-") as tmp:
        for ref in resolve_sequence_set(args.seq):
            with Y4MReader(ref.path) as r:
                depth, size, frames = r.bit_depth, (r.width, r.height), min(args.frames, len(r))
            runs: dict = {}
            for rnd in range(args.repeat):
                for cq in DEFAULT_CQ_LEVELS:
                    for sb in (64, 0):
                        settings = EncodeSettings(cq_level=cq, cpu_used=args.cpu_used, sb_size=sb, frames=frames)
                        ivf = Path(tmp) / f"{ref.name}_{settings.tag()}.ivf"
                        result = run_encoder(tools, settings, ref.path, ivf, depth)
                        run = runs.setdefault((sb, cq), {"cpu": [], "kbps": ivf.stat().st_size * 8 / 1000})
                        run["cpu"].append(result.cpu_seconds)
                        if rnd == 0:
                            run["psnr_y"] = measure_quality(ivf, ref.path, frames)["psnr_y"]
            for sb in (64, 0):
                for cq in DEFAULT_CQ_LEVELS:
                    runs[(sb, cq)]["cpu"] = statistics.median(runs[(sb, cq)]["cpu"])

            rate64, q64 = curve(runs, 64)
            rate_dyn, q_dyn = curve(runs, 0)
            rows.append(
                {
                    "clip": ref.name,
                    "size": f"{size[0]}x{size[1]}",
                    "frames": frames,
                    "dynamic_bd_rate_psnr_y": bd_rate(rate64, q64, rate_dyn, q_dyn),
                    "dynamic_cpu_vs_64": statistics.mean(
                        runs[(0, q)]["cpu"] / runs[(64, q)]["cpu"] - 1 for q in DEFAULT_CQ_LEVELS
                    ),
                }
            )
            print(json.dumps(rows[-1]))
    out = {"machine": f"{platform.machine()}, {platform.processor() or 'cpu'}", "cpu_used": args.cpu_used, "rows": rows}
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
