"""eval-encode: what a partition predictor is worth to the real encoder.

For every clip and cq-level it encodes: the baseline (normal search), the oracle (the
baseline's own partitions fed back: the approach's ceiling), the model at each operating
point, and libaom's faster presets (what a user would pick instead of a model). Every run
uses the same instrument:

- ``exact`` (default): every encode runs with ``AV1TOOLS_EXACT_GUIDE=1``, which turns off the
  two all-intra speed features that make a block's mode search depend on partition types
  evaluated before it; the oracle is then bit-identical to the baseline, so a model's
  BD-rate is its own. The stock baseline is encoded too, and the switch's cost reported.
- the model and the encoder run on the same number of threads (1 by default); the model's
  warm-up is timed apart; each operating point is charged the inference of the nodes it
  needs and of deriving its map; CPU and wall time are both recorded;
- every bitstream is decoded with dav1d and compared with the source;
- a cost model calibrated on another clip predicts each guided run's time saving from its
  map alone (``speedup``), and the report shows each prediction's error;
- every model point is compared with the preset ladder at the same time saving
  (``ladder``), encoder-only and end to end.

Encodes are jobs (``av1tools.jobs``): each encode's CPU time is its own aomenc process's.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from av1tools.eval.bdrate import bd_rate
from av1tools.eval.config import EvalEncodeConfig, OperatingPoint
from av1tools.eval.guided import (
    MapEntry,
    counter_totals,
    guided_env,
    oracle_entries,
    prediction_entries,
    read_stats,
    write_partition_map,
)
from av1tools.eval.ladder import compare, ladder_points
from av1tools.eval.quality import measure_quality
from av1tools.eval.speedup import CostModel, fit_cost_model, simulate_counters, simulate_map
from av1tools.extract.aom import (
    AomTools,
    EncodeSettings,
    encoder_build,
    find_tools,
    inspect_bitstream,
    run_encoder,
)
from av1tools.extract.sequences import SequenceError, SequenceRef, resolve_sequence, resolve_sequence_set
from av1tools.extract.y4m import Y4MReader
from av1tools.jobs import Outcome, run_jobs
from av1tools.partition import cq_level_to_qindex, frame_nodes

EXACT_ENV = "AV1TOOLS_EXACT_GUIDE"
Progress = Callable[[str, int, int], None]


class EvalEncodeError(ValueError):
    """A study that cannot be run as configured (checked before any encode)."""


@dataclass(frozen=True)
class EncodeJob:
    """One encode (repeated for timing), self-contained so that any worker can run it."""

    label: str
    kind: str  # baseline | stock | oracle | model | preset
    clip: str
    source: Path
    settings: EncodeSettings
    work: Path
    name: str  # file stem in ``work``
    repeat: int
    exact: bool
    map_path: Path | None = None
    aom_dir: str | None = None

    @property
    def ivf(self) -> Path:
        return self.work / f"{self.name}.ivf"

    @property
    def stats(self) -> Path:
        return self.work / f"{self.name}.stats"


@dataclass
class EncodeRun:
    label: str
    kind: str
    clip: str
    cq_level: int
    cpu_used: int
    name: str = ""  # its files in encodes/: <name>.ivf, .stats, .map
    ok: bool = True
    error: str = ""
    bytes: int = 0
    kbps: float = 0.0
    cpu_seconds: float = 0.0  # median over repeats, the aomenc process's user + system time
    cpu_seconds_all: list = field(default_factory=list)
    wall_seconds: float = 0.0  # median over repeats
    inference_cpu_seconds: float = 0.0
    inference_wall_seconds: float = 0.0
    quality: dict = field(default_factory=dict)
    counters: dict = field(default_factory=dict)
    map_nodes: int = 0  # nodes the map constrains
    unguided_nodes: int = 0  # nodes the map leaves to the normal search
    partition_mismatches: int | None = None  # oracle: nodes whose partition did not come back
    identical_to_baseline: bool | None = None  # oracle: the bitstream, byte for byte
    simulated_time_saving: float | None = None


def run_encode(job: EncodeJob) -> dict:
    """Encode ``job.repeat`` times, keep the last bitstream and counters, decode it with dav1d
    and score it against the source. Runs in any process."""
    tools = find_tools(job.aom_dir)
    env = guided_env(job.map_path, job.stats)
    env[EXACT_ENV] = "1" if job.exact else "0"
    cpu, wall = [], []
    with Y4MReader(job.source) as reader:
        bit_depth, fps = reader.bit_depth, float(reader.header.fps)
    for _ in range(job.repeat):
        job.stats.unlink(missing_ok=True)
        result = run_encoder(tools, job.settings, job.source, job.ivf, bit_depth, env=env)
        cpu.append(result.cpu_seconds)
        wall.append(result.wall_seconds)
    frames = job.settings.frames
    size = job.ivf.stat().st_size
    return {
        "cpu_seconds_all": cpu,
        "cpu_seconds": statistics.median(cpu),
        "wall_seconds": statistics.median(wall),
        "bytes": size,
        "kbps": size * 8 / 1000 / (frames / fps),
        "quality": measure_quality(job.ivf, job.source, frames).to_dict(),
    }


@dataclass(frozen=True)
class Clip:
    ref: SequenceRef
    width: int
    height: int
    frames: int
    bit_depth: int
    calibration: bool = False

    @property
    def pixels(self) -> int:
        return self.width * self.height


def _clip(ref: SequenceRef, frames: int | None, calibration: bool = False) -> Clip:
    with Y4MReader(ref.path) as r:
        return Clip(ref, r.width, r.height, min(frames or len(r), len(r)), r.bit_depth, calibration)


def _plan(config: EvalEncodeConfig, tools: AomTools, log: Callable[[str], None]):
    """Every input checked before any encode: clips, calibration clip, encoder, presets."""
    clips = [_clip(ref, config.frames) for ref in resolve_sequence_set(config.sequences)]
    build = encoder_build(tools)
    if not build.guided:
        raise EvalEncodeError(
            f"{tools.aomenc}: {build.label} ignores partition maps; eval-encode's oracle and "
            "model runs need av1tools' patched libaom (make libaom, or drop --aom-dir)"
        )
    bad = [p for p in config.presets if not config.cpu_used < p <= 9]
    if bad:
        raise EvalEncodeError(f"presets must be faster than cpu-used {config.cpu_used} and at most 9, not {bad}")
    if config.sb_size != 64 and config.model is not None:
        raise EvalEncodeError("guided runs use 64x64 superblocks (--sb-size 64)")
    calibration = None
    if config.calibration:
        try:
            ref = resolve_sequence(config.calibration)
        except SequenceError as e:
            raise EvalEncodeError(f"calibration clip: {e}") from None
        if any(c.ref.path == ref.path for c in clips):
            raise EvalEncodeError(
                f"the calibration clip {ref.name} is also evaluated: choose another "
                "(--calibration), the simulation must not be fitted to what it predicts"
            )
        calibration = _clip(ref, config.calibration_frames, calibration=True)
    log(f"encoder: {build.label}; {len(clips)} clip(s); cq-levels {list(config.cq_levels)}")
    return clips, calibration, build


def _settings(config: EvalEncodeConfig, clip: Clip, cq: int, cpu_used: int | None = None) -> EncodeSettings:
    return EncodeSettings(
        cq_level=cq,
        cpu_used=cpu_used or config.cpu_used,
        mode=config.mode,
        sb_size=config.sb_size,
        frames=clip.frames,
        threads=config.threads,
    )


def _job(
    config,
    clip: Clip,
    cq: int,
    label: str,
    kind: str,
    work: Path,
    map_path: Path | None = None,
    cpu_used: int | None = None,
    exact: bool | None = None,
    repeat: int | None = None,
) -> EncodeJob:
    name = f"{clip.ref.name}_q{cq}_{label.replace(' ', '_').replace('>=', 'ge')}"
    return EncodeJob(
        label,
        kind,
        clip.ref.name,
        clip.ref.path,
        _settings(config, clip, cq, cpu_used),
        work,
        name,
        repeat or config.repeat,
        config.exact if exact is None else exact,
        map_path,
        config.aom_dir,
    )


def _run_of(job: EncodeJob, **extra) -> EncodeRun:
    return EncodeRun(job.label, job.kind, job.clip, job.settings.cq_level, job.settings.cpu_used, job.name, **extra)


def _mismatches(tools: AomTools, reference, ivf: Path, sb_size: int) -> int:
    """Nodes of shown frames whose partition differs between two bitstreams."""
    got = {g.display_index: g for g in inspect_bitstream(tools, ivf) if g.show_frame}
    bad = 0
    for g in reference:
        if not g.show_frame:
            continue
        want = set(frame_nodes(g.block_size, sb_size))
        have = set(frame_nodes(got[g.display_index].block_size, sb_size)) if g.display_index in got else set()
        bad += len(want - have)
    return bad


def _infer(predictor, clip: Clip, cq: int, point: OperatingPoint, sb_size: int) -> tuple[list[MapEntry], float, float]:
    """The map of one operating point, and the CPU and wall seconds it cost (inference of
    the nodes the point needs, and deriving their allowed sets; reading frames and writing
    the file are not charged)."""
    from av1tools.eval.guided import descends

    qindex = cq_level_to_qindex(cq)
    with Y4MReader(clip.ref.path) as reader:
        lumas = [reader.read_luma(i) for i in range(clip.frames)]
        max_value = float((1 << reader.bit_depth) - 1)
    expand = None if point.forces else (lambda probs, decision: descends(probs, decision, point))
    cpu0, wall0 = time.process_time(), time.perf_counter()
    preds = [
        predictor.predict_frame(luma, max_value, qindex, sb_size, expand or "split", i) for i, luma in enumerate(lumas)
    ]
    entries = prediction_entries(preds, sb_size, point)
    return entries, time.process_time() - cpu0, time.perf_counter() - wall0


def _warm_up(predictor, clip: Clip, sb_size: int) -> float:
    """One frame through the model before anything is timed (allocations, first-call
    dispatch): its time is reported on its own."""
    with Y4MReader(clip.ref.path) as reader:
        luma, max_value = reader.read_luma(0), float((1 << reader.bit_depth) - 1)
    start = time.perf_counter()
    predictor.predict_frame(luma, max_value, 120, sb_size, "all", 0)
    return time.perf_counter() - start


def _run_jobs(config: EvalEncodeConfig, jobs: list[EncodeJob], progress, done: list[int], total: int) -> dict:
    def tick(outcome: Outcome) -> None:
        done[0] += 1
        if progress:
            progress("encodes", done[0], total)

    return {o.job.name: o for o in run_jobs(run_encode, jobs, config.workers, config.scheduler, tick)}


def _record(run: EncodeRun, outcome: Outcome) -> EncodeRun:
    if not outcome.ok:
        run.ok, run.error = False, outcome.error
        return run
    for key, value in outcome.result.items():
        setattr(run, key, value)
    stats = outcome.job.stats
    if stats.exists():
        run.counters = counter_totals(read_stats(stats))
    return run


def eval_encode(
    config: EvalEncodeConfig, tools: AomTools, progress: Progress | None = None, log: Callable[[str], None] = print
) -> dict:
    """Run the whole study and return report.json's content."""
    clips, calibration, build = _plan(config, tools, log)
    predictor, warmup = None, None
    if config.model is not None:
        import torch

        from av1tools.model.predict import load_predictor

        torch.set_num_threads(config.threads)
        predictor = load_predictor(config.model, config.device, config.decision)
        warmup = _warm_up(predictor, clips[0], config.sb_size)
    work = Path(config.out) / "encodes"
    work.mkdir(parents=True, exist_ok=True)
    every = clips + ([calibration] if calibration else [])
    points = list(config.points) if predictor is not None else []
    per_clip = 3 + len(points) + len(config.presets)
    total = sum(per_clip if not c.calibration else 2 + len(points) for c in every) * len(config.cq_levels)
    done = [0]

    # 1. baselines (with and without the exact switch), everything else is measured against them
    first = []
    for clip in every:
        for cq in config.cq_levels:
            first.append(_job(config, clip, cq, "baseline", "baseline", work, repeat=1 if clip.calibration else None))
            if not clip.calibration and config.exact:
                first.append(_job(config, clip, cq, "stock baseline", "stock", work, exact=False))
    outcomes = _run_jobs(config, first, progress, done, total)

    # 2. maps: the baseline's own partitions, and the model's at each operating point
    runs: list[EncodeRun] = []
    second: list[EncodeJob] = []
    pending: dict[str, EncodeRun] = {}
    maps: dict[str, list[MapEntry]] = {}  # run name -> its map, for the simulation
    grids = {}
    for job in first:
        cq = job.settings.cq_level
        runs.append(_record(_run_of(job), outcomes[job.name]))
        if job.kind != "baseline" or not runs[-1].ok:
            continue
        clip = next(c for c in every if c.ref.name == job.clip)
        grids[(clip.ref.name, cq)] = inspect_bitstream(tools, job.ivf)
        oracle_map = work / f"{clip.ref.name}_q{cq}_oracle.map"
        entries = oracle_entries(grids[(clip.ref.name, cq)], config.sb_size)
        write_partition_map(oracle_map, entries)
        oracle = _job(config, clip, cq, "oracle", "oracle", work, oracle_map, repeat=1 if clip.calibration else None)
        pending[oracle.name], maps[oracle.name] = _run_of(oracle, map_nodes=len(entries)), entries
        second.append(oracle)
        for point in points:
            entries, cpu, wall = _infer(predictor, clip, cq, point, config.sb_size)
            model_job = _job(config, clip, cq, point.label, "model", work, repeat=1 if clip.calibration else None)
            model_job = replace(model_job, map_path=work / f"{model_job.name}.map")
            write_partition_map(model_job.map_path, entries)
            pending[model_job.name] = _run_of(
                model_job,
                inference_cpu_seconds=cpu,
                inference_wall_seconds=wall,
                map_nodes=sum(e.guided for e in entries),
                unguided_nodes=sum(not e.guided for e in entries),
            )
            maps[model_job.name] = entries
            second.append(model_job)
        if not clip.calibration:
            for preset in config.presets:
                job2 = _job(config, clip, cq, f"cpu-used {preset}", "preset", work, cpu_used=preset)
                pending[job2.name] = _run_of(job2)
                second.append(job2)
    outcomes = _run_jobs(config, second, progress, done, total)
    for job in second:
        run = _record(pending[job.name], outcomes[job.name])
        if job.kind == "oracle" and run.ok:
            base_ivf = work / f"{job.clip}_q{job.settings.cq_level}_baseline.ivf"
            run.partition_mismatches = _mismatches(
                tools, grids[(job.clip, job.settings.cq_level)], job.ivf, config.sb_size
            )
            run.identical_to_baseline = job.ivf.read_bytes() == base_ivf.read_bytes()
        runs.append(run)

    simulation = _simulate(config, runs, every, calibration, maps, work)
    settings = dict(
        clips=[
            {
                "name": c.ref.name,
                "path": str(c.ref.path),
                "width": c.width,
                "height": c.height,
                "frames": c.frames,
                "bit_depth": c.bit_depth,
            }
            for c in clips
        ],
        calibration=({"name": calibration.ref.name, "frames": calibration.frames} if calibration else None),
        mode=config.mode,
        cpu_used=config.cpu_used,
        sb_size=config.sb_size,
        cq_levels=list(config.cq_levels),
        repeat=config.repeat,
        threads=config.threads,
        exact=config.exact,
        encoder=build.to_dict(),
        points=[p.label for p in points],
        presets=list(config.presets),
        model=str(config.model) if config.model else None,
        model_kind=getattr(predictor, "kind", None),
        decision=config.decision if predictor else None,
        device=config.device,
        warmup_seconds=warmup,
        machine=f"{platform.machine()}, {os.cpu_count()} cores ({platform.node()})",
    )
    return summarise(runs, settings, simulation)


