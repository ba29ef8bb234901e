"""The speed-up simulation, checked again on a finished eval-encode study without encoding.

Reads a study's directory (report.json, config.json and encodes/: every run's counters and
decision map, every baseline's node times), rebuilds each guided run's reached nodes from
its map (the nodes a map lists are guided; the others the walk reaches are left to libaom's
search; a native run's own dump where it has one), runs eval-encode's own simulation
(``av1tools.eval.encode.simulate``) as the code now has it, and prints the fitted scales and
each point's simulated time saving and error against the measured one, beside the error the
study itself reported (the simulation as it was when it ran).

    python benchmarks/simulation_check.py reports/study [--json check.json] [--leave-one-out] [--uncalibrated]
        [--report reports/study-again]

``--uncalibrated`` simulates with scales 1 (the node costs of each clip's own baseline as
they are, eval-encode's default) even where the study had a calibration clip.

``--report OUT`` also writes the whole report again (report.md/html/json and its figures)
as the code now aggregates it, from the same encodes: a study's tables after a change to how
time savings or the simulation are computed, without encoding again.

``--leave-one-out`` also predicts each evaluated clip with scales pooled over every other
clip of the study (the calibration clip and the other evaluated ones): what a calibration on
several clips would give, checked without fitting to the clip predicted.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
from collections import defaultdict
from dataclasses import asdict
from pathlib import Path
from types import SimpleNamespace

from av1tools.encoder import MAP_HEADER, SPLIT_BIT, MapEntry, read_stats
from av1tools.eval.encode.measure import EncodeRun, time_saving
from av1tools.eval.encode.simulate import calibration_rows, model_share, simulate
from av1tools.eval.speedup import fit_scales, simulated_search_ratio, time_saving_from_ratio
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
    if cal:
        with Y4MReader(sample_path(cal["name"])) as r:
            sizes[cal["name"]] = {"name": cal["name"], "width": r.width, "height": r.height, "frames": cal["frames"]}
    for c in sizes.values():
        c["pixels"] = c["width"] * c["height"]
    return sizes


def as_runs(report: dict) -> list[EncodeRun]:
    """The study's runs as eval-encode's own records (fields the report holds)."""
    fields = {f.name for f in dataclasses.fields(EncodeRun)}
    return [EncodeRun(**{k: v for k, v in d.items() if k in fields}) for d in report["runs"]]


def as_clip(size: dict) -> SimpleNamespace:
    """What the simulation reads of a clip: its name, pixels per frame and frames."""
    return SimpleNamespace(ref=SimpleNamespace(name=size["name"]), pixels=size["pixels"], frames=size["frames"])


def leave_one_out(runs, clips: list[str], calibration: str, cq_levels, verdicts, work: Path, maps: dict) -> float:
    """Each evaluated clip predicted with scales pooled over every other clip of the study
    (the calibration clip and the other evaluated ones): prints each point's error, returns
    the largest."""
    worst = 0.0
    for verdict in verdicts:
        mine = [r for r in runs if r.verdict == verdict]
        rows = {c: calibration_rows(mine, c, cq_levels, work, maps) for c in [*clips, calibration]}
        for clip in clips:
            scales = fit_scales([row for other, rs in rows.items() if other != clip for row, *_ in rs])
            points = defaultdict(list)
            for ratios, r, base, searched, cpu in rows[clip]:
                ratio = simulated_search_ratio(ratios[:2], scales)
                sim = time_saving_from_ratio(ratio, searched, cpu) - model_share(r, cpu)
                points[r.label].append((sim, time_saving(r, base)))
            for label, v in sorted(points.items()):
                error = statistics.mean(x[0] for x in v) - statistics.mean(x[1] for x in v)
                worst = max(worst, abs(error))
                print(
                    f"leave-one-out {verdict:6s} {clip:24s} {label:22s} scales {scales.guided:.3f} / "
                    f"{scales.unguided:.3f}  error {error * 100:+6.1f}"
                )
    print(f"leave-one-out largest error: {worst * 100:.1f} points")
    return worst


def write_again(report: dict, runs: list[EncodeRun], simulation: dict, out: Path) -> None:
    """The study's report as the code now aggregates it (same encodes, same settings)."""
    from av1tools.eval.encode.study import summarise
    from av1tools.report import write_report
    from av1tools.report.plots import encode_plots

    settings = report["settings"] | ({} if simulation.get("calibration_clip") else {"calibration": None})
    result = summarise(runs, settings, simulation).to_dict()
    clips = ", ".join(c["name"] for c in settings["clips"])
    paths = write_report("encode", result, out, f"eval-encode report: {clips} (aggregated again)", encode_plots)
    print("report:", *(str(p) for p in paths.values()))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("study", type=Path)
    ap.add_argument("--json", type=Path)
    ap.add_argument(
        "--leave-one-out",
        action="store_true",
        help="also predict each clip with scales pooled over every other clip of the study",
    )
    ap.add_argument("--uncalibrated", action="store_true", help="scales 1, whatever the study was calibrated on")
    ap.add_argument("--report", type=Path, help="write the whole report again here, as the code now aggregates it")
    args = ap.parse_args()
    report = json.loads((args.study / "report.json").read_text())
    work = args.study / "encodes"
    settings = report["settings"]
    calibration = report["simulation"]["calibration_clip"]
    sizes = clip_sizes(report)
    runs = as_runs(report)
    when_run = {r.name: r.simulated_time_saving for r in runs}
    for r in runs:
        r.simulated_time_saving = None  # the simulation below sets it again
    stats = {r.name: read_stats(work / f"{r.name}.stats") for r in runs if r.ok}
    maps = {r.name: reached(work, stats, asdict(r), sizes[r.clip]) for r in runs if r.ok and r.map_nodes}
    clips = [as_clip(sizes[c["name"]]) for c in settings["clips"]]
    cq_levels, verdicts = settings["cq_levels"], settings["verdicts"]
    fit_on = as_clip(sizes[calibration]) if calibration and not args.uncalibrated else None
    section = simulate(runs, clips, fit_on, maps, work, cq_levels, verdicts)
    for verdict in verdicts:
        print(f"{verdict}: scales {section[verdict]['scales']}")
    out = defaultdict(list)
    for r in runs:
        if r.clip == calibration or r.name not in maps or r.simulated_time_saving is None:
            continue
        key = (r.clip, r.cq_level, r.verdict, "baseline")
        [b] = [x for x in runs if (x.clip, x.cq_level, x.verdict, x.kind) == key]
        measured = time_saving(r, b)
        out[(r.verdict, r.clip, r.label)].append((r.simulated_time_saving, measured, when_run[r.name]))
    rows = []
    for (verdict, clip, label), v in sorted(out.items()):
        sim, measured = statistics.mean(x[0] for x in v), statistics.mean(x[1] for x in v)
        then = [x[2] for x in v if x[2] is not None]
        rows.append(
            {
                "verdict": verdict,
                "clip": clip,
                "point": label,
                "measured": measured,
                "simulated": sim,
                "error": sim - measured,
                "error_when_run": statistics.mean(then) - measured if then else None,
            }
        )
        was = f"{rows[-1]['error_when_run'] * 100:+6.1f}" if then else "   n/a"
        print(
            f"{verdict:6s} {clip:24s} {label:22s} measured {measured * 100:5.1f}%  "
            f"simulated {sim * 100:5.1f}%  error {(sim - measured) * 100:+6.1f} (when run {was})"
        )
    worst = max((abs(r["error"]) for r in rows), default=0.0)
    if not rows:
        raise SystemExit(f"{args.study}: no run simulated (its baselines have no node times: a study from before them)")
    print(f"largest error: {worst * 100:.1f} points over {len(rows)} points")
    names = [c["name"] for c in settings["clips"]]
    loo = None
    if args.leave_one_out and calibration:
        loo = leave_one_out(runs, names, calibration, cq_levels, verdicts, work, maps)
    if args.report:
        write_again(report, runs, section, args.report)
    if args.json:
        doc = {"study": str(args.study), "scales": {v: section[v]["scales"] for v in verdicts}}
        doc["leave_one_out_largest_error"] = loo
        args.json.write_text(json.dumps(doc | {"rows": rows, "largest_error": worst}, indent=2))


if __name__ == "__main__":
    main()
