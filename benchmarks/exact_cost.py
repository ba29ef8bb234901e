"""What the exact switch (AV1TOOLS_EXACT_GUIDE=1) costs the baseline: the patched aomenc with
the switch against the same encoder without it (stock libaom's bits: without its variables the
patched encoder codes what the unpatched one does), per clip BD-rate PSNR-Y and CPU time,
rounds alternating so drift hits both alike. `--old-exact DIR` adds an older build's exact
switch (e.g. the all-intra-only one) as a third run. Run by hand:
`python benchmarks/exact_cost.py --seq bigbuckbunny-cif --mode ra --frames 17 --cpu-used 3`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

from av1tools.encoder import encoder_env
from av1tools.eval.bdrate import bd_rate
from av1tools.eval.config import DEFAULT_CQ_LEVELS
from av1tools.eval.quality import measure_quality
from av1tools.extract.aom import EncodeSettings, find_tools, run_encoder
from av1tools.extract.sequences import resolve_sequence_set
from av1tools.extract.y4m import Y4MReader


def curve(runs: dict, name: str) -> tuple[list[float], list[float]]:
    """(kbps, PSNR-Y) over the cq-levels of one run."""
    return [runs[(name, q)]["kbps"] for q in DEFAULT_CQ_LEVELS], [runs[(name, q)]["psnr_y"] for q in DEFAULT_CQ_LEVELS]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seq", action="append", required=True, help="clips (repeatable; sets too)")
    ap.add_argument("--mode", default="ra")
    ap.add_argument("--frames", type=int, default=17)
    ap.add_argument("--cpu-used", type=int, default=3)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--old-exact", type=Path, help="another build whose exact switch to measure as well")
    ap.add_argument("--json", type=Path, help="also write the result here")
    args = ap.parse_args()
    tools = find_tools()
    configs = {"stock": (tools, False), "exact": (tools, True)}
    if args.old_exact:
        configs["old_exact"] = (find_tools(args.old_exact), True)
    rows = []
    with tempfile.TemporaryDirectory(prefix="av1tools-exact-") as tmp:
        for ref in resolve_sequence_set(args.seq):
            with Y4MReader(ref.path) as r:
                depth, frames = r.bit_depth, min(args.frames, len(r))
            runs: dict = {}
            for rnd in range(args.repeat):
                for cq in DEFAULT_CQ_LEVELS:
                    settings = EncodeSettings(cq_level=cq, cpu_used=args.cpu_used, mode=args.mode, frames=frames)
                    for name, (t, exact) in configs.items():
                        ivf = Path(tmp) / f"{ref.name}_{name}_{settings.tag()}.ivf"
                        env = encoder_env(None, None, exact=exact or None)
                        result = run_encoder(t, settings, ref.path, ivf, depth, env=env)
                        run = runs.setdefault((name, cq), {"cpu": [], "kbps": ivf.stat().st_size * 8 / 1000})
                        run["cpu"].append(result.cpu_seconds)
                        if rnd == 0:
                            run["psnr_y"] = measure_quality(ivf, ref.path, frames, ("psnr",))["psnr_y"]
            cpu = {n: sum(statistics.median(runs[(n, q)]["cpu"]) for q in DEFAULT_CQ_LEVELS) for n in configs}
            row = {"sequence": ref.name, "cpu_seconds": cpu}
            for name in configs:
                if name != "stock":
                    row[f"{name}_bd_rate"] = bd_rate(*curve(runs, "stock"), *curve(runs, name))
                    row[f"{name}_cpu_change"] = cpu[name] / cpu["stock"] - 1
            rows.append(row)
            print(json.dumps(row), flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