def _simulate(
    config,
    runs: list[EncodeRun],
    clips: list[Clip],
    calibration: Clip | None,
    maps: dict[str, list[MapEntry]],
    work: Path,
) -> dict:
    """Fit the cost model on the calibration clip's encodes (per cq-level) and predict every
    guided run of the evaluated clips from its map."""
    if calibration is None:
        return {"note": "no calibration clip: the simulation was not run"}

    def stats(run: EncodeRun):
        path = work / f"{run.name}.stats"
        return read_stats(path) if run.ok and path.exists() else None

    models: dict[int, CostModel] = {}
    for cq in config.cq_levels:
        mine = [r for r in runs if r.clip == calibration.ref.name and r.cq_level == cq]
        base = [(s, r.cpu_seconds) for r in mine if r.kind == "baseline" and (s := stats(r))]
        guided = [(s, r.cpu_seconds) for r in mine if r.kind in ("oracle", "model") and (s := stats(r))]
        if base:
            models[cq] = fit_cost_model(base, guided, calibration.pixels, calibration.frames, cq, calibration.ref.name)
    baseline_per_pixel = {}
    for clip in clips:
        if clip.calibration:
            continue
        for cq, model in models.items():
            base_run = next(
                (r for r in runs if r.clip == clip.ref.name and r.cq_level == cq and r.kind == "baseline"), None
            )
            counters = stats(base_run) if base_run else None
            if not counters:
                continue
            base_ns = simulate_counters(counters, model, clip.pixels)
            baseline_per_pixel[f"{clip.ref.name}:{cq}"] = base_ns / (clip.pixels * clip.frames)
            for r in runs:
                if r.clip == clip.ref.name and r.cq_level == cq and r.ok and r.name in maps:
                    r.simulated_time_saving = (
                        1.0 - simulate_map(maps[r.name], model, clip.pixels, clip.frames) / base_ns
                    )
    return {
        "calibration_clip": calibration.ref.name,
        "cost_models": {str(cq): m.to_dict() for cq, m in models.items()},
        "baseline_ns_per_pixel": baseline_per_pixel,
    }


