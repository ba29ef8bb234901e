"""The speed-up simulation of a study: per verdict, a cost model fitted per cq-level on the
calibration clip's encodes (baseline and guided ones), then every guided run of the
evaluated clips predicted from its map alone, against its clip's baseline simulated from
its own counters."""

from __future__ import annotations

from pathlib import Path

from av1tools.encoder import read_stats
from av1tools.eval.encode.clips import Clip
from av1tools.eval.encode.measure import EncodeRun
from av1tools.eval.encode.runs import KINDS, Baseline
from av1tools.eval.speedup import (
    CostModel,
    calibrated,
    fit_cost_model,
    simulate_counters,
    time_saving_against,
)


def _counters(run: EncodeRun | None, work: Path):
    path = work / f"{run.name}.stats" if run else None
    return read_stats(path) if run and run.ok and path.exists() else None


def cost_models(
    runs: list[EncodeRun], calibration: Clip, cq_levels, work: Path, maps: dict | None = None
) -> dict[int, CostModel]:
    """Per cq-level, the cost model of the calibration clip's encodes in ``runs``: unit costs
    from their counters, then scales from their measured times (guided encodes whose map
    is in ``maps``)."""
    models = {}
    maps = maps or {}
    pixels, frames = calibration.pixels, calibration.frames
    for cq in cq_levels:
        mine = [r for r in runs if r.clip == calibration.ref.name and r.cq_level == cq]
        base = [(s, r.cpu_seconds) for r in mine if r.kind == Baseline.kind and (s := _counters(r, work))]
        guided = [(s, r.cpu_seconds, r.name) for r in mine if KINDS[r.kind].guided and (s := _counters(r, work))]
        if base:
            model = fit_cost_model(base, [g[:2] for g in guided], pixels, frames, cq, calibration.ref.name)
            mapped = [(s, cpu, list(maps[name])) for s, cpu, name in guided if name in maps]
            models[cq] = calibrated(model, base, mapped, pixels, frames)
    return models


def simulate(
    runs: list[EncodeRun],
    clips: list[Clip],
    calibration: Clip | None,
    maps: dict,
    work: Path,
    cq_levels,
    verdicts,
) -> dict:
    """Sets each guided run's ``simulated_time_saving``; returns the report's simulation
    section per verdict (the cost models and the simulated baselines' cost per pixel)."""
    if calibration is None:
        return {"note": "no calibration clip: the simulation was not run"}
    out: dict = {"calibration_clip": calibration.ref.name}
    for verdict in verdicts:
        mine = [r for r in runs if r.verdict == verdict]
        out[verdict] = _simulate(mine, clips, cost_models(mine, calibration, cq_levels, work, maps), maps, work)
    return out


def _simulate(runs: list[EncodeRun], clips: list[Clip], models: dict, maps: dict, work: Path) -> dict:
    baseline_per_pixel = {}
    for clip in clips:
        for cq, model in models.items():
            mine = [r for r in runs if r.clip == clip.ref.name and r.cq_level == cq]
            baseline = next((r for r in mine if r.kind == Baseline.kind), None)
            counters = _counters(baseline, work)
            if not counters:
                continue
            base_ns = simulate_counters(counters, model, clip.pixels)
            baseline_per_pixel[f"{clip.ref.name}:{cq}"] = base_ns / (clip.pixels * clip.frames)
            for r in mine:
                if r.ok and r.name in maps:  # against the clip's own measured baseline
                    r.simulated_time_saving = time_saving_against(maps[r.name], model, counters, baseline.cpu_seconds)
    return {
        "cost_models": {str(cq): m.to_dict() for cq, m in models.items()},
        "baseline_ns_per_pixel": baseline_per_pixel,
    }
