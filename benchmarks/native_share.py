"""The network's share of the encoder's CPU time when the superblock model runs inside
libaom (AV1TOOLS_MODEL): issue 20's measurement.

One thread, all-intra, cpu-used 3, the shipped model exported once (loaded with
``load_superblock``), one operating point for every cq-level (AV1TOOLS_MODEL_POINT). The
network's time is the encoder's own account (the stats line's network_ns: thread CPU
time around the forward passes and the sets); the encode's is its aomenc process's CPU
time. Run by hand (about 1-2 minutes on 2 cores for the defaults):
`python benchmarks/native_share.py --json out.json`.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
from pathlib import Path

from av1tools.eval.config import OperatingPoint
from av1tools.extract.aom import EncodeSettings, find_tools
from av1tools.extract.sequences import resolve_sequence
from av1tools.model.superblock.checkpoint import load_superblock
from av1tools.model.superblock.export import export_superblock
from av1tools.native import run_native
from av1tools.zoo import default_model_dir


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seq", default="bigbuckbunny-test")
    ap.add_argument("--frames", type=int, default=3)
    ap.add_argument("--cpu-used", type=int, default=3)
    ap.add_argument("--cq-level", type=int, action="append", help="default: 23 31 39 47")
    ap.add_argument("--coverage", type=float, default=0.8)
    ap.add_argument("--max-types", type=int, default=3)
    ap.add_argument("--aom-dir", help="libaom build (default: av1tools' cached build)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    tools = find_tools(args.aom_dir)
    ref = resolve_sequence(args.seq)
    point = OperatingPoint(coverage=args.coverage, max_types=args.max_types)
    net, extra = load_superblock(default_model_dir())
    rows = []
    with tempfile.TemporaryDirectory(prefix="av1tools-native-share-") as tmp:
        model = export_superblock(net, point, Path(tmp) / "superblock.av1tnet", extra.get("temperatures"))
        for cq in args.cq_level or [23, 31, 39, 47]:
            settings = EncodeSettings(cq_level=cq, cpu_used=args.cpu_used, frames=args.frames)
            r = run_native(settings, ref.path, Path(tmp) / f"q{cq}.ivf", model, point, tools)
            row = {
                "cq_level": cq,
                "encode_cpu_seconds": r.encode.cpu_seconds,
                "network_cpu_seconds": r.network_cpu_seconds,
                "network_calls": r.network_calls,
                "us_per_superblock": 1e6 * r.network_cpu_seconds / max(r.network_calls, 1),
                "share": r.network_share,
            }
            rows.append(row)
            print(
                f"cq {cq}: encode {row['encode_cpu_seconds']:.2f} s CPU, network "
                f"{1e3 * row['network_cpu_seconds']:.1f} ms in {row['network_calls']} passes "
                f"({row['us_per_superblock']:.1f} us each): {100 * row['share']:.3f}%",
                flush=True,
            )
    total = sum(r["network_cpu_seconds"] for r in rows) / sum(r["encode_cpu_seconds"] for r in rows)
    print(f"all cq-levels: {100 * total:.3f}% of the encoder's CPU time")
    if args.json:
        out = {
            "settings": vars(args) | {"json": str(args.json), "machine": platform.processor() or platform.machine()},
            "rows": rows,
            "share": total,
        }
        args.json.write_text(json.dumps(out, indent=1, default=str))


if __name__ == "__main__":
    main()
