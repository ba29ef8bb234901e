"""eval-encode: what the predictor is worth to the real encoder.

Per QP it encodes the sequence with the normal search (baseline), with the model's
decisions at each operating point, with the baseline's own partitions fed back (oracle:
the ceiling of the approach), and with libaom's faster presets (what a user would pick
instead of a model). Every bitstream is decoded with dav1d and compared with the source;
encoder CPU time is the median over repeats; the patched encoder's counters measure the
search work; BD-rates and time savings are computed against the baseline.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from av1tools.eval.bdrate import bd_rate
from av1tools.eval.config import EvalEncodeConfig
from av1tools.eval.guided import (
    counter_totals,
    guided_env,
    oracle_entries,
    prediction_entries,
    read_stats,
    write_partition_map,
)
from av1tools.eval.quality import measure_quality
from av1tools.eval.speedup import (
    calibrate,
    exhaustive_pixels,
    guided_pixels,
    search_work_fraction,
    simulated_time_saving,
)
from av1tools.extract.aom import AomError, AomTools, EncodeSettings, encoder_build, inspect_bitstream, run_encoder
from av1tools.extract.sequences import open_sequence
from av1tools.partition import cq_level_to_qindex, frame_nodes


@dataclass
class EncodeRun:
    label: str
    kind: str  # baseline | model | oracle | preset
    cq_level: int
    cpu_used: int
    ok: bool = True
    error: str = ""
    bytes: int = 0
    kbps: float = 0.0
    cpu_seconds: float = 0.0  # median over repeats
    cpu_seconds_all: list = field(default_factory=list)
    inference_cpu_seconds: float = 0.0
    inference_wall_seconds: float = 0.0
    quality: dict = field(default_factory=dict)
    counters: dict = field(default_factory=dict)
    map_nodes: int = 0
    partition_mismatches: int | None = None  # oracle: nodes whose partition did not come back
    simulated_time_saving: float | None = None
    simulated_search_work: float | None = None


def _measure(
    run: EncodeRun,
    tools: AomTools,
    settings: EncodeSettings,
    reader,
    work: Path,
    name: str,
    repeat: int,
    map_path: Path | None,
) -> EncodeRun:
    """Encode ``repeat`` times (median CPU time), read the counters, decode with dav1d and
    score against the source. A failed encode or decode is reported in the run, not hidden
    and not fatal to the study."""
    ivf, stats = work / f"{name}.ivf", work / f"{name}.stats"
    try:
        for _ in range(repeat):
            stats.unlink(missing_ok=True)
            result = run_encoder(tools, settings, reader.path, ivf, reader.bit_depth, env=guided_env(map_path, stats))
            run.cpu_seconds_all.append(result.cpu_seconds)
        run.counters = counter_totals(read_stats(stats)) if stats.exists() else {}
        frames = settings.frames or len(reader)
        run.bytes = ivf.stat().st_size
        run.kbps = run.bytes * 8 / 1000 / (frames / float(reader.header.fps))
        run.cpu_seconds = statistics.median(run.cpu_seconds_all)
        run.quality = measure_quality(ivf, reader.path, frames).to_dict()
    except (AomError, ValueError, OSError) as e:
        run.ok, run.error = False, str(e).splitlines()[0]
    return run


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


def _predict(predictor, reader, qindex: int, sb_size: int, frames: int, walks: set[str]) -> dict:
    """Per walk: (predictions, inference CPU seconds, inference wall seconds)."""
    from av1tools.model.predict import predict_sequence

    out = {}
    for walk in sorted(walks):
        cpu0, wall0 = time.process_time(), time.perf_counter()
        preds = predict_sequence(predictor, reader, qindex, sb_size, walk, frames)
        out[walk] = (preds, time.process_time() - cpu0, time.perf_counter() - wall0)
    return out


def eval_encode(config: EvalEncodeConfig, tools: AomTools, progress: Callable[[str], None] | None = None) -> dict:
    """Run every encode of the study and return report.json's content."""
    predictor = None
    if config.model is not None:
        from av1tools.model.predict import Predictor

        predictor = Predictor(config.model, config.device, decision=config.decision)
    out = Path(config.out)
    work = out / "encodes"
    work.mkdir(parents=True, exist_ok=True)
    ref, reader = open_sequence(config.sequence)
    n = min(config.frames or len(reader), len(reader))
    points = list(config.points)
    sb_size, cpu_used = config.sb_size, config.cpu_used
    exhaustive = exhaustive_pixels(reader.width, reader.height, sb_size) * n
    runs: list[EncodeRun] = []
    repeat = config.repeat

    def step(cq: int, label: str) -> None:
        if progress:
            progress(f"q{cq} {label}")

    for cq in config.cq_levels:
        settings = EncodeSettings(cq_level=cq, cpu_used=cpu_used, mode=config.mode, sb_size=sb_size, frames=n)
        step(cq, "baseline")
        base = _measure(
            EncodeRun("baseline", "baseline", cq, cpu_used),
            tools,
            settings,
            reader,
            work,
            f"q{cq}_baseline",
            repeat,
            None,
        )
        runs.append(base)
        if not base.ok:  # nothing to compare against at this cq-level
            continue
        base_grids = inspect_bitstream(tools, work / f"q{cq}_baseline.ivf")

        step(cq, "oracle")
        oracle = EncodeRun("oracle", "oracle", cq, cpu_used)
        map_path = work / f"q{cq}_oracle.map"
        oracle.map_nodes = write_partition_map(map_path, oracle_entries(base_grids, sb_size))
        runs.append(_measure(oracle, tools, settings, reader, work, f"q{cq}_oracle", repeat, map_path))
        if oracle.ok:
            oracle.partition_mismatches = _mismatches(tools, base_grids, work / f"q{cq}_oracle.ivf", sb_size)

        if predictor is not None:
            predictions = _predict(predictor, reader, cq_level_to_qindex(cq), sb_size, n, {p.walk for p in points})
            for point in points:
                step(cq, point.label)
                preds, inf_cpu, inf_wall = predictions[point.walk]
                run = EncodeRun(
                    point.label, "model", cq, cpu_used, inference_cpu_seconds=inf_cpu, inference_wall_seconds=inf_wall
                )
                entries = prediction_entries(preds, sb_size, point.top_k, point.threshold)
                run_name = f"q{cq}_{point.label.replace(' ', '_')}"
                map_path = work / f"{run_name}.map"
                run.map_nodes = write_partition_map(map_path, entries)
                run.simulated_search_work = guided_pixels(entries, reader.width, reader.height)
                runs.append(_measure(run, tools, settings, reader, work, run_name, repeat, map_path))
        for faster in config.presets:
            if cpu_used + faster > 9:
                continue
            step(cq, f"cpu-used {cpu_used + faster}")
            preset = EncodeRun(f"cpu-used {cpu_used + faster}", "preset", cq, cpu_used + faster)
            runs.append(
                _measure(
                    preset,
                    tools,
                    replace(settings, cpu_used=cpu_used + faster),
                    reader,
                    work,
                    f"q{cq}_cpu{cpu_used + faster}",
                    repeat,
                    None,
                )
            )
    reader.close()
    return summarise(
        runs,
        n,
        exhaustive,
        dict(
            sequence=ref.name,
            sequence_path=str(Path(reader.path).resolve()),
            width=reader.width,
            height=reader.height,
            bit_depth=reader.bit_depth,
            frames=n,
            mode=config.mode,
            cpu_used=cpu_used,
            sb_size=sb_size,
            cq_levels=list(config.cq_levels),
            repeat=repeat,
            encoder=encoder_build(tools).to_dict(),
            points=[p.label for p in points],
            presets=[cpu_used + s for s in config.presets if cpu_used + s <= 9],
            model=str(predictor.run_dir) if predictor is not None else None,
            decision=predictor.decision if predictor is not None else None,
            machine=f"{platform.machine()}, {os.cpu_count()} cores ({platform.node()})",
        ),
    )


