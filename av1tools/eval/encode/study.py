"""eval-encode: what a partition predictor is worth to the real encoder.

For every clip and cq-level a study encodes each run kind (``runs``): the baseline, the
stock baseline, the oracle, the model at each operating point, libaom's faster presets.
Every run uses the same instrument (docs/guided.md): the exact switch as configured, the
model and the encoder on the same number of threads, the model's warm-up timed apart,
every bitstream decoded with dav1d; a cost model calibrated on another clip predicts each
guided run's time saving from its map (``simulate``); every guided run is judged against
the preset ladder (``aggregate``). Encodes are jobs (``av1tools.jobs``): each encode's CPU
time is its own aomenc process's.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Callable
from pathlib import Path

from av1tools.eval.config import EvalEncodeConfig
from av1tools.eval.encode.aggregate import clip_rows, instrument, ladder_verdicts, set_rows
from av1tools.eval.encode.clips import Clip
from av1tools.eval.encode.inference import warm_up
from av1tools.eval.encode.measure import EncodeRun, run_encode
from av1tools.eval.encode.result import ClipResult, EvalEncodeResult
from av1tools.eval.encode.runs import Baseline, Oracle, Planned, Run, Study, run_kinds
from av1tools.eval.encode.simulate import simulate
from av1tools.eval.quality import SSIM_WINDOW
from av1tools.extract.aom import AomTools, EncoderBuild, encoder_build, inspect_bitstream
from av1tools.extract.sequences import SequenceError, resolve_sequence, resolve_sequence_set
from av1tools.jobs import run_jobs
from av1tools.partition import frame_nodes

Progress = Callable[[str, int, int], None]


class EvalEncodeError(ValueError):
    """A study that cannot be run as configured (checked before any encode)."""


def eval_encode(
    config: EvalEncodeConfig, tools: AomTools, progress: Progress | None = None, log: Callable[[str], None] = print
) -> EvalEncodeResult:
    """Run the whole study."""
    clips, calibration, build = plan(config, tools, log)
    study = Study(config, Path(config.out) / "encodes", baseline_grids={})
    warmup = None
    if config.model is not None:
        study.predictor, warmup = _load_model(config, clips[0])
    study.work.mkdir(parents=True, exist_ok=True)
    every = clips + ([calibration] if calibration else [])
    kinds = run_kinds(config, study.predictor is not None)
    first = [k for k in kinds if not k.after_baseline]
    then = [k for k in kinds if k.after_baseline]
    counter = _Counter(progress, sum(len(_wanted(kinds, c)) for c in every) * len(config.cq_levels))

    planned = [k.plan(study, c, cq) for c in every for cq in config.cq_levels for k in _wanted(first, c)]
    _encode(config, planned, counter)
    _check_measured(
        [p.run for p in planned if p.job.kind == Baseline.kind and p.job.clip in {c.ref.name for c in clips}]
    )
    for p in planned:
        if p.job.kind == Baseline.kind and p.run.ok:
            study.baseline_grids[(p.job.clip, p.job.settings.cq_level)] = inspect_bitstream(tools, p.job.ivf)
    second = [
        k.plan(study, c, cq)
        for c in every
        for cq in config.cq_levels
        if (c.ref.name, cq) in study.baseline_grids
        for k in _wanted(then, c)
    ]
    _encode(config, second, counter)
    for p in second:
        if p.job.kind == Oracle.kind and p.run.ok:
            _check_oracle(tools, study, p, config.sb_size)
    runs = [p.run for p in planned + second]
    maps = {p.job.name: p.entries for p in second if p.entries is not None}
    simulation = simulate(runs, clips, calibration, maps, study.work, config.cq_levels)
    return summarise(runs, _settings(config, clips, calibration, build, study.predictor, warmup, kinds), simulation)


def plan(
    config: EvalEncodeConfig, tools: AomTools, log: Callable[[str], None]
) -> tuple[list[Clip], Clip | None, EncoderBuild]:
    """Every input checked before any encode: clips, calibration clip, encoder, presets."""
    clips = [Clip.open(ref, config.frames) for ref in resolve_sequence_set(config.sequences)]
    small = [c for c in clips if min(c.width, c.height) < SSIM_WINDOW]
    if small:
        c = small[0]
        raise EvalEncodeError(
            f"{c.ref.name}: {c.width}x{c.height} is smaller than SSIM's {SSIM_WINDOW}x{SSIM_WINDOW} window; "
            f"eval-encode scores frames of at least {SSIM_WINDOW} pixels each way"
        )
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
        calibration = Clip.open(ref, config.calibration_frames, calibration=True)
    log(f"encoder: {build.label}; {len(clips)} clip(s); cq-levels {list(config.cq_levels)}")
    return clips, calibration, build


def _check_measured(baselines: list[EncodeRun]) -> None:
    """A study none of whose evaluated baselines was measured has nothing to compare: fail."""
    if baselines and not any(r.ok for r in baselines):
        raise EvalEncodeError(f"no baseline encode was measured, so nothing can be compared ({baselines[0].error})")


def _load_model(config: EvalEncodeConfig, first: Clip):
    """The predictor on the encoder's thread count, warmed up (the warm-up's seconds apart)."""
    import torch

    from av1tools.model.families import load_predictor

    torch.set_num_threads(config.threads)
    predictor = load_predictor(config.model, config.device, config.decision)
    return predictor, warm_up(predictor, first, config.sb_size)


def _wanted(kinds: list[Run], clip: Clip) -> list[Run]:
    return [k for k in kinds if k.on_calibration or not clip.calibration]


class _Counter:
    """The "encodes" progress bar over both phases."""

    def __init__(self, progress: Progress | None, total: int):
        self.progress, self.total, self.done = progress, total, 0

    def __call__(self, outcome) -> None:
        self.done += 1
        if self.progress:
            self.progress("encodes", self.done, self.total)


def _encode(config: EvalEncodeConfig, planned: list[Planned], counter: _Counter) -> None:
    """Run the planned encodes (inline, on local processes or Dask) and record their outcomes."""
    outcomes = run_jobs(run_encode, [p.job for p in planned], config.jobs, config.scheduler, counter)
    for p, outcome in zip(planned, outcomes):
        p.run.record(outcome.result, outcome.error, p.job.stats)


def _check_oracle(tools: AomTools, study: Study, oracle: Planned, sb_size: int) -> None:
    """Whether the oracle gave its baseline's partitions back, node for node and byte for byte."""
    job, run = oracle.job, oracle.run
    reference = study.baseline_grids[(job.clip, job.settings.cq_level)]
    got = {g.display_index: g for g in inspect_bitstream(tools, job.ivf) if g.show_frame}
    bad = 0
    for g in reference:
        if g.show_frame:
            want = set(frame_nodes(g.block_size, sb_size))
            have = set(frame_nodes(got[g.display_index].block_size, sb_size)) if g.display_index in got else set()
            bad += len(want - have)
    run.partition_mismatches = bad
    base_ivf = study.work / f"{job.clip}_q{job.settings.cq_level}_baseline.ivf"
    run.identical_to_baseline = job.ivf.read_bytes() == base_ivf.read_bytes()


