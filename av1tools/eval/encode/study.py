"""eval-encode: what a partition predictor is worth to the real encoder.

For every clip and cq-level a study encodes each run kind (``runs``) under each verdict:
``stock``, what a user runs (libaom untouched, the model's encodes with the speed features
measured fastest at their quality), judged against stock libaom and its stock preset
ladder; and ``exact``, the instrument (AV1TOOLS_EXACT_GUIDE=1 on every run, so the oracle
must reproduce the baseline bit for bit), with its own verdict. The model and the encoder
run on the same number of threads, the model's warm-up is timed apart, every bitstream is
decoded with dav1d. Encodes run in rounds (``repeat``): every encode once per round, a clip
and cq-level at a time (its baselines, then its other runs; with ``bracket`` its baselines
again), so a slow spell of the machine hits a run and its baseline alike; each time
saving is the run's mean CPU time over its baseline's (bracketed: a round's baseline is the
mean of its two encodes), with the spread of the per-round savings. The speed-up simulation predicts
each guided run's time saving from its map (``simulate``). Encodes are jobs
(``av1tools.jobs``): each encode's CPU time is its own aomenc process's.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from av1tools.eval.config import EvalEncodeConfig
from av1tools.eval.encode.aggregate import clip_rows, instrument, verdict_result
from av1tools.eval.encode.clips import Clip
from av1tools.eval.encode.inference import warm_up
from av1tools.eval.encode.measure import EncodeRun, run_encode
from av1tools.eval.encode.result import BD_METHODS, BD_METRICS, EvalEncodeResult
from av1tools.eval.encode.runs import Baseline, Oracle, Planned, Run, Study, run_kinds
from av1tools.eval.encode.simulate import simulate
from av1tools.eval.quality import smallest_frame
from av1tools.extract.aom import AomTools, EncoderBuild, check_cpu_used, encoder_build, inspect_bitstream
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
    study = Study(config, Path(config.out) / "encodes", native_model=_native_model(config, tools))
    warmups = _load_predictors(config, study, clips[0])
    study.work.mkdir(parents=True, exist_ok=True)
    every = clips + ([calibration] if calibration else [])
    kinds = run_kinds(config, tuple(study.predictors))
    per_clip = [len(_wanted(kinds, c)) + _closings(config, kinds, c) for c in every]
    counter = _Counter(progress, sum(per_clip) * len(config.cq_levels) * config.repeat)

    # the first round a clip and cq-level at a time, as every later round: its baselines, then
    # the runs that need them, so each run is timed beside its own baseline in every round
    first, then, rounds = [], [], []
    for clip, cq in ((c, cq) for c in every for cq in config.cq_levels):
        mine = [k.plan(study, clip, cq) for k in _wanted(kinds, clip, False)]
        _encode(config, mine, counter, measure=True)
        _keep_baselines(tools, study, mine)
        after = [
            k.plan(study, clip, cq)
            for k in _wanted(kinds, clip, True)
            if (clip.ref.name, cq, "exact" if k.kind == Oracle.kind else k.verdict) in study.baseline_grids
        ]
        _encode(config, after, counter, measure=True)
        closing = _closing(mine) if config.bracket and after else []
        _encode(config, closing, counter, measure=False)
        first += mine
        then += after
        rounds += mine + after + closing
    _check_measured([p.run for p in first if p.job.kind == Baseline.kind and not p.job.clip == _name(calibration)])
    _read_native_sets(then)
    for _ in range(config.repeat - 1):  # the other rounds: every encode again, timed only, in the same order
        _encode(config, rounds, counter, measure=False)
    for p in then:
        if p.job.kind == Oracle.kind and p.run.ok:
            _check_oracle(tools, study, p, config.sb_size)
    runs = [p.run for p in first + then]
    maps = {p.job.name: p.entries for p in then if p.entries is not None}
    simulation = simulate(runs, clips, calibration, maps, study.work, config.cq_levels, config.verdicts)
    settings = _settings(config, clips, calibration, build, study, warmups)
    return summarise(runs, settings, simulation)


class _Closing:
    """A baseline's second encode of a round, after the runs it is compared with: its time is
    recorded apart (``EncodeRun.record_closing``)."""

    def __init__(self, run: EncodeRun):
        self.run = run

    def record(self, measured, error: str, stats: Path) -> None:
        self.run.record_closing(measured, error)


def _closings(config: EvalEncodeConfig, kinds: list[Run], clip: Clip) -> int:
    """How many baselines a round encodes again per cq-level of ``clip``."""
    return len(_wanted(kinds, clip, False)) if config.bracket and _wanted(kinds, clip, True) else 0


def _closing(planned: list[Planned]) -> list[Planned]:
    """The baselines among ``planned`` once more, timed only."""
    return [Planned(p.job, _Closing(p.run)) for p in planned if p.job.kind == Baseline.kind and p.run.ok]


def _keep_baselines(tools: AomTools, study: Study, planned: list[Planned]) -> None:
    """The partitions (and frame records) of the measured baselines among ``planned``: what the
    oracle and the maps of the runs after them are made from."""
    for p in planned:
        if p.run.ok:
            key = (p.job.clip, p.job.settings.cq_level, p.job.verdict)
            study.baseline_grids[key] = inspect_bitstream(tools, p.job.ivf)
            if p.job.write_records:
                study.baseline_records[key] = p.job.records


def _name(clip: Clip | None) -> str | None:
    return clip.ref.name if clip else None


def plan(
    config: EvalEncodeConfig, tools: AomTools, log: Callable[[str], None]
) -> tuple[list[Clip], Clip | None, EncoderBuild]:
    """Every input checked before any encode: clips, calibration clip, encoder, presets."""
    clips = [Clip.open(ref, config.frames) for ref in resolve_sequence_set(config.sequences)]
    least, metric = smallest_frame(config.metrics)
    small = [c for c in clips if min(c.width, c.height) < least]
    if small:
        c = small[0]
        raise EvalEncodeError(
            f"{c.ref.name}: {c.width}x{c.height} is too small for {metric.upper().replace('_', '-')}, "
            f"which scores frames of at least {least}x{least}"
        )
    build = encoder_build(tools)
    if not build.guided:
        raise EvalEncodeError(
            f"{tools.aomenc}: {build.label} ignores partition maps; eval-encode's oracle and "
            "model runs need av1tools' patched libaom (make libaom, or drop --aom-dir)"
        )
    _check_presets(config)
    guided = config.model is not None or config.heuristic is not None or "exact" in config.verdicts  # the oracle
    if config.sb_size != 64 and guided:
        raise EvalEncodeError(
            f"--sb-size {config.sb_size or 'dynamic'}: guided runs (the model, the heuristic, the exact "
            "verdict's oracle) need 64x64 superblocks: the models predict 64x64 trees and have no 128 level "
            "(docs/guided.md measures what fixing 64 costs)"
        )
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


def _read_native_sets(planned: list[Planned]) -> None:
    """A native encode's map is what the encoder dumped: the set it used at every node it asked
    about (the simulation and the node counts read it as they read a decision file)."""
    from av1tools.native import read_dump

    for p in planned:
        if p.job.native is not None and p.run.ok and p.job.dump.exists():
            p.entries = read_dump(p.job.dump)
            p.run.map_nodes = sum(e.guided for e in p.entries)
            p.run.unguided_nodes = sum(not e.guided for e in p.entries)


def _native_model(config: EvalEncodeConfig, tools: AomTools) -> Path | None:
    """The model exported for the encoder when the study runs it natively: ``inference``
    "native" (refused when impossible), "auto" (when the encoder and the model allow it, and no
    run needs a map of some frames only: ``key_frames_searched``), or "python" (never)."""
    if config.model is None or config.inference == "python" or config.key_frames_searched:
        return None
    from av1tools.encode import EncodeError, exported_model
    from av1tools.native import supports_native

    why = None if supports_native(tools) else f"{tools.aomenc} does not run models"
    if why is None:
        try:
            return exported_model(config.model, config.mode)  # the model the Python path would load
        except EncodeError as e:
            why = str(e)
    if config.inference == "native":
        raise EvalEncodeError(f"--inference native: {why}")
    return None


def _check_presets(config: EvalEncodeConfig) -> None:
    """Each preset a speed the mode really has, faster than the baseline's, and named once."""
    for cpu_used in (config.cpu_used, *config.presets):
        try:
            check_cpu_used(config.mode, cpu_used)
        except ValueError as e:
            raise EvalEncodeError(str(e)) from None
    slow = [p for p in config.presets if p <= config.cpu_used]
    if slow:
        raise EvalEncodeError(f"presets must be faster than the baseline's cpu-used {config.cpu_used}, not {slow}")
    twice = sorted({p for p in config.presets if config.presets.count(p) > 1})
    if twice:
        raise EvalEncodeError(f"presets named more than once: {twice}")