def summarise(runs: list[EncodeRun], frames: int, exhaustive: int, settings: dict) -> dict:
    """BD-rates, time savings and the speed-up simulation check, per operating point."""
    base = {r.cq_level: r for r in runs if r.kind == "baseline" and r.ok}
    cal_runs = [
        {
            "cpu_seconds": r.cpu_seconds,
            "frames": frames,
            "mode_pixels": r.counters.get("mode_pixels", 0),
            "exhaustive_pixels": exhaustive,
            "baseline": r.kind == "baseline",
        }
        for r in runs
        if r.ok and r.kind in ("baseline", "oracle") and r.counters
    ]
    cal = calibrate(cal_runs) if len(cal_runs) >= 2 else None
    for r in runs:
        if r.kind == "model" and r.ok and cal is not None and r.simulated_search_work is not None:
            work = r.simulated_search_work
            r.simulated_time_saving = simulated_time_saving(work, frames, exhaustive, cal)
            r.simulated_search_work = search_work_fraction(work, exhaustive, cal)
    rows = []
    for label in dict.fromkeys(r.label for r in runs):
        mine = [r for r in runs if r.label == label]
        ok = [r for r in mine if r.ok and r.cq_level in base]
        row = {
            "label": label,
            "kind": mine[0].kind,
            "cq_levels": [r.cq_level for r in ok],
            "failed": [f"q{r.cq_level}: {r.error}" for r in mine if not r.ok],
        }
        if ok:
            ts = [1 - r.cpu_seconds / base[r.cq_level].cpu_seconds for r in ok]
            ts_e2e = [1 - (r.cpu_seconds + r.inference_cpu_seconds) / base[r.cq_level].cpu_seconds for r in ok]
            row |= {
                "time_saving_encoder": statistics.mean(ts),
                "time_saving_end_to_end": statistics.mean(ts_e2e),
                "kbps": [r.kbps for r in ok],
                "psnr_y": [r.quality["psnr_y"] for r in ok],
                "ssim_y": [r.quality["ssim_y"] for r in ok],
            }
            if len(ok) >= 4 and label != "baseline":
                br = [base[r.cq_level].kbps for r in ok]
                for metric in ("psnr_y", "ssim_y"):
                    bq = [base[r.cq_level].quality[metric] for r in ok]
                    mq = [r.quality[metric] for r in ok]
                    for method in ("cubic", "pchip"):
                        try:
                            row[f"bd_rate_{metric}_{method}"] = bd_rate(br, bq, row["kbps"], mq, method)
                        except ValueError as e:
                            row[f"bd_rate_{metric}_{method}"] = None
                            row.setdefault("notes", []).append(str(e))
            if label == "baseline":
                for m in ("psnr_y", "ssim_y"):
                    for method in ("cubic", "pchip"):
                        row[f"bd_rate_{m}_{method}"] = 0.0
            sims = [r.simulated_time_saving for r in ok if r.simulated_time_saving is not None]
            if sims:
                row["simulated_time_saving"] = statistics.mean(sims)
            if mine[0].kind == "oracle":
                row["partition_mismatches"] = sum(r.partition_mismatches or 0 for r in ok)
                row["map_nodes"] = sum(r.map_nodes for r in ok)
        rows.append(row)
    return {
        "settings": settings,
        "calibration": cal.to_dict() if cal else None,
        "exhaustive_pixels": exhaustive,
        "rows": rows,
        "runs": [r.__dict__ for r in runs],
    }