def _settings(config, clips, calibration, build, predictor, warmup, kinds) -> dict:
    """The study's settings as its report states them."""
    return dict(
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
        points=[k.label for k in kinds if k.end_to_end],
        presets=list(config.presets),
        model=str(config.model) if config.model else None,
        model_kind=getattr(predictor, "kind", None),
        decision=config.decision if predictor else None,
        device=config.device,
        warmup_seconds=warmup,
        machine=f"{platform.machine()}, {os.cpu_count()} cores ({platform.node()})",
    )


def summarise(runs: list[EncodeRun], settings: dict, simulation: dict) -> EvalEncodeResult:
    """Per clip rows, ladder verdicts and the instrument's checks; the set's summary."""
    clips = [c["name"] for c in settings["clips"]]
    per_clip = {c: clip_rows(runs, c) for c in clips}
    summary = set_rows(per_clip) if len(clips) > 1 else per_clip[clips[0]]
    calib = settings.get("calibration") or {}
    return EvalEncodeResult(
        settings,
        simulation,
        {c: ClipResult(rows, ladder_verdicts(rows), instrument(runs, c)) for c, rows in per_clip.items()},
        summary,
        ladder_verdicts(summary),
        clip_rows(runs, calib["name"]) if calib else [],
        runs,
    )