def _check_measured(baselines: list[EncodeRun]) -> None:
    """A study none of whose evaluated baselines was measured has nothing to compare: fail."""
    if baselines and not any(r.ok for r in baselines):
        raise EvalEncodeError(f"no baseline encode was measured, so nothing can be compared ({baselines[0].error})")


def _load_predictors(config: EvalEncodeConfig, study: Study, first: Clip) -> dict[str, float]:
    """The model and the heuristic (when the study has them) on the encoder's thread count,
    warmed up; returns each one's warm-up seconds (reported, not charged)."""
    import torch

    from av1tools.model.families import load_predictor

    torch.set_num_threads(config.threads)
    warmups = {}
    for source, spec in (("model", config.model), ("heuristic", _heuristic(config.heuristic))):
        if spec is not None:
            study.predictors[source] = load_predictor(spec, config.device, config.decision, config.mode)
            warmups[source] = warm_up(study.predictors[source], first, config.sb_size)
    return warmups


def _heuristic(spec: str | None) -> str | None:
    if spec != "default":
        return spec
    from av1tools.zoo import default_heuristic_dir

    return str(default_heuristic_dir())  # fitted on all-intra data: the one heuristic of every mode


def _wanted(kinds: list[Run], clip: Clip, after_baseline: bool | None = None) -> list[Run]:
    return [
        k
        for k in kinds
        if (k.on_calibration or not clip.calibration) and (after_baseline is None or k.after_baseline == after_baseline)
    ]


