"""The speed-up simulation, checked again on a finished eval-encode study without encoding.

Reads a study's directory (report.json, config.json and encodes/: every run's counters and
decision map), rebuilds each guided run's reached nodes from its map (the nodes a map lists
are guided; the others the walk reaches are left to libaom's search), fits the cost models
on the calibration clip with the simulation in ``av1tools.eval.speedup`` as it is now, and
prints each point's simulated time saving and error against the measured one, beside the
error the study itself reported (the simulation as it was when the study ran).

    python benchmarks/simulation_check.py reports/study [--json check.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections import defaultdict
from pathlib import Path

from av1tools.encoder import MAP_HEADER, SPLIT_BIT, MapEntry, read_stats
from av1tools.eval.speedup import (
    calibrated,
    fit_cost_model,
    simulate_counters,
    simulate_map,
    simulated_time_saving,
    time_saving_against,
)
from av1tools.partition import MI_SIZE, MIN_NODE_SIZE


def read_map(path: Path) -> dict[tuple, int]:
    """(display index, hidden, x, y, size) -> mask of a decision file's guided nodes."""
    lines = path.read_text().splitlines()
    if not lines or lines[0] + "\n" != MAP_HEADER:
        raise ValueError(f"{path}: not a decision map")
    out = {}
    for line in lines[1:]:
        d, h, row, col, size, mask = map(int, line.split())
        out[(d, h, col * MI_SIZE, row * MI_SIZE, size)] = mask
    return out


def reached_entries(guided: dict, frames: list[tuple[int, int]], width: int, height: int, sb: int = 64):
    """Every node the guided encoder reaches: a listed node is guided, and looked below when
    its set holds SPLIT; an unlisted one keeps the normal search, which may look below."""
    for d, h in frames:
        stack = [(x, y, sb) for y in range(0, height, sb) for x in range(0, width, sb)]
        while stack:
            x, y, size = stack.pop()
            mask = guided.get((d, h, x, y, size))
            yield MapEntry(d, x, y, size, mask or 0, hidden=bool(h), guided=mask is not None)
            if size > MIN_NODE_SIZE and (mask is None or mask & SPLIT_BIT):
                half = size // 2
                stack += [(cx, cy, half) for cy in (y, y + half) for cx in (x, x + half) if cx < width and cy < height]


def reached(work: Path, stats: dict, run: dict, clip: dict) -> list[MapEntry]:
    """A run's reached entries: a native run's dump (every node the encoder asked about, mask
    0 where it left the normal search), else its map and the frames its counters name."""
    from av1tools.native import read_dump

    if (work / f"{run['name']}.sets").exists():
        return read_dump(work / f"{run['name']}.sets")
    frames = [(f.display_index, int(not f.show_frame)) for f in stats[run["name"]]]
    return list(reached_entries(read_map(work / f"{run['name']}.map"), frames, clip["width"], clip["height"]))


def clip_sizes(report: dict) -> dict[str, dict]:
    """name -> width, height, frames, pixels of the evaluated clips and the calibration clip."""
    from av1tools.extract.sequences import sample_path
    from av1tools.extract.y4m import Y4MReader

    settings = report["settings"]
    sizes = {c["name"]: dict(c) for c in settings["clips"]}
    cal = settings["calibration"]
    with Y4MReader(sample_path(cal["name"])) as r:
        sizes[cal["name"]] = {"name": cal["name"], "width": r.width, "height": r.height, "frames": cal["frames"]}
    for c in sizes.values():
        c["pixels"] = c["width"] * c["height"]
    return sizes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("study", type=Path)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    report = json.loads((args.study / "report.json").read_text())
    work = args.study / "encodes"
    calibration = report["simulation"]["calibration_clip"]
    sizes = clip_sizes(report)
    out = defaultdict(list)
    for verdict in report["settings"]["verdicts"]:
        runs = [r for r in report["runs"] if r["verdict"] == verdict and r["ok"]]
        for cq in sorted({r["cq_level"] for r in runs}):
            mine = [r for r in runs if r["cq_level"] == cq]
            clip = sizes[calibration]
            cal = [r for r in mine if r["clip"] == calibration]
            stats = {r["name"]: read_stats(work / f"{r['name']}.stats") for r in mine}

            base = [(stats[r["name"]], r["cpu_seconds"]) for r in cal if r["kind"] == "baseline"]
            mapped = [r for r in cal if r["map_nodes"]]
            guided = [(stats[r["name"]], r["cpu_seconds"], reached(work, stats, r, clip)) for r in mapped]
            model = fit_cost_model(base, [g[:2] for g in guided], clip["pixels"], clip["frames"], cq, calibration)
            model = calibrated(model, base, guided, clip["pixels"], clip["frames"])
            for r in mine:
                if r["clip"] == calibration or not r["map_nodes"]:
                    continue
                c = sizes[r["clip"]]
                [b] = [x for x in mine if x["clip"] == r["clip"] and x["kind"] == "baseline"]
                entries = reached(work, stats, r, c)
                sim = simulated_time_saving(
                    simulate_map(entries, model, c["pixels"], c["frames"]),
                    simulate_counters(stats[b["name"]], model, c["pixels"]),
                )
                against = time_saving_against(entries, model, stats[b["name"]], b["cpu_seconds"])
                measured = 1 - r["cpu_seconds"] / b["cpu_seconds"]
                out[(verdict, r["clip"], r["label"])].append((sim, measured, r.get("simulated_time_saving"), against))
    rows = []
    for (verdict, clip, label), v in sorted(out.items()):
        sim, measured = statistics.mean(x[0] for x in v), statistics.mean(x[1] for x in v)
        then = [x[2] for x in v if x[2] is not None]
        against = statistics.mean(x[3] for x in v)
        rows.append(
            {
                "verdict": verdict,
                "clip": clip,
                "point": label,
                "measured": measured,
                "simulated": sim,
                "error": sim - measured,
                "error_when_run": statistics.mean(then) - measured if then else None,
                "against_baseline": against,
                "against_baseline_error": against - measured,
            }
        )
        was = f"{rows[-1]['error_when_run'] * 100:+6.1f}" if then else "   n/a"
        print(
            f"{verdict:6s} {clip:24s} {label:22s} measured {measured * 100:5.1f}%  "
            f"simulated {sim * 100:5.1f}%  error {(sim - measured) * 100:+6.1f} (when run {was}); "
            f"against its baseline {against * 100:5.1f}% error {(against - measured) * 100:+6.1f}"
        )
    worst = max((abs(r["error"]) for r in rows), default=0.0)
    print(f"largest error: {worst * 100:.1f} points over {len(rows)} points")
    if args.json:
        args.json.write_text(json.dumps({"study": str(args.study), "rows": rows, "largest_error": worst}, indent=2))


if __name__ == "__main__":
    main()
