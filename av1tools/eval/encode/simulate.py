"""The speed-up simulation of a study, per verdict: every guided run of the evaluated clips
predicted from its map alone, costed node by node in its own clip's baseline
(``av1tools.eval.speedup``), less the model's own time inside the encoder where it ran there
(``model_share``). Without a calibration clip (the default) the node costs are
taken as they are (scales 1); with one, two scales are fitted on its guided encodes (their
maps costed node by node in the calibration baseline, against what they measured), and the
unit-cost model of its encodes is reported too: ``av1tools evaluate`` simulates with it."""

from __future__ import annotations

from pathlib import Path

from av1tools.encoder import read_node_times, read_stats
from av1tools.eval.encode.clips import Clip
from av1tools.eval.encode.measure import EncodeRun, time_saving
from av1tools.eval.encode.runs import KINDS, Baseline
from av1tools.eval.speedup import (
    BaselineNodes,
    CostModel,
    SearchScales,
    fit_cost_model,
    fit_scales,
    simulate_counters,
    simulated_search_ratio,
    time_saving_from_ratio,
)


def _counters(run: EncodeRun | None, work: Path):
    path = work / f"{run.name}.stats" if run else None
    return read_stats(path) if run and run.ok and path.exists() else None


def _nodes(run: EncodeRun | None, work: Path) -> BaselineNodes | None:
    path = work / f"{run.name}.nodes" if run else None
    return BaselineNodes(read_node_times(path)) if run and run.ok and path.exists() else None


def _baseline(runs: list[EncodeRun], clip: str, cq: int) -> EncodeRun | None:
    return next((r for r in runs if r.clip == clip and r.cq_level == cq and r.kind == Baseline.kind), None)


def _guided(runs: list[EncodeRun], clip: str, cq: int, maps: dict) -> list[EncodeRun]:
    return [r for r in runs if r.clip == clip and r.cq_level == cq and KINDS[r.kind].guided and r.ok and r.name in maps]


def timed_search(base: EncodeRun, nodes: BaselineNodes) -> tuple[float, float]:
    """(search ns, CPU s) of the baseline encode whose every node was timed (the first round):
    the search's share of the encode from one encode, not a search from one round over a
    median from others (a slow round's search over a quick median is more than the encode)."""
    return nodes.search_ns, base.cpu_seconds_all[0] if base.cpu_seconds_all else base.cpu_seconds


def model_share(run: EncodeRun, base_cpu_s: float) -> float:
    """The model's own time inside a native guided encode (its timers, the same work whatever
    the search then does) as a share of its baseline: the simulation charges it, since the
    measured saving pays it (a Python run's inference is outside the encoder: 0)."""
    return run.network_seconds / base_cpu_s if base_cpu_s > 0 else 0.0


def calibration_rows(runs: list[EncodeRun], clip: str, cq_levels, work: Path, maps: dict) -> list[tuple]:
    """One clip's guided encodes in ``runs`` as scale-fitting rows, each (its map's guided
    and unguided shares of the baseline's simulated search, its measured search over the
    baseline's measured one), its run, its baseline and the baseline's ``timed_search``. The
    measured share is what the encode saved (its mean time against the baseline's:
    ``time_saving``) with the model's own time added back (``model_share``), taken off the
    baseline's search: the inverse of the prediction."""
    rows = []
    for cq in cq_levels:
        base = _baseline(runs, clip, cq)
        nodes = _nodes(base, work)
        if nodes is None or nodes.search_ns <= 0:
            continue
        searched, cpu = timed_search(base, nodes)
        for r in _guided(runs, clip, cq, maps):
            measured = 1.0 - (time_saving(r, base) + model_share(r, cpu)) * cpu * 1e9 / searched
            rows.append(((*nodes.map_ratios(maps[r.name]), measured), r, base, searched, cpu))
    return rows


def scales(runs: list[EncodeRun], calibration: Clip, cq_levels, work: Path, maps: dict) -> SearchScales:
    """The scales of the calibration clip's guided encodes in ``runs``, over every cq-level."""
    rows = calibration_rows(runs, calibration.ref.name, cq_levels, work, maps)
    return fit_scales([row for row, *_ in rows], calibration.ref.name)


def cost_models(runs: list[EncodeRun], calibration: Clip, cq_levels, work: Path) -> dict[int, CostModel]:
    """Per cq-level, the unit-cost model of the calibration clip's encodes in ``runs``."""
    models = {}
    for cq in cq_levels:
        mine = [r for r in runs if r.clip == calibration.ref.name and r.cq_level == cq]
        base = [(s, r.cpu_seconds) for r in mine if r.kind == Baseline.kind and (s := _counters(r, work))]
        guided = [(s, r.cpu_seconds) for r in mine if KINDS[r.kind].guided and (s := _counters(r, work))]
        if base:
            models[cq] = fit_cost_model(base, guided, calibration.pixels, calibration.frames, cq, calibration.ref.name)
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
    section per verdict (its scales, the unit-cost models and the simulated baselines' cost
    per pixel)."""
    out: dict = {"calibration_clip": calibration.ref.name if calibration else None}
    for verdict in verdicts:
        mine = [r for r in runs if r.verdict == verdict]
        fitted = scales(mine, calibration, cq_levels, work, maps) if calibration else SearchScales()
        models = cost_models(mine, calibration, cq_levels, work) if calibration else {}
        out[verdict] = {
            "scales": fitted.to_dict(),
            "cost_models": {str(cq): m.to_dict() for cq, m in models.items()},
            "baseline_ns_per_pixel": _simulate(mine, clips, fitted, models, maps, work, cq_levels),
        }
    return out


def _simulate(
    runs: list[EncodeRun], clips: list[Clip], fitted: SearchScales, models: dict, maps: dict, work: Path, cq_levels
) -> dict:
    baseline_per_pixel = {}
    for clip in clips:
        for cq in cq_levels:
            baseline = _baseline(runs, clip.ref.name, cq)
            counters = _counters(baseline, work)
            if not counters:
                continue
            if cq in models:  # what ``av1tools evaluate`` compares its simulated maps with
                base_ns = simulate_counters(counters, models[cq], clip.pixels)
                baseline_per_pixel[f"{clip.ref.name}:{cq}"] = base_ns / (clip.pixels * clip.frames)
            nodes = _nodes(baseline, work)
            if nodes is None:  # a baseline without node times (an older study's): not simulated
                continue
            searched, cpu = timed_search(baseline, nodes)
            for r in _guided(runs, clip.ref.name, cq, maps):
                ratio = simulated_search_ratio(nodes.map_ratios(maps[r.name]), fitted)
                r.simulated_time_saving = time_saving_from_ratio(ratio, searched, cpu) - model_share(r, cpu)
    return baseline_per_pixel