class _Counter:
    """The "encodes" progress bar over both phases."""

    def __init__(self, progress: Progress | None, total: int):
        self.progress, self.total, self.done = progress, total, 0

    def __call__(self, outcome) -> None:
        self.done += 1
        if self.progress:
            self.progress("encodes", self.done, self.total)


def _encode(config: EvalEncodeConfig, planned: list[Planned], counter: _Counter, measure: bool) -> None:
    """One round of the planned encodes (inline, on local processes or Dask), their outcomes
    recorded; ``measure``: decode and score the bitstreams too (the first round)."""
    # the bitstream and the frame records are the same every round: made once, in the first
    jobs = [
        replace(
            p.job,
            measure_quality=measure,
            write_records=p.job.write_records and measure,
            write_nodes=p.job.write_nodes and measure,
        )
        for p in planned
    ]
    outcomes = run_jobs(run_encode, jobs, config.jobs, config.scheduler, counter)
    for p, outcome in zip(planned, outcomes):
        p.run.record(outcome.result, outcome.error, p.job.stats)


def _check_oracle(tools: AomTools, study: Study, oracle: Planned, sb_size: int) -> None:
    """Whether the oracle gave its baseline's partitions back, node for node and byte for byte."""
    job, run = oracle.job, oracle.run
    reference = study.baseline_grids[(job.clip, job.settings.cq_level, job.verdict)]
    got = {g.display_index: g for g in inspect_bitstream(tools, job.ivf) if g.show_frame}
    bad = 0
    for g in reference:
        if g.show_frame:
            want = set(frame_nodes(g.block_size, sb_size))
            have = set(frame_nodes(got[g.display_index].block_size, sb_size)) if g.display_index in got else set()
            bad += len(want - have)
    run.partition_mismatches = bad
    base_ivf = study.work / f"{job.clip}_q{job.settings.cq_level}_baseline_{job.verdict}.ivf"
    run.identical_to_baseline = job.ivf.read_bytes() == base_ivf.read_bytes()


def _settings(config, clips, calibration, build, study, warmups) -> dict:
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
        verdicts=list(config.verdicts),
        guided_features=config.guided_features,
        compare_features=config.compare_features,
        key_frames_searched=config.key_frames_searched,
        budgets=list(config.budgets),
        conditions=config.conditions,
        metrics=list(config.metrics),
        bd_metrics=list(config.bd_metrics),
        bd_methods=list(config.bd_methods),
        encoder=build.to_dict(),
        points=[p.label for p in config.points] if study.predictors else [],
        presets=list(config.presets),
        model=str(config.model) if config.model else None,
        model_kind=getattr(study.predictors.get("model"), "kind", None),
        heuristic=config.heuristic,
        inference="native" if study.native_model else "python",
        decision=config.decision if study.predictors else None,
        device=config.device,
        warmup_seconds=warmups,
        machine=f"{platform.machine()}, {os.cpu_count()} cores ({platform.node()})",
    )


def summarise(runs: list[EncodeRun], settings: dict, simulation: dict) -> EvalEncodeResult:
    """Per verdict: rows per clip and over the set, ladder verdicts, best points; the
    instrument's checks per clip."""
    clips = [c["name"] for c in settings["clips"]]
    budgets = tuple(settings.get("budgets", ()))
    bd = (tuple(settings.get("bd_metrics", BD_METRICS)), tuple(settings.get("bd_methods", BD_METHODS)))
    calib = settings.get("calibration") or {}
    return EvalEncodeResult(
        settings,
        simulation,
        {v: verdict_result(runs, clips, v, budgets, bd) for v in settings["verdicts"]},
        {c: instrument(runs, c) for c in clips},
        [row for v in settings["verdicts"] for row in clip_rows(runs, calib["name"], v, bd)] if calib else [],
        runs,
    )
