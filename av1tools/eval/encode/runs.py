"""The kinds of encode a study runs, one small class each: what it encodes, with which map,
on which clips, under which verdict, and how it is judged. Adding a kind is one class here
and one line in ``run_kinds``.

- ``Baseline``: libaom's normal search at the study's preset: every time saving and BD-rate
  of its verdict is measured against it (the stock one is what a user runs).
- ``Oracle``: the baseline's own partitions forced back (exact verdict: the instrument's
  check, it must equal the baseline).
- ``ModelPoint``: a predictor's decisions at one operating point, charged its inference
  (the model, or the variance heuristic beside it).
- ``Preset``: a faster libaom preset (the ladder a model must beat).
- ``NoCnn`` and ``Swap``: libaom's own learned pruner (its intra partition CNN) switched off,
  alone and with the model in its place: one learned pruner against another at one preset.
- ``OtherFeatures``: the model's points with the other guided speed features (stock ones
  where the study's guided encodes run the exact instrument's, and the other way round),
  its own curve in the same rounds: which of the two is faster at its quality.
- ``KeySearched``: inter coding, the model's points with the key frames left to libaom's
  search, their own curve in the same rounds.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar

from av1tools.encoder import INTRA_CNN_ENV, read_frame_records, write_partition_map
from av1tools.eval.config import DEFAULT_METRICS, EvalEncodeConfig, OperatingPoint
from av1tools.eval.encode.clips import Clip
from av1tools.eval.encode.inference import CodedFrame, infer_map, intra_frames, recorded_frames
from av1tools.eval.encode.measure import EncodeJob, EncodeRun
from av1tools.eval.guided import oracle_entries
from av1tools.extract.aom import EncodeSettings
from av1tools.native import point_spec


@dataclass
class Planned:
    """One encode a run kind asks for: the job, its record, and its decision map."""

    job: EncodeJob
    run: EncodeRun
    entries: Any = None  # MapEntry rows (a list or a MapTable); None: no map


@dataclass
class Study:
    """What run kinds need to plan their encodes."""

    config: EvalEncodeConfig
    work: Path
    predictors: dict = field(default_factory=dict)  # source ("model", "heuristic") -> Predictor
    native_model: Path | None = None  # the model exported for the encoder, when it runs it itself
    baseline_records: dict = field(default_factory=dict)  # (clip, cq, verdict) -> its baseline's records file
    frames: dict = field(default_factory=dict)  # (clip, cq, verdict) -> the CodedFrames a map covers
    baseline_grids: dict = field(default_factory=dict)  # (clip, cq, verdict) -> the baseline's FrameGrids

    def job(self, run: Run, clip: Clip, cq: int, cpu_used: int | None = None, map_path: bool = False) -> EncodeJob:
        config = self.config
        suffix = "" if run.verdict == "stock" else f"_{run.verdict}"
        name = f"{clip.ref.name}_q{cq}_{run.label.replace(' ', '_').replace('>=', 'ge').replace(':', '')}{suffix}"
        settings = EncodeSettings(
            cq_level=cq,
            cpu_used=cpu_used or config.cpu_used,
            mode=config.mode,
            sb_size=config.sb_size,
            frames=clip.frames,
            threads=config.threads,
        )
        return EncodeJob(
            run.label,
            run.kind,
            run.verdict,
            clip.ref.name,
            clip.ref.path,
            settings,
            self.work,
            name,
            run.exact(config),
            self.work / f"{name}.map" if map_path else None,
            config.aom_dir,
            metrics=DEFAULT_METRICS if clip.calibration else config.metrics,  # calibration: counters, not quality
        )

    def coded_frames(self, clip: Clip, cq: int, verdict: str) -> tuple[list[CodedFrame], float]:
        """The frames a guided encode of ``clip`` codes (all-intra: the source's; inter: the
        verdict's baseline's, from its records), read once; and the samples' maximum."""
        key = (clip.ref.name, cq, verdict)
        if key not in self.frames:
            if self.config.mode == "intra":
                self.frames[key] = intra_frames(clip, cq)
            else:
                self.frames[key] = recorded_frames(read_frame_records(self.baseline_records[key]))
        return self.frames[key], float((1 << clip.bit_depth) - 1)

    def with_map(self, job: EncodeJob, entries, **extra) -> Planned:
        """The job with its decision map written beside its other files."""
        write_partition_map(job.map_path, entries)
        return Planned(job, EncodeRun.of(job, **extra), entries)


