"""The kinds of encode a study runs, one small class each: what it encodes, with which map,
on which clips, and how it is judged. Adding a kind is one class here and one line in
``run_kinds``.

- ``Baseline``: libaom's normal search at the study's preset (the exact switch as the
  study sets it): every time saving and BD-rate is measured against it.
- ``Stock``: the same with libaom's own speed features (what a user runs), when the study
  is exact: what the exact switch costs.
- ``Oracle``: the baseline's own partitions forced back (the ceiling; equal to the baseline
  when the instrument is exact).
- ``ModelPoint``: a model's decisions at one operating point, charged its inference.
- ``Preset``: a faster libaom preset (the ladder a model must beat).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from av1tools.encoder import write_partition_map
from av1tools.eval.config import EvalEncodeConfig, OperatingPoint
from av1tools.eval.encode.clips import Clip
from av1tools.eval.encode.inference import infer_map
from av1tools.eval.encode.measure import EncodeJob, EncodeRun
from av1tools.eval.guided import oracle_entries
from av1tools.extract.aom import EncodeSettings


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
    predictor: Any = None  # a model.predictor.Predictor, or None
    baseline_grids: dict | None = None  # (clip, cq) -> the baseline's FrameGrids (inspect)

    def job(
        self,
        run: Run,
        clip: Clip,
        cq: int,
        cpu_used: int | None = None,
        exact: bool | None = None,
        map_path: bool = False,
    ) -> EncodeJob:
        config = self.config
        name = f"{clip.ref.name}_q{cq}_{run.label.replace(' ', '_').replace('>=', 'ge')}"
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
            clip.ref.name,
            clip.ref.path,
            settings,
            self.work,
            name,
            1 if clip.calibration else config.repeat,  # calibration encodes need counters, not timing precision
            config.exact if exact is None else exact,
            self.work / f"{name}.map" if map_path else None,
            config.aom_dir,
        )

    def with_map(self, job: EncodeJob, entries, **extra) -> Planned:
        """The job with its decision map written beside its other files."""
        write_partition_map(job.map_path, entries)
        return Planned(job, EncodeRun.of(job, **extra), entries)


@dataclass(frozen=True)
class Run:
    """One kind of encode in a study."""

    kind: ClassVar[str]
    after_baseline: ClassVar[bool] = True  # planned once the clip's baseline is encoded
    on_calibration: ClassVar[bool] = False  # also encoded on the calibration clip
    guided: ClassVar[bool] = False  # a map constrains its search: simulated and judged against the ladder
    end_to_end: ClassVar[bool] = False  # charged a model's inference: has an end-to-end time saving
    on_ladder: ClassVar[bool] = False  # one of libaom's presets: a point of the ladder

    label: str

    def plan(self, study: Study, clip: Clip, cq: int) -> Planned:
        raise NotImplementedError


@dataclass(frozen=True)
class Baseline(Run):
    kind: ClassVar[str] = "baseline"
    after_baseline: ClassVar[bool] = False
    on_calibration: ClassVar[bool] = True
    label: str = "baseline"

    def plan(self, study: Study, clip: Clip, cq: int) -> Planned:
        job = study.job(self, clip, cq)
        return Planned(job, EncodeRun.of(job))


@dataclass(frozen=True)
class Stock(Run):
    kind: ClassVar[str] = "stock"
    after_baseline: ClassVar[bool] = False
    label: str = "stock baseline"

    def plan(self, study: Study, clip: Clip, cq: int) -> Planned:
        job = study.job(self, clip, cq, exact=False)
        return Planned(job, EncodeRun.of(job))


@dataclass(frozen=True)
class Oracle(Run):
    kind: ClassVar[str] = "oracle"
    on_calibration: ClassVar[bool] = True
    guided: ClassVar[bool] = True
    label: str = "oracle"

    def plan(self, study: Study, clip: Clip, cq: int) -> Planned:
        entries = oracle_entries(study.baseline_grids[(clip.ref.name, cq)], study.config.sb_size)
        return study.with_map(study.job(self, clip, cq, map_path=True), entries, map_nodes=len(entries))


@dataclass(frozen=True)
class ModelPoint(Run):
    kind: ClassVar[str] = "model"
    on_calibration: ClassVar[bool] = True
    guided: ClassVar[bool] = True
    end_to_end: ClassVar[bool] = True
    label: str = ""
    point: OperatingPoint = OperatingPoint(top_k=1)

    @classmethod
    def at(cls, point: OperatingPoint) -> ModelPoint:
        return cls(point.label, point)

    def plan(self, study: Study, clip: Clip, cq: int) -> Planned:
        entries, cpu, wall = infer_map(study.predictor, clip, cq, self.point, study.config.sb_size)
        return study.with_map(
            study.job(self, clip, cq, map_path=True),
            entries,
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
    def at(cls, cpu_used: int) -> Preset:
        return cls(f"cpu-used {cpu_used}", cpu_used)

    def plan(self, study: Study, clip: Clip, cq: int) -> Planned:
        job = study.job(self, clip, cq, cpu_used=self.cpu_used)
        return Planned(job, EncodeRun.of(job))


KINDS: dict[str, type[Run]] = {k.kind: k for k in (Baseline, Stock, Oracle, ModelPoint, Preset)}


def run_kinds(config: EvalEncodeConfig, with_model: bool) -> list[Run]:
    """Every kind of encode the study runs, in the order they are planned."""
    runs: list[Run] = [Baseline()]
    if config.exact:
        runs.append(Stock())
    runs.append(Oracle())
    if with_model:
        runs += [ModelPoint.at(p) for p in config.points]
    return runs + [Preset.at(p) for p in config.presets]