def _bd_rates(base: dict, mine: list[EncodeRun]) -> dict:
    out = {}
    rates = [base[r.cq_level].kbps for r in mine]
    for metric in ("psnr_y", "ssim_y"):
        bq = [base[r.cq_level].quality[metric] for r in mine]
        mq = [r.quality[metric] for r in mine]
        for method in ("cubic", "pchip"):
            try:
                out[f"bd_rate_{metric}_{method}"] = bd_rate(rates, bq, [r.kbps for r in mine], mq, method)
            except ValueError as e:
                out[f"bd_rate_{metric}_{method}"] = None
                out.setdefault("notes", []).append(str(e))
    return out


def _mean(values) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.mean(values) if values else None


def clip_rows(runs: list[EncodeRun], clip: str) -> list[dict]:
    """One row per run label of one clip: time savings, BD-rates, simulation error."""
    mine = [r for r in runs if r.clip == clip]
    base = {r.cq_level: r for r in mine if r.kind == "baseline" and r.ok}
    stock = {r.cq_level: r for r in mine if r.kind == "stock" and r.ok}
    rows = []
    for label in dict.fromkeys(r.label for r in mine):
        group = [r for r in mine if r.label == label]
        ok = [r for r in group if r.ok and r.cq_level in base]
        row = {
            "clip": clip,
            "label": label,
            "kind": group[0].kind,
            "cq_levels": [r.cq_level for r in ok],
            "failed": [f"q{r.cq_level}: {r.error}" for r in group if not r.ok],
        }
        if ok:
            ts = [1 - r.cpu_seconds / base[r.cq_level].cpu_seconds for r in ok]
            e2e = [1 - (r.cpu_seconds + r.inference_cpu_seconds) / base[r.cq_level].cpu_seconds for r in ok]
            row |= {
                "time_saving_encoder": statistics.mean(ts),
                "time_saving_end_to_end": statistics.mean(e2e),
                "kbps": [r.kbps for r in ok],
                "psnr_y": [r.quality["psnr_y"] for r in ok],
                "ssim_y": [r.quality["ssim_y"] for r in ok],
                "inference_share": _mean([r.inference_cpu_seconds / base[r.cq_level].cpu_seconds for r in ok]),
            }
            if stock and all(r.cq_level in stock for r in ok):
                row["time_saving_vs_stock"] = statistics.mean(
                    [1 - r.cpu_seconds / stock[r.cq_level].cpu_seconds for r in ok]
                )
            if len(ok) >= 4 and label != "baseline":
                row |= _bd_rates(base, ok)
            if label == "baseline":
                row |= {f"bd_rate_{m}_{k}": 0.0 for m in ("psnr_y", "ssim_y") for k in ("cubic", "pchip")}
            sims = [r.simulated_time_saving for r in ok if r.simulated_time_saving is not None]
            if sims:
                row["simulated_time_saving"] = statistics.mean(sims)
                row["simulation_error"] = row["simulated_time_saving"] - row["time_saving_encoder"]
            if group[0].kind == "oracle":
                row["partition_mismatches"] = sum(r.partition_mismatches or 0 for r in ok)
                row["map_nodes"] = sum(r.map_nodes for r in ok)
                row["identical_to_baseline"] = sum(bool(r.identical_to_baseline) for r in ok)
        rows.append(row)
    return rows