@dataclass(frozen=True)
class Run:
    """One kind of encode in a study, under one verdict."""

    kind: ClassVar[str]
    after_baseline: ClassVar[bool] = True  # planned once the clip's baseline is encoded
    on_calibration: ClassVar[bool] = False  # also encoded on the calibration clip
    guided: ClassVar[bool] = False  # a map constrains its search: simulated and judged against the ladder
    end_to_end: ClassVar[bool] = False  # charged a predictor's inference: has an end-to-end time saving
    on_ladder: ClassVar[bool] = False  # one of libaom's presets: a point of the ladder

    label: str
    verdict: str = "stock"

    def exact(self, config: EvalEncodeConfig) -> bool:
        """Whether the encode runs with the exact switch (AV1TOOLS_EXACT_GUIDE=1)."""
        return self.verdict == "exact"

    def plan(self, study: Study, clip: Clip, cq: int) -> Planned:
        raise NotImplementedError


@dataclass(frozen=True)
class Baseline(Run):
    kind: ClassVar[str] = "baseline"
    after_baseline: ClassVar[bool] = False
    on_calibration: ClassVar[bool] = True
    label: str = "baseline"

    def plan(self, study: Study, clip: Clip, cq: int) -> Planned:
        # inter coding: the frames it codes (hidden alt-refs, their references) are the map's
        # frames too; its nodes' times are what the simulation costs a map's nodes by
        job = replace(study.job(self, clip, cq), write_records=study.config.mode != "intra", write_nodes=True)
        return Planned(job, EncodeRun.of(job))


@dataclass(frozen=True)
class Oracle(Run):
    kind: ClassVar[str] = "oracle"
    on_calibration: ClassVar[bool] = True
    guided: ClassVar[bool] = True
    label: str = "oracle"
    verdict: str = "exact"

    def plan(self, study: Study, clip: Clip, cq: int) -> Planned:
        entries = oracle_entries(study.baseline_grids[(clip.ref.name, cq, self.verdict)], study.config.sb_size)
        return study.with_map(study.job(self, clip, cq, map_path=True), entries, map_nodes=len(entries))


@dataclass(frozen=True)
class ModelPoint(Run):
    kind: ClassVar[str] = "model"
    on_calibration: ClassVar[bool] = True
    guided: ClassVar[bool] = True
    end_to_end: ClassVar[bool] = True
    variant: ClassVar[str] = ""  # a variant's own curve beside its predictor's (its label's prefix)
    label: str = ""
    point: OperatingPoint = OperatingPoint(top_k=1)
    source: str = "model"  # which of the study's predictors

    @classmethod
    def at(cls, point: OperatingPoint, verdict: str, source: str = "model") -> ModelPoint:
        label = point.label if source == "model" else point.label.replace("model", source, 1)
        return cls(f"{cls.variant}: {label}" if cls.variant else label, verdict, point, source)

    def exact(self, config: EvalEncodeConfig) -> bool:
        return self.verdict == "exact" or config.guided_features == "exact"

    @property
    def curve(self) -> str:
        """The curve its rows belong to (a predictor's, or a variant's beside the model's)."""
        return self.variant or self.source

    def guided_frames(self, frames: list[CodedFrame]) -> list[CodedFrame]:
        """The coded frames its map guides (the others keep libaom's whole search)."""
        return frames

    def plan(self, study: Study, clip: Clip, cq: int) -> Planned:
        if self.source == "model" and study.native_model is not None:  # the encoder runs it itself
            job = replace(study.job(self, clip, cq), native=(study.native_model, point_spec(self.point)))
            return Planned(job, EncodeRun.of(job, source=self.curve))
        predictor = study.predictors[self.source]
        frames, max_value = study.coded_frames(clip, cq, self.verdict)
        entries, cpu, wall = infer_map(
            predictor, self.guided_frames(frames), self.point, study.config.sb_size, max_value
        )
        return study.with_map(
            study.job(self, clip, cq, map_path=True),
            entries,
            source=self.curve,
            inference_cpu_seconds=cpu,
            inference_wall_seconds=wall,
            map_nodes=sum(e.guided for e in entries),
            unguided_nodes=sum(not e.guided for e in entries),
        )