def _ladder(rows: list[dict]) -> dict:
    """Every model row of one clip against that clip's preset ladder."""
    presets = [
        (r["time_saving_encoder"], r["bd_rate_psnr_y_cubic"])
        for r in rows
        if r["kind"] == "preset" and r.get("bd_rate_psnr_y_cubic") is not None
    ]
    if not presets:
        return {}
    ladder = ladder_points(presets)
    out = {"points": ladder.tolist()}
    for r in rows:
        if r["kind"] in ("model", "oracle") and r.get("bd_rate_psnr_y_cubic") is not None:
            out[r["label"]] = {
                "encoder": compare(r["time_saving_encoder"], r["bd_rate_psnr_y_cubic"], ladder, r["label"]).to_dict()
            }
            if r["kind"] == "model":
                out[r["label"]]["end_to_end"] = compare(
                    r["time_saving_end_to_end"], r["bd_rate_psnr_y_cubic"], ladder, f"{r['label']} (end to end)"
                ).to_dict()
    return out


def _set_rows(per_clip: dict[str, list[dict]]) -> list[dict]:
    """Means over the clips of each label (the set's summary)."""
    labels = dict.fromkeys(r["label"] for rows in per_clip.values() for r in rows)
    out = []
    keys = (
        "time_saving_encoder",
        "time_saving_end_to_end",
        "time_saving_vs_stock",
        "bd_rate_psnr_y_cubic",
        "bd_rate_ssim_y_cubic",
        "bd_rate_psnr_y_pchip",
        "simulated_time_saving",
        "simulation_error",
        "inference_share",
    )
    for label in labels:
        rows = [r for rows in per_clip.values() for r in rows if r["label"] == label]
        out.append(
            {
                "clip": "all",
                "label": label,
                "kind": rows[0]["kind"],
                "clips": len(rows),
                **{k: _mean([r.get(k) for r in rows]) for k in keys},
                "failed": sum((r["failed"] for r in rows), []),
            }
        )
    return out


def _instrument(runs: list[EncodeRun], clip: str) -> dict:
    """What the exact switch costs the baseline (against stock libaom) and whether the oracle
    reproduced its baseline, per clip."""
    mine = [r for r in runs if r.clip == clip and r.ok]
    base = {r.cq_level: r for r in mine if r.kind == "baseline"}
    stock = {r.cq_level: r for r in mine if r.kind == "stock"}
    oracle = {r.cq_level: r for r in mine if r.kind == "oracle"}
    out: dict = {
        "oracle_identical": sum(bool(r.identical_to_baseline) for r in oracle.values()),
        "oracle_runs": len(oracle),
        "oracle_mismatched_nodes": sum(r.partition_mismatches or 0 for r in oracle.values()),
    }
    common = sorted(set(base) & set(stock))
    if common:
        out["baseline_cpu_vs_stock"] = statistics.mean(base[q].cpu_seconds / stock[q].cpu_seconds - 1 for q in common)
        if len(common) >= 4:
            try:
                out["baseline_bd_rate_vs_stock"] = bd_rate(
                    [stock[q].kbps for q in common],
                    [stock[q].quality["psnr_y"] for q in common],
                    [base[q].kbps for q in common],
                    [base[q].quality["psnr_y"] for q in common],
                )
            except ValueError:
                pass
    return out


def summarise(runs: list[EncodeRun], settings: dict, simulation: dict) -> dict:
    """report.json's content: per clip rows, ladder verdicts and the instrument's checks; the
    set's summary; every run."""
    clips = [c["name"] for c in settings["clips"]]
    per_clip = {c: clip_rows(runs, c) for c in clips}
    summary = _set_rows(per_clip) if len(clips) > 1 else per_clip[clips[0]]
    calib = settings.get("calibration") or {}
    return {
        "settings": settings,
        "simulation": simulation,
        "clips": {
            c: {"rows": rows, "ladder": _ladder(rows), "instrument": _instrument(runs, c)}
            for c, rows in per_clip.items()
        },
        "rows": summary,
        "ladder": _ladder(summary),
        "calibration_rows": clip_rows(runs, calib["name"]) if calib else [],
        "runs": [asdict(r) for r in runs],
    }