@dataclass(frozen=True)
class Preset(Run):
    kind: ClassVar[str] = "preset"
    on_ladder: ClassVar[bool] = True
    label: str = ""
    cpu_used: int = 4

    @classmethod
    def at(cls, cpu_used: int, verdict: str) -> Preset:
        return cls(f"cpu-used {cpu_used}", verdict, cpu_used)

    def plan(self, study: Study, clip: Clip, cq: int) -> Planned:
        job = study.job(self, clip, cq, cpu_used=self.cpu_used)
        return Planned(job, EncodeRun.of(job))


INTRA_CNN_OFF = ((INTRA_CNN_ENV, "0"),)


@dataclass(frozen=True)
class NoCnn(Run):
    """The baseline preset with libaom's intra partition CNN off (what the swap starts from)."""

    kind: ClassVar[str] = "nocnn"
    label: str = "intra CNN off"

    def plan(self, study: Study, clip: Clip, cq: int) -> Planned:
        job = replace(study.job(self, clip, cq), env=INTRA_CNN_OFF)
        return Planned(job, EncodeRun.of(job))


@dataclass(frozen=True)
class Swap(ModelPoint):
    """The model in the place of libaom's intra partition CNN: the CNN off, the model's map on."""

    kind: ClassVar[str] = "swap"
    variant: ClassVar[str] = "swap"

    def plan(self, study: Study, clip: Clip, cq: int) -> Planned:
        planned = super().plan(study, clip, cq)
        planned.job = replace(planned.job, env=INTRA_CNN_OFF)
        return planned


@dataclass(frozen=True)
class OtherFeatures(ModelPoint):
    """A model point with the guided speed features the study's model points do not use."""

    kind: ClassVar[str] = "features"
    on_calibration: ClassVar[bool] = False  # the simulation's scales are the model points' features'
    features: str = "exact"  # "exact": AV1TOOLS_EXACT_GUIDE=1 on the guided encode; "stock": off

    @classmethod
    def at(cls, point: OperatingPoint, verdict: str, features: str = "exact") -> OtherFeatures:
        return cls(f"{features} features: {point.label}", verdict, point, "model", features)

    def exact(self, config: EvalEncodeConfig) -> bool:
        return self.features == "exact"

    @property
    def curve(self) -> str:
        return f"{self.features} features"  # its own curve beside the model's


@dataclass(frozen=True)
class KeySearched(ModelPoint):
    """A model point in inter coding whose key frames keep libaom's whole search: the key
    frame is a large share of a short random-access encode's search (39-55% of
    bigbuckbunny-test30's at cpu-used 3) and every other frame predicts from it, so its
    mistakes cost bits in all of them."""

    kind: ClassVar[str] = "keysearch"
    on_calibration: ClassVar[bool] = False  # the simulation's scales are the model points'
    variant: ClassVar[str] = "key frames searched"

    def guided_frames(self, frames: list[CodedFrame]) -> list[CodedFrame]:
        # intra-only frames (libaom's good-quality usage codes almost none) stay guided
        return [f for f in frames if f.context is not None and f.context.inter]

    def plan(self, study: Study, clip: Clip, cq: int) -> Planned:
        assert study.native_model is None, "the encoder's own model would guide every frame"  # _native_model
        return super().plan(study, clip, cq)


KINDS: dict[str, type[Run]] = {
    k.kind: k for k in (Baseline, Oracle, ModelPoint, Preset, NoCnn, Swap, OtherFeatures, KeySearched)
}


def run_kinds(config: EvalEncodeConfig, sources: tuple[str, ...]) -> list[Run]:
    """Every kind of encode the study runs, in the order they are planned: per verdict, its
    baseline, (exact: the oracle), each predictor's points, the presets. The stock baseline
    is always encoded: every run is also measured against what a user runs."""
    verdicts = config.verdicts if "stock" in config.verdicts else ("stock",) + config.verdicts
    runs: list[Run] = [Baseline(verdict=v) for v in verdicts]
    for v in config.verdicts:
        if v == "exact":
            runs.append(Oracle())
            if config.exact_runs == "check":
                continue
        runs += [ModelPoint.at(p, v, source) for source in sources for p in config.points]
        if config.key_frames_searched and "model" in sources:
            runs += [KeySearched.at(p, v) for p in config.points]
        runs += [Preset.at(p, v) for p in config.presets]
        if config.swap and v == "stock" and "model" in sources:
            runs += [NoCnn(verdict=v)] + [Swap.at(p, v) for p in config.points]
        if config.compare_features and v == "stock" and "model" in sources:
            other = "stock" if config.guided_features == "exact" else "exact"
            runs += [OtherFeatures.at(p, v, other) for p in config.points]
    return runs
